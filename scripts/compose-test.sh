#!/usr/bin/env bash
# docker-compose.yml run for real (make compose-test): the stack built and started with 3 aggregators and 2
# writers, a known statblast mix sent through the relay's published ports and checked exactly through
# query-api's /render at every resolution, one aggregator and one writer killed under load and everything
# checked again, aggregators scaled 3 -> 2 and checked again, then `down -v`.
#
# Docker: the daemon at $DOCKER_HOST (or the default socket) when one answers; else this script starts its own
# dockerd (own socket and exec root under /tmp, data root $CONSTHASH_CACHE/docker-root so that images and build
# caches survive for the next run, --iptables=false --bridge=none) and stops it by its PID at the end. Base
# images: deploy/offline/build.sh (present, loaded from $CONSTHASH_CACHE/images, pulled, or built as stand-ins).
# Grafana is left out only when its image cannot be had, and the output says so.
#
# Environment:
#   CONSTHASH_CACHE             cache root (default ~/.cache/consthash)
#   CONSTHASH_COMPOSE_PROJECT   compose project name (default consthash-test)
#   CONSTHASH_COMPOSE_OWN_DOCKERD=1  start an own dockerd even if a daemon answers
#   CONSTHASH_COMPOSE_KEEP=1    leave the stack up at the end (no `down -v`; an own dockerd is still stopped)
#   CONSTHASH_OFFLINE=1         never try a registry (deploy/offline/build.sh)
#   NATS_CLUSTER=1              the 3-node NATS shape (docker-compose.nats-cluster.yml, rollup stream on 3 replicas):
#                               after mix1, one NATS node is killed under load instead of the aggregator and writer
#                               kills and the scale-down, and the 10 min resolution is not waited for (same in both)
# The published ports are picked free on 127.0.0.1 (CONSTHASH_*_PORT, docker-compose.yml).
#
# Last line: compose: services=<n> exact=<yes|no> after_kill=<yes|no> json_logs=<yes|no> seconds=<n>; exit 0 only
# if all three are yes (json_logs: every line every Go service's container wrote is a JSON object).
set -euo pipefail

t0=$SECONDS
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CACHE="${CONSTHASH_CACHE:-$HOME/.cache/consthash}"
export CONSTHASH_CACHE="$CACHE"
PROJECT="${CONSTHASH_COMPOSE_PROJECT:-consthash-test}"
cluster=0
case "${NATS_CLUSTER:-0}" in 1 | true | yes) cluster=1 ;; esac
FILES=(-f "$root/docker-compose.yml")
((cluster)) && FILES+=(-f "$root/docker-compose.nats-cluster.yml")
work="$(mktemp -d /tmp/consthash-compose.XXXXXX)"
# The resolutions of deploy/*/query-api.toml's times (10s:168h, 1m:720h, 10m:17520h) as /render picks them: the
# finest whose TTL covers from. The aggregators publish a coarse bin once, when it closes, so the 10 min resolution
# is checked once at the end, past the next 10-minute boundary.
FINE="-1h,-200h"  # 10 s and 1 min
COARSE="-1000h"   # 10 min

services=0 exact=no after_kill=no json_logs=no
dockerd_pid=""
stack_up=0

