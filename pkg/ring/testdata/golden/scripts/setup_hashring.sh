#!/bin/sh
# Fetch hashring@3.2.0 + its two runtime deps + statsd (for proxy.js) with `npm pack`
# and unpack them into /tmp/golden/node_modules so that require('hashring') works.
# (`npm install hashring@3.2.0` is not used: it fails on a missing transitive package.)
set -eu
GOLDEN=/tmp/golden
PKGS=$GOLDEN/pkgs
NM=$GOLDEN/node_modules
mkdir -p "$PKGS" "$NM"
cd "$PKGS"
# versions: hashring 3.2.0 package.json asks for connection-parse 0.0.x, simple-lru-cache 0.0.x
#   -> resolved by npm to connection-parse 0.0.7, simple-lru-cache 0.0.2 (newest 0.0.x)
npm pack --silent hashring@3.2.0 connection-parse@0.0.x simple-lru-cache@0.0.x statsd@0.9.0 >/dev/null
for p in hashring-3.2.0 connection-parse-0.0.7 simple-lru-cache-0.0.2; do
  name=${p%-*}
  rm -rf "$NM/$name"; mkdir -p "$NM/$name"
  tar xzf "$p.tgz" --warning=no-unknown-keyword -C "$NM/$name" --strip-components=1
done
# statsd sources (only read, proxy.js is the reference for how the ring is built)
rm -rf "$PKGS/statsd-0.9.0"; mkdir -p "$PKGS/statsd-0.9.0"
tar xzf statsd-0.9.0.tgz --warning=no-unknown-keyword -C "$PKGS/statsd-0.9.0" --strip-components=1
sha256sum hashring-3.2.0.tgz connection-parse-0.0.7.tgz simple-lru-cache-0.0.2.tgz statsd-0.9.0.tgz
cd "$GOLDEN" && node -e "var H=require('hashring'); console.log('hashring', H.version, 'OK')"
