#!/usr/bin/env bash
# Side-by-side benchmark, one request at a time, on one data set:
#   graphite-web 1.1.8 (Debian, under gunicorn, 2 workers) on whisper files;
#   carbonapi over go-carbon's carbonserver, on the SAME whisper files;
#   consthash query-api on SQLite and on Cassandra (STORES="sqlite cassandra", the default).
# Requests (bench/query.py; absolute from/until, the data set ends at END):
#   render_day:  100 series x 1 day at 10 s (864,000 points), maxDataPoints=1000, json;
#   render_hour: the same series over the last hour;
#   find:        bench.find.0[1-3]?.*.05? over FANOUT^3 leaves (216,000 by default: 18,000 matches);
#   render_wide: WIDE_SERIES series x WIDE_DAYS days at WIDE_STEP (1,000 x 7 days at 1 min, 10.08 million points:
#                the resolution query-api's times = ["10s:2d", "1m:30d"] serve 7 days at), maxDataPoints=1000.
# wrk (1 thread, 1 connection, --timeout 60s, DURATION each after a 2 s warm-up) for the first three, timed
# requests for render_wide. Caches off everywhere: graphite-web's DummyCache and no CARBONLINK_HOSTS, carbonapi's cache and backendCache
# "null", carbonserver's query, find and glob caches off (its trie index of the file names stays: it is how it
# finds). Last lines, one per store, sqlite last:
#   query: store=<s> render_day_ratio=<x> render_day_vs_carbonapi=<x> render_hour_ratio=<x> find_ratio=<x>
# (the peer's p50 / query-api's p50; render_day_ratio and the others against graphite-web).
#
#   bench/query.sh                       (measuring: about 5 minutes; loading: see docs/benchmarks.md)
#   STORES=sqlite DURATION=5s bench/query.sh
#   WORK=/tmp/qbench bench/query.sh      (keeps the data set there and reuses it on the next run)
#   LAST_AT=arrival bench/query.sh       (the stores' points as graphite lines make them: last_at their arrival in
#                                         nanoseconds, which blocks keep exactly; the default, bin-end, is a statsd
#                                         flush's, as make bench-writer writes them; whisper keeps no last_at)
#
# carbonapi and go-carbon are built from the mirrors of the fetch tool (MIRRORS=/work/.mirror, their vendor
# directories, offline) the first time, carbonapi by scripts/carbonapi-peer.sh, both cached per commit under
# ${CONSTHASH_CACHE:-~/.cache/consthash}/peers (without a mirror: the newest build there, or a message saying how
# to bring the mirror); nothing of theirs is in this repository. Needs go, wrk, gunicorn, graphite-web (apt-get install wrk gunicorn graphite-web), and for
# cassandra the local node of scripts/cassandra.sh (started if it is not running; never stopped here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
STORES=${STORES:-sqlite cassandra}
FANOUT=${FANOUT:-60}
DURATION=${DURATION:-10s}
WIDE_SERIES=${WIDE_SERIES:-1000}
WIDE_DAYS=${WIDE_DAYS:-7}
WIDE_STEP=${WIDE_STEP:-1m}
LAST_AT=${LAST_AT:-bin-end}
PEERS=${CONSTHASH_CACHE:-$HOME/.cache/consthash}/peers
MIRRORS=${MIRRORS:-/work/.mirror}
export WIDE_DAYS
[ "$WIDE_DAYS" -ge 3 ] || { echo "query.sh: WIDE_DAYS=$WIDE_DAYS: want 3 or more (query-api reads 2 days or less at 10s, where the wide set is not)" >&2; exit 2; }
export WIDE_DESC="$WIDE_SERIES series x $WIDE_DAYS days at $WIDE_STEP"
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
keyspace=bq_$(printf %s "$work" | cksum | cut -d' ' -f1)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -z "${WORK:-}" ]; then
		case " $STORES " in *" cassandra "*) [ -z "${hosts:-}" ] || "$work/queryload" --driver cassandra --dsn "$hosts" \
			--keyspace "$keyspace" --drop || true ;; esac
		rm -rf "$work"
	fi
}
trap cleanup EXIT
for c in wrk gunicorn; do
	command -v $c >/dev/null || { echo "query.sh: $c is missing (apt-get install wrk gunicorn graphite-web)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import graphite, django' 2>/dev/null || { echo "query.sh: graphite-web is missing (apt-get install graphite-web)" >&2; exit 1; }

# carbonapi: scripts/carbonapi-peer.sh (built once per commit of its mirror, shared with the tests). go-carbon the
# same way here: built from the mirror's HEAD into $PEERS/go-carbon-bin-<commit>/, under a lock.
carbonapi=$(CARBONAPI_GIT=$MIRRORS/go-graphite+carbonapi/repo scripts/carbonapi-peer.sh | tail -n1) || {
	echo "query.sh: no carbonapi: bring github:go-graphite/carbonapi with the fetch tool (its mirror goes to" \
		"$MIRRORS/go-graphite+carbonapi), or set MIRRORS" >&2
	exit 1
}
gocarbon_peer() {
	local mirror=$MIRRORS/go-graphite+go-carbon/repo rev bin
	if [ ! -d "$mirror" ]; then
		bin=$(ls -t "$PEERS"/go-carbon-bin-*/go-carbon 2>/dev/null | head -n1)
		[ -n "$bin" ] || {
			echo "query.sh: no go-carbon: its mirror is absent ($mirror) and none is built under $PEERS; bring" \
				"github:go-graphite/go-carbon with the fetch tool, or set MIRRORS" >&2
			return 1
		}
		echo "query.sh: no go-carbon mirror at $mirror; using $bin" >&2
		echo "$bin"
		return
	fi
	rev=$(git --git-dir="$mirror" rev-parse HEAD)
	bin=$PEERS/go-carbon-bin-$rev/go-carbon
	mkdir -p "$PEERS"
	(
		flock 9
		if [ ! -x "$bin" ]; then
			echo "query.sh: building go-carbon $(git --git-dir="$mirror" describe --tags --always HEAD) from $mirror" >&2
			src=$PEERS/go-carbon-src-$rev
			rm -rf "$src" && mkdir -p "$src"
			git --git-dir="$mirror" archive "$rev" | tar -x -C "$src"
			(cd "$src" && GOWORK=off GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .)
			mv "$bin.tmp" "$bin"
			rm -rf "$src"
		fi
	) 9>"$PEERS/go-carbon-bin-$rev.lock"
	echo "$bin"
}
gocarbon=$(gocarbon_peer)
make -s build >/dev/null
(cd bench/queryload && GOWORK=off go build -o "$work/queryload" .)

case " $STORES " in *" cassandra "*)
	hosts=$(scripts/cassandra.sh start | tail -n1 | sed 's/^CONSTHASH_TEST_CASSANDRA_HOSTS=//') ;;
