#!/usr/bin/env bash
# Installs what the tests need on a Debian machine, if missing: MariaDB's
# server, a JDK and Maven (for Cassandra, whose jars scripts/cassandra.sh
# fetches from Maven Central), Python's msgpack (the query-api test decodes its
# pickle and msgpack answers with Python's own readers), and for the Docker phase
# of scripts/test.sh (make compose-test, testcontainers): Debian's docker.io
# (dockerd and a docker CLI that builds with BuildKit), docker-compose, debootstrap
# (the stand-in base images, deploy/offline) and curl. Go modules come from the
# module proxy on demand.
set -euo pipefail

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v make >/dev/null 2>&1 || need+=(make)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose) # the compose file's check and compose-test
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v curl >/dev/null 2>&1 || need+=(curl)
/usr/bin/python3 -c 'import msgpack' >/dev/null 2>&1 || need+=(python3-msgpack)

if [ ${#need[@]} -eq 0 ]; then
	echo "install-deps.sh: everything is installed"
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps.sh: missing ${need[*]}; install them (needs root and apt-get)" >&2
	exit 1
fi
echo "install-deps.sh: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
