#!/usr/bin/env bash
# Runs a throwaway MariaDB server on loopback for consthash's tests.
#
#   scripts/mariadb.sh start   install Debian's mariadb-server if missing (needs root and apt-get),
#                              initialise a data dir, start the server, create the test user;
#                              prints CONSTHASH_TEST_MYSQL_DSN=... as its last line
#   scripts/mariadb.sh stop    stop it
#   scripts/mariadb.sh status  exit 0 when it answers
#
# Environment: MARIADB_PORT (3307), MARIADB_DATA (/tmp/consthash-mariadb).
set -euo pipefail

port=${MARIADB_PORT:-3307}
data=${MARIADB_DATA:-/tmp/consthash-mariadb}
sock=$data/mysqld.sock
pidfile=$data/mysqld.pid
user=consthash
password=consthash
dsn="$user:$password@tcp(127.0.0.1:$port)/"

log() { printf 'mariadb.sh: %s\n' "$*" >&2; }

find_bin() {
	for b in "$@"; do
		if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
		if [ -x "/usr/sbin/$b" ]; then echo "/usr/sbin/$b"; return 0; fi
	done
	return 1
}

install_server() {
	if find_bin mariadbd mysqld >/dev/null; then return 0; fi
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		log "mariadbd is not installed and cannot be installed here (need root and apt-get): install mariadb-server"
		exit 1
	fi
	log "installing mariadb-server from Debian"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
}

client() { "$(find_bin mariadb mysql)" --no-defaults --protocol=socket -S "$sock" -uroot "$@"; }

answers() { [ -S "$sock" ] && client -e 'SELECT 1' >/dev/null 2>&1; }

start() {
	install_server
	if answers; then
		log "already running on 127.0.0.1:$port"
		echo "CONSTHASH_TEST_MYSQL_DSN=$dsn"
		return 0
	fi
	mkdir -p "$data"
	local runas=()
	if [ "$(id -u)" = 0 ]; then runas=(--user=root); fi
	if [ ! -d "$data/db/mysql" ]; then
		log "initialising $data/db"
		"$(find_bin mariadb-install-db mysql_install_db)" --no-defaults "${runas[@]}" --datadir="$data/db" \
			--auth-root-authentication-method=normal --skip-test-db >"$data/install.log" 2>&1 ||
			{ tail -n 30 "$data/install.log" >&2; exit 1; }
	fi
	log "starting on 127.0.0.1:$port"
	"$(find_bin mariadbd mysqld)" --no-defaults "${runas[@]}" --datadir="$data/db" --port="$port" \
		--bind-address=127.0.0.1 --socket="$sock" --pid-file="$pidfile" --log-error="$data/error.log" \
		--skip-name-resolve --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
		--max-connections=500 --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
		>/dev/null 2>&1 &
	for _ in $(seq 1 120); do
		if answers; then break; fi
		sleep 0.5
	done
	if ! answers; then
		log "did not start; tail of $data/error.log:"
		tail -n 30 "$data/error.log" >&2 || true
		exit 1
	fi
	client -e "CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$password';
		CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
		GRANT ALL ON *.* TO '$user'@'127.0.0.1' WITH GRANT OPTION;
		GRANT ALL ON *.* TO '$user'@'localhost' WITH GRANT OPTION;"
	log "ready"
	echo "CONSTHASH_TEST_MYSQL_DSN=$dsn"
}

stop() {
	if [ -f "$pidfile" ]; then
		local pid
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		log "stopped"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) answers ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