esac

# The data set: written once per WORK, ending at the minute of the first run.
[ -f "$work/end" ] || echo $(($(date +%s) / 60 * 60)) >"$work/end"
end=$(cat "$work/end")
load=(--end "$end" --fanout "$FANOUT" --wide-series "$WIDE_SERIES" --wide-days "$WIDE_DAYS" --wide-step "$WIDE_STEP" --last-at "$LAST_AT")
started=$(date +%s)
# whisper files and each store side by side (the stores wait on their databases more than on the CPU)
loads=()
if [ ! -f "$work/whisper.done" ]; then
	("$work/queryload" "${load[@]}" --whisper "$work/whisper" && touch "$work/whisper.done") &
	loads+=($!)
fi
# A store's done file names the last_at its points were written with (LAST_AT); loaded with another (or
# before there was a choice: last_at 1 ns, in no bin), the store is emptied and loaded again. So is a keyspace
# that is gone (scripts/cassandra.sh empties the node when it starts it, as CI does).
case " $STORES " in *" cassandra "*)
	"$work/queryload" --driver cassandra --dsn "$hosts" --keyspace "$keyspace" --exists 2>/dev/null || rm -f "$work/cassandra.done" ;;
esac
for st in $STORES; do
	[ "$(cat "$work/$st.done" 2>/dev/null)" = "last_at=$LAST_AT" ] && continue
	case $st in
	sqlite) (rm -f "$work"/consthash.db*; "$work/queryload" "${load[@]}" --driver sqlite --dsn "file:$work/consthash.db" &&
		echo "last_at=$LAST_AT" >"$work/$st.done") & ;;
	cassandra) ("$work/queryload" --driver cassandra --dsn "$hosts" --keyspace "$keyspace" --drop &&
		"$work/queryload" "${load[@]}" --driver cassandra --dsn "$hosts" --keyspace "$keyspace" &&
		echo "last_at=$LAST_AT" >"$work/$st.done") & ;;
	*) echo "query.sh: STORES=$STORES: want sqlite and/or cassandra" >&2; exit 2 ;;
	esac
	loads+=($!)
