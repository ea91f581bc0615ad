#!/usr/bin/env bash
# Golden vectors for carbon-c-relay's consistent-hash clusters (carbon_ch, fnv1a_ch,
# jump_fnv1a_ch), produced by running the real relay binary.
#
#   Phase 1  test mode (`carbon-c-relay -t -d`): every config x every key.  Test mode
#            hashes the raw input bytes up to the first space (no sanitising).
#            -> out/carbon-c-relay/<algo>_<N>n_<variant>_r<R>.tsv.gz
#               out/carbon-c-relay/rings/<algo>_<N>n_<variant>.tsv.gz   (debug ring dump)
#               out/carbon-c-relay/hashpos/*.tsv.gz                      (printed hash_pos)
#   Phase 2  production dispatcher path: the relay daemon (listening on 127.0.0.1 only)
#            receives every key over TCP and writes what it would forward to a `file`
#            cluster -> out/carbon-c-relay/prod/sanitize.tsv.gz
#   Phase 3  production routing, observed: the daemon routes to loopback listeners
#            (127.0.0.k) for a few configs; the deliveries are compared with test mode
#            fed (a) the sanitised names, (b) the raw keys -> work/.../prod_verify.txt
#   Phase 4  production-path vectors for every config: test mode fed the bytes the
#            production path hashes -> out/carbon-c-relay/prod/<same names>.tsv.gz
#
# Usage: bash c_relay_vectors.sh          (env: RELAY, GOLDEN, TIMEOUT, SKIP_PROD=1)
set -euo pipefail
export LC_ALL=C

RELAY=${RELAY:-/usr/bin/carbon-c-relay}
GOLDEN=${GOLDEN:-/tmp/golden}
KEYS=$GOLDEN/keys.txt
OUT=$GOLDEN/out/carbon-c-relay
WORK=$GOLDEN/work/c-relay
SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY="python3 $SCRIPTS/c_relay_parse.py"
TIMEOUT=${TIMEOUT:-60}

ALGOS=(carbon_ch fnv1a_ch jump_fnv1a_ch)
SIZES=(3 12 30)
VARIANTS=(noinst inst sameip numinst sameipinst)
REPLS=(1 2 3)

# instance names (<= 5 chars so the relay's 20-char ring labels are never truncated);
# deliberately not in sorted order
INST=(emub rd sbqg cn chcrn sd uus ss bhbre nerd rvfd ldr sb pvr ykoso jhzf csj kxojt dq
      fykep bvcyr kwlt szocc pwvc xw usvo wmvl ol tdp gy)
NUMINST_3=(3 1 2)
NUMINST_12=(9 6 3 5 11 2 1 8 10 7 4 12)
NUMINST_30=(17 24 7 21 2 22 25 16 26 10 20 1 15 11 4 19 6 3 30 8 13 12 28 23 9 18 14 27 5 29)

[ -x "$RELAY" ] || { echo "no relay at $RELAY" >&2; exit 1; }
RELAY_VER=$("$RELAY" -v 2>&1 | head -1)                    # carbon-c-relay v3.7.3 (2021-11-09)
DEB_VER=$(dpkg-query -W -f='${Version}' carbon-c-relay 2>/dev/null || echo unknown)
PEER="$RELAY_VER (Debian $DEB_VER)"
echo "peer: $PEER"

