#!/usr/bin/env bash
# Side-by-side benchmark: consthash aggregator vs Etsy statsd 0.9.0 (npm), same harness.
# statblast sends statsd lines over UDP (2 forks, 1400-byte datagrams) at stepped rates for STEP_SECONDS each;
# the receiver's own counter of lines received gives the loss. Reports, for each, the highest send rate with
# < 0.1% loss, then the ratio; and the aggregator's memory per active key.
#   bench/aggregator.sh           (RATES="100000 ... 3200000" STEP_SECONDS=3 by default)
# Needs go, node and npm (statsd is installed from npm into ~/.cache/consthash/statsd). Everything is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"100000 200000 400000 800000 1200000 1600000 2400000 3200000"}
STEP_SECONDS=${STEP_SECONDS:-3}
KEYS=${KEYS:-10000}
cache=${CONSTHASH_CACHE:-$HOME/.cache/consthash}/statsd
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
make -s build >/dev/null

if [ ! -f "$cache/node_modules/statsd/stats.js" ]; then
	mkdir -p "$cache"
	(cd "$cache" && npm init -y >/dev/null && npm install --silent --omit=optional --ignore-scripts statsd@0.9.0 >/dev/null)
fi

port=18125
# blast RATE: send at about RATE lines/s for STEP_SECONDS, print the lines sent.
blast() {
	local rate=$1
	bin/statblast --servers "udp://127.0.0.1:$port" --type statsd --forks 2 --buffer 1400 --keys "$KEYS" \
		--mix c:1 --duration "${STEP_SECONDS}s" --lines-per-sec "$rate" --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["lines"])'
}

# consthash aggregator: lines_in from /stats
agg_received() { curl -s "http://127.0.0.1:18082/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines_in"])'; }
cat >"$work/agg.toml" <<TOML
times = ["3600s:7200s"]
[admin]
listen = "127.0.0.1:18082"
[log]
level = "warn"
[[listeners]]
url = "udp://127.0.0.1:$port"
format = "statsd"
TOML

# statsd: metrics_received from its management port (flushInterval is long, so counters are not reset)
cat >"$work/statsd.js" <<JS
{ port: $port, address: "127.0.0.1", mgmt_address: "127.0.0.1", mgmt_port: 18126, flushInterval: 3600000,
  backends: [], automaticConfigReload: false }
JS
statsd_received() {
	python3 - <<'PY'
import re, socket
s = socket.create_connection(("127.0.0.1", 18126)); s.sendall(b"counters\n"); s.settimeout(2)
buf = b""
try:
    while b"END" not in buf:
        chunk = s.recv(65536)
        if not chunk: break
        buf += chunk
except socket.timeout:
    pass
m = re.search(rb"'statsd\.metrics_received': (\d+)", buf)
print(m.group(1).decode() if m else 0)
PY
}

run() {
	local name=$1 received_fn=$2
	shift 2
	"$@" >"$work/$name.log" 2>&1 &
	local pid=$! best=0
	sleep 2
	local before after sent got loss
	for rate in $RATES; do
		before=$($received_fn)
		sent=$(blast "$rate")
		sleep 1
		after=$($received_fn)
		got=$((after - before))
		loss=$(python3 -c "print(f'{100*($sent-$got)/$sent:.3f}')")
		printf '%-22s target %9d lines/s  sent %9d  received %9d  loss %7s%%  (%d lines/s sent)\n' \
			"$name" "$rate" "$sent" "$got" "$loss" $((sent / STEP_SECONDS))
		if python3 -c "import sys; sys.exit(0 if $got >= $sent * 0.999 else 1)"; then best=$((sent / STEP_SECONDS)); else break; fi
	done
	echo "$name $best" >>"$work/best"
	if [ "$name" = consthash ]; then
		local rss0 rss1
		rss0=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
		bin/statblast --servers "udp://127.0.0.1:$port" --type statsd --forks 1 --buffer 1400 --keys 200000 --mix c:1 \
			--count 1000000 --lines-per-sec 100000 >/dev/null
		sleep 1
		rss1=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
		echo "consthash memory: RSS $((rss0 / 1024)) MiB -> $((rss1 / 1024)) MiB after ~200,000 more counter keys: about $(( (rss1 - rss0) * 1024 / 200000 )) bytes per key"
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

echo "aggregator benchmark: statsd counters over UDP, $KEYS keys, ${STEP_SECONDS}s per step, $(nproc) cores"
run consthash agg_received bin/aggregator --config "$work/agg.toml"
run statsd-0.9.0 statsd_received node "$cache/node_modules/statsd/stats.js" "$work/statsd.js"
python3 - "$work/best" <<'PY'
import sys
best = dict(l.split() for l in open(sys.argv[1]))
c, s = int(best["consthash"]), int(best["statsd-0.9.0"])
print(f"highest rate with < 0.1% loss: consthash {c} lines/s, statsd {s} lines/s, ratio {c / max(s, 1):.1f}x")
PY