done
for p in "${loads[@]}"; do wait "$p" || { echo "query.sh: loading the data set failed (above)" >&2; exit 1; }; done
echo "query.sh: data set in $work ready ($(($(date +%s) - started)) s of loading this run)" >&2

servers="["
sep=""
# consthash query-api, one per store
port=18089
for st in $STORES; do
	case $st in
	sqlite) storage="driver = \"sqlite\"
dsn = \"file:$work/consthash.db\"" ;;
	cassandra) storage="driver = \"cassandra\"
dsn = \"$hosts\"
options = { keyspace = \"$keyspace\" }" ;;
	esac
	cat >"$work/query-api-$st.toml" <<TOML
listen = "127.0.0.1:$port"
times = ["10s:2d", "$WIDE_STEP:30d"]
max_series = 10000
max_find = 2000000
max_request_points = 20000000
query_timeout = "300s"
write_timeout = "310s"
[storage]
$storage
[admin]
listen = "127.0.0.1:$((port + 100))"
[log]
level = "warn"
TOML
	bin/query-api --config "$work/query-api-$st.toml" &
	pids+=($!)
	extra=""
	if [ "$st" = cassandra ] && [ -f /tmp/consthash-cassandra/cassandra.pid ]; then
		extra=", \"extra_pids\": {\"cassandra\": [$(cat /tmp/consthash-cassandra/cassandra.pid)]}"
	fi
	servers+="$sep{\"name\": \"query-api/$st\", \"port\": $port, \"pids\": [$!], \"store\": \"$st\"$extra}"
	sep=", "
	port=$((port + 1))
	[ $port = 18090 ] && port=18091
done

# graphite-web 1.1.8 on the whisper files
mkdir -p "$work/gw/storage" "$work/gw/log"
cat >"$work/gw/bench_settings.py" <<PY
SECRET_KEY = 'bench-not-secret'
TIME_ZONE = 'UTC'
ALLOWED_HOSTS = ['*']
STORAGE_DIR = '$work/gw/storage'
WHISPER_DIR = '$work/whisper'
STANDARD_DIRS = [WHISPER_DIR]
LOG_DIR = '$work/gw/log'
INDEX_FILE = '$work/gw/storage/index'
STORAGE_FINDERS = ('graphite.finders.standard.StandardFinder',)
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '$work/gw/graphite.db'}}
MEMCACHE_HOSTS = []
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.dummy.DummyCache'}}
LOG_RENDERING_PERFORMANCE = False
LOG_CACHE_PERFORMANCE = False
CARBONLINK_HOSTS = []  # no carbon-cache: its cache of recent points is off too (and not asked once per series)
REPLICATION_FACTOR = 0  # what an empty CARBONLINK_HOSTS needs
FIND_TIMEOUT = 300.0   # defaults 3 s and 6 s: the wide render and the find take longer
FETCH_TIMEOUT = 300.0
PY
(
	export PYTHONPATH="$work/gw" DJANGO_SETTINGS_MODULE=graphite.settings GRAPHITE_SETTINGS_MODULE=bench_settings
	/usr/bin/python3 -m django migrate --verbosity 0 >"$work/gw/log/migrate.log" 2>&1
	cd "$work/gw" && exec gunicorn --workers 2 --timeout 300 --bind 127.0.0.1:18090 --log-level warning graphite.wsgi:application
) &
pids+=($!)
servers+="$sep{\"name\": \"graphite-web\", \"port\": 18090, \"pids\": [$!], \"tree\": true}"

