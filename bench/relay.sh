#!/usr/bin/env bash
# Side-by-side benchmark: consthash relay vs Debian's carbon-c-relay, in one run, same input, same sinks.
#   statblast --replay (graphite over TCP, 4 connections, 100k keys, paced to a rate) -> relay
#     -> a carbon_ch cluster of 3 echoserver --count sinks (consthash: carbon_c_ch, the same ring)
# Each relay climbs a ladder of rates (x FACTOR per step). A step sends RATE x STEP_SECONDS lines paced at RATE;
# it is lossless when every line arrives at the sinks (counted exactly by the sinks) and the sinks received them
# at >= 95% of RATE (a relay that pushes back slows the sender instead of losing lines: that is not keeping up).
# A relay's ladder stops after two failed steps in a row that no longer raise what it delivers per second. carbon-c-relay (-q 1000000) climbs first, from
# START_RATE; consthash starts at carbon-c-relay's highest lossless rate. If carbon-c-relay is lossy at every
# rate, the relays are compared at equal loss: carbon-c-relay's least lossy step against consthash's highest
# rate with no more loss (rates then are the lines delivered per second). Relay CPU per line is the relay process's utime+stime (/proc/PID/stat) over the lines
# delivered; the generator's is statblast's own user+system time from its first send on (getrusage, the same
# clock; rendering before is left out) over the lines it sent.
# statblast runs with --replay for both relays alike: each connection's lines are rendered once (8 MiB) and written
# over and over in 64 KiB chunks, so a line costs the generator a copy, not its formatting. Every process shares the
# machine's cores.
#
#   bench/relay.sh                                   # defaults below
#   STEP_SECONDS=2 START_RATE=400000 bench/relay.sh  # quicker
#   RELAY_BIN=/tmp/relay-old bench/relay.sh          # the same ladder with another relay build
# Needs: go, carbon-c-relay (apt-get install carbon-c-relay), python3. Everything listens on 127.0.0.1.
# Last line: relay: consthash_lossless=<rate> ccr_lossless=<rate> ratio=<x> relay_ns_per_line=<x> gen_ns_per_line=<x>
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_SECONDS=${STEP_SECONDS:-3}
START_RATE=${START_RATE:-200000}
MAX_RATE=${MAX_RATE:-20000000}
FACTOR=${FACTOR:-1.25}
KEYS=${KEYS:-100000}
FORKS=${FORKS:-4}
CCR_QUEUE=${CCR_QUEUE:-1000000}
RELAY_BIN=${RELAY_BIN:-bin/relay} # another build (an older commit's) to compare CPU per line
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

make -s build >/dev/null
command -v carbon-c-relay >/dev/null || { echo "bench/relay.sh: carbon-c-relay is not installed (apt-get install carbon-c-relay)" >&2; exit 1; }

sink_ports=(17001 17002 17003)
relay_port=17100
hz=$(getconf CLK_TCK)

start_sinks() {
	for p in "${sink_ports[@]}"; do
		rm -f "$work/sink-$p.json"
		bin/echoserver --count --interval 0 --servers "tcp://127.0.0.1:$p" --summary-out "$work/sink-$p.json" \
			>/dev/null 2>"$work/sink-$p.log" &
		echo $! >"$work/sink-$p.pid"
	done
	for p in "${sink_ports[@]}"; do wait_port "$p" sink; done
}

stop_sinks() {
	for p in "${sink_ports[@]}"; do kill -TERM "$(cat "$work/sink-$p.pid")" 2>/dev/null || true; done
	for p in "${sink_ports[@]}"; do
		while kill -0 "$(cat "$work/sink-$p.pid")" 2>/dev/null; do sleep 0.05; done
	done
}

wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench/relay.sh: $2 did not start listening on $1" >&2
	return 1
}

delivered() {
	local p files=()
	for p in "${sink_ports[@]}"; do files+=("$work/sink-$p.json"); done
	python3 -c "import json,sys; print(sum(json.load(open(f))['lines'] for f in sys.argv[1:]))" "${files[@]}"
}

sink_bytes() {
	local n=0 p
	for p in "${sink_ports[@]}"; do
		n=$((n + $(awk '/^rchar/{print $2}' "/proc/$(cat "$work/sink-$p.pid")/io")))
	done
	echo "$n"
}

