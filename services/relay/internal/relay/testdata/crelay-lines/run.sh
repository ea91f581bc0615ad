#!/usr/bin/env bash
# Regenerates lines.jsonl.gz: random whole plaintext lines (gen.py) sent over TCP to the real
# carbon-c-relay 3.7.3 (Debian carbon-c-relay) with a `file` cluster, each line's output recorded,
# and whether carbon-cache 1.1 (Debian graphite-carbon) would store the line (carbon_verdict.py).
#   apt-get install carbon-c-relay graphite-carbon; bash run.sh [SEED] [N]
# One JSON object a line: {"in": the line sent, "crelay": what carbon-c-relay wrote for it, or null
# when it dropped it, "carbon": 1 when carbon-cache stores it}. Read by TestCRelayLinesAsCarbonCRelay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SEED=${1:-20261201} N=${2:-4000}
work=$(mktemp -d)
crpid=
trap '[ -n "$crpid" ] && kill $crpid 2>/dev/null; rm -rf "$work"' EXIT
python3 "$here/gen.py" "$SEED" "$N" >"$work/in.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/relay.conf" <<CONF
listen type linemode 127.0.0.1:$port proto tcp ;
cluster out file $work/out.txt ;
match * send to out stop;
CONF
carbon-c-relay -f "$work/relay.conf" -s -w 1 >"$work/relay.log" 2>&1 &
crpid=$!
python3 - "$port" "$work/in.txt" "$work/out.txt" "$N" <<'PY'
import os, socket, sys, time
port, src, out, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(100):
    try:
        s = socket.create_connection(('127.0.0.1', port)); break
    except OSError:
        time.sleep(0.05)
s.sendall(open(src, 'rb').read()); s.shutdown(socket.SHUT_WR); s.close()
# Wait until the output stops growing (the relay drops some lines: no count to wait for).
last, still = -1, 0
while still < 10:
    time.sleep(0.2)
    size = os.path.getsize(out) if os.path.exists(out) else 0
    still = still + 1 if size == last and size > 0 else 0
    last = size
PY
kill $crpid; wait $crpid 2>/dev/null || true; crpid=
/usr/bin/python3 "$here/carbon_verdict.py" "$work/in.txt" >"$work/carbon.txt"
python3 - "$work" "$(carbon-c-relay -v 2>&1 | head -1)" "$(dpkg-query -W -f='${Package}=${Version} ' carbon-c-relay graphite-carbon)" <<'PY' | gzip -9 -n >"$here/lines.jsonl.gz"
import json, re, sys
work = sys.argv[1]
ins = open(work + '/in.txt', 'rb').read().decode('utf-8').split('\n')[:-1]
verdict = open(work + '/carbon.txt').read().split()
outs = {}
for l in open(work + '/out.txt', 'rb').read().decode('utf-8').split('\n')[:-1]:
    m = re.match(r'k(\d+)\.', l)
    if not m or m.group(1) in outs:
        sys.exit('output line %r: not one of the inputs, or a second line for one' % l)
    outs[m.group(1)] = l
print(json.dumps({'peer': sys.argv[2], 'debian': sys.argv[3].strip()}))
for i, l in enumerate(ins):
    print(json.dumps({'in': l, 'crelay': outs.get(str(i)), 'carbon': int(verdict[i])}, ensure_ascii=False))
PY
echo "wrote $here/lines.jsonl.gz"
