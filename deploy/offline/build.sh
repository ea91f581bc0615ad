#!/usr/bin/env bash
# Make sure the base images that docker-compose.yml and deploy/Dockerfile name are present in the Docker daemon:
# already there; else loaded from a `docker save` tarball in the cache; else pulled, where a registry answers;
# else built locally under the same tag from this directory's stand-ins (an air-gapped site's path).
#
#   deploy/offline/build.sh [IMAGE...]     default: every image below
#
# Images and their stand-ins (docs/operations.md, "Air-gapped sites", says how each differs from the official):
#   debian:bookworm                              debootstrap of the machine's Debian mirror, imported
#   golang:1.26-bookworm                         golang/: debian:bookworm + the host's `go env GOROOT`
#   gcr.io/distroless/static-debian12:nonroot    distroless-static/: CA certificates, zoneinfo, passwd, no shell
#   nats:2.10-alpine                             nats/: nats-server v2.10.x built from its Go module
#   cassandra:5.0                                cassandra/: scripts/cassandra.sh's jars, OpenJDK 17, cqlsh (PyPI)
#   mariadb:10.11                                mariadb/: Debian's mariadb-server 10.11 (pkg/testenv's testcontainers)
#   grafana/grafana:11.3.0                       none: pulled or absent (then compose-test leaves Grafana out)
#
# Environment:
#   DOCKER                  docker CLI that can build with BuildKit (default: the first docker on PATH with buildx,
#                           or older than 23, whose BuildKit client is built in)
#   CONSTHASH_CACHE         cache root (default ~/.cache/consthash); saved images in $CONSTHASH_CACHE/images,
#                           the debootstrap rootfs in $CONSTHASH_CACHE/offline
#   CONSTHASH_OFFLINE=1     never try a registry: load or build only
#   CONSTHASH_STANDIN=1     build the stand-ins even if a registry answers (to test them)
#   CONSTHASH_DEBIAN_MIRROR Debian mirror for debootstrap (default: the first Debian archive in /etc/apt/sources.list*)
#   GOPROXY, PIP_INDEX_URL  passed to the stand-in builds (a site's own module proxy / package index)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# A docker CLI that builds with BuildKit: one with the buildx plugin, or a pre-23 one (built-in BuildKit client).
pick_docker() {
	local c v
	for c in $(type -ap docker); do
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
	echo docker
}
DOCKER="${DOCKER:-$(pick_docker)}"
CACHE="${CONSTHASH_CACHE:-$HOME/.cache/consthash}"
IMAGES=(debian:bookworm golang:1.26-bookworm gcr.io/distroless/static-debian12:nonroot nats:2.10-alpine cassandra:5.0 mariadb:10.11 grafana/grafana:11.3.0)

