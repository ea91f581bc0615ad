#!/usr/bin/env bash
# The project's test command (`make test`): starts the real backends the tests
# need, unless the environment already names them, then runs every module's
# tests with -race. With CI=true a backend that cannot be started fails the run;
# elsewhere its tests skip with a message naming the script.
#
# Then the Docker phase (always with CI=true; elsewhere with CONSTHASH_TEST_DOCKER_PHASE=1, as it takes 10 minutes
# and more): a Docker daemon (the one that answers, else scripts/dockerd.sh's), `make compose-test`, the same with
# NATS_CLUSTER=1 (the 3-node NATS shape; CONSTHASH_TEST_NATS_CLUSTER=0 skips it), and pkg's testenv, store and bus tests once more with NATS and MariaDB
# started by pkg/testenv through testcontainers-go on that daemon. The main run keeps Docker out
# (CONSTHASH_TEST_DOCKER=off: NATS in-process, the scripts' servers), so that it does not depend on a daemon.
#
#   scripts/test.sh                 everything above
#   scripts/test.sh docker-phase    the backends, then only the Docker phase
set -euo pipefail
cd "$(dirname "$0")/.."

ci=false
case "${CI:-}" in true | 1) ci=true ;; esac
only_docker=false
case "${1:-}" in
"") ;;
docker-phase) only_docker=true ;;
*)
	echo "usage: $0 [docker-phase]" >&2
	exit 2
	;;
esac

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

# The main run: no Docker (testcontainers is the Docker phase's; `go test` alone uses it where a daemon answers).
export CONSTHASH_TEST_DOCKER=off

backend MariaDB CONSTHASH_TEST_MYSQL_DSN scripts/mariadb.sh
backend Cassandra CONSTHASH_TEST_CASSANDRA_HOSTS scripts/cassandra.sh

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
(cd scripts/testsum && go build -o "$results/testsum" .)
status=0

if ! $only_docker; then
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
	for m in $(go list -m -f '{{.Dir}}'); do
		echo "== ${m#"$PWD"/}"
		(cd "$m" && go test -json ${GOFLAGS_TEST:--race -count=1} ./... 2>&1 | "$results/testsum" -record "$results/$(basename "$m").jsonl") || status=1
	done
fi

docker_phase=$only_docker
$ci && docker_phase=true
[[ "${CONSTHASH_TEST_DOCKER_PHASE:-}" == 1 ]] && docker_phase=true
if ! $docker_phase; then
	echo "test.sh: skipped the Docker phase (make compose-test, testcontainers): CI=true or CONSTHASH_TEST_DOCKER_PHASE=1 runs it"
	"$results/testsum" -summary -allow scripts/test-skips.txt "$results"/*.jsonl || status=1
	exit $status
fi

# ------------------------------------------------------------ Docker phase ------
t_docker=$SECONDS
own_dockerd=false
stop_dockerd() { if $own_dockerd; then scripts/dockerd.sh stop || true; fi; }
trap 'rm -rf "$results"; stop_dockerd' EXIT
echo "== Docker"
if docker info >/dev/null 2>&1; then
	echo "test.sh: using the Docker daemon at ${DOCKER_HOST:-the default socket}"
else
	scripts/dockerd.sh status || own_dockerd=true
	out=$(scripts/dockerd.sh start | tail -n 1) && [[ $out == DOCKER_HOST=* ]] ||
		{ echo "test.sh: no Docker daemon could be started (scripts/dockerd.sh)" >&2; exit 1; }
	export "${out?}"
	echo "test.sh: $out"
fi

echo "== make compose-test"
t=$SECONDS
make -s compose-test || { echo "test.sh: make compose-test failed" >&2; status=1; }
echo "test.sh: compose-test took $((SECONDS - t))s"
# The 3-node NATS shape, its node killed under load: exact since relay -> aggregator
# batches are acknowledged (nats_acks) and the aggregators' heartbeats no longer stop
# while JetStream recovers (docs/testing.md). CONSTHASH_TEST_NATS_CLUSTER=0 skips it.
if [[ ${CONSTHASH_TEST_NATS_CLUSTER:-1} == 1 ]]; then
	echo "== NATS_CLUSTER=1 make compose-test"
	t=$SECONDS
	NATS_CLUSTER=1 make -s compose-test || { echo "test.sh: NATS_CLUSTER=1 make compose-test failed" >&2; status=1; }
	echo "test.sh: NATS_CLUSTER=1 compose-test took $((SECONDS - t))s"
else
	echo "test.sh: NATS_CLUSTER=1 compose-test not run (CONSTHASH_TEST_NATS_CLUSTER=0)"
fi

# testcontainers-go: pkg/testenv starts NATS (a container per test) and MariaDB (one per test process) on this
# daemon, from the official images or deploy/offline's stand-ins under the same tags. Cassandra stays the
# script's. Ryuk (the reaper) only where its image is there; else the containers are removed here, by label.
echo "== testcontainers (NATS, MariaDB)"
deploy/offline/build.sh nats:2.10-alpine mariadb:10.11 || { echo "test.sh: the NATS and MariaDB images are missing" >&2; exit 1; }
if ! docker image inspect testcontainers/ryuk:0.13.0 >/dev/null 2>&1 && ! timeout 120 docker pull -q testcontainers/ryuk:0.13.0 >/dev/null 2>&1; then
	export TESTCONTAINERS_RYUK_DISABLED=true
	echo "test.sh: no testcontainers/ryuk:0.13.0 image: TESTCONTAINERS_RYUK_DISABLED=true, containers removed here"
fi
t=$SECONDS
since=$(date +%s)
(cd pkg && env -u CONSTHASH_TEST_MYSQL_DSN -u CONSTHASH_TEST_NATS_URL CONSTHASH_TEST_DOCKER=on \
	go test -json -count=1 ./testenv ./store ./bus 2>&1 | "$results/testsum" -record "$results/testcontainers.jsonl") || status=1
# What testcontainers created (NATS's containers are gone already: each test removes its own).
used=$(docker events --since "$since" --until "$(date +%s)" --filter type=container --filter event=create \
	--filter label=org.testcontainers=true --format '{{.From}}' | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')
echo "test.sh: testcontainers started: ${used:-nothing} in $((SECONDS - t))s"
for img in nats:2.10-alpine mariadb:10.11; do
	[[ " $used" == *" $img="* ]] || { echo "test.sh: no $img container was started through testcontainers" >&2; status=1; }
done
ids=$(docker ps -aq --filter label=org.testcontainers=true)
[[ -n "$ids" ]] && docker rm -f $ids >/dev/null
docker network prune -f --filter label=org.testcontainers=true >/dev/null
echo "test.sh: Docker phase took $((SECONDS - t_docker))s"
# Every go test of both runs (the main one and the testcontainers pass), every skip, the closing line.
"$results/testsum" -summary -allow scripts/test-skips.txt "$results"/*.jsonl || status=1
exit $status
