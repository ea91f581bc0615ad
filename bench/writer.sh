#!/usr/bin/env bash
# make bench-writer: points/s stored through the store API into each driver, on the local backends (MariaDB and
# Cassandra are started if they are not running; they are left running).
#   - WriteBlocks of full 720-point blocks (what the writer's persist does) for sqlite, mysql, cassandra, with the
#     bytes each point takes on disk (SQLite: used pages after a WAL checkpoint; Cassandra: the table's SSTable files
#     in the local data directory after a flush forced by memtable_flush_period_in_ms — no nodetool);
#   - Write(batches) for every driver, for comparison (a read-modify-write of blocks in the block stores; files append).
# The last line is the summary:
#   writer: sqlite=<pts/s> mysql=<pts/s> cassandra=<pts/s> file=<pts/s> bytes_per_point_sqlite=<x> bytes_per_point_cassandra=<x>
# (block stores: WriteBlocks; file: Write). About a minute. BLOCK_WRITES (50) WriteBlocks of 100 blocks per driver;
# WRITE_TIME (2s) per driver for Write.
set -euo pipefail
cd "$(dirname "$0")/.."
export "$(scripts/mariadb.sh start | tail -n1)" "$(scripts/cassandra.sh start | tail -n1)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(
	cd pkg
	go test -run '^$' -bench 'BenchmarkWriteBlocks' -benchtime "${BLOCK_WRITES:-50}x" ./store
	go test -run '^$' -bench 'BenchmarkWrite$' -benchtime "${WRITE_TIME:-2s}" ./store
) | tee "$out"
# metric NAME UNIT: the value before UNIT on the benchmark line NAME (without its -GOMAXPROCS suffix).
metric() {
	awk -v name="$1" -v unit="$2" '$1 ~ /^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); if (n == name) for (i = 2; i <= NF; i++) if ($i == unit) v = $(i-1) }
		END { if (v == "") print "n/a"; else print v }' "$out"
}
round() { awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else printf "%.0f\n", v }'; }
echo
printf '%-20s %15s %15s\n' driver WriteBlocks Write
for d in sqlite mysql cassandra cassandra-grouped file; do
	printf '%-20s %15s %15s\n' "$d" "$(round "$(metric "BenchmarkWriteBlocks/$d" points/s)")" "$(round "$(metric "BenchmarkWrite/$d" points/s)")"
done
echo "points/s, on a shared 2-core machine (other builds running: rough)"
echo "writer: sqlite=$(round "$(metric BenchmarkWriteBlocks/sqlite points/s)") mysql=$(round "$(metric BenchmarkWriteBlocks/mysql points/s)") cassandra=$(round "$(metric BenchmarkWriteBlocks/cassandra points/s)") file=$(round "$(metric BenchmarkWrite/file points/s)") bytes_per_point_sqlite=$(metric BenchmarkWriteBlocks/sqlite disk_bytes/point) bytes_per_point_cassandra=$(metric BenchmarkWriteBlocks/cassandra disk_bytes/point)"
