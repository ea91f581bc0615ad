// Package testenv hands tests ready connections to the real backends consthash
// runs against: NATS with JetStream, MariaDB/MySQL, SQLite and Cassandra.
//
// A backend that is not reachable makes the test skip, with a message naming
// the script that provides it, unless the CI environment variable is "true":
// then the test fails, so CI never passes by skipping. The scripts under
// scripts/ start every external backend; `make test` runs them first.
package testenv

import (
	"crypto/rand"
	"os"
	"strings"
	"testing"
)

// Environment variables that point the helpers at existing backends.
const (
	EnvNATSURL        = "CONSTHASH_TEST_NATS_URL"
	EnvMySQLDSN       = "CONSTHASH_TEST_MYSQL_DSN"
	EnvCassandraHosts = "CONSTHASH_TEST_CASSANDRA_HOSTS"
)

// InCI reports whether the tests run in CI, where a missing backend is a
// failure rather than a skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// missing stops the test because a backend is absent: a skip on a developer
// machine, a failure in CI.
func missing(t testing.TB, backend, why, script string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI but is not available: %s (start it with %s)", backend, why, script)
	}
	t.Skipf("%s not available: %s; start it with %s", backend, why, script)
}

// uniqueName returns an identifier safe for SQL and CQL (lowercase letters,
// digits and underscores) that is unique to this test run.
func uniqueName(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text()[:12])
}