# go-carbon: carbonserver only (no receivers, no persister) on the same whisper files; carbonapi in front
mkdir -p "$work/gc"
: >"$work/gc/storage-schemas.conf"
cat >"$work/gc/go-carbon.conf" <<TOML
[common]
user = ""
metric-endpoint = "local"
metric-interval = "1h"
max-cpu = 2
[whisper]
data-dir = "$work/whisper"
schemas-file = "$work/gc/storage-schemas.conf"
enabled = false
flock = false
[cache]
max-size = 1000000
write-strategy = "max"
[udp]
enabled = false
[tcp]
enabled = false
[pickle]
enabled = false
[carbonlink]
enabled = false
[grpc]
enabled = false
[tags]
enabled = false
[carbonserver]
listen = "127.0.0.1:18094"
enabled = true
query-cache-enabled = false
streaming-query-cache-enabled = false
find-cache-enabled = false
glob-cache-enabled = false
trie-index = true
trigram-index = false
scan-frequency = "1h"
no-service-when-index-is-not-ready = true
max-globs = 100
max-metrics-globbed = 10000000
max-metrics-rendered = 100000
read-timeout = "300s"
write-timeout = "300s"
request-timeout = "300s"
[dump]
enabled = false
[pprof]
enabled = false
[[logging]]
logger = ""
file = "$work/gc/go-carbon.log"
level = "warn"
TOML
"$gocarbon" -config "$work/gc/go-carbon.conf" >"$work/gc/go-carbon.out" 2>&1 &
pids+=($!)
gcpid=$!
cat >"$work/gc/carbonapi.yaml" <<YAML
listen: "127.0.0.1:18093"
concurency: 1000
cache:
  type: "null"
backendCache:
  type: "null"
cpus: 0
maxBatchSize: 0
idleConnections: 10
upstreams:
  tldCacheDisabled: true
  timeouts:
    find: "300s"
    render: "300s"
    connect: "1s"
  backendsv2:
    backends:
      - groupName: "go-carbon"
        protocol: "carbonapi_v3_pb"
        lbMethod: "broadcast"
        maxTries: 1
        servers:
          - "http://127.0.0.1:18094"
expvar:
  enabled: false
logger:
  - logger: ""
    file: "$work/gc/carbonapi.log"
    level: "warn"
    encoding: "console"
YAML
"$carbonapi" -config "$work/gc/carbonapi.yaml" >"$work/gc/carbonapi.out" 2>&1 &
pids+=($!)
servers+=", {\"name\": \"carbonapi+go-carbon\", \"port\": 18093, \"pids\": [$!, $gcpid]}]"
echo "$servers" >"$work/servers.json"

# Up: each answers /version (carbonserver: its index built, find answers).
for url in $(/usr/bin/python3 -c 'import json,sys; [print("http://127.0.0.1:%d" % s["port"]) for s in json.load(open(sys.argv[1]))]' "$work/servers.json"); do
	ok=""
	for _ in $(seq 600); do
		curl -sf "$url/metrics/find?query=bench.*&format=json" >/dev/null && { ok=1; break; }
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null || { echo "query.sh: a server exited; its logs are in $work (gc/, gw/log/)" >&2; exit 1; }
		done
		sleep 0.5
	done
	[ -n "$ok" ] || { echo "query.sh: $url does not answer after 300 s" >&2; exit 1; }
done
# query-api answers finds from the store until its path index is loaded: wait for it (admin port = port + 100).
for port in $(/usr/bin/python3 -c 'import json,sys; [print(s["port"] + 100) for s in json.load(open(sys.argv[1])) if s["name"].startswith("query-api/")]' "$work/servers.json"); do
	ok=""
	for _ in $(seq 600); do
		curl -sf "http://127.0.0.1:$port/ops/status" | grep -q '"path_index": *"ready"' && { ok=1; break; }
		sleep 0.5
	done
	[ -n "$ok" ] || { echo "query.sh: query-api's path index (admin port $port) not ready after 300 s" >&2; exit 1; }
done
echo "query.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) before measuring (2 cores: figures are under that load)" >&2
/usr/bin/python3 bench/query.py "$work/servers.json" "$end" "$DURATION"
echo "query.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) after" >&2
