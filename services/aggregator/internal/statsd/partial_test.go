package statsd

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// comparable leaves out what depends on the clock (timings of the flush
// itself, when the previous one was handed over, and its length, which
// includes those timings).
func comparable(m map[string]float64) map[string]float64 {
	for n := range m {
		if strings.Contains(n, "processing_time") || strings.Contains(n, "calculationtime") ||
			strings.Contains(n, "last_flush") || strings.Contains(n, "flush_time") || strings.Contains(n, "flush_length") {
			delete(m, n)
		}
	}
	return m
}

func sameFlush(t *testing.T, round int, want, got map[string]float64) {
	t.Helper()
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			t.Errorf("round %d: %s = %v missing", round, n, w)
		} else if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Errorf("round %d: %s = %v, want %v", round, n, g, w)
		}
	}
	for n, g := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("round %d: %s = %v, which the accumulator does not flush", round, n, g)
		}
	}
}

// replay feeds rounds of packets, each packet to the Partial of its input
// (inputs[i]), merges them and flushes; and the same packets straight into an
// Accumulator (as statsd reads them, in order). Both flushes must be the
// same, bit for bit.
func replay(t *testing.T, cfg Config, rounds [][]string, inputs [][]int) {
	t.Helper()
	direct, merged := New(cfg), New(cfg)
	n := 0
	for _, r := range inputs {
		n = max(n, slices.Max(append(r, 0))+1)
	}
	parts := make([]*Partial, n)
	for i := range parts {
		parts[i] = NewPartial(cfg)
	}
	now := time.Unix(1700000000, 0)
	for ri, r := range rounds {
		for pi, p := range r {
			direct.Packet([]byte(p))
			in := parts[inputs[ri][pi]]
			in.Packet([]byte(p), 0)
			merged.ApplyGauges(in.Gauges()) // after each "batch", as the aggregator does
			in.ResetGauges()
		}
		for _, p := range parts {
			merged.Merge(p, merged)
		}
		now = now.Add(10 * time.Second)
		want, got := map[string]float64{}, map[string]float64{}
		direct.Flush(now, func(n string, v float64) { want[n] = v })
		merged.Flush(now, func(n string, v float64) { got[n] = v })
		sameFlush(t, ri, comparable(want), comparable(got))
	}
}

// TestMergeIsExact: lines read by several inputs and merged at the flush
// flush what one accumulator reading them all flushes, over several flushes
// (kept and deleted keys included): counters summed, timer samples and
// percentiles, sets, gauges applied in order, statsd's own counters.
func TestMergeIsExact(t *testing.T) {
	withDeletes := Default()
	withDeletes.DeleteCounters, withDeletes.DeleteTimers, withDeletes.DeleteSets, withDeletes.DeleteGauges = true, true, true, true
	withDeletes.GaugesMaxTTL = 2
	pct := Default()
	pct.PercentThreshold = []float64{50, 90, 99.9, -10}
	pct.Histograms = []Histogram{{Metric: "lat", Bins: []Bin{{Bound: 5}, {Bound: 100}, {Inf: true}}}}
	for _, tc := range []struct {
		name   string
		cfg    Config
		rounds [][]string
		inputs [][]int
	}{
		{"one input, every type", Default(), [][]string{
			{"a:1|c\nb:2|c|@0.1\nt:3|ms\nt:1|ms|@0.5", "g:5|g\ng:+2|g\ng:-10|g\ns:x|s\ns:y|s\ns:x|s", "bad\nz:1|q|@x\nm:1|c:2|ms:3|g"},
			{"a:0.3|c\na:0.3|c\nt:7|ms", "g:+1|g\ns:z|s"},
			{},
		}, [][]int{{0, 0, 0}, {0, 0}, {}}},
		{"three inputs, disjoint senders", pct, [][]string{
			{"a:1|c\nlat:3|ms", "a:2|c\nlat:1|ms\nlat:250|ms", "g:1|g", "a:4|c\ns:p|s", "s:q|s\nlat:4|ms"},
			{"lat:9|ms\nlat:2|ms", "g:+3|g", "a:1|c|@0.5"},
		}, [][]int{{0, 1, 2, 2, 1}, {1, 0, 2}}},
		{"deletes and gauge ttl", withDeletes, [][]string{
			{"c:1|c\nt:1|ms\ns:a|s\ng:1|g", "c:2|c"},
			{"g:+1|g"},
			{},
			{"c:3|c"},
		}, [][]int{{0, 1}, {1}, {}, {0}}},
	} {
		t.Run(tc.name, func(t *testing.T) { replay(t, tc.cfg, tc.rounds, tc.inputs) })
	}
}

// TestMergeManyTimerSamples: a timer with enough samples to be radix-sorted
// flushes the same percentiles, sums and histogram as statsd's sort would.
func TestMergeManyTimerSamples(t *testing.T) {
	cfg := Default()
	cfg.PercentThreshold = []float64{50, 90, 99, -5}
	cfg.Histograms = []Histogram{{Metric: "t", Bins: []Bin{{Bound: 1}, {Bound: 500.5}, {Inf: true}}}}
	r := rand.New(rand.NewPCG(1, 2))
	var packets []string
	var inputs []int
	for i := range 4000 {
		var v string
		switch i % 4 {
		case 0:
			v = strconv.Itoa(r.IntN(1000))
		case 1:
			v = strconv.FormatFloat(r.Float64()*1e3, 'g', -1, 64)
		case 2:
			v = strconv.FormatFloat(r.ExpFloat64()*1e-3, 'g', -1, 64)
		default:
			v = []string{"0", "-0", "1e300", "0.1"}[r.IntN(4)]
		}
		packets = append(packets, "t:"+v+"|ms")
		inputs = append(inputs, 0)
	}
	replay(t, cfg, [][]string{packets}, [][]int{inputs})
}

