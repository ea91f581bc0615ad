package testenv

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

const cassandraScript = "scripts/cassandra.sh start (it prints the " + EnvCassandraHosts + " to export)"

// CassandraHosts returns the Cassandra contact points named by
// CONSTHASH_TEST_CASSANDRA_HOSTS (comma-separated host:port), or else, where
// Docker answers (see Docker), the test process's Cassandra container
// (cassandra:5.0 through testcontainers-go, started on first use: a minute or
// more); it stops the test (skip, or fail in CI) when neither is there or
// nothing listens.
func CassandraHosts(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(EnvCassandraHosts)
	if v == "" {
		derr := Docker()
		if derr != nil {
			missing(t, "Cassandra", EnvCassandraHosts+" is not set and Docker is not available ("+derr.Error()+")", cassandraScript)
		}
		var err error
		if v, err = cassandraContainer(); err != nil {
			t.Fatal(err)
		}
	}
	hosts := strings.Split(v, ",")
	c, err := net.DialTimeout("tcp", hosts[0], 5*time.Second)
	if err != nil {
		missing(t, "Cassandra", err.Error(), cassandraScript)
	}
	c.Close()
	return hosts
}

// CassandraCluster returns a cluster configuration for the test Cassandra
// with timeouts generous enough for schema changes on a fresh single node.
func CassandraCluster(hosts ...string) *gocql.ClusterConfig {
	c := gocql.NewCluster(hosts...)
	c.Consistency = gocql.One
	c.Timeout = 30 * time.Second
	c.ConnectTimeout = 15 * time.Second
	c.WriteTimeout = 30 * time.Second
	c.MaxWaitSchemaAgreement = time.Minute
	c.NumConns = 1
	return c
}

// Cassandra creates a keyspace of its own for the test (SimpleStrategy,
// replication factor 1), returns a session bound to it and its name, and
// drops the keyspace when the test ends.
func Cassandra(t testing.TB) (*gocql.Session, string) {
	t.Helper()
	hosts := CassandraHosts(t)
	admin, err := CassandraCluster(hosts...).CreateSession()
	if err != nil {
		missing(t, "Cassandra", err.Error(), cassandraScript)
	}
	defer admin.Close()
	ks := uniqueName("consthash_test")
	stmt := fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", ks)
	if err := admin.Query(stmt).Exec(); err != nil {
		t.Fatalf("cannot create keyspace %s: %v", ks, err)
	}
	cluster := CassandraCluster(hosts...)
	cluster.Keyspace = ks
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("cannot open a session on keyspace %s: %v", ks, err)
	}
	t.Cleanup(func() {
		s.Close()
		// Dropping is housekeeping, not what the test checks: a slow
		// schema change (a loaded machine takes minutes for a keyspace of
		// many tables) is logged, and the keyspace left for the next run's
		// Cassandra start to carry.
		dc := CassandraCluster(hosts...)
		dc.Timeout = 2 * time.Minute
		drop, err := dc.CreateSession()
		if err != nil {
			t.Logf("reconnecting to drop keyspace %s: %v", ks, err)
			return
		}
		defer drop.Close()
		if err := drop.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			t.Logf("keyspace %s not dropped: %v", ks, err)
		}
	})
	return s, ks
}
