package store

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
)

// benchDrivers opens each driver on the local backends, a new database or
// keyspace each time.
var benchDrivers = map[string]func(b *testing.B) Config{
	"sqlite": func(b *testing.B) Config {
		return Config{Driver: "sqlite", DSN: "file:" + filepath.Join(b.TempDir(), "bench.db")}
	},
	"mysql": func(b *testing.B) Config { _, dsn := testenv.MySQL(b); return Config{Driver: "mysql", DSN: dsn} },
	"cassandra": func(b *testing.B) Config {
		hosts := testenv.CassandraHosts(b)
		_, ks := testenv.Cassandra(b)
		return Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks, "write_queues": "64"}}
	},
	"cassandra-grouped": func(b *testing.B) Config {
		hosts := testenv.CassandraHosts(b)
		_, ks := testenv.Cassandra(b)
		return Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks,
			"write_queues": "8", "batch_partitions": "50"}}
	},
	"file": func(b *testing.B) Config { return Config{Driver: "file", DSN: filepath.Join(b.TempDir(), "m")} },
}

func openBench(b *testing.B, name string) Store {
	s, err := Open(benchDrivers[name](b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkWrite measures sustained points/s of Write (a read-modify-write
// of blocks in the block stores): batches of 1,000 points over 10,000 paths
// (a new bin every 10 writes), as one writer instance writes them today;
// the first 10 writes (new tables, every path indexed) are not timed.
// Run: make bench-writer.
func BenchmarkWrite(b *testing.B) {
	for _, name := range []string{"sqlite", "mysql", "cassandra", "cassandra-grouped", "file"} {
		b.Run(name, func(b *testing.B) {
			s := openBench(b, name)
			ctx := context.Background()
			res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
			batch := &rollup.Batch{Source: "bench", Resolution: res, Final: true}
			i := 0
			write := func() {
				batch.Points = batch.Points[:0]
				t := int64(1700000000 + 10*(i/10))
				batch.Flush = t + 10
				for j := 0; j < 1000; j++ {
					var p rollup.Point
					p.Path, p.Time = fmt.Sprintf("bench.host%d.metric%d", (i%10*1000+j)/100, j%100), t
					p.Add(float64(j), 1)
					batch.Points = append(batch.Points, p)
				}
				if err := s.Write(ctx, []*rollup.Batch{batch}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			for range 10 { // every path once, before the timer: tables made, paths indexed
				write()
			}
			for b.Loop() {
				write()
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// benchBlocks is how many blocks one WriteBlocks of BenchmarkWriteBlocks
// writes: 72,000 points.
const benchBlocks = 100

// benchSeries returns full blocks of statsd counters as the writer will
// persist them: 720 bins of 10 s, one sample (0–49) a bin, last_at the bin's
// end, as the aggregator stamps every statsd value (services/aggregator
// agg.go: LastAt = binEnd; not a random arrival time).
func benchSeries(b *testing.B, n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const t0 = 1700006400 // a span start
	out := make([][]byte, n)
	for i := range out {
		pts := make([]rollup.Point, BlockPoints)
		for j := range pts {
			t := int64(t0 + 10*j)
			pts[j] = rollup.Point{Time: t}
			pts[j].Add(float64(rng.IntN(50)), (t+10)*1e9)
		}
		data, err := block.Append(nil, 10, pts)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = data
	}
	return out
}

// BenchmarkWriteBlocks measures what the writer's persist costs: WriteBlocks
// of benchBlocks full blocks (720 points each) of new series, as points
// stored per second, and the bytes each point takes on disk (SQLite: the
// database's pages after a WAL checkpoint; Cassandra: the table's SSTables
// in the local node's data directory after a flush, forced by
// memtable_flush_period_in_ms as no nodetool is needed then).
func BenchmarkWriteBlocks(b *testing.B) {
	data := benchSeries(b, benchBlocks)
	var raw int
	for _, d := range data {
		raw += len(d)
	}
	for _, name := range []string{"sqlite", "mysql", "cassandra"} {
		b.Run(name, func(b *testing.B) {
			s := openBench(b, name)
			bs := s.(BlockStore)
			ctx := context.Background()
			res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
			rows := make([]BlockRow, benchBlocks)
			i := 0
			for b.Loop() {
				for j := range rows {
					rows[j] = BlockRow{BlockKey: BlockKey{Path: fmt.Sprintf("bench.host%d.metric%d", i, j), Res: res, Source: "bench",
						Span: 1700006400}, Data: data[j], Version: 1700013600 * 1e6}
				}
				if err := bs.WriteBlocks(ctx, rows); err != nil {
					b.Fatal(err)
				}
				i++
			}
			points := float64(b.N * benchBlocks * BlockPoints)
			b.ReportMetric(points/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(raw)/float64(benchBlocks*BlockPoints), "block_bytes/point")
			var disk int64
			switch name {
			case "sqlite":
				disk = sqliteBytes(b, s.(*sqlStore))
			case "cassandra":
				disk = cassandraBytes(b, s.(*cassandraStore))
			}
			if disk > 0 {
				b.ReportMetric(float64(disk)/points, "disk_bytes/point")
			}
		})
	}
}

// sqliteBytes is the size of the database's used pages after checkpointing
// its WAL: the blocks, their primary key, the path index.
func sqliteBytes(b *testing.B, s *sqlStore) int64 {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := s.db.GetContext(ctx, v, q); err != nil {
			b.Fatal(err)
		}
	}
	return (pages - free) * size
}

// cassandraBytes flushes the keyspace's blocks_10s (a memtable flush period
// of 1 s) and returns the size of its SSTables in the local node's data
// directory (CASSANDRA_DATA, as scripts/cassandra.sh uses it), or 0 when that
// is not on this machine.
func cassandraBytes(b *testing.B, s *cassandraStore) int64 {
	dir := os.Getenv("CASSANDRA_DATA")
	if dir == "" {
		dir = "/tmp/consthash-cassandra"
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "data", s.keyspace, "blocks_10s-*"))
	if len(tables) != 1 {
		b.Logf("no data directory of %s.blocks_10s under %s: bytes/point not measured", s.keyspace, dir)
		return 0
	}
	if err := s.session.Query("ALTER TABLE blocks_10s WITH memtable_flush_period_in_ms = 1000").Exec(); err != nil {
		b.Fatal(err)
	}
	size := func() int64 {
		var n int64
		filepath.WalkDir(tables[0], func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".db") {
				if info, err := d.Info(); err == nil {
					n += info.Size()
				}
			}
			return nil
		})
		return n
	}
	// The flush is done when the size stops growing.
	var last int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		n := size()
		if n > 0 && n == last {
			return n
		}
		last = n
	}
	b.Logf("the SSTables of %s.blocks_10s kept changing for 30 s", s.keyspace)
	return last
}

// BenchmarkPersistBlocks measures what a writer's persist does at field
// scale once its paths are indexed: WriteBlocks of 4,000 blocks of known
// paths, each rewritten with 30 points (the first minutes of a span), in
// calls of BENCH_CHUNK (500) blocks; in blocks/s. The Cassandra variants compare a statement per block
// (64 write queues) with unlogged batches of batch_partitions blocks (the
// default: 10, 16 queues).
//
//	go test ./store -run '^$' -bench BenchmarkPersistBlocks -benchtime 20x
func BenchmarkPersistBlocks(b *testing.B) {
	const blocks, points = 4000, 30
	benchChunk := 500 // the writer's blockBatch
	if n, err := strconv.Atoi(os.Getenv("BENCH_CHUNK")); err == nil && n > 0 {
		benchChunk = n
	}
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	span := SpanOf(res, time.Now().Unix())
	var pts []rollup.Point
	for i := range points {
		p := rollup.Point{Time: span + int64(i)*10}
		p.Add(float64(i%7), (span+int64(i+1)*10)*1e9)
		pts = append(pts, p)
	}
	data, err := block.Append(nil, 10, pts)
	if err != nil {
		b.Fatal(err)
	}
	variants := []struct {
		name string
		opts map[string]string
	}{
		{"sqlite", nil}, {"cassandra/statements", map[string]string{"write_queues": "64", "batch_partitions": "1"}},
		{"cassandra/default", map[string]string{}}, // 16 queues, batches of 10
		{"cassandra/batch50", map[string]string{"write_queues": "8", "batch_partitions": "50", "batch_bytes": "1000000"}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			driver := strings.SplitN(v.name, "/", 2)[0]
			cfg := benchDrivers[driver](b)
			for k, val := range v.opts {
				cfg.Options[k] = val
			}
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			ctx := context.Background()
			if err := s.Init(ctx); err != nil {
				b.Fatal(err)
			}
			bs := s.(BlockStore)
			rows := make([]BlockRow, blocks)
			for j := range rows {
				rows[j] = BlockRow{BlockKey: BlockKey{Path: fmt.Sprintf("bench.persist.host%03d.metric%d", j/20, j%20), Res: res,
					Source: "bench", Span: span}, Data: data}
			}
			version := int64(1)
			write := func() {
				for j := range rows {
					rows[j].Version = version
				}
				version++
				for chunk := range slices.Chunk(rows, benchChunk) {
					if err := bs.WriteBlocks(ctx, chunk); err != nil {
						b.Fatal(err)
					}
				}
			}
			write() // tables and the path index: not timed
			for b.Loop() {
				write()
			}
			b.ReportMetric(float64(b.N*blocks)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}
