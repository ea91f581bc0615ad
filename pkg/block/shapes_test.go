package block

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consthash/consthash/pkg/rollup"
)

// shape is a series as the aggregator really publishes it
// (services/aggregator): every statsd series (counters' rate and count,
// timers' derived series, gauges) is one sample a bin with last_at = the
// bin's end (agg.go: LastAt = binEnd), a graphite line's last_at is its
// arrival time in nanoseconds (accum/graphite.go), and a coarse bin merges
// the base points of its span (rollups.go: last_at the latest of theirs).
type shape struct {
	name string
	step int64
	pts  []rollup.Point
}

// statsdPoint is one flushed statsd value of the bin starting at t.
func statsdPoint(t, step int64, v float64) rollup.Point {
	return rollup.Point{Time: t, Sum: v, Min: v, Max: v, Last: v, Count: 1, LastAt: (t + step) * 1e9}
}

// realisticShapes: 720 bins (a full block) of each kind of series.
func realisticShapes() []shape {
	const n, t0 = 720, 1_700_006_400 // a span start
	r := rand.New(rand.NewPCG(42, 7))
	var out []shape
	add := func(name string, step int64, f func(i int, t int64) (rollup.Point, bool)) {
		s := shape{name: name, step: step}
		for i := range n {
			t := t0 + int64(i)*step
			if p, ok := f(i, t); ok {
				s.pts = append(s.pts, p)
			}
		}
		out = append(out, s)
	}
	counts := make([]float64, n) // a busy statsd counter: its counts per 10 s flush
	for i := range counts {
		counts[i] = float64(40 + r.IntN(21))
	}
	add("statsd counter idle (0 every flush)", 10, func(_ int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, 0), true
	})
	add("statsd counter .count (40-60 a flush)", 10, func(i int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, counts[i]), true
	})
	add("statsd counter .rate (count / 10 s)", 10, func(i int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, counts[i]/10), true
	})
	gauge := 250.0
	add("statsd gauge (random walk, 2 decimals)", 10, func(_ int, t int64) (rollup.Point, bool) {
		gauge = math.Round((gauge+r.NormFloat64())*100) / 100
		return statsdPoint(t, 10, gauge), true
	})
	type timer struct{ mean, upper, count float64 }
	timers := make([]timer, n) // 5-30 samples a flush, integer ms
	for i := range timers {
		c := 5 + r.IntN(26)
		var sum, upper float64
		for range c {
			v := math.Round(20 + r.ExpFloat64()*30)
			sum += v
			upper = max(upper, v)
		}
		timers[i] = timer{sum / float64(c), upper, float64(c)}
	}
	add("statsd timer .mean", 10, func(i int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, timers[i].mean), true
	})
	add("statsd timer .upper", 10, func(i int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, timers[i].upper), true
	})
	add("statsd timer .count_ps", 10, func(i int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, timers[i].count/10), true
	})
	add("sparse statsd counter (1 flush in 10)", 10, func(_ int, t int64) (rollup.Point, bool) {
		return statsdPoint(t, 10, float64(1+r.IntN(3))), r.IntN(10) == 0
	})
	phase := int64(3_217_000_000)
	g := 61.0
	add("graphite line every 10 s (ns arrival)", 10, func(_ int, t int64) (rollup.Point, bool) {
		g = math.Round((g+r.NormFloat64()/4)*10) / 10
		at := t*1e9 + phase + int64(r.NormFloat64()*2e6) // 2 ms of jitter
		return rollup.Point{Time: t, Sum: g, Min: g, Max: g, Last: g, Count: 1, LastAt: at}, true
	})
	add("1 min rollup of the .count counter", 60, func(i int, t int64) (rollup.Point, bool) {
		var p rollup.Point
		for j := range 6 {
			v := counts[(6*i+j)%n]
			b := statsdPoint(t+int64(10*j), 10, v)
			if p.Count == 0 {
				p = b
			} else {
				p.Merge(b)
			}
		}
		p.Time = t
		return p, true
	})
	g = 61.0
	add("graphite line, arrival in ms (if stamped so)", 10, func(_ int, t int64) (rollup.Point, bool) {
		g = math.Round((g+r.NormFloat64()/4)*10) / 10
		at := t*1e9 + phase + int64(r.NormFloat64()*2e6)/1e6*1e6
		return rollup.Point{Time: t, Sum: g, Min: g, Max: g, Last: g, Count: 1, LastAt: at}, true
	})
	return out
}