mkdir -p "$OUT" "$OUT/rings" "$OUT/hashpos" "$OUT/prod" "$WORK"/{conf,raw,prod}
rm -f "$OUT"/*.tsv.gz "$OUT"/*.txt "$OUT"/rings/* "$OUT"/hashpos/* "$OUT"/prod/*

# members <variant> <N> <ip prefix> <port>  -> one member spec per line, config order
members() {
    local v=$1 n=$2 pfx=$3 port=$4 i
    for ((i = 0; i < n; i++)); do
        case $v in
            noinst)     echo "$pfx.$((i + 1)):$port" ;;
            inst)       echo "$pfx.$((i + 1)):$port=${INST[i]}" ;;
            numinst)    local -n arr=NUMINST_$n; echo "$pfx.$((i + 1)):$port=${arr[i]}" ;;
            sameip)     echo "$pfx.$((i / 2 + 1)):$((port + i % 2))" ;;
            sameipinst) echo "$pfx.$((i / 2 + 1)):$((port + i % 2))=${INST[i]}" ;;
        esac
    done
}

# write_conf <file> <algo> <R> <variant> <N> <ip prefix> <port>
write_conf() {
    local f=$1 algo=$2 r=$3 v=$4 n=$5 pfx=$6 port=$7
    {
        echo "cluster c $algo replication $r"
        members "$v" "$n" "$pfx" "$port" | sed 's/^/    /'
        echo "    ;"
        echo "match * send to c stop;"
    } > "$f"
}

# run_test <conf> <input> <raw out>; returns 0 ok, 124 on timeout
run_test() {
    local rc=0
    timeout "$TIMEOUT" "$RELAY" -f "$1" -t -d < "$2" > "$3" 2>&1 || rc=$?
    return $rc
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- phase 1
awk '{ print $0 " 1 1700000000" }' "$KEYS" > "$WORK/input_raw.txt"
for algo in "${ALGOS[@]}"; do
  for n in "${SIZES[@]}"; do
    for v in "${VARIANTS[@]}"; do
      for r in "${REPLS[@]}"; do
        name=${algo}_${n}n_${v}_r${r}
        conf=$WORK/conf/$name.conf
        write_conf "$conf" "$algo" "$r" "$v" "$n" 10.0.0 2003
        rc=0; run_test "$conf" "$WORK/input_raw.txt" "$WORK/raw/$name.out" || rc=$?
        if [ $rc -eq 124 ]; then
            blocks=$(grep -c '^match$' "$WORK/raw/$name.out" || true)
            $PY hang --conf "$conf" --out "$OUT/$name.NOT-GENERATED.txt" --algo "$algo" --r "$r" \
                --peer "$PEER" --timeout "$TIMEOUT" --blocks "$blocks"
            echo "$name: relay did not terminate (timeout ${TIMEOUT}s, $blocks blocks printed)"
            continue
        elif [ $rc -ne 0 ]; then
            echo "$name: relay failed rc=$rc" >&2; tail -5 "$WORK/raw/$name.out" >&2; exit 1
        fi
        if [ "$algo" = jump_fnv1a_ch ]; then hp=$OUT/hashpos/${algo}_${n}n.tsv.gz
        else hp=$OUT/hashpos/${algo}.tsv.gz; fi
        ringarg=()
        [ "$r" = 1 ] && ringarg=(--ring "$OUT/rings/${algo}_${n}n_${v}.tsv.gz")
        $PY parse --keys "$KEYS" --conf "$conf" --raw "$WORK/raw/$name.out" --out "$OUT/$name.tsv.gz" \
            --algo "$algo" --r "$r" --peer "$PEER" --hashpos "$hp" "${ringarg[@]}" \
            --comment "path: test mode (carbon-c-relay -t -d); hashed bytes = input key bytes exactly"
      done
    done
  done
done

if [ "${SKIP_PROD:-0}" = 1 ]; then $PY check --dir "$OUT"; exit 0; fi

# ---------------------------------------------------------------- phase 2
awk '{ print $0 " " (NR - 1) " 1700000000" }' "$KEYS" > "$WORK/input_prod.txt"
P=$WORK/prod
rm -f "$P"/sanitized.out "$P"/capture_* "$P"/prod_verify.txt
PORT_IN=$(free_port)
cat > "$P/sanitize.conf" <<EOF
listen
    type linemode
        127.0.0.1:$PORT_IN proto tcp
    ;
cluster out
    file
        $P/sanitized.out
    ;
match * send to out stop;
EOF

wait_port() { python3 - "$1" "$2" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}
send_file() { python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(open(sys.argv[3], 'rb').read()); s.shutdown(socket.SHUT_WR); s.close()
EOF
}
wait_lines() {   # wait_lines <file> <count> <seconds>
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

"$RELAY" -f "$P/sanitize.conf" -s -w 1 > "$P/sanitize.log" 2>&1 &
RPID=$!
wait_port 127.0.0.1 "$PORT_IN"
send_file 127.0.0.1 "$PORT_IN" "$WORK/input_prod.txt"
wait_lines "$P/sanitized.out" 10000 30 || echo "warning: file cluster wrote $(wc -l < "$P/sanitized.out") lines"
sleep 1
kill "$RPID"; wait "$RPID" || true
$PY sanitize --keys "$KEYS" --raw "$P/sanitized.out" --out "$OUT/prod/sanitize.tsv.gz" \
    --emitted "$P/emitted.txt" --hashed "$P/hashed.txt" --peer "$PEER"
$PY prodinput --hashed "$P/hashed.txt" --out "$WORK/input_prodhash.txt"
NDROP=$(grep -c '^-$' "$P/hashed.txt" || true)
[ "$NDROP" = 0 ] || { echo "production path dropped $NDROP keys; phase 4 assumes none" >&2; exit 1; }

# ---------------------------------------------------------------- phase 3
verify() {   # verify <algo> <N> <variant> <R>
    local algo=$1 n=$2 v=$3 r=$4 name=loop_${1}_${2}n_${3}_r${4}
    local port; port=$(free_port)
    while ! python3 -c "import socket,sys;s=socket.socket();s.bind(('127.0.0.1',$port+1))" 2>/dev/null; do port=$(free_port); done
    write_conf "$P/$name.conf" "$algo" "$r" "$v" "$n" 127.0.0 "$port"
    local addrs; addrs=$(members "$v" "$n" 127.0.0 "$port" | sed 's/=.*//' | paste -sd,)
    local port_in; port_in=$(free_port)
    { printf 'listen\n    type linemode\n        127.0.0.1:%s proto tcp\n    ;\n' "$port_in"; cat "$P/$name.conf"; } \
        > "$P/$name.daemon.conf"
    rm -f "$P/$name.ready"
    $PY listen --addrs "$addrs" --expect $((10000 * r)) --timeout 60 \
        --out "$P/capture_$name.txt" --ready "$P/$name.ready" &
    local LPID=$!
    while [ ! -f "$P/$name.ready" ]; do sleep 0.05; done
    "$RELAY" -f "$P/$name.daemon.conf" -s -w 1 > "$P/$name.log" 2>&1 &
    local RPID=$!
    wait_port 127.0.0.1 "$port_in"
    send_file 127.0.0.1 "$port_in" "$WORK/input_prod.txt"
    local lrc=0; wait "$LPID" || lrc=$?
    kill "$RPID"; wait "$RPID" || true
    [ $lrc = 0 ] || { echo "$name: listeners did not receive everything" >&2; exit 1; }
    # test mode on the same loopback config: sanitised names, then raw keys
    run_test "$P/$name.conf" "$WORK/input_prodhash.txt" "$P/$name.t_sanitized.out"
    $PY parse --keys "$KEYS" --names "$P/hashed.txt" --conf "$P/$name.conf" --raw "$P/$name.t_sanitized.out" \
        --out "$P/$name.t_sanitized.tsv.gz" --algo "$algo" --r "$r" --peer "$PEER"
    run_test "$P/$name.conf" "$WORK/input_raw.txt" "$P/$name.t_raw.out"
    $PY parse --keys "$KEYS" --conf "$P/$name.conf" --raw "$P/$name.t_raw.out" \
        --out "$P/$name.t_raw.tsv.gz" --algo "$algo" --r "$r" --peer "$PEER"
    $PY compare --capture "$P/capture_$name.txt" --vectors "$P/$name.t_sanitized.tsv.gz" \
        --report "$P/prod_verify.txt" --must-agree
    $PY compare --capture "$P/capture_$name.txt" --vectors "$P/$name.t_raw.tsv.gz" \
        --report "$P/prod_verify.txt"
}
verify carbon_ch 12 noinst 2
verify fnv1a_ch 12 inst 2
verify fnv1a_ch 12 sameip 3
verify jump_fnv1a_ch 12 numinst 3
verify jump_fnv1a_ch 30 inst 2
cp "$P/prod_verify.txt" "$OUT/prod/prod_verify.txt"

