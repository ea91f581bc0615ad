#!/bin/bash
# The mariadb:10.11 stand-in's entry point (see Dockerfile): on a first start (empty /var/lib/mysql) the data
# directory is made and the root password, database and user set from the official image's environment, through
# mariadbd's --init-file; then mariadbd runs in the foreground as the mysql user, listening on every interface.
set -euo pipefail
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
	exec "$@"
fi
shift

env_or() { # MARIADB_X, else MYSQL_X
	local v="MARIADB_$1" m="MYSQL_$1"
	printf '%s' "${!v:-${!m:-}}"
}
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }

init=()
if [ ! -d /var/lib/mysql/mysql ]; then
	root_pw="$(env_or ROOT_PASSWORD)"
	allow_empty="$(env_or ALLOW_EMPTY_ROOT_PASSWORD)"
	if [ -z "$root_pw" ] && [ -z "$allow_empty" ]; then
		echo "docker-entrypoint.sh: set MARIADB_ROOT_PASSWORD or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" >&2
		exit 1
	fi
	mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
		--skip-test-db >/dev/null
	db="$(env_or DATABASE)" user="$(env_or USER)" pw="$(env_or PASSWORD)"
	f=/run/mysqld/init.sql
	{
		echo "CREATE USER IF NOT EXISTS 'root'@'%';"
		echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$root_pw");"
		echo "ALTER USER 'root'@'%' IDENTIFIED BY $(sql_string "$root_pw");"
		if [ -n "$db" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"; fi
		if [ -n "$user" ] && [ "$user" != root ]; then
			echo "CREATE USER IF NOT EXISTS $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$pw");"
			if [ -n "$db" ]; then echo "GRANT ALL ON \`$db\`.* TO $(sql_string "$user")@'%';"; fi
		fi
	} >"$f"
	chown mysql:mysql "$f"
	init=(--init-file="$f")
fi
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306 --skip-name-resolve \
	"${init[@]}" "$@"
