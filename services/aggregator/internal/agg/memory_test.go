package agg

import (
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

// seriesLine is the line of series i in statblast's default mix (counters 4,
// timers 2, gauges 1, sets 1) plus graphite: every ninth series is graphite.
func seriesLine(i int, ts string) (string, []byte) {
	k := strconv.Itoa(i)
	switch i % 9 {
	case 0, 1, 2, 3:
		return "statsd", []byte("mem.counter.k" + k + ":3|c")
	case 4, 5:
		return "statsd", []byte("mem.timer.k" + k + ":" + strconv.Itoa(i%700) + "|ms")
	case 6:
		return "statsd", []byte("mem.gauge.k" + k + ":" + strconv.Itoa(i%50) + "|g")
	case 7:
		return "statsd", []byte("mem.set.k" + k + ":u" + strconv.Itoa(i%13) + "|s")
	}
	return "graphite", []byte("mem.graphite.k" + k + " 1.5 " + ts)
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryPerSeries measures the heap an aggregator holds through an
// interval once its coarse bins are filled, for input keys in statblast's
// mix each updated in every interval. It holds the heap per stored series (a
// path: a counter key flushes 2, a timer key 14) to 1 KiB and reports the
// heap per input key.
func TestMemoryPerSeries(t *testing.T) {
	n := 50_000 // CONSTHASH_MEM_SERIES=200000 for the field scale (docs/benchmarks.md)
	if v, err := strconv.Atoi(os.Getenv("CONSTHASH_MEM_SERIES")); err == nil && v > 0 {
		n = v
	}
	cfg, err := config.Parse("mem.toml", `
times = ["10s:1h", "1m:2h", "10m:4h"]
[admin]
listen = ""
[[listeners]]
url = "udp://127.0.0.1:0"
format = "statsd"
`)
	if err != nil {
		t.Fatal(err)
	}
	before := heapAfterGC()
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeAll()
	bin := time.Unix(1_700_000_000, 0).Truncate(10 * time.Minute).Add(10 * time.Second)
	ts := strconv.FormatInt(bin.Unix(), 10)
	for flush := range 3 {
		for i := range n {
			format, l := seriesLine(i, ts)
			if !a.Line(format, l) {
				t.Fatalf("line %s refused", l)
			}
		}
		a.Flush(bin.Add(time.Duration(flush) * 10 * time.Second))
	}
	// Lines of the fourth interval are in: the state the aggregator holds
	// through an interval, coarse bins full.
	for i := range n {
		format, l := seriesLine(i, ts)
		a.Line(format, l)
	}
	held := heapAfterGC() - before
	paths := 0
	for _, m := range a.rollups.OpenPaths() {
		paths = max(paths, m)
	}
	perKey, perPath := float64(held)/float64(n), float64(held)/float64(paths)
	t.Logf("%d input keys, %d stored series (paths): heap %.1f MiB, %.0f bytes per input key, %.0f bytes per stored series",
		n, paths, float64(held)/(1<<20), perKey, perPath)
	t.Logf("flush: last %.3fs, longest %.3fs", a.Stats()["last_flush_seconds"], a.Stats()["max_flush_seconds"])
	runtime.KeepAlive(a)
	if perPath > 1024 {
		t.Errorf("%.0f bytes per stored series, want at most 1024", perPath)
	}
}

// BenchmarkFlush flushes 100,000 input keys in statblast's mix (about
// 430,000 paths) with coarse bins filled: ns/op is one flush.
func BenchmarkFlush(b *testing.B) {
	const n = 100_000
	cfg, err := config.Parse("bench.toml", `
times = ["10s:1h", "1m:2h", "10m:4h"]
[admin]
listen = ""
[[listeners]]
url = "udp://127.0.0.1:0"
format = "statsd"
`)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.closeAll()
	bin := time.Unix(1_700_000_000, 0).Truncate(10 * time.Minute).Add(10 * time.Second)
	ts := strconv.FormatInt(bin.Unix(), 10)
	// As in production, keys arrive on 32 shards, each with its own
	// accumulator.
	shardCfg := cfg.StatsdCfg
	shardCfg.NoInternal = true
	for sh := range 32 {
		a.shards[sh] = a.newAcc(shardCfg)
	}
	feed := func() {
		for i := range n {
			format, l := seriesLine(i, ts)
			a.lineTo(a.shards[int(ring.Shard(l[:bytes.IndexAny(l, ": ")], 32))], format, l)
		}
	}
	feed()
	a.Flush(bin)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		feed()
		b.StartTimer()
		a.Flush(bin.Add(time.Duration(i+1) * 10 * time.Second))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
}
