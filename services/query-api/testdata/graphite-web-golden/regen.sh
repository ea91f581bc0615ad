#!/usr/bin/env bash
# Regenerates dataset.json.gz, render.jsonl.gz and other.jsonl.gz by running the real
# graphite-web 1.1.8 (Debian: apt-get install graphite-web) in-process.
# gen.py writes its whisper files, sqlite db and out/ next to itself, so it
# runs from a scratch copy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/gen.py" "$here/gen_events.py" "$here/local_settings.py" "$work/"
# graphite-web orders some answers by Python sets: fix the hash seed.
PYTHONHASHSEED=0 /usr/bin/python3 "$work/gen.py"
gzip -9 -n -c "$work/out/dataset.json" >"$here/dataset.json.gz"
gzip -9 -n -c "$work/out/render.jsonl" >"$here/render.jsonl.gz"
gzip -9 -n -c "$work/out/other.jsonl" >"$here/other.jsonl.gz"
# The functions' interface, which internal/fn's definitions must give at /functions for those it implements.
cp "$work/out/functions.json" "$here/functions.json"
# The events API, in a database of its own (gen_events.py recreates graphite.db).
PYTHONHASHSEED=0 /usr/bin/python3 "$work/gen_events.py"
gzip -9 -n -c "$work/out/events.jsonl" >"$here/events.jsonl.gz"
echo "wrote $here/events.jsonl.gz"
echo "wrote $here/dataset.json.gz $here/render.jsonl.gz $here/other.jsonl.gz $here/functions.json"
