#!/usr/bin/env bash
# Reproduce the statsd golden vectors.
#   ./run.sh            install statsd (if needed), generate vectors/ , run a second
#                       time into work/vectors_run2/ and compare (determinism check),
#                       then run the crash probe.
# Everything binds to 127.0.0.1; ports are picked dynamically. ~8 min per generation.
set -euo pipefail
cd "$(dirname "$0")"
STATSD_VERSION=0.9.0

# 1. install the real statsd without its optional native deps (modern-syslog, hashring, winser)
if [ ! -f node_modules/statsd/package.json ]; then
  [ -f package.json ] || npm init -y >/dev/null
  npm install --omit=optional --ignore-scripts "statsd@${STATSD_VERSION}"
fi
node -e 'console.log("statsd", require("./node_modules/statsd/package.json").version, "node", process.version)'

# 2. generate vectors (run 1)
node gen_vectors.js vectors

# 3. generate again (run 2) and compare, ignoring values flagged volatile
rm -rf work/vectors_run2
node gen_vectors.js work/vectors_run2
node compare.js vectors work/vectors_run2

# 4. packets that kill the daemon (cannot be part of flush vectors)
node probe_crash.js vectors

ls -l vectors
du -sh vectors
