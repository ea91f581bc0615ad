#!/usr/bin/env bash
# Regenerates every golden vector under pkg/ring/testdata/golden (and the
# carbon-c-relay name-rewriting table under pkg/line/testdata/crelay) by running
# the real peers. Needs Debian's graphite-carbon and carbon-c-relay, node and npm.
#
#   apt-get install -y graphite-carbon carbon-c-relay nodejs npm
#   pkg/ring/testdata/golden/scripts/regen.sh
#
# The generators work in $GOLDEN (default /tmp/golden), as their READMEs say.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
golden_dir=$(dirname "$here")
line_dir=$(cd "$golden_dir/../../../line/testdata" && pwd)
export GOLDEN=${GOLDEN:-/tmp/golden}

mkdir -p "$GOLDEN/scripts" "$GOLDEN/out"
cp "$here"/*.py "$here"/*.sh "$here"/*.js "$GOLDEN/scripts/"
python3 "$here/gen_keys.py" > "$GOLDEN/keys.txt"
cmp <(gzip -dc "$golden_dir/keys.txt.gz") "$GOLDEN/keys.txt" || echo "regen.sh: the key set changed"

/usr/bin/python3 "$GOLDEN/scripts/carbon_relay_vectors.py"
sh "$GOLDEN/scripts/setup_hashring.sh"
(cd "$GOLDEN" && node scripts/statsd_ring_vectors.js)
bash "$GOLDEN/scripts/c_relay_vectors.sh"

gzip -9 -c "$GOLDEN/keys.txt" > "$golden_dir/keys.txt.gz"
for peer in carbon-relay-py statsd-hashring carbon-c-relay; do
	mkdir -p "$golden_dir/$peer"
	cp "$GOLDEN/out/$peer/"*.tsv.gz "$golden_dir/$peer/"
done
cp "$GOLDEN/out/carbon-c-relay/prod/sanitize.tsv.gz" "$line_dir/crelay/"
cp "$golden_dir/keys.txt.gz" "$line_dir/crelay/keys.txt.gz"
echo "regen.sh: done; run: cd pkg && go test ./ring ./line"