// TestSortFloats compares the radix sort with a comparison sort.
func TestSortFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 255, 256, 1000, 10000} {
		vs := make([]float64, n)
		for i := range vs {
			switch r.IntN(4) {
			case 0:
				vs[i] = float64(r.IntN(100))
			case 1:
				vs[i] = -r.Float64() * 1e6
			case 2:
				vs[i] = math.Inf(1 - 2*r.IntN(2))
			default:
				vs[i] = r.NormFloat64() * 1e-300
			}
		}
		want := slices.Clone(vs)
		slices.Sort(want)
		sortFloats(vs, nil)
		if !slices.Equal(vs, want) {
			t.Fatalf("n=%d: not sorted", n)
		}
	}
}

// TestPartialLineAllocatesNothingForAHeldKey: once a Partial holds a key, a
// line for it allocates nothing (a timer's samples grow their slice, which
// amortises to nothing per line).
func TestPartialLineAllocatesNothingForAHeldKey(t *testing.T) {
	for _, l := range []string{"svc.requests:1|c", "svc.requests:1|c|@0.5", "svc.latency:12.5|ms",
		"svc.queue:+3|g", "svc.users:alice|s", "svc.tagged:1|c|#env:prod,az:b", "multi:1|c:2|ms:3|g"} {
		t.Run(l, func(t *testing.T) {
			p := NewPartial(Default())
			b := []byte(l)
			p.Line(b)
			p.ResetGauges()
			if n := testing.AllocsPerRun(1000, func() {
				p.Line(b)
				p.ResetGauges()
			}); n != 0 {
				t.Errorf("%v allocations per line", n)
			}
		})
	}
}

// TestPartialMaxKeys: past MaxKeys a new key's values are refused and
// counted; held keys go on.
func TestPartialMaxKeys(t *testing.T) {
	p := NewPartial(Default())
	p.MaxKeys = 2
	p.Packet([]byte("a:1|c\nb:1|ms\nc:1|c\nd:1|g\na:2|c"), 0)
	a := New(Default())
	a.Merge(p, a)
	m := flushMap(a)
	if m["stats_counts.a"] != 3 || m["stats.timers.b.count"] != 1 {
		t.Errorf("held keys: a %v, b %v", m["stats_counts.a"], m["stats.timers.b.count"])
	}
	if _, ok := m["stats_counts.c"]; ok {
		t.Error("c was not refused")
	}
	if m["stats_counts.statsd.metrics_received"] != 5 {
		t.Errorf("metrics_received %v, want 5", m["stats_counts.statsd.metrics_received"])
	}
}

// FuzzPartialMatchesAccumulator: any packets, read by one input and merged,
// flush exactly what the accumulator flushes reading them itself (packets
// are separated by 0x00 in the input; two flushes).
func FuzzPartialMatchesAccumulator(f *testing.F) {
	for _, s := range []string{"a:1|c\nb:2|ms\x00g:+1|g\ng:-3|g", "s:x|s\ns:|s\x00t:1|ms|@0.1:2|c",
		"k:1|c|#a:b,c\r\n\n\xff:1|c\x00bad\x00z:Infinity|c\x00q:1|c|@0", "g:0|g\ng:+5|g\x00g:-0|g\x00t:-0|ms\nt:0|ms"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		packets := bytes.Split(b, []byte{0})
		half := len(packets) / 2
		var rounds [][]string
		var inputs [][]int
		for _, r := range [][][]byte{packets[:half], packets[half:]} {
			var ps []string
			var in []int
			for _, p := range r {
				ps = append(ps, string(p))
				in = append(in, 0)
			}
			rounds, inputs = append(rounds, ps), append(inputs, in)
		}
		replay(t, Default(), rounds, inputs)
	})
}

// BenchmarkPartialPacket: a 10-line packet of counters, timers and gauges
// over 3,000 keys, into a Partial (the inputs' path) and into an
// Accumulator (the path before per-input accumulators).
func BenchmarkPartialPacket(b *testing.B) {
	var packets [][]byte
	for i := range 300 {
		var p []byte
		for j := range 10 {
			k := (i*10 + j) % 3000
			switch j % 4 {
			case 0, 1:
				p = append(p, "bench.svc.c"+strconv.Itoa(k)+":1|c\n"...)
			case 2:
				p = append(p, "bench.svc.t"+strconv.Itoa(k)+":"+strconv.Itoa(i%250)+"|ms\n"...)
			default:
				p = append(p, "bench.svc.g"+strconv.Itoa(k)+":"+strconv.Itoa(i)+"|g\n"...)
			}
		}
		packets = append(packets, p)
	}
	b.Run("partial", func(b *testing.B) {
		p, a := NewPartial(Default()), New(Default())
		b.ReportAllocs()
		b.SetBytes(int64(len(packets[0])))
		for i := 0; b.Loop(); i++ {
			p.Packet(packets[i%len(packets)], 0)
			a.ApplyGauges(p.Gauges())
			p.ResetGauges()
			if i%100000 == 0 {
				a.Merge(p, a)
			}
		}
	})
	b.Run("accumulator", func(b *testing.B) {
		a := New(Default())
		b.ReportAllocs()
		b.SetBytes(int64(len(packets[0])))
		for i := 0; b.Loop(); i++ {
			a.Packet(packets[i%len(packets)])
			if i%100000 == 0 {
				a.Flush(time.Unix(1700000000, 0), func(string, float64) {})
			}
		}
	})
}