log() { printf 'offline: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

present() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
tarball() { printf '%s/images/%s.tar' "$CACHE" "$(printf '%s' "$1" | tr '/:' '__')"; }

save() {
	local t
	t="$(tarball "$1")"
	mkdir -p "$(dirname "$t")"
	"$DOCKER" save -o "$t.tmp" "$1" && mv "$t.tmp" "$t"
	log "saved $1 to $t ($(du -h "$t" | cut -f1))"
}

build() { # tag context [build args...]
	local tag=$1 ctx=$2
	shift 2
	local args=()
	[[ -n "${GOPROXY:-}" ]] && args+=(--build-arg "GOPROXY=$GOPROXY")
	[[ -n "${PIP_INDEX_URL:-}" ]] && args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
	log "building stand-in $tag"
	DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain -t "$tag" "${args[@]}" "$@" "$ctx" >"$CACHE/offline/build.log" 2>&1 ||
		{ tail -n 30 "$CACHE/offline/build.log" >&2; return 1; }
}

debian_mirror() {
	if [[ -n "${CONSTHASH_DEBIAN_MIRROR:-}" ]]; then
		printf '%s\n' "$CONSTHASH_DEBIAN_MIRROR"
		return
	fi
	# deb822 (URIs: + Suites: bookworm) or one-line (deb URL bookworm main) sources, not the security archive.
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 !~ /security/ {print $2; exit} /^deb / && $3 ~ /^bookworm$/ {print $2; exit}'
}

standin_debian() {
	local tar="$CACHE/offline/debian-bookworm-rootfs.tar" mirror tmp ctx
	if [[ ! -s "$tar" ]]; then
		command -v debootstrap >/dev/null || die "debootstrap is needed to make debian:bookworm (apt-get install debootstrap)"
		mirror="$(debian_mirror)"
		[[ -n "$mirror" ]] || die "no Debian mirror in /etc/apt/sources.list*; set CONSTHASH_DEBIAN_MIRROR"
		mkdir -p "$CACHE/offline"
		tmp="$(mktemp -d "$CACHE/offline/rootfs.XXXXXX")"
		log "debootstrap bookworm from $mirror (once; cached as $tar)"
		debootstrap --variant=minbase --include=ca-certificates,wget,tzdata bookworm "$tmp" "$mirror" >"$CACHE/offline/debootstrap.log" 2>&1 ||
			{ tail -n 20 "$CACHE/offline/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed"; }
		rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
		tar -C "$tmp" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar" || return 1
		rm -rf "$tmp"
	fi
	log "importing $tar"
	"$DOCKER" import "$tar" consthash-offline/debootstrap:bookworm >/dev/null || return 1
	ctx="$(mktemp -d)"
	mkdir "$ctx/ca"
	cp "$here/debian/Dockerfile" "$ctx/"
	# The site's own CAs (Debian's place for them), so that TLS through an inspecting proxy works in the builds.
	find "${CONSTHASH_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}" -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
	build debian:bookworm "$ctx" || return 1
	rm -rf "$ctx"
}

standin() {
	local tag=$1 ctx goroot
	case "$tag" in
	debian:bookworm) standin_debian ;;
	golang:1.26-bookworm)
		goroot="$(go env GOROOT)"
		[[ "$(go env GOVERSION)" == go1.26* ]] || die "golang:1.26-bookworm needs Go 1.26 on the host; $goroot is $(go env GOVERSION)"
		ctx="$(mktemp -d)"
		cp "$here/golang/Dockerfile" "$ctx/" && { cp -al "$goroot" "$ctx/go" 2>/dev/null || cp -a "$goroot" "$ctx/go"; } &&
			build "$tag" "$ctx" || return 1
		rm -rf "$ctx"
		;;
	gcr.io/distroless/static-debian12:nonroot) build "$tag" "$here/distroless-static" ;;
	nats:2.10-alpine) build "$tag" "$here/nats" ;;
	mariadb:10.11) build "$tag" "$here/mariadb" ;;
	cassandra:5.0)
		"$root/scripts/cassandra.sh" fetch || return 1
		ctx="$(mktemp -d)"
		cp "$here/cassandra/Dockerfile" "$here/cassandra/docker-entrypoint.sh" "$ctx/" && cp -a "$CACHE/cassandra/lib" "$ctx/lib" &&
			build "$tag" "$ctx" || return 1
		rm -rf "$ctx"
		;;
	*) return 1 ;;
	esac
}

# Stand-ins build on each other: nats and golang need debian:bookworm, nats needs golang.
deps() {
	case "$1" in
	golang:* | gcr.io/distroless/* | cassandra:* | mariadb:*) echo debian:bookworm ;;
	nats:*) echo debian:bookworm golang:1.26-bookworm ;;
	esac
}

ensure() {
	local tag=$1 t d
	present "$tag" && return 0
	t="$(tarball "$tag")"
	if [[ -s "$t" ]]; then
		log "loading $tag from $t"
		"$DOCKER" load -i "$t" >/dev/null && present "$tag" && return 0
	fi
	if [[ "${CONSTHASH_OFFLINE:-0}" != 1 && "${CONSTHASH_STANDIN:-0}" != 1 ]] &&
		timeout 600 "$DOCKER" pull -q "$tag" >/dev/null 2>&1; then
		log "pulled $tag"
		return 0
	fi
	for d in $(deps "$tag"); do ensure "$d" || return 1; done
	case "$tag" in
	debian:* | golang:* | gcr.io/distroless/* | nats:* | cassandra:* | mariadb:10.11) ;;
	*)
		log "$tag: no registry answers and there is no stand-in"
		return 1
		;;
	esac
	standin "$tag" && present "$tag" || { log "$tag: building the stand-in failed"; return 1; }
	save "$tag"
}

mkdir -p "$CACHE/offline"
status=0
for img in "${@:-${IMAGES[@]}}"; do
	ensure "$img" || status=1
done
exit $status
