#!/usr/bin/env bash
# consthash aggregator vs Etsy statsd 0.9.0 (npm), measured by what users get: the flushed output.
# aggbench (services/aggregator/cmd/aggbench) sends a statsd mix (half counters, 30% timers, 20% gauges over KEYS
# keys) over udp from SENDERS sockets, PER_DATAGRAM metrics per datagram, at rates stepping by FACTOR for
# STEP_SECONDS each, and runs the graphite sink both servers flush to (every second). A step is lossless when the
# flushed counter sums and timer counts at the sink equal what was sent, exactly, and every gauge's last value is the
# last one sent; the series stops at the first lossy step. statsd gets the same receive buffer per socket as each of
# the aggregator's (RCVBUF, through node's recvBufferSize). Then the NATS path: aggbench publishes the same mix to the
# aggregator's shard subjects (consthash.lines.<shard>, format statsd, NATS_BYTES per message, as a relay batches them)
# on a NATS server with JetStream it runs, and counts at the same sink.
#   bench/aggregator.sh                     (about 4 minutes on 2 cores)
#   PER_DATAGRAM="10" STEP_SECONDS=1 bench/aggregator.sh   (shorter)
# Last line: aggregator: consthash_lossless=<rate> statsd_lossless=<rate> ratio=<x> nats_path_lossless=<rate>
# (rates in metrics/s at PER_DATAGRAM's last value, 10 by default). Needs go, node and npm (statsd is installed from
# npm into ~/.cache/consthash/statsd). Everything is on 127.0.0.1; the senders share the cores with the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_SECONDS=${STEP_SECONDS:-2}
FACTOR=${FACTOR:-1.25}
KEYS=${KEYS:-3000}
SENDERS=${SENDERS:-8} # the kernel spreads senders over SO_REUSEPORT sockets by address and port: with 2, both often land on one
PER_DATAGRAM=${PER_DATAGRAM:-"1 10"}
RCVBUF=${RCVBUF:-8388608}
STATSD_START=${STATSD_START:-25000}      # at 10 metrics per datagram; at N per datagram, N/10 of it
CONSTHASH_START=${CONSTHASH_START:-100000}
NATS_START=${NATS_START:-200000}
NATS_BYTES=${NATS_BYTES:-16384}
NATS_ACKS=${NATS_ACKS:-true}           # the NATS path as relays send by default (nats_acks): requests, answered
MAX_RATE=${MAX_RATE:-20000000}
READERS=${READERS:-0}                  # the aggregator's udp sockets and readers (readers); 0: one per core
cache=${CONSTHASH_CACHE:-$HOME/.cache/consthash}/statsd
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bin
go build -o bin/aggregator ./services/aggregator
go build -o bin/aggbench ./services/aggregator/cmd/aggbench

if [ ! -f "$cache/node_modules/statsd/stats.js" ]; then
	mkdir -p "$cache"
	(cd "$cache" && npm init -y >/dev/null && npm install --silent --omit=optional --ignore-scripts statsd@0.9.0 >/dev/null)
fi

