#!/usr/bin/env bash
# The whole pipeline at field scale on this machine (issue 13): statblast -> relay -> NATS (JetStream) ->
# aggregators -> writers -> store -> query-api, every series updated in every 10 s interval.
#   bench/pipeline.sh                     SERIES=200000 DURATION=5m STORE=sqlite AGGREGATORS=2 WRITERS=1
#   SERIES=20000 DURATION=1m bench/pipeline.sh
# SERIES counts stored series (graphite paths). statblast's statsd mix (counters 4, timers 2, gauges 1, sets 1)
# plus one graphite key per 8 statsd keys flushes 39 paths per 9 keys (a counter 2, a timer 14 with
# percentThreshold [90], a gauge, a set and a graphite key 1 each), so the run sends SERIES*9/39 keys, each
# updated twice per interval (statblast --cycle). STORE=sqlite (a file in the work directory), mysql or
# cassandra (the lead's local backends through scripts/mariadb.sh / scripts/cassandra.sh, a table or keyspace
# of its own). NATS is the real nats-server, built from the module cache (the version the tests embed).
# Prints what bench/pipeline.py measures and checks; the last line is the summary:
#   pipeline: store=<s> series=<n> duration=<d> points_per_s=<x> lost=<n> exact=<yes|no> lag_p99_s=<x> ...
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-200000}
DURATION=${DURATION:-5m}
STORE=${STORE:-sqlite}
AGGREGATORS=${AGGREGATORS:-2}
WRITERS=${WRITERS:-1}
TIMES=${TIMES:-'["10s:168h", "1m:720h", "10m:17520h"]'}
BASE_PORT=${BASE_PORT:-19000}
KEEP=${KEEP:-} # non-empty: keep the work directory (logs, configs, the SQLite file)
work=$(mktemp -d "${TMPDIR:-/tmp}/consthash-pipeline.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -z "$KEEP" ]; then rm -rf "$work"; else echo "work directory kept: $work"; fi
}
trap cleanup EXIT

make -s build >/dev/null
[ -x bin/nats-server ] || (cd pkg && go build -o ../bin/nats-server github.com/nats-io/nats-server/v2)

nats_port=$((BASE_PORT + 222))
nats_monitor=$((BASE_PORT + 223))
relay_statsd=$((BASE_PORT + 125))
relay_graphite=$((BASE_PORT + 3))
query_port=$((BASE_PORT + 80))
relay_admin=$((BASE_PORT + 81))
agg_admin=$((BASE_PORT + 100)) # + i
writer_admin=$((BASE_PORT + 200)) # + i
query_admin=$((BASE_PORT + 89))
nats_url="nats://127.0.0.1:$nats_port"

# Keys: u groups of 9 (8 statsd in the mix, 1 graphite) flush 39 paths.
u=$(((SERIES + 19) / 39))
statsd_keys=$((8 * u))
graphite_keys=$u

case "$STORE" in
sqlite)
	storage="driver = \"sqlite\"
dsn = \"file:$work/consthash.db\"" ;;
mysql)
	dsn=$(scripts/mariadb.sh start | tail -n1 | sed 's/^CONSTHASH_TEST_MYSQL_DSN=//')
	storage="driver = \"mysql\"
dsn = \"$dsn\"
options = { table = \"pipe$$\" }" ;;
cassandra)
	hosts=$(scripts/cassandra.sh start | tail -n1 | sed 's/^CONSTHASH_TEST_CASSANDRA_HOSTS=//')
	storage="driver = \"cassandra\"
dsn = \"$hosts\"
options = { keyspace = \"pipe$$\" }"
	dsn=$hosts ;;
*) echo "STORE=$STORE: want sqlite, mysql or cassandra" >&2; exit 2 ;;
esac

start() { # name, command...: start in the background, remember the pid
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	echo "$name $!" >>"$work/pids"
}
wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 did not open" >&2
	exit 1
}

mkdir -p "$work/nats"
start nats-server bin/nats-server -a 127.0.0.1 -p "$nats_port" -m "$nats_monitor" -js -sd "$work/nats"
wait_port "$nats_port"

for i in $(seq 1 "$WRITERS"); do
	cat >"$work/writer$i.toml" <<TOML
nats = "$nats_url"
batch = 64 # messages (of up to 64 KiB, about 800 points) per fetch and write
[admin]
listen = "127.0.0.1:$((writer_admin + i))"
[log]
level = "warn"
[storage]
$storage
TOML
	start "writer$i" bin/writer --config "$work/writer$i.toml"
	wait_port $((writer_admin + i))
done
for i in $(seq 1 "$AGGREGATORS"); do
	cat >"$work/aggregator$i.toml" <<TOML
