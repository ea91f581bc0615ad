#!/usr/bin/env bash
# Builds the real carbonapi (github.com/go-graphite/carbonapi) from a local git
# mirror, offline (-mod=vendor, without cairo), and prints the binary's path as
# its last line. The binary is cached per commit under
# ${CONSTHASH_CACHE:-~/.cache/consthash}/peers/carbonapi-bin-<commit>/carbonapi,
# so a second run prints it at once; a lock file keeps two runs (two tests, two
# helpers) from building into the same place at once. Without the mirror it
# prints the newest binary cached there, if any.
#
#   CARBONAPI_GIT   the mirror's git directory (default: /work/.mirror/go-graphite+carbonapi/repo)
#   CARBONAPI_REV   the commit or ref to build (default: HEAD of the mirror)
set -euo pipefail
cache=${CONSTHASH_CACHE:-$HOME/.cache/consthash}/peers
gitdir=${CARBONAPI_GIT:-/work/.mirror/go-graphite+carbonapi/repo}
if [[ ! -d $gitdir ]]; then
  # No mirror (a CI clone on a machine that built it before): the newest
  # binary built, if any.
  if [[ -z ${CARBONAPI_REV:-} ]] && cached=$(ls -t "$cache"/carbonapi-bin-*/carbonapi 2>/dev/null | head -n1) && [[ -n $cached ]]; then
    echo "carbonapi-peer: no mirror at $gitdir; using $cached" >&2
    echo "$cached"
    exit 0
  fi
  echo "carbonapi-peer: no carbonapi git mirror at $gitdir (set CARBONAPI_GIT) and no binary under $cache" >&2
  exit 3 # nothing to build from: the caller may skip (scripts/test-skips.txt)
fi
rev=$(git --git-dir="$gitdir" rev-parse "${CARBONAPI_REV:-HEAD}^{commit}")
out=$cache/carbonapi-bin-$rev
bin=$out/carbonapi
mkdir -p "$cache"
exec 9>"$cache/carbonapi-bin-$rev.lock"
flock 9
if [[ ! -x $bin ]]; then
  src=$cache/carbonapi-src-$rev
  rm -rf "$src"
  mkdir -p "$src"
  git --git-dir="$gitdir" archive "$rev" | tar -x -C "$src"
  start=$(date +%s)
  (cd "$src" && GOFLAGS=-mod=vendor GOWORK=off GOPROXY=off CGO_ENABLED=0 \
    go build -trimpath -ldflags "-X main.BuildVersion=$rev" -o "$bin.tmp" ./cmd/carbonapi)
  mv "$bin.tmp" "$bin"
  rm -rf "$src"
  echo "carbonapi-peer: built $rev in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
