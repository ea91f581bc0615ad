#!/usr/bin/env bash
# Runs a throwaway single-node Apache Cassandra 5.0 on loopback for consthash's
# tests, without Docker: the jars come from Maven Central through mvn.
#
#   scripts/cassandra.sh start   fetch the jars if not cached, write a config, start, wait for CQL;
#                                prints CONSTHASH_TEST_CASSANDRA_HOSTS=127.0.0.1:<port> as its last line
#   scripts/cassandra.sh stop    stop it
#   scripts/cassandra.sh status  exit 0 when it accepts CQL connections
#
# Environment: CASSANDRA_VERSION (5.0.9), CASSANDRA_PORT (9042), CASSANDRA_DATA (/tmp/consthash-cassandra),
# CASSANDRA_HEAP (1G), CASSANDRA_START_TIMEOUT (300 seconds), CONSTHASH_CACHE (~/.cache/consthash).
# Needs java (17) and mvn.
set -euo pipefail

version=${CASSANDRA_VERSION:-5.0.9}
port=${CASSANDRA_PORT:-9042}
storage_port=${CASSANDRA_STORAGE_PORT:-$((port - 2042))} # 7000 for 9042
data=${CASSANDRA_DATA:-/tmp/consthash-cassandra}
heap=${CASSANDRA_HEAP:-1G}
timeout=${CASSANDRA_START_TIMEOUT:-300}
cache=${CONSTHASH_CACHE:-$HOME/.cache/consthash}/cassandra-$version
pidfile=$data/cassandra.pid
logfile=$data/cassandra.log

log() { printf 'cassandra.sh: %s\n' "$*" >&2; }

# cql_ready: a CQL OPTIONS frame (protocol v4) answered by a SUPPORTED frame.
cql_ready() {
	timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf '\x04\x00\x00\x01\x05\x00\x00\x00\x00' >&3 &&
		head -c 5 <&3 | od -An -tx1 | grep -q '84 00 00 01 06'" 2>/dev/null
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

fetch() {
	if [ -f "$cache/lib/.complete" ]; then return 0; fi
	command -v mvn >/dev/null || { log "mvn is not installed (apt-get install maven)"; exit 1; }
	log "fetching org.apache.cassandra:cassandra-all:$version and its dependencies into $cache (once)"
	mkdir -p "$cache"
	cat >"$cache/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>consthash.test</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
</project>
POM
	rm -rf "$cache/lib"
	(cd "$cache" && mvn -B -q dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime) >&2
	touch "$cache/lib/.complete"
}

write_config() {
	mkdir -p "$data"/{data,commitlog,saved_caches,hints,cdc_raw}
	cat >"$data/cassandra.yaml" <<YAML
cluster_name: consthash-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $storage_port
native_transport_port: $port
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$storage_port"
endpoint_snitch: SimpleSnitch
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
data_file_directories: [$data/data]
commitlog_directory: $data/commitlog
saved_caches_directory: $data/saved_caches
hints_directory: $data/hints
cdc_raw_directory: $data/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
auto_snapshot: false
snapshot_on_duplicate_row_detection: false
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
counter_cache_size: 0MiB
concurrent_reads: 8
concurrent_writes: 16
concurrent_compactors: 1
compaction_throughput: 0MiB/s
disk_access_mode: mmap_index_only
read_request_timeout: 10000ms
write_request_timeout: 10000ms
request_timeout: 20000ms
YAML
	cat >"$data/logback.xml" <<'XML'
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%date %level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
  <logger name="org.apache.cassandra.service.CassandraDaemon" level="INFO"/>
  <logger name="org.apache.cassandra.transport.Server" level="INFO"/>
</configuration>
XML
}

start() {
	if cql_ready; then
		log "already answering CQL on 127.0.0.1:$port"
		echo "CONSTHASH_TEST_CASSANDRA_HOSTS=127.0.0.1:$port"
		return 0
	fi
	command -v java >/dev/null || { log "java is not installed (apt-get install openjdk-17-jre-headless)"; exit 1; }
	fetch
	if running; then
		log "a previous instance (pid $(cat "$pidfile")) is running but not answering; stopping it"
		stop
	fi
	rm -rf "$data"
	write_config
	local opens=()
	for p in java.base/java.lang java.base/java.lang.reflect java.base/java.lang.module java.base/java.io \
		java.base/java.nio java.base/java.net java.base/java.math java.base/java.util java.base/java.util.concurrent \
		java.base/java.util.concurrent.atomic java.base/jdk.internal.loader java.base/jdk.internal.ref \
		java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
		java.base/jdk.internal.util.jar java.base/sun.nio.ch jdk.management/com.sun.management.internal; do
		opens+=(--add-opens "$p=ALL-UNNAMED")
	done
	for p in java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch java.base/java.lang.ref \
		java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry java.rmi/sun.rmi.server \
		java.sql/java.sql jdk.unsupported/sun.misc; do
		opens+=(--add-exports "$p=ALL-UNNAMED")
	done
	log "starting Cassandra $version on 127.0.0.1:$port (data in $data, log $logfile)"
	nohup java -Xms"$heap" -Xmx"$heap" -Xss512k -XX:+UseG1GC -XX:MaxDirectMemorySize=512m \
		-XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$data" \
		-Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true "${opens[@]}" \
		-Dcassandra.config="file://$data/cassandra.yaml" -Dcassandra.storagedir="$data" \
		-Dlogback.configurationFile="$data/logback.xml" -Dcassandra.logdir="$data" \
		-Dcassandra-foreground=yes -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 \
		-Dcassandra.load_ring_state=false -Dcassandra.superuser_setup_delay_ms=0 \
		-cp "$cache/lib/*" org.apache.cassandra.service.CassandraDaemon >"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
	local waited=0
	until cql_ready; do
		if ! running; then
			log "exited during start-up; tail of $logfile:"
			tail -n 40 "$logfile" >&2
			exit 1
		fi
		if [ "$waited" -ge "$timeout" ]; then
			log "no CQL after ${timeout}s; tail of $logfile:"
			tail -n 40 "$logfile" >&2
			exit 1
		fi
		sleep 2
		waited=$((waited + 2))
	done
	log "ready after ${waited}s"
	echo "CONSTHASH_TEST_CASSANDRA_HOSTS=127.0.0.1:$port"
}

stop() {
	if running; then
		local pid
		pid=$(cat "$pidfile")
		kill "$pid"
		for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
		kill -9 "$pid" 2>/dev/null || true
		log "stopped"
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) cql_ready ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