log() { printf 'compose-test: [%4ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }
summary() { printf 'compose: services=%s exact=%s after_kill=%s json_logs=%s seconds=%s\n' "$services" "$exact" "$after_kill" "$json_logs" "$((SECONDS - t0))"; }
die() {
	log "ERROR: $*"
	exit 1
}

# ------------------------------------------------------------ tools ------

# A docker CLI that builds with BuildKit: one with the buildx plugin, or a pre-23 one (built-in BuildKit client).
pick_docker() {
	local c v
	for c in ${DOCKER:-} $(type -ap docker); do
		[[ -x "$c" ]] || continue
		if "$c" buildx version >/dev/null 2>&1; then
			echo "$c"
			return
		fi
		v="$("$c" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')"
		if [[ -n "$v" && "$v" -lt 23 ]]; then
			echo "$c"
			return
		fi
	done
	return 1
}

DOCKER="$(pick_docker)" || die "no docker CLI that builds with BuildKit (install Debian's docker.io, or the buildx plugin)"
export DOCKER
mkdir -p "$work/bin"
ln -s "$DOCKER" "$work/bin/docker"
export PATH="$work/bin:$PATH" DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
if docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
	COMPOSE=(docker-compose) # v1: builds through the docker CLI above (COMPOSE_DOCKER_CLI_BUILD=1)
else
	die "neither 'docker compose' nor docker-compose is installed (apt-get install docker-compose)"
fi

free_ports() {
	python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# ------------------------------------------------------------ daemon -----

cleanup() {
	local rc=$?
	set +e
	if ((stack_up)) && [[ "${CONSTHASH_COMPOSE_KEEP:-0}" != 1 ]]; then
		if ((rc != 0)); then
			log "logs of the failed run: $work/stack.log"
			compose logs --no-color >"$work/stack.log" 2>&1
			compose logs --no-color --tail 15 relay aggregator writer query-api >&2
		fi
		compose down -v --remove-orphans >/dev/null 2>&1
		# Keep the data root bounded: images replaced by this run's builds, and build cache beyond 3 GB.
		docker image prune -f >/dev/null 2>&1
		docker builder prune -f --keep-storage 3gb >/dev/null 2>&1
	fi
	if [[ -n "$dockerd_pid" ]]; then
		log "stopping dockerd (pid $dockerd_pid)"
		"$root/scripts/dockerd.sh" stop
	fi
	if ((rc == 0)); then
		rm -rf "$work"
	else
		log "kept $work (logs, statblast's expectations)"
	fi
	summary
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${CONSTHASH_COMPOSE_OWN_DOCKERD:-0}" != 1 ]] && docker info >/dev/null 2>&1; then
	log "using the Docker daemon at ${DOCKER_HOST:-the default socket}"
else
	unset DOCKER_HOST
	own_dockerd=0
	scripts/dockerd.sh status || own_dockerd=1 # started here: stopped here
	out="$(scripts/dockerd.sh start | tail -n 1)" && [[ "$out" == DOCKER_HOST=* ]] || die "no Docker daemon (scripts/dockerd.sh start failed)"
	export "${out?}"
	((own_dockerd)) && dockerd_pid="$(cat /tmp/consthash-dockerd/dockerd.pid)"
	log "using consthash's dockerd ($DOCKER_HOST, data root $CACHE/docker-root)"
fi
log "docker CLI $DOCKER, compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || true))"

# ------------------------------------------------------------ images -----

t_images=$SECONDS
deploy/offline/build.sh debian:bookworm golang:1.26-bookworm gcr.io/distroless/static-debian12:nonroot nats:2.10-alpine cassandra:5.0 ||
	die "base images missing (deploy/offline/build.sh)"
with_grafana=1
if ! deploy/offline/build.sh grafana/grafana:11.3.0 2>/dev/null; then
	with_grafana=0
	log "grafana/grafana:11.3.0 cannot be had here (no registry answers, no stand-in): Grafana is left out of this run"
fi
log "base images ready in $((SECONDS - t_images))s"

# ------------------------------------------------------------ stack ------

read -r p_graphite p_statsd p_admin p_query p_grafana <<<"$(free_ports 5)"
export CONSTHASH_BIND_ADDRESS=127.0.0.1 CONSTHASH_GRAPHITE_PORT=$p_graphite CONSTHASH_STATSD_PORT=$p_statsd \
	CONSTHASH_RELAY_ADMIN_PORT=$p_admin CONSTHASH_QUERY_PORT=$p_query CONSTHASH_GRAFANA_PORT=$p_grafana
query="http://127.0.0.1:$p_query"

compose() { "${COMPOSE[@]}" -p "$PROJECT" "${FILES[@]}" "$@"; }
SERVICES=(nats cassandra relay aggregator writer query-api)
((cluster)) && SERVICES+=(nats-2 nats-3)
((with_grafana)) && SERVICES+=(grafana)

compose down -v --remove-orphans >/dev/null 2>&1 || true # what a killed earlier run left
t_up=$SECONDS
stack_up=1
log "docker compose up -d --build --scale aggregator=3 --scale writer=2 ${SERVICES[*]}"
compose up -d --build --scale aggregator=3 --scale writer=2 "${SERVICES[@]}" >"$work/up.log" 2>&1 ||
	{ tail -n 40 "$work/up.log" >&2; die "compose up failed (log: $work/up.log)"; }
log "compose up returned after $((SECONDS - t_up))s"

running() { docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Label "com.docker.compose.service"}}'; }

# Host tools: statblast sends, stackcheck compares.
(cd services/statblast && go build -o "$work/statblast" .) && (cd deploy/local && go build -o "$work/stackcheck" ./stackcheck) ||
	die "go build of statblast/stackcheck failed"

blast() { "$work/statblast" "$@" >>"$work/statblast.log" 2>&1 || { tail -n 5 "$work/statblast.log" >&2; return 1; }; }
check() { "$work/stackcheck" --query "$query" "$@"; }

# Ready when a probe counter sent to the relay comes back through /render: NATS, an aggregator, JetStream, a
# writer, Cassandra and query-api all work.
log "waiting for the pipeline (a probe counter through relay -> aggregator -> writer -> Cassandra -> query-api)"
deadline=$((SECONDS + 420))
probe_seen() {
	curl -s --max-time 10 --data-urlencode target=stats_counts.probe.counter.0 -d from=-1h -d format=json "$query/render" |
		grep -Eq '\[[0-9][0-9.e+-]*, *[0-9]+\]'
}
until probe_seen; do
	((SECONDS < deadline)) || die "the probe counter did not come back in 420s"
	printf 'probe.counter.0:1|c\n' >"/dev/udp/127.0.0.1/$p_statsd" 2>/dev/null || true
	sleep 5
done
services=$(running | sort -u | wc -l)
log "pipeline ready after $((SECONDS - t_up))s: $(running | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')"

# Sets count distinct members per flush and graphite keys keep one mean per bin: send each burst just after a
# 10 s boundary so it lands in one bin.
align() { while (( $(date +%s%3N) % 10000 > 300 )); do sleep 0.02; done; }
mix() { # prefix seed: a statsd mix over TCP and a graphite mix over TCP, both through the relay's published ports
	align
	blast --servers "tcp://127.0.0.1:$p_statsd" --type statsd --sample-rates --keys 200 --forks 2 --count 20000 \
		--buffer 16384 --prefix "$1" --seed "$2" --expect-out "$work/$1-statsd.json" &&
		blast --servers "tcp://127.0.0.1:$p_graphite" --type graphite --keys 50 --count 5000 --buffer 16384 \
			--prefix "$1" --seed "$(($2 + 1))" --expect-out "$work/$1-graphite.json"
}
check_mix() { # prefix wait from
	check --prefix "$1" --statsd "$work/$1-statsd.json" --graphite "$work/$1-graphite.json" --wait "${2:-150s}" --from "${3:-$FINE}"
}

log "mix1: 20000 statsd lines (200 keys, sample rates) and 5000 graphite lines (50 keys)"
mix mix1 3
exact_fine=no
if check_mix mix1; then exact_fine=yes; fi
log "mix1 exact at 10s and 1m: $exact_fine"

# Under load: a steady statsd stream (counters, timers, gauges: no sets, whose per-flush distinct counts do not
# add up over several bins) while a container is killed (SIGKILL: no graceful stop).
one() { docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" | head -n 1; }
load_and_kill() { # prefix seed service
	local pid victim
	"$work/statblast" --servers "tcp://127.0.0.1:$p_statsd" --type statsd --mix c:4,ms:2,g:1 --keys 100 \
		--lines-per-sec 2000 --duration 20s --prefix "$1" --seed "$2" --expect-out "$work/$1-statsd.json" >>"$work/statblast.log" 2>&1 &
	pid=$!
	sleep 10
	victim="$(one "$3")"
	docker kill "$victim" >/dev/null
	log "killed $3 $victim under load"
	wait "$pid" || die "the load's statblast failed"
}
after=yes
if ((cluster)); then
	# The 3-node shape: the rollup stream on 3 replicas loses nothing when one NATS node goes. Every service connects
	# through `nats` (nats-1) and learns the others from it. The node killed is the stream's leader: when that is
	# nats-1, it is asked to step down first (JetStream's STREAM.LEADER.STEPDOWN) so that the leader is another node,
	# because killing nats-1 itself would also cut every service's connection at once (they reconnect to the others;
	# relay -> aggregator batches are acknowledged and resent, but that shape is not asserted here).
	stream() { # leader and replicas of the rollup stream, as nats-1's monitoring port reports them
		docker exec "$(one nats)" wget -qO- 'http://127.0.0.1:8222/jsz?streams=true&config=true' 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for a in d.get("account_details") or []:
    for s in a.get("stream_detail") or []:
        if s["name"] == "CONSTHASH_ROLLUPS":
            print(s.get("cluster", {}).get("leader", "?"), s.get("config", {}).get("num_replicas", 0))'
	}
	stepdown() { # from the host to nats-1's address on the project network, in NATS's text protocol
		local ip
		ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(one nats)")"
		python3 - "$ip" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 4222), timeout=10)
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.stepdown 1\r\n'
          b'PUB $JS.API.STREAM.LEADER.STEPDOWN.CONSTHASH_ROLLUPS _INBOX.stepdown 0\r\n\r\nPING\r\n')
buf = b""
while b"MSG _INBOX.stepdown" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
PY
	}
	read -r leader replicas <<<"$(stream)" || true
	for _ in 1 2 3 4 5; do
		[[ "${leader:-nats-1}" == nats-1 ]] || break
		log "rollup stream leader is nats-1 (the clients' node): asking it to step down"
		stepdown || true
		sleep 3
		read -r leader replicas <<<"$(stream)" || true
	done
	log "rollup stream: leader ${leader:-?}, replicas ${replicas:-?}"
	[[ "${replicas:-0}" == 3 ]] || { log "the rollup stream does not have 3 replicas"; after=no; }
	victim=nats-2
	[[ "${leader:-}" == nats-3 ]] && victim=nats-3
	[[ "${leader:-}" == "$victim" ]] || log "the stream's leader is still ${leader:-?}: killing $victim, a follower"
	log "NATS node kill: 2000 statsd lines/s for 20s, $victim killed after 10s"
	load_and_kill nload 9 "$victim"
	check --prefix nload --statsd "$work/nload-statsd.json" --wait 150s --from "$FINE" || after=no
	check_mix mix1 60s || after=no
	read -r leader replicas <<<"$(stream)" || true
	log "rollup stream after the kill: leader ${leader:-?}; running: $(running | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')"
	log "restarting $victim (compose up)"
	compose up -d --scale aggregator=3 --scale writer=2 "${SERVICES[@]}" >>"$work/up.log" 2>&1 || die "compose up failed"
	mix mix2 11
	check_mix mix2 || after=no
	check --prefix nload --statsd "$work/nload-statsd.json" --wait 30s --from "$FINE" || after=no
	exact=$exact_fine # the 10 min resolution is the single-node run's
