#!/usr/bin/env bash
# The project's test command (`make test`): starts the real backends the tests
# need, unless the environment already names them, then runs every module's
# tests with -race. With CI=true a backend that cannot be started fails the run;
# elsewhere its tests skip with a message naming the script.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=false
case "${CI:-}" in true | 1) ci=true ;; esac

# backend NAME VAR SCRIPT: run SCRIPT start and export the VAR=value it prints last.
backend() {
	local name=$1 var=$2 script=$3 out
	if [ -n "${!var:-}" ]; then
		echo "test.sh: $name from \$$var=${!var}"
		return 0
	fi
	echo "test.sh: starting $name with $script start"
	if out=$("$script" start | tail -n 1) && [[ $out == "$var="* ]]; then
		export "${out?}"
		echo "test.sh: $out"
	elif $ci; then
		echo "test.sh: $name could not be started, and CI needs it" >&2
		exit 1
	else
		echo "test.sh: $name could not be started; its tests will skip" >&2
	fi
}

backend MariaDB CONSTHASH_TEST_MYSQL_DSN scripts/mariadb.sh
backend Cassandra CONSTHASH_TEST_CASSANDRA_HOSTS scripts/cassandra.sh

# The four backend round trips first, verbosely, so the output shows each ran (or why it skipped).
echo "== real backends"
(cd pkg && go test -count=1 -v -run '^(TestNATSJetStream|TestMariaDB|TestSQLite|TestCassandra)$' ./testenv) |
	grep -E '^(=== RUN|--- |\s+testenv_test|ok|FAIL|PASS)' || { echo "test.sh: backend tests failed" >&2; exit 1; }

# Every module also builds and vets alone (as the Docker build does), and passes
# go vet and staticcheck: CI runs both, so a go.mod that needs tidying or a
# lint finding fails here, not in a user's docker build.
echo "== make isolated"
make -s isolated || { echo "test.sh: make isolated failed" >&2; exit 1; }
echo "== make lint"
make -s lint || { echo "test.sh: make lint failed" >&2; exit 1; }

# Every module's tests through `go test -json`, printed as go test prints them
# (scripts/testsum), then every skip with its reason. In CI a skip that is not on
# scripts/test-skips.txt (each entry says why it is allowed) fails the run.
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
(cd scripts/testsum && go build -o "$results/testsum" .)
status=0
for m in $(go list -m -f '{{.Dir}}'); do
	echo "== ${m#"$PWD"/}"
	(cd "$m" && go test -json ${GOFLAGS_TEST:--race -count=1} ./... 2>&1 | "$results/testsum" -record "$results/$(basename "$m").jsonl") || status=1
done
"$results/testsum" -summary -allow scripts/test-skips.txt "$results"/*.jsonl || status=1
exit $status
