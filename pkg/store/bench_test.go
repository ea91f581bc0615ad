package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
)

// BenchmarkWrite measures sustained points/s into each driver: batches of
// 1,000 points over 10,000 paths (a new bin every 10 writes), as one writer
// instance writes them. Run: make bench-writer.
func BenchmarkWrite(b *testing.B) {
	drivers := map[string]func(b *testing.B) Config{
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
	for _, name := range []string{"sqlite", "mysql", "cassandra", "cassandra-grouped", "file"} {
		b.Run(name, func(b *testing.B) {
			s, err := Open(drivers[name](b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.Init(ctx); err != nil {
				b.Fatal(err)
			}
			res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
			batch := &rollup.Batch{Source: "bench", Resolution: res, Final: true}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				batch.Points = batch.Points[:0]
				t := int64(1700000000 + 10*(i/10))
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
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
