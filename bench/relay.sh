#!/usr/bin/env bash
# Side-by-side benchmark: consthash relay vs Debian's carbon-c-relay, in the same harness.
#   statblast (graphite over TCP, 4 connections, 100k keys) -> relay -> carbon_ch cluster of 3 echoservers (count mode)
# For each relay it reports lines delivered, loss, delivered lines/s, relay CPU seconds and peak RSS, then the ratio.
# carbon-c-relay runs at its defaults and with -q 1000000 (at defaults it drops under burst).
#
#   bench/relay.sh                 # LINES=10000000 by default
#   LINES=2000000 bench/relay.sh   # quicker
# Needs: go, carbon-c-relay (apt-get install carbon-c-relay). Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-10000000}
KEYS=${KEYS:-100000}
FORKS=${FORKS:-4}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

make -s build >/dev/null
command -v carbon-c-relay >/dev/null || { echo "bench/relay.sh: carbon-c-relay is not installed (apt-get install carbon-c-relay)" >&2; exit 1; }

sink_ports=(17001 17002 17003)
relay_port=17100

start_sinks() {
	for p in "${sink_ports[@]}"; do
		bin/echoserver --count --interval 0 --servers "tcp://127.0.0.1:$p" --summary-out "$work/sink-$p.json" \
			>/dev/null 2>"$work/sink-$p.log" &
		echo $! >"$work/sink-$p.pid"
	done
	sleep 0.5
}

stop_sinks() {
	for p in "${sink_ports[@]}"; do kill -TERM "$(cat "$work/sink-$p.pid")" 2>/dev/null || true; done
	for p in "${sink_ports[@]}"; do
		while kill -0 "$(cat "$work/sink-$p.pid")" 2>/dev/null; do sleep 0.1; done
	done
}

delivered() {
	local n=0
	for p in "${sink_ports[@]}"; do
		n=$((n + $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['lines'])" "$work/sink-$p.json")))
	done
	echo "$n"
}

# proc_stats PID: "cpu_seconds peak_rss_kib"
proc_stats() {
	local pid=$1 ticks hz
	hz=$(getconf CLK_TCK)
	ticks=$(awk '{print $14+$15}' "/proc/$pid/stat")
	echo "$(awk -v t="$ticks" -v h="$hz" 'BEGIN{printf "%.1f", t/h}') $(awk '/VmHWM/{print $2}' "/proc/$pid/status")"
}

# run NAME CMD...: start a relay, blast, wait for the sinks to go quiet, report.
run() {
	local name=$1
	shift
	start_sinks
	"$@" >"$work/$name.log" 2>&1 &
	local rpid=$!
	for _ in $(seq 1 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$relay_port) 2>/dev/null && break
		sleep 0.1
	done
	if ! (exec 3<>/dev/tcp/127.0.0.1/$relay_port) 2>/dev/null; then
		echo "bench/relay.sh: $name did not start listening:" >&2
		cat "$work/$name.log" >&2
		exit 1
	fi
	local t0 t1
	t0=$(date +%s.%N)
	bin/statblast --servers "tcp://127.0.0.1:$relay_port" --type graphite --forks "$FORKS" --buffer 65536 \
		--keys "$KEYS" --count "$LINES" --seed 1 >"$work/$name.blast" 2>&1
	# Wait until the sinks stop receiving: poll the relay's cumulative socket writes via the sinks' summaries is not
	# possible while they run, so watch the sinks' received bytes through /proc.
	local last=-1 same=0 cur
	while :; do
		cur=0
		for p in "${sink_ports[@]}"; do
			cur=$((cur + $(awk '/^read_bytes|^rchar/{s+=$2} END{print s+0}' "/proc/$(cat "$work/sink-$p.pid")/io")))
		done
		if [ "$cur" = "$last" ]; then same=$((same + 1)); else same=0; t1=$(date +%s.%N); fi
		[ "$same" -ge 10 ] && break
		last=$cur
		sleep 0.2
	done
	local stats
	stats=$(proc_stats "$rpid")
	kill -TERM "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
	stop_sinks
	local got
	got=$(delivered)
	python3 - "$name" "$LINES" "$got" "$t0" "$t1" $stats <<'PY'
import sys
name, sent, got, t0, t1, cpu, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
secs = t1 - t0
print(f"{name:28s} sent {sent:>10d}  delivered {got:>10d}  loss {100*(sent-got)/sent:6.2f}%  "
      f"{got/secs:>10.0f} lines/s  relay cpu {cpu:6.1f}s  peak rss {rss/1024:7.1f} MiB")
PY
	echo "$name $LINES $got $t0 $t1 $stats" >>"$work/results"
}

cat >"$work/consthash.toml" <<TOML
[admin]
listen = ""
[log]
level = "warn"
[sections.bench]
listen = ["tcp://127.0.0.1:$relay_port"]
format = "graphite"
cluster = "carbon_c_ch"
servers = ["tcp://127.0.0.1:${sink_ports[0]}=a", "tcp://127.0.0.1:${sink_ports[1]}=b", "tcp://127.0.0.1:${sink_ports[2]}=c"]
TOML
cat >"$work/c-relay.conf" <<CONF
listen type linemode 127.0.0.1:$relay_port proto tcp;
cluster sinks carbon_ch 127.0.0.1:${sink_ports[0]}=a 127.0.0.1:${sink_ports[1]}=b 127.0.0.1:${sink_ports[2]}=c;
match * send to sinks stop;
CONF

echo "relay benchmark: $LINES graphite lines, $KEYS keys, $FORKS connections, 3 sinks, $(nproc) cores"
run consthash bin/relay --config "$work/consthash.toml"
run carbon-c-relay-defaults carbon-c-relay -f "$work/c-relay.conf" -s
run carbon-c-relay-q1000000 carbon-c-relay -f "$work/c-relay.conf" -s -q 1000000
python3 - "$work/results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, sent, got, t0, t1, cpu, rss = line.split()
    rows[name] = int(got) / (float(t1) - float(t0))
c = rows["consthash"]
for other in ("carbon-c-relay-defaults", "carbon-c-relay-q1000000"):
    print(f"ratio consthash / {other}: {c / rows[other]:.2f}x delivered lines/s")
PY