else
	# A writer's kill loses nothing: its unacknowledged JetStream messages go to the other writer, and a redelivered
	# batch overwrites instead of adding.
	log "writer kill: 2000 statsd lines/s for 20s, one writer killed after 10s"
	load_and_kill wload 5 writer
	check --prefix wload --statsd "$work/wload-statsd.json" --wait 150s --from "$FINE" || after=no

	# An aggregator's kill loses what it held (its open base bin, and what reached its shards before the others took
	# them: three membership intervals), by design (docs/aggregator.md): reported, not asserted.
	log "aggregator kill: 2000 statsd lines/s for 20s, one aggregator killed after 10s"
	load_and_kill aload 7 aggregator
	sleep 25 # past the open bins of the load, flushed and stored
	log "aggregator kill: $(check --prefix aload --statsd "$work/aload-statsd.json" --lossy --from -1h)"
	# What was stored before the kills stays exact: nothing lost, nothing counted twice by a redelivery.
	check_mix mix1 60s || after=no
	log "running after the kills: $(running | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')"

	log "restarting the killed containers (compose up --scale aggregator=3 --scale writer=2)"
	compose up -d --scale aggregator=3 --scale writer=2 "${SERVICES[@]}" >>"$work/up.log" 2>&1 || die "compose up failed"
	log "running: $(running | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')"
	mix mix2 11
	check_mix mix2 || after=no

	log "scaling aggregators 3 -> 2 (a graceful stop: the leaver hands its shards over and flushes)"
	compose up -d --scale aggregator=2 --scale writer=2 "${SERVICES[@]}" >>"$work/up.log" 2>&1 || die "scale failed"
	log "running after scaling: $(running | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')"
	mix mix3 21
	check_mix mix3 || after=no
	check_mix mix1 30s || after=no
	check_mix mix2 30s || after=no

	# The 10 min resolution: every bin above has closed by the next 10-minute boundary (a slow run's earlier mixes
	# may be in bins closed before it), then is published and stored. mix3, sent last, is waited for first: once its
	# bin is stored, every earlier one has closed too.
	wait_s=$((600 - $(date +%s) % 600 + 150))
	log "10 min resolution: waiting up to ${wait_s}s (the next 10-minute boundary, then the flush and the writers)"
	check_mix mix3 "${wait_s}s" "$COARSE" || after=no
	if check_mix mix1 60s "$COARSE" && [[ "$exact_fine" == yes ]]; then exact=yes; fi
	log "mix1 exact at 10s, 1m and 10m: $exact"
	check_mix mix2 60s "$COARSE" || after=no
	check --prefix wload --statsd "$work/wload-statsd.json" --wait 60s --from "$COARSE" || after=no
fi
after_kill=$after

# JSON logs from the first line: every line every Go service's containers wrote (both streams) is a JSON object.
nonjson=0
for svc in relay aggregator writer query-api; do
	for c in $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$svc"); do
		docker logs "$c" >"$work/container.log" 2>&1
		n="$(grep -cv '^{' "$work/container.log" || true)"
		if [[ "$n" != 0 ]]; then
			log "$svc $c: $n lines not JSON:"
			grep -v '^{' "$work/container.log" | cut -c1-160 | sed 's/[0-9a-f]\{64\}/<id>/g; s/^[0-9/]* [0-9:]* //' |
				sort | uniq -c | sort -rn | head -n 5 >&2
			nonjson=$((nonjson + n))
		fi
	done
done
if ((nonjson == 0)); then
	json_logs=yes
	log "every log line of relay, aggregator, writer and query-api is JSON"
fi

[[ "$exact" == yes && "$after_kill" == yes && "$json_logs" == yes ]]
