#!/bin/bash
# Entry point of the cassandra:5.0 stand-in (deploy/offline/cassandra). Follows the official image's contract:
# `cassandra -f` (the default CMD) runs the node; arguments starting with "-" are appended to it; anything else
# runs as given (e.g. cqlsh). The official image's environment variables configure cassandra.yaml.
set -euo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- cassandra -f "$@"
fi

if [ "$1" = 'cassandra' ] && [ "$(id -u)" = '0' ]; then
	find /var/lib/cassandra /var/log/cassandra "$CASSANDRA_CONF" \! -user cassandra -exec chown cassandra: '{}' +
	exec setpriv --reuid=cassandra --regid=cassandra --init-groups "$BASH_SOURCE" "$@"
fi

if [ "$1" != 'cassandra' ]; then
	exec "$@"
fi

ip_address() { hostname --ip-address | awk '{print $1}'; }

: "${CASSANDRA_RPC_ADDRESS:=0.0.0.0}"
: "${CASSANDRA_LISTEN_ADDRESS:=auto}"
[ "$CASSANDRA_LISTEN_ADDRESS" = auto ] && CASSANDRA_LISTEN_ADDRESS="$(ip_address)"
: "${CASSANDRA_BROADCAST_ADDRESS:=$CASSANDRA_LISTEN_ADDRESS}"
[ "$CASSANDRA_BROADCAST_ADDRESS" = auto ] && CASSANDRA_BROADCAST_ADDRESS="$(ip_address)"
: "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
: "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"
: "${CASSANDRA_CLUSTER_NAME:=Test Cluster}"
: "${CASSANDRA_NUM_TOKENS:=16}"
: "${CASSANDRA_ENDPOINT_SNITCH:=SimpleSnitch}"
: "${MAX_HEAP_SIZE:=1G}"
: "${CASSANDRA_LOG_LEVEL:=INFO}"
data=/var/lib/cassandra
mkdir -p "$data"/{data,commitlog,saved_caches,hints,cdc_raw,tmp} "$CASSANDRA_CONF/triggers"

cat >"$CASSANDRA_CONF/cassandra.yaml" <<YAML
cluster_name: '$CASSANDRA_CLUSTER_NAME'
num_tokens: $CASSANDRA_NUM_TOKENS
allocate_tokens_for_local_replication_factor: 3
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer
data_file_directories: [$data/data]
commitlog_directory: $data/commitlog
saved_caches_directory: $data/saved_caches
hints_directory: $data/hints
cdc_raw_directory: $data/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$CASSANDRA_SEEDS"
listen_address: $CASSANDRA_LISTEN_ADDRESS
broadcast_address: $CASSANDRA_BROADCAST_ADDRESS
rpc_address: $CASSANDRA_RPC_ADDRESS
broadcast_rpc_address: $CASSANDRA_BROADCAST_RPC_ADDRESS
storage_port: 7000
ssl_storage_port: 7001
start_native_transport: true
native_transport_port: 9042
endpoint_snitch: $CASSANDRA_ENDPOINT_SNITCH
materialized_views_enabled: true
sasi_indexes_enabled: true
YAML
if [ -n "${CASSANDRA_DC:-}${CASSANDRA_RACK:-}" ]; then
	printf 'dc=%s\nrack=%s\n' "${CASSANDRA_DC:-dc1}" "${CASSANDRA_RACK:-rack1}" >"$CASSANDRA_CONF/cassandra-rackdc.properties"
fi
cat >"$CASSANDRA_CONF/logback.xml" <<XML
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="$CASSANDRA_LOG_LEVEL"><appender-ref ref="STDOUT"/></root>
</configuration>
XML

lib="$CASSANDRA_HOME/lib"
jamm="$(find "$lib" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
# The JVM options of the 5.0 tarball's conf/jvm-server.options and jvm17-server.options that a single node needs
# (as scripts/cassandra.sh). HEAP_NEWSIZE is accepted and, as with G1 in the official image, has no effect.
# shellcheck disable=SC2206 # JVM_OPTS and JVM_EXTRA_OPTS are word-split on purpose, as cassandra-env.sh does
opts=(
	-ea "-Xms$MAX_HEAP_SIZE" "-Xmx$MAX_HEAP_SIZE" -Xss256k
	-XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300
	-XX:+PerfDisableSharedMem -XX:+CrashOnOutOfMemoryError
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
	"-javaagent:$jamm"
	-Djava.net.preferIPv4Stack=true
	"-Djava.io.tmpdir=$data/tmp"
	"-Dcassandra.config=file://$CASSANDRA_CONF/cassandra.yaml"
	"-Dlogback.configurationFile=file://$CASSANDRA_CONF/logback.xml"
	"-Dcassandra.storagedir=$data"
	"-Dcassandra.logdir=/var/log/cassandra"
	"-Dcassandra.triggers_dir=$CASSANDRA_CONF/triggers"
	-Dcassandra-foreground=yes
	${JVM_OPTS:-} ${JVM_EXTRA_OPTS:-}
)
shift # "cassandra"; -f (foreground) is the only mode here
exec java "${opts[@]}" -cp "$CASSANDRA_CONF:$lib/*" org.apache.cassandra.service.CassandraDaemon
