#!/usr/bin/env bash
# Run a throwaway single-node Apache Cassandra 5.0 for tests, without Docker.
#
#   cassandra.sh start   # download jars (once), start node, wait for CQL
#   cassandra.sh stop    # stop the node started by this script
#   cassandra.sh status  # exit 0 if the node is running and answers CQL
#   cassandra.sh fetch   # only download the jars (once; deploy/offline/build.sh uses them)
#
# Jars come from Maven Central (org.apache.cassandra:cassandra-all) and are
# cached in ${CONSTHASH_CACHE:-$HOME/.cache/consthash}/cassandra.
#
# Environment:
#   CONSTHASH_CACHE          cache root (default $HOME/.cache/consthash)
#   CASSANDRA_DATA           throwaway state dir (default /tmp/consthash-cassandra)
#   CASSANDRA_PORT           CQL native port (default 9042)
#   CASSANDRA_STORAGE_PORT   internode port (default 7000 + CASSANDRA_PORT - 9042)
#   CASSANDRA_START_TIMEOUT  seconds to wait for CQL (default 240)
#   CASSANDRA_HEAP           max heap, -Xmx (default 1g)
#   CASSANDRA_HEAP_MIN       initial heap, -Xms (default 256m)
#   CASSANDRA_MEMTABLE       memtable_heap_space and memtable_offheap_space each (default 256MiB: a quarter
#                            of the default heap, Cassandra's own default; 64MiB made a writer's block
#                            rewrites flush and compact several times a minute)
#   CASSANDRA_JIT            full (default: HotSpot's tiered C1 + C2, as Cassandra's own scripts run it) or c1
#                            (-XX:TieredStopAtLevel=1: warms up sooner, but bench/query.sh measured Cassandra
#                            spending 1.6-1.9x the CPU a read with it)
#   CASSANDRA_LOG_LEVEL      logback root level (default WARN)
#   CASSANDRA_KEEP_DATA      1 = keep data from a previous run (default: wipe)
#   CASSANDRA_JVM_EXTRA_OPTS extra JVM options (word-split)
#   JAVA                     java binary (default: java on PATH, must be 17)
set -euo pipefail

CASSANDRA_VERSION="5.0.9" # newest 5.0.x on Maven Central as of 2026-11

CACHE_DIR="${CONSTHASH_CACHE:-$HOME/.cache/consthash}/cassandra"
LIB_DIR="$CACHE_DIR/lib"
LIB_MARKER="$LIB_DIR/.complete-$CASSANDRA_VERSION"
DATA_DIR="${CASSANDRA_DATA:-/tmp/consthash-cassandra}"
PORT="${CASSANDRA_PORT:-9042}"
STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-$((7000 + PORT - 9042))}"
START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-240}"
HEAP="${CASSANDRA_HEAP:-1g}"
HEAP_MIN="${CASSANDRA_HEAP_MIN:-256m}"
MEMTABLE="${CASSANDRA_MEMTABLE:-256MiB}"
JIT="${CASSANDRA_JIT:-full}"
LOG_LEVEL="${CASSANDRA_LOG_LEVEL:-WARN}"
JAVA="${JAVA:-java}"

CONF_DIR="$DATA_DIR/conf"
PID_FILE="$DATA_DIR/cassandra.pid"
LOG_FILE="$DATA_DIR/cassandra.log"  # logback output
OUT_FILE="$DATA_DIR/stdout.log"     # JVM stdout/stderr (crashes, early errors)
LOCK_FILE="$DATA_DIR/.lock"