# ---------------------------------------------------------------- phase 4
for algo in "${ALGOS[@]}"; do
  for n in "${SIZES[@]}"; do
    for v in "${VARIANTS[@]}"; do
      for r in "${REPLS[@]}"; do
        name=${algo}_${n}n_${v}_r${r}
        conf=$WORK/conf/$name.conf
        rc=0; run_test "$conf" "$WORK/input_prodhash.txt" "$WORK/raw/prod_$name.out" || rc=$?
        if [ $rc -eq 124 ]; then
            blocks=$(grep -c '^match$' "$WORK/raw/prod_$name.out" || true)
            $PY hang --conf "$conf" --out "$OUT/prod/$name.NOT-GENERATED.txt" --algo "$algo" --r "$r" \
                --peer "$PEER" --timeout "$TIMEOUT" --blocks "$blocks"
            echo "prod $name: relay did not terminate"
            continue
        elif [ $rc -ne 0 ]; then
            echo "prod $name: relay failed rc=$rc" >&2; exit 1
        fi
        $PY parse --keys "$KEYS" --names "$P/hashed.txt" --shown "$P/emitted.txt" --conf "$conf" \
            --raw "$WORK/raw/prod_$name.out" --out "$OUT/prod/$name.tsv.gz" --algo "$algo" --r "$r" \
            --peer "$PEER" \
            --comment "path: production dispatcher (default -c '-_:#', tags on); hashed bytes = sanitised name before the first ';'" \
            --comment "third column (only when different from the key) = metric as the relay forwards it, incl. tags"
      done
    done
  done
done

$PY check --dir "$OUT"
echo done
