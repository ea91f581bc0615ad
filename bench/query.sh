#!/usr/bin/env bash
# Side-by-side benchmark: consthash query-api vs graphite-web 1.1.8 (Debian, under gunicorn) on the same data:
#   render: 100 series x 1 day at 10 s (864,000 points), from=-24h, maxDataPoints=1000, json;
#   find:   a 3-level glob (bench.find.0[1-3]?.*.05?, 30,000 matches) over FANOUT^3 leaves (1,000,000 by default).
# Each request runs with wrk (1 connection, DURATION each) after a warm-up; the script prints p50/p99 latency,
# requests/s and the ratio graphite-web / consthash. Both servers get the same 2 cores; graphite-web runs
# 2 gunicorn workers, its cache off (as query-api has none).
#   bench/query.sh                 (FANOUT=100 DURATION=20s by default; FANOUT=40 for a quick run)
# Needs go, wrk, gunicorn, graphite-web and python3-whisper (apt-get install wrk gunicorn graphite-web).
set -euo pipefail
cd "$(dirname "$0")/.."
FANOUT=${FANOUT:-100}
DURATION=${DURATION:-20s}
work=${WORK:-$(mktemp -d)}
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${WORK:-}" ] || rm -rf "$work"' EXIT
for c in wrk gunicorn; do
	command -v $c >/dev/null || { echo "query.sh: $c is missing (apt-get install wrk gunicorn graphite-web)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import graphite, whisper' || { echo "query.sh: graphite-web is missing (apt-get install graphite-web)" >&2; exit 1; }
make -s build >/dev/null
(cd services/query-api && go build -o "$work/benchload" ./cmd/benchload)

now=$(date +%s)
if [ ! -f "$work/render.tsv" ]; then
	echo "query.sh: writing the data set (whisper files and SQLite) in $work"
	/usr/bin/python3 bench/query_data.py "$work" "$now" "$FANOUT"
	"$work/benchload" --dsn "file:$work/consthash.db" --tsv "$work/render.tsv" --fanout "$FANOUT" --resolution 10s:2d
fi

# consthash query-api
cat >"$work/query-api.toml" <<TOML
listen = "127.0.0.1:18089"
times = ["10s:2d", "1m:30d"]
max_series = 10000
max_find = 2000000
[storage]
driver = "sqlite"
dsn = "file:$work/consthash.db"
[admin]
listen = "127.0.0.1:18088"
[log]
level = "warn"
TOML
bin/query-api --config "$work/query-api.toml" &

# graphite-web
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
PY
export PYTHONPATH="$work/gw" DJANGO_SETTINGS_MODULE=graphite.settings GRAPHITE_SETTINGS_MODULE=bench_settings
/usr/bin/python3 -m django migrate --verbosity 0 >/dev/null
(cd "$work/gw" && gunicorn --workers 2 --bind 127.0.0.1:18090 --log-level warning graphite.wsgi:application) &

for url in http://127.0.0.1:18089/version http://127.0.0.1:18090/version; do
	for _ in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.2; done
done

render="/render?target=bench.render.*&from=-24h&until=now&maxDataPoints=1000&format=json"
find="/metrics/find?query=bench.find.0%5B1-3%5D%3F.*.05%3F&format=treejson"
# check: both answer the same shapes
c_series=$(curl -s "http://127.0.0.1:18089$render" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), len(d[0]["datapoints"]))')
g_series=$(curl -s "http://127.0.0.1:18090$render" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), len(d[0]["datapoints"]))')
c_find=$(curl -s "http://127.0.0.1:18089${find/treejson/completer}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["metrics"]))')
g_find=$(curl -s "http://127.0.0.1:18090${find/treejson/completer}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["metrics"]))')
echo "render: consthash $c_series (series, points each); graphite-web $g_series"
echo "find:   consthash $c_find matches; graphite-web $g_find"

# measure NAME PORT PATH: wrk's p50, p99 (ms) and requests/s
measure() {
	wrk -t1 -c1 -d3s "http://127.0.0.1:$2$3" >/dev/null # warm-up
	wrk -t1 -c1 -d"$DURATION" --latency "http://127.0.0.1:$2$3" | python3 -c '
import re, sys
out = sys.stdin.read()
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        sys.exit("query.sh: cannot read wrk latency %r in:\n%s" % (s, out))
    v, u = float(m.group(1)), m.group(2)
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[u]
p50 = ms(re.search(r"50%\s+(\S+)", out).group(1)); p99 = ms(re.search(r"99%\s+(\S+)", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print("%.2f %.2f %.1f" % (p50, p99, rps))'
}
printf "\n%-8s %-12s %10s %10s %10s\n" request server p50_ms p99_ms req/s
for req in render find; do
	path=$render
	[ $req = find ] && path=$find
	read -r cp50 cp99 crps < <(measure consthash 18089 "$path")
	read -r gp50 gp99 grps < <(measure graphite-web 18090 "$path")
	printf "%-8s %-12s %10s %10s %10s\n" $req consthash "$cp50" "$cp99" "$crps"
	printf "%-8s %-12s %10s %10s %10s\n" $req graphite-web "$gp50" "$gp99" "$grps"
	python3 -c "print('%-8s ratio (graphite-web / consthash): p50 %.1fx, p99 %.1fx, throughput %.1fx' % ('$req', $gp50/$cp50, $gp99/$cp99, $crps/$grps))"
done