# step NAME RATE CMD...: one rung of a relay's ladder; appends a row to $work/results.
step() {
	local name=$1 rate=$2
	shift 2
	local lines=$((rate * STEP_SECONDS))
	start_sinks
	"$@" >"$work/$name.log" 2>&1 &
	local rpid=$!
	if ! wait_port "$relay_port" "$name"; then cat "$work/$name.log" >&2; exit 1; fi
	local t0 t1 last=-1 same=0 cur
	bin/statblast --servers "tcp://127.0.0.1:$relay_port" --type graphite --forks "$FORKS" --buffer 65536 \
		--keys "$KEYS" --count "$lines" --lines-per-sec "$rate" --seed 1 --replay >"$work/$name.blast" 2>&1
	t0=$(date +%s.%N)
	t1=$t0
	# The sinks are done when they have read nothing new for a second.
	while :; do
		cur=$(sink_bytes)
		if [ "$cur" = "$last" ]; then same=$((same + 1)); else same=0; t1=$(date +%s.%N); fi
		[ "$same" -ge 10 ] && break
		last=$cur
		sleep 0.1
	done
	local ticks
	ticks=$(awk '{print $14+$15}' "/proc/$rpid/stat")
	kill -TERM "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
	stop_sinks
	local got
	got=$(delivered)
	python3 - "$name" "$rate" "$lines" "$got" "$t0" "$t1" "$ticks" "$hz" "$work/$name.blast" >>"$work/results" <<'PY'
import re, sys
name, rate, sent, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
# The sending took what statblast says (its key generation before excluded); the relay then needed until
# the sinks stopped reading (t1) after statblast ended (t0).
out = open(sys.argv[9]).read()
m, gen = re.search(r" in ([0-9.]+)s: ", out), re.search(r", cpu [0-9.]+s \(([0-9.]+)s sending\)", out)
if not m or not gen:
    sys.exit(f"bench/relay.sh: statblast failed: {out}")
secs = float(m.group(1)) + max(0.0, float(sys.argv[6]) - float(sys.argv[5]))
cpu = int(sys.argv[7]) / int(sys.argv[8])
achieved = got / secs if secs > 0 else 0
ok = got == sent and achieved >= 0.95 * rate
print(name, rate, sent, got, f"{achieved:.0f}", f"{cpu * 1e9 / max(got, 1):.0f}", "pass" if ok else "fail",
      f"{float(gen.group(1)) * 1e9 / sent:.0f}")
PY
	tail -1 "$work/results" | awk '{printf "  %-14s rate %9d  sent %10d  delivered %10d  loss %6.2f%%  received/s %9d  cpu/line %5d ns  statblast %4d ns  %s\n",
		$1, $2, $3, $4, 100 * ($3 - $4) / $3, $5, $6, $8, $7}'
	[ "$(tail -1 "$work/results" | awk '{print $7}')" = pass ]
}

# ladder NAME FROM CMD...: steps up from rate FROM until two steps in a row fail without delivering 5% more per
# second than the best step so far (a relay that fails but still delivers more is climbing: the comparison at
# equal loss needs its ceiling); prints the highest lossless rate (0: none).
ladder() {
	local name=$1 rate=$2 fails=0 best=0 top=0 got
	shift 2
	while [ "$rate" -le "$MAX_RATE" ] && [ "$fails" -lt 2 ]; do
		if step "$name" "$rate" "$@" >&2; then
			fails=0
			best=$rate
		else
			fails=$((fails + 1))
		fi
		got=$(tail -1 "$work/results" | awk '{print $5}')
		if [ "$got" -gt $((top + top / 20)) ]; then [ "$best" = "$rate" ] || fails=0; fi
		[ "$got" -gt "$top" ] && top=$got
		rate=$(python3 -c "print(int(round($rate * $FACTOR, -3)))")
	done
	echo "$best"
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

echo "relay benchmark: graphite over TCP, $KEYS keys, $FORKS connections, 3 sinks, ${STEP_SECONDS}s per step," \
	"rates x$FACTOR from $START_RATE, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "carbon-c-relay $(carbon-c-relay -v 2>&1 | head -1 | awk '{print $2}') -q $CCR_QUEUE:"
: >"$work/results"
ccr_best=$(ladder carbon-c-relay "$START_RATE" carbon-c-relay -f "$work/c-relay.conf" -s -q "$CCR_QUEUE")
echo "consthash relay (defaults):"
ch_best=$(ladder consthash "$(( ccr_best > 0 ? ccr_best : START_RATE ))" "$RELAY_BIN" --config "$work/consthash.toml")
python3 - "$work/results" "$ccr_best" "$ch_best" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
ccr_best, ch_best = int(sys.argv[2]), int(sys.argv[3])
def loss(r):
    return (int(r[2]) - int(r[3])) / int(r[2])
ch = [r for r in rows if r[0] == "consthash"]
ccr = [r for r in rows if r[0] == "carbon-c-relay"]
if ccr_best > 0:
    ch_rate, ccr_rate = ch_best, ccr_best
    # CPU per line at consthash's highest lossless rate (else its first step).
    at = [r for r in ch if int(r[1]) == ch_best] or ch[:1]
else:
    least = min(ccr, key=lambda r: (loss(r), -float(r[4])))
    ccr_rate = int(float(least[4]))
    ok = [r for r in ch if loss(r) <= loss(least)]
    at = sorted(ok, key=lambda r: -float(r[4]))[:1] or ch[:1]
    ch_rate = int(float(at[0][4])) if ok else 0
    print(f"carbon-c-relay was lossless at no rate (it lost lines, or delivered under 95% of the rate); compared at "
          f"equal loss: its least lossy step ({100 * loss(least):.2f}% loss at {int(least[1])}/s) delivered "
          f"{ccr_rate}/s, consthash delivered {ch_rate}/s with no more loss (at {int(at[0][1]) if ok else 0}/s)")
ns = int(at[0][5]) if at else 0
gen = int(at[0][7]) if at else 0
ratio = ch_rate / ccr_rate if ccr_rate else float("inf")
print(f"relay: consthash_lossless={ch_rate} ccr_lossless={ccr_rate} ratio={ratio:.2f} relay_ns_per_line={ns} gen_ns_per_line={gen}")
PY