log() { printf 'cassandra.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- jars -----

write_pom() {
	cat >"$CACHE_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.consthash</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>${CASSANDRA_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

ensure_jars() {
	if [[ -f "$LIB_MARKER" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found on PATH (needed once to download cassandra-all $CASSANDRA_VERSION)"
	mkdir -p "$CACHE_DIR"
	# Serialize concurrent downloads (e.g. several test processes).
	exec 8>"$CACHE_DIR/.lock"
	flock 8
	if [[ -f "$LIB_MARKER" ]]; then
		exec 8>&-
		return 0
	fi
	log "downloading cassandra-all $CASSANDRA_VERSION and dependencies from Maven Central into $CACHE_DIR ..."
	local t0=$SECONDS tmp="$CACHE_DIR/lib.tmp.$$"
	write_pom
	rm -rf "$tmp"
	# Private local repository so ~/.m2 is not polluted; removed afterwards.
	if ! mvn -B -ntp -Dstyle.color=never -f "$CACHE_DIR/pom.xml" \
		-Dmaven.repo.local="$CACHE_DIR/m2" \
		org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
		-DoutputDirectory="$tmp" -DincludeScope=runtime \
		-DexcludeClassifiers=osx-x86_64,osx-aarch_64,windows-x86_64,linux-aarch_64,linux-riscv64 \
		>"$CACHE_DIR/mvn.log" 2>&1; then
		tail -n 40 "$CACHE_DIR/mvn.log" >&2
		rm -rf "$tmp"
		die "maven download failed (full log: $CACHE_DIR/mvn.log)"
	fi
	[[ -n "$(find "$tmp" -maxdepth 1 -name "cassandra-all-$CASSANDRA_VERSION.jar")" ]] ||
		die "cassandra-all-$CASSANDRA_VERSION.jar missing after download"
	touch "$tmp/.complete-$CASSANDRA_VERSION"
	rm -rf "$LIB_DIR" "$CACHE_DIR/m2"
	mv "$tmp" "$LIB_DIR"
	log "download done in $((SECONDS - t0))s ($(find "$LIB_DIR" -name '*.jar' | wc -l) jars)"
	exec 8>&-
}

# -------------------------------------------------------------- config -----

write_config() {
	mkdir -p "$CONF_DIR/triggers" "$DATA_DIR"/{data,commitlog,saved_caches,hints,cdc_raw,tmp}
	cat >"$CONF_DIR/cassandra.yaml" <<EOF
# Generated by cassandra.sh -- single throwaway test node.
cluster_name: consthash-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner

authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer

data_file_directories:
  - $DATA_DIR/data
commitlog_directory: $DATA_DIR/commitlog
saved_caches_directory: $DATA_DIR/saved_caches
hints_directory: $DATA_DIR/hints
cdc_raw_directory: $DATA_DIR/cdc_raw

commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
commitlog_total_space: 256MiB

seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$STORAGE_PORT"

listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $STORAGE_PORT
ssl_storage_port: $((STORAGE_PORT + 1))
start_native_transport: true
native_transport_port: $PORT
endpoint_snitch: SimpleSnitch

auto_bootstrap: false
hinted_handoff_enabled: false
auto_snapshot: false
snapshot_before_compaction: false
incremental_backups: false

memtable_heap_space: $MEMTABLE
memtable_offheap_space: $MEMTABLE
memtable_flush_writers: 1
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
concurrent_compactors: 1
key_cache_size: 8MiB
counter_cache_size: 4MiB
index_summary_capacity: 8MiB
file_cache_size: 64MiB
networking_cache_size: 32MiB

read_request_timeout: 10000ms
range_request_timeout: 20000ms
write_request_timeout: 10000ms
request_timeout: 20000ms

materialized_views_enabled: true
sasi_indexes_enabled: true
EOF

	cat >"$CONF_DIR/logback.xml" <<EOF
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$LOG_FILE</file>
    <append>true</append>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="$LOG_LEVEL">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
EOF
}

# ------------------------------------------------------------- process -----

# Prints the pid of the Cassandra started by this script, or fails.
running_pid() {
	local pid cmdline
	[[ -f "$PID_FILE" ]] || return 1
	pid="$(cat "$PID_FILE" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against pid reuse: must be our CassandraDaemon with our config.
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	[[ "$cmdline" == *"-Dcassandra.config=file://$CONF_DIR/cassandra.yaml "* &&
		"$cmdline" == *" org.apache.cassandra.service.CassandraDaemon"* ]] || return 1
	printf '%s\n' "$pid"
}

# Speaks CQL native protocol v4: STARTUP, then a query on system.local.
# Succeeds only if the node returns READY and a RESULT.
cql_probe_raw() {
	local port=$1 h
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	# STARTUP {CQL_VERSION: 3.0.0}
	printf '\x04\x00\x00\x01\x01\x00\x00\x00\x16\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0' >&3
	h="$(dd bs=1 count=9 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')"
	[[ "${h:8:2}" == "02" ]] || return 1 # READY
	# QUERY "SELECT release_version FROM system.local" at ONE
	printf '\x04\x00\x00\x02\x07\x00\x00\x00\x2f\x00\x00\x00\x28SELECT release_version FROM system.local\x00\x01\x00' >&3
	h="$(dd bs=1 count=9 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')"
	[[ "${h:8:2}" == "08" ]] || return 1 # RESULT
	exec 3>&-
}

cql_ready() {
	timeout 5 bash -c "$(declare -f cql_probe_raw); cql_probe_raw $PORT" 2>/dev/null
}

port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

print_hosts() {
	printf 'CONSTHASH_TEST_CASSANDRA_HOSTS=127.0.0.1:%s\n' "$PORT"
}

show_logs() {
	log "---- tail of $LOG_FILE ----"
	tail -n 60 "$LOG_FILE" >&2 2>/dev/null || true
	log "---- tail of $OUT_FILE ----"
	tail -n 40 "$OUT_FILE" >&2 2>/dev/null || true
}

wait_ready() {
	local pid=$1 start=$SECONDS next=0 elapsed
	while true; do
		elapsed=$((SECONDS - start))
		if ! kill -0 "$pid" 2>/dev/null; then
			show_logs
			die "Cassandra (pid $pid) exited during startup"
		fi
		if cql_ready; then
			log "Cassandra ready on 127.0.0.1:$PORT after ${elapsed}s (pid $pid)"
			return 0
		fi
		if ((elapsed >= START_TIMEOUT)); then
			show_logs
			log "killing pid $pid"
			kill -KILL "$pid" 2>/dev/null || true
			while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
			rm -f "$PID_FILE"
			die "Cassandra not answering CQL on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
		fi
		if ((elapsed >= next)); then
			log "waiting for CQL on 127.0.0.1:$PORT ... ${elapsed}s"
			next=$((elapsed + 10))
		fi
		sleep 1
	done
}

java_cmd() {
	local jamm
	jamm="$(find "$LIB_DIR" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
	local -a opts=(
		-ea
		"-Xms$HEAP_MIN" "-Xmx$HEAP" -Xss256k
		-XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
		-XX:G1HeapRegionSize=4m -XX:MaxGCPauseMillis=300
		-XX:+PerfDisableSharedMem
		-XX:ReservedCodeCacheSize=128m
		-XX:MaxDirectMemorySize=512m
		-XX:+CrashOnOutOfMemoryError
		# JPMS (conf/jvm17-server.options)
		-Djdk.attach.allowAttachSelf=true
		--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
		--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
		--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
		--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
		--add-exports java.sql/java.sql=ALL-UNNAMED
		--add-exports java.base/java.lang.ref=ALL-UNNAMED
		--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
		--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
		--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
		--add-opens java.base/java.lang.module=ALL-UNNAMED
		--add-opens java.base/jdk.internal.loader=ALL-UNNAMED
		--add-opens java.base/jdk.internal.ref=ALL-UNNAMED
		--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
		--add-opens java.base/jdk.internal.math=ALL-UNNAMED
		--add-opens java.base/jdk.internal.module=ALL-UNNAMED
		--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
		--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
		--add-opens java.base/sun.nio.ch=ALL-UNNAMED
		--add-opens java.base/java.io=ALL-UNNAMED
		--add-opens java.base/java.lang.reflect=ALL-UNNAMED
		--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
		--add-opens java.base/java.lang=ALL-UNNAMED
		--add-opens java.base/java.util=ALL-UNNAMED
		-Dio.netty.tryReflectionSetAccessible=true
		-Dio.netty.allocator.useCacheForAllThreads=true
		-Dio.netty.allocator.maxOrder=11
		# jamm agent for memtable size accounting
		"-javaagent:$jamm"
		# Cassandra
		-Djava.net.preferIPv4Stack=true
		"-Djava.io.tmpdir=$DATA_DIR/tmp" # native libs (lz4, snappy, jna) get unpacked here
		"-Dcassandra.config=file://$CONF_DIR/cassandra.yaml"
		"-Dlogback.configurationFile=file://$CONF_DIR/logback.xml"
		"-Dcassandra.storagedir=$DATA_DIR"
		"-Dcassandra.logdir=$DATA_DIR"
		"-Dcassandra.triggers_dir=$CONF_DIR/triggers"
		-Dcassandra-foreground=no
		-Dcassandra.skip_wait_for_gossip_to_settle=0
		-Dcassandra.ring_delay_ms=1000
		-Dcassandra.superuser_setup_delay_ms=0
		-Dcassandra.unsafesystem=true
		-Dcassandra.shutdown_announce_in_ms=0
	)
	# shellcheck disable=SC2206 # intentional word splitting
	local -a extra=(${CASSANDRA_JVM_EXTRA_OPTS:-})
	case "$JIT" in
	full) ;;
	c1) opts+=(-XX:TieredStopAtLevel=1) ;;
	*) die "CASSANDRA_JIT=$JIT: want full or c1" ;;
	esac
	JAVA_ARGS=("${opts[@]}" "${extra[@]}" -cp "$LIB_DIR/*" org.apache.cassandra.service.CassandraDaemon)
}

# ------------------------------------------------------------ commands -----

cmd_start() {
	mkdir -p "$DATA_DIR"
	exec 9>"$LOCK_FILE"
	flock 9

	local pid
	if pid="$(running_pid)"; then
		if cql_ready; then
			log "already running (pid $pid)"
			print_hosts
			return 0
		fi
		log "already starting (pid $pid); waiting"
		wait_ready "$pid"
		print_hosts
		return 0
	fi
	rm -f "$PID_FILE"

	if port_open "$PORT"; then
		die "port $PORT is already in use by another process (not started by this script); set CASSANDRA_PORT"
	fi
	if port_open "$STORAGE_PORT"; then
		die "storage port $STORAGE_PORT is already in use; set CASSANDRA_STORAGE_PORT"
	fi

	"$JAVA" -version 2>&1 | grep -q 'version "17' ||
		log "WARNING: '$JAVA' is not JDK 17; Cassandra 5.0 supports JDK 11 and 17"

	ensure_jars

	if [[ "${CASSANDRA_KEEP_DATA:-0}" != 1 ]]; then
		rm -rf "${DATA_DIR:?}"/{data,commitlog,saved_caches,hints,cdc_raw,tmp}
	fi
	: >"$LOG_FILE"
	write_config
	java_cmd

	log "starting Cassandra $CASSANDRA_VERSION (CQL 127.0.0.1:$PORT, storage $STORAGE_PORT, data $DATA_DIR)"
	local t0=$SECONDS
	# setsid -f: own session, so the node survives the caller's terminal/job
	# control; the inner shell writes its own pid and then execs java.
	# 9>&- : do not leak the lock fd into the daemon.
	# shellcheck disable=SC2016 # $$ and $@ are for the inner shell
	setsid -f bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' \
		"$PID_FILE" "$JAVA" "${JAVA_ARGS[@]}" >"$OUT_FILE" 2>&1 </dev/null 9>&-
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s "$PID_FILE" ]] && break
		sleep 0.1
	done
	pid="$(cat "$PID_FILE" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || die "java did not start (see $OUT_FILE)"
	wait_ready "$pid"
	log "startup took $((SECONDS - t0))s"
	print_hosts
}

cmd_stop() {
	mkdir -p "$DATA_DIR"
	exec 9>"$LOCK_FILE"
	flock 9
	local pid i
	if ! pid="$(running_pid)"; then
		log "not running"
		rm -f "$PID_FILE"
		return 0
	fi
	log "stopping Cassandra (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still alive after 30s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
	fi
	kill -0 "$pid" 2>/dev/null && die "could not stop pid $pid"
	rm -f "$PID_FILE"
	log "stopped"
}

cmd_status() {
	local pid
	if pid="$(running_pid)"; then
		if cql_ready; then
			log "running (pid $pid), CQL on 127.0.0.1:$PORT"
			return 0
		fi
		log "process running (pid $pid) but not answering CQL on 127.0.0.1:$PORT"
		return 1
	fi
	log "not running"
	return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
fetch) ensure_jars ;;
*)
	echo "usage: $0 {start|stop|status|fetch}" >&2
	exit 2
	;;
esac