// goldenShapes: the first 120 points of each realistic shape, and the edge
// cases of TestRoundTripIsExact.
func goldenShapes() []shape {
	var out []shape
	for _, s := range realisticShapes() {
		s.pts = s.pts[:min(len(s.pts), 120)]
		out = append(out, s)
	}
	return append(out, shape{"specials", 10, specials()}, shape{"gaps ns", 10, gappy(series("gauge", 300, 10, 1_700_000_000, 1, 6))})
}

var writeGolden = flag.Bool("golden", false, "write testdata/golden/<shape>.v<Version>.block (and <shape>.json if missing) from goldenShapes")

// goldenPoint is a point with its floats as bits, so that the JSON is exact.
type goldenPoint struct {
	Time, LastAt        int64
	Count               uint64
	Sum, Min, Max, Last uint64
}

type golden struct {
	Step   int64
	Points []goldenPoint
}

func toGolden(step int64, pts []rollup.Point) golden {
	g := golden{Step: step}
	for _, p := range pts {
		fb := math.Float64bits
		g.Points = append(g.Points, goldenPoint{p.Time, p.LastAt, p.Count, fb(p.Sum), fb(p.Min), fb(p.Max), fb(p.Last)})
	}
	return g
}

func (g golden) points() []rollup.Point {
	var out []rollup.Point
	for _, p := range g.Points {
		ff := math.Float64frombits
		out = append(out, rollup.Point{Time: p.Time, LastAt: p.LastAt, Count: p.Count, Sum: ff(p.Sum), Min: ff(p.Min),
			Max: ff(p.Max), Last: ff(p.Last)})
	}
	return out
}

func goldenName(shape string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(shape))
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	return strings.Trim(name, "-")
}