port=18125 sink=12003 admin=18082 natsport=14222
# start NAME CMD...: run a server in the background; stop: end it and wait until it has exited (ports free).
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	echo $! >"$work/$name.pid"
}
stop() {
	local p
	p=$(cat "$work/$1.pid")
	kill "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}
# series NAME START TARGET PER_DATAGRAM PIDNAME: aggbench against a running server; prints its steps (with the
# server's CPU time per metric), records the best.
series() {
	local name=$1 from=$2 target=$3 per=$4 pid
	pid=$(cat "$work/$5.pid")
	bin/aggbench --pid "$pid" --target "$target" --sink "127.0.0.1:$sink" --interval 1s --step "${STEP_SECONDS}s" --start "$from" \
		--factor "$FACTOR" --max "$MAX_RATE" --per-datagram "$per" --keys "$KEYS" --senders "$SENDERS" \
		--nats-bytes "$NATS_BYTES" --nats-acks="$NATS_ACKS" | tee "$work/$name.out" | sed "s/^/$name: /"
	echo "$name $(awk '/^best /{print $2} /^cpu at best:/{print $5, $7}' "$work/$name.out" | xargs)" >>"$work/best"
}

cat >"$work/agg.toml" <<TOML
times = ["1s:1h"]
[admin]
listen = "127.0.0.1:$admin"
[log]
level = "warn"
[[listeners]]
url = "udp://127.0.0.1:$port"
format = "statsd"
read_buffer = $RCVBUF
readers = $READERS
[output]
lines = "tcp://127.0.0.1:$sink"
TOML
cat >"$work/statsd.js" <<JS
{ port: $port, address: "127.0.0.1", flushInterval: 1000, backends: ["./backends/graphite"],
  graphiteHost: "127.0.0.1", graphitePort: $sink, automaticConfigReload: false }
JS
# statsd 0.9.0 has no receive buffer option: give its socket the aggregator's through node's recvBufferSize.
cat >"$work/rcvbuf.js" <<JS
const dgram = require('dgram');
const create = dgram.createSocket;
dgram.createSocket = function (type, cb) {
  if (typeof type === 'string') type = { type: type, recvBufferSize: $RCVBUF };
  return create.call(dgram, type, cb);
};
JS

echo "aggregator benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $KEYS keys, ${STEP_SECONDS}s per step, x$FACTOR"
echo "receive buffer $RCVBUF bytes per socket (kernel cap net.core.rmem_max = $(cat /proc/sys/net/core/rmem_max)); aggregator readers: $([ "$READERS" = 0 ] && nproc || echo "$READERS")"
for per in $PER_DATAGRAM; do
	cstart=$((CONSTHASH_START * per / 10)) sstart=$((STATSD_START * per / 10))
	if [ "${CONSTHASH:-1}" = 1 ]; then
		start consthash bin/aggregator --config "$work/agg.toml"
		series "consthash-$per" "$cstart" "udp://127.0.0.1:$port" "$per" consthash
		# The kernel picks a reader's socket by the sender's address and port:
		# with few senders, one reader may have taken everything.
		echo "consthash-$per: datagrams per udp reader: $(curl -s "127.0.0.1:$admin/stats" | python3 -c \
			'import json,sys; print(*json.load(sys.stdin).get("udp_reader_datagrams", {}).values())' 2>/dev/null)"
		stop consthash
	fi
	if [ "${STATSD:-1}" = 1 ]; then
		start statsd node --require "$work/rcvbuf.js" "$cache/node_modules/statsd/stats.js" "$work/statsd.js"
		series "statsd-$per" "$sstart" "udp://127.0.0.1:$port" "$per" statsd
		stop statsd
	fi
done

# The NATS path: aggbench's NATS server, the aggregator on every shard subject.
if [ "${NATS:-1}" = 1 ]; then
start nats bin/aggbench --serve-nats "127.0.0.1:$natsport" --store "$work/js"
for _ in $(seq 100); do grep -q ready "$work/nats.log" && break; sleep 0.1; done
cat >"$work/agg-nats.toml" <<TOML
times = ["1s:1h"]
[admin]
listen = "127.0.0.1:$admin"
[log]
level = "warn"
[nats]
url = "nats://127.0.0.1:$natsport"
[output]
lines = "tcp://127.0.0.1:$sink"
TOML
start consthash-nats bin/aggregator --config "$work/agg-nats.toml"
series nats "$NATS_START" "nats://127.0.0.1:$natsport" 10 consthash-nats
stop consthash-nats
stop nats
fi

last=${PER_DATAGRAM##* }
python3 - "$work/best" "$last" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" <<'PY'
import sys
best, cpu = {}, {}
for l in open(sys.argv[1]).read().splitlines():
    f = l.split()
    best[f[0]] = float(f[1]) if len(f) > 1 else 0.0
    if len(f) > 3:
        cpu[f[0]] = (float(f[2]), float(f[3]))
per, load, cores = sys.argv[2], sys.argv[3], int(sys.argv[4])
for k in sorted(best):
    print(f"highest lossless rate {k}: {best[k]:,.0f} metrics/s")
# The sender runs on the same cores: at full use they carry at most
# cores / (server's + sender's CPU a metric).
for k in sorted(cpu):
    sv, sn = cpu[k]
    line = f"{k} at its best step: server {sv:.0f} + sender {sn:.0f} ns of CPU a metric"
    if k.startswith("consthash-"):
        s = best.get("statsd-" + k.split("-")[1], 0)
        line += f": {cores} cores carry at most {cores * 1e9 / (sv + sn):,.0f} metrics/s with this sender"
        if s:
            line += f" (10x statsd's best: {10 * s:,.0f})"
    print(line)
for p in sorted({k.split('-')[1] for k in best if '-' in k}, key=int):
    c, s = best.get(f"consthash-{p}", 0), best.get(f"statsd-{p}", 0)
    print(f"{p} metrics per datagram: consthash {c:,.0f}, statsd {s:,.0f}, ratio {c / s if s else float('inf'):.1f}x")
print(f"load average at the end: {load}")
c, s, n = best.get(f"consthash-{per}", 0), best.get(f"statsd-{per}", 0), best.get("nats", 0)
ratio = c / s if s else float("inf")
print(f"aggregator: consthash_lossless={c:.0f} statsd_lossless={s:.0f} ratio={ratio:.1f} nats_path_lossless={n:.0f}")
PY
