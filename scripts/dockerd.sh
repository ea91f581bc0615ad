#!/usr/bin/env bash
# Runs consthash's own Docker daemon, for make compose-test and the testcontainers pass of scripts/test.sh, on a
# machine where none answers: its own socket and exec root under /tmp/consthash-dockerd, data root
# $CONSTHASH_CACHE/docker-root (images and BuildKit's module and build caches survive for the next run),
# --iptables=false --bridge=none (what works in an unprivileged-network sandbox: compose projects and pkg/testenv
# put their containers on a user-defined bridge network; published ports go through docker-proxy).
#
#   scripts/dockerd.sh start    start it unless it already answers; prints DOCKER_HOST=... as its last line
#   scripts/dockerd.sh stop     stop it (SIGTERM by its PID, SIGKILL after 30 s)
#   scripts/dockerd.sh status   exit 0 when it answers
#
# The daemon holds a lock on $CONSTHASH_CACHE/docker-root.lock while it runs: one daemon per data root.
# Environment: CONSTHASH_CACHE (~/.cache/consthash), DOCKER (the docker CLI; default docker).
set -euo pipefail

CACHE="${CONSTHASH_CACHE:-$HOME/.cache/consthash}"
run=/tmp/consthash-dockerd
sock="$run/docker.sock"
pidfile="$run/dockerd.pid"
DOCKER="${DOCKER:-docker}"
host="unix://$sock"

log() { printf 'dockerd.sh: %s\n' "$*" >&2; }

answers() { [[ -S "$sock" ]] && DOCKER_HOST="$host" "$DOCKER" info >/dev/null 2>&1; }

start() {
	if answers; then
		log "already running ($host)"
		echo "DOCKER_HOST=$host"
		return 0
	fi
	command -v dockerd >/dev/null || { log "dockerd is not installed (apt-get install docker.io)"; return 1; }
	mkdir -p "$run" "$CACHE/docker-root"
	exec 7>"$CACHE/docker-root.lock"
	flock -n 7 || { log "another dockerd holds $CACHE/docker-root"; return 1; }
	rm -f "$sock"
	# fd 7 goes with it: the lock lasts as long as the daemon.
	nohup dockerd --host "$host" --data-root "$CACHE/docker-root" --exec-root "$run/exec" --pidfile "$pidfile" \
		--iptables=false --ip-masq=false --bridge=none >"$run/dockerd.log" 2>&1 </dev/null &
	local pid=$!
	exec 7>&-
	for _ in $(seq 1 120); do
		answers && break
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$run/dockerd.log" >&2; log "dockerd exited"; return 1; }
		sleep 0.5
	done
	answers || { log "dockerd did not answer on $host (log: $run/dockerd.log)"; return 1; }
	log "started dockerd (pid $pid, $host, data root $CACHE/docker-root, log $run/dockerd.log)"
	echo "DOCKER_HOST=$host"
}

stop() {
	local pid
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
		log "not running"
		return 0
	fi
	kill -TERM "$pid"
	for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$pid" 2>/dev/null; then
		log "dockerd (pid $pid) did not stop in 30 s: SIGKILL"
		kill -KILL "$pid"
	fi
	log "stopped dockerd (pid $pid)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) answers ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