// TestGolden decodes every block kept under testdata/golden (a block of
// each shape in every format version ever written, <shape>.v<N>.block) to
// the points recorded beside it (<shape>.json), bit for bit. With -golden it
// first writes this version's blocks of every shape.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *writeGolden {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range goldenShapes() {
			data, err := Append(nil, s.step, s.pts)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, goldenName(s.name))
			if err := os.WriteFile(fmt.Sprintf("%s.v%d.block", name, Version), data, 0o644); err != nil {
				t.Fatal(err)
			}
			// The points are shared by every version's block of the shape:
			// an older version's blocks must keep decoding to them.
			if _, err := os.Stat(name + ".json"); err == nil {
				continue
			}
			js, err := json.Marshal(toGolden(s.step, s.pts))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name+".json", js, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.block"))
	if err != nil {
		t.Fatal(err)
	}
	versions := map[byte]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		shapeName, _, _ := strings.Cut(filepath.Base(f), ".") // shape.v<version>.block
		js, err := os.ReadFile(filepath.Join(dir, shapeName+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(js, &g); err != nil {
			t.Fatal(err)
		}
		want := g.points()
		got, h, err := Decode(nil, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if h.Step != g.Step || len(got) != len(want) {
			t.Fatalf("%s: step %d, %d points; want %d, %d", f, h.Step, len(got), g.Step, len(want))
		}
		for i := range want {
			if !samePoint(got[i], want[i]) {
				t.Fatalf("%s: point %d: got %+v, want %+v", f, i, got[i], want[i])
			}
		}
		versions[data[0]]++
	}
	for v := byte(1); v <= Version; v++ {
		if versions[v] == 0 {
			t.Errorf("no golden block of version %d under %s", v, dir)
		}
	}
}

// TestBytesPerPoint encodes 720 points of each realistic shape and prints
// the bytes a point each group of fields costs (go test -v -run
// TestBytesPerPoint ./block); it checks that the groups add up to the block
// and that the block decodes to its points.
func TestBytesPerPoint(t *testing.T) {
	t.Logf("%-46s %6s %6s %6s %7s %6s %6s %6s", "shape (bytes/point)", "total", "header", "time", "last_at", "count", "flat", "values")
	for _, s := range realisticShapes() {
		var sz Sizes
		data, err := AppendSizes(nil, s.step, s.pts, &sz)
		if err != nil {
			t.Fatal(err)
		}
		if sz.Total() != len(data)*8 {
			t.Errorf("%s: groups add up to %d bits, the block has %d", s.name, sz.Total(), len(data)*8)
		}
		got, _, err := Decode(nil, data)
		if err != nil || len(got) != len(s.pts) {
			t.Fatalf("%s: %d points, err %v", s.name, len(got), err)
		}
		for i := range got {
			if !samePoint(got[i], s.pts[i]) {
				t.Fatalf("%s: point %d: got %+v, want %+v", s.name, i, got[i], s.pts[i])
			}
		}
		per := func(bits int) string { return fmt.Sprintf("%.3f", float64(bits)/8/float64(len(s.pts))) }
		t.Logf("%-46s %6s %6s %6s %7s %6s %6s %6s", s.name+fmt.Sprintf(" [%d]", len(s.pts)), per(sz.Total()), per(sz.Header),
			per(sz.Time), per(sz.LastAt), per(sz.Count), per(sz.Flat), per(sz.Values))
	}
}

// sum adds at run time (Go adds constants exactly: 0.1 + 0.2 == 0.3).
func sum(vs ...float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}

// TestValueModes: each float field gets the decimal mode with the fewest
// digits that holds every value it writes, or XOR; every value comes back
// bit for bit either way.
func TestValueModes(t *testing.T) {
	flatOf := func(vs ...float64) []rollup.Point {
		var pts []rollup.Point
		for i, v := range vs {
			pts = append(pts, statsdPoint(int64(10*i), 10, v))
		}
		return pts
	}
	for _, tc := range []struct {
		name string
		pts  []rollup.Point
		mode byte // of last
	}{
		{"integers", flatOf(1, 5, 3, -7, 0, 12), 0},
		{"one decimal", flatOf(0.1, 4.7, -3.3, 12), 1},
		{"two decimals", flatOf(0.25, 1.01, 99.99, -0.07), 2},
		{"rates of a 10 s counter", flatOf(17.0/10, 3.0/10, 41.0/10), 1},
		{"0.1 + 0.2 is no decimal of 14 digits or fewer", flatOf(sum(0.1, 0.2), 0.3), modeXOR},
		{"-0", flatOf(1, math.Copysign(0, -1), 2), modeXOR},
		{"NaN", flatOf(1, math.NaN(), 2), modeXOR},
		{"infinity", flatOf(1, math.Inf(1)), modeXOR},
		{"beyond 2^53", flatOf(1<<53, 1<<53+2), modeXOR},
		{"just below 2^53", flatOf(1<<53-1, 1<<53-3, 5), 0},
		{"tiny", flatOf(5e-324, 1e-300), modeXOR},
		{"a constant", flatOf(3, 3, 3, 3), 0},
		{"a mean", flatOf(sum(17, 23, 30)/3, sum(40, 2)/2), modeXOR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Append(nil, 10, tc.pts)
			if err != nil {
				t.Fatal(err)
			}
			it, err := NewIter(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := it.st2.vals[fLast]; got.dec != (tc.mode != modeXOR) || (got.dec && got.d != int(tc.mode)) {
				t.Errorf("last: decimal %v with %d digits, want mode %d", got.dec, got.d, tc.mode)
			}
			got, _, err := Decode(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.pts {
				if !samePoint(got[i], tc.pts[i]) {
					t.Fatalf("point %d: got %+v, want %+v", i, got[i], tc.pts[i])
				}
			}
		})
	}
}