id = "agg$i"
times = $TIMES
[admin]
listen = "127.0.0.1:$((agg_admin + i))"
[log]
level = "info"
[nats]
url = "$nats_url"
[output]
stream_max_bytes = 17179869184
TOML
	start "aggregator$i" bin/aggregator --config "$work/aggregator$i.toml"
	wait_port $((agg_admin + i))
done
sleep 3 # the aggregators agree on their shards
cat >"$work/relay.toml" <<TOML
[admin]
listen = "127.0.0.1:$relay_admin"
[log]
level = "warn"
[sections.statsd]
listen = ["tcp://127.0.0.1:$relay_statsd"]
format = "statsd"
cluster = "forward"
servers = ["$nats_url"]
shards = 64
[sections.graphite]
listen = ["tcp://127.0.0.1:$relay_graphite"]
format = "graphite"
cluster = "forward"
servers = ["$nats_url"]
shards = 64
TOML
start relay bin/relay --config "$work/relay.toml"
wait_port "$relay_statsd"
cat >"$work/query-api.toml" <<TOML
listen = "127.0.0.1:$query_port"
times = $TIMES
[admin]
listen = "127.0.0.1:$query_admin"
[recent]
nats = "$nats_url" # the writers' points not persisted yet
[log]
level = "warn"
[storage]
$storage
TOML
start query-api bin/query-api --config "$work/query-api.toml"
wait_port "$query_port"

aggs=$(seq -s, $((agg_admin + 1)) $((agg_admin + AGGREGATORS)))
writers=$(seq -s, $((writer_admin + 1)) $((writer_admin + WRITERS)))
echo "pipeline benchmark: $SERIES series ($statsd_keys statsd keys in statblast's mix, $graphite_keys graphite keys)," \
	"$DURATION, store $STORE, $AGGREGATORS aggregators, $WRITERS writers, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
secs=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)(s|m|h)', sys.argv[1]); print(int(m[1])*{'s':1,'m':60,'h':3600}[m[2]])" "$DURATION")
python3 bench/pipeline.py monitor --render-after $((secs / 2)) --work "$work" --aggs "$aggs" --writers "$writers" --relay "$relay_admin" --nats-monitor "$nats_monitor" \
	--query "$query_port" --statsd-keys "$statsd_keys" --graphite-keys "$graphite_keys" &
monitor=$!
pids+=($monitor)

# Every key twice per 10 s: --cycle sends a fork's keys in turn at keys/5 lines/s.
start_at=$(date +%s)
bin/statblast --servers "tcp://127.0.0.1:$relay_statsd" --type statsd --cycle --sample-rates --keys "$statsd_keys" \
	--forks 2 --buffer 4096 --lines-per-sec $((statsd_keys / 5 + 1)) --duration "${secs}s" --seed 13 \
	--expect-out "$work/expect-statsd.json" --json >"$work/statblast-statsd.json" 2>"$work/statblast-statsd.log" &
sb1=$!
bin/statblast --servers "tcp://127.0.0.1:$relay_graphite" --type graphite --prefix gblast --cycle --keys "$graphite_keys" \
	--forks 1 --buffer 4096 --lines-per-sec $((graphite_keys / 5 + 1)) --duration "${secs}s" --seed 14 \
	--expect-out "$work/expect-graphite.json" --json >"$work/statblast-graphite.json" 2>"$work/statblast-graphite.log" &
sb2=$!
echo "statblast $sb1" >>"$work/pids"
echo "statblast-graphite $sb2" >>"$work/pids"
wait "$sb1" "$sb2"
end_at=$(date +%s)
touch "$work/sending-done" # the monitor's lag probe stops at the intervals sent in whole

# Stop in order: the relay sends what it holds; the aggregators flush their open bins and publish everything;
# the writers store the stream's backlog.
stop() { # name: SIGTERM and wait (up to 120 s)
	local pid
	pid=$(awk -v n="$1" '$1 == n {print $2}' "$work/pids")
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 1200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	echo "$1 did not stop within 120 s" >&2
}
sleep 1
stop relay
stoppers=()
for i in $(seq 1 "$AGGREGATORS"); do
	stop "aggregator$i" &
	stoppers+=($!)
done
wait "${stoppers[@]}"
python3 bench/pipeline.py drain --writers "$writers" --timeout 3600
kill -TERM "$monitor"
wait "$monitor" || true
stop query-api
for i in $(seq 1 "$WRITERS"); do stop "writer$i"; done
stop nats-server
python3 bench/pipeline.py check --work "$work" --store "$STORE" --storage-dsn "${dsn:-}" --table "pipe$$" \
	--series "$SERIES" --duration "$DURATION" --start "$start_at" --end "$end_at" --times "$TIMES"
