package block

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/consthash/consthash/pkg/rollup"
)

// series makes n points of a kind of data the pipeline stores, every step
// seconds from t0, with last_at at the given precision (1 = nanoseconds).
func series(kind string, n int, step, t0, lastAtUnit int64, seed uint64) []rollup.Point {
	r := rand.New(rand.NewPCG(seed, 1))
	pts := make([]rollup.Point, 0, n)
	gauge := 100.0
	for i := range n {
		t := t0 + int64(i)*step
		at := t*1e9 + (r.Int64N(step*1e9)/lastAtUnit)*lastAtUnit
		var p rollup.Point
		switch kind {
		case "counter": // statsd counts: one integer sample a bin
			v := float64(r.IntN(50))
			p = rollup.Point{Sum: v, Min: v, Max: v, Last: v, Count: 1}
		case "gauge": // a random walk of two-decimal values
			gauge = math.Round((gauge+r.NormFloat64())*100) / 100
			p = rollup.Point{Sum: gauge, Min: gauge, Max: gauge, Last: gauge, Count: 1}
		case "constant": // a gauge that does not move, sampled every flush
			p = rollup.Point{Sum: 6 * 42, Min: 42, Max: 42, Last: 42, Count: 6}
		case "timer": // many samples a bin: every field differs
			c := uint64(1 + r.IntN(20))
			for j := range c {
				p.Add(math.Round(r.ExpFloat64()*2000)/10, at-int64(c-j))
			}
		}
		p.Time, p.LastAt = t, at
		pts = append(pts, p)
	}
	return pts
}

func TestRoundTripIsExact(t *testing.T) {
	cases := []struct {
		name string
		pts  []rollup.Point
		step int64
	}{
		{"empty", nil, 10},
		{"one", series("counter", 1, 10, 1_700_000_000, 1, 1), 10},
		{"counter", series("counter", 720, 10, 1_700_000_000, 1, 2), 10},
		{"gauge ms", series("gauge", 720, 60, 1_700_000_040, 1e6, 3), 60},
		{"constant s", series("constant", 720, 600, 1_700_000_400, 1e9, 4), 600},
		{"timer", series("timer", 500, 10, 1_700_000_000, 1, 5), 10},
		{"gaps", gappy(series("gauge", 300, 10, 1_700_000_000, 1, 6)), 10},
		{"specials", specials(), 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Append(nil, tc.step, tc.pts)
			if err != nil {
				t.Fatal(err)
			}
			got, h, err := Decode(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			if h.N != len(tc.pts) || h.Step != tc.step {
				t.Fatalf("header %+v for %d points at %d s", h, len(tc.pts), tc.step)
			}
			for i := range tc.pts {
				if !samePoint(got[i], tc.pts[i]) {
					t.Fatalf("point %d: got %+v, want %+v", i, got[i], tc.pts[i])
				}
			}
		})
	}
}

// specials are the edge cases: -0, infinities, NaN, extreme counts, times
// and last_at.
func specials() []rollup.Point {
	return []rollup.Point{
		{Time: 0, Sum: math.Copysign(0, -1), Min: math.Copysign(0, -1), Max: math.Copysign(0, -1), Last: math.Copysign(0, -1), Count: 1, LastAt: -5},
		{Time: 10, Sum: math.Inf(1), Min: math.Inf(-1), Max: math.NaN(), Last: math.MaxFloat64, Count: math.MaxUint64, LastAt: math.MaxInt64},
		{Time: 20, Sum: math.SmallestNonzeroFloat64, Min: -1e308, Max: 1e308, Last: 0, Count: 0, LastAt: -1 << 62},
		{Time: 1 << 33 / 10 * 10, Sum: 1, Min: 1, Max: 1, Last: 1, Count: 1},
	}
}

// gappy drops points so the time stream has irregular gaps.
func gappy(pts []rollup.Point) []rollup.Point {
	var out []rollup.Point
	for i, p := range pts {
		if i%7 != 3 && i%11 != 5 && (i < 100 || i > 180) {
			out = append(out, p)
		}
	}
	return out
}

// samePoint compares bit for bit (NaN equals NaN, -0 differs from 0).
func samePoint(a, b rollup.Point) bool {
	fb := math.Float64bits
	return a.Time == b.Time && a.LastAt == b.LastAt && a.Count == b.Count && a.Path == b.Path &&
		fb(a.Sum) == fb(b.Sum) && fb(a.Min) == fb(b.Min) && fb(a.Max) == fb(b.Max) && fb(a.Last) == fb(b.Last)
}

func TestAppendRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		step int64
		pts  []rollup.Point
	}{
		{"zero step", 0, nil},
		{"out of order", 10, []rollup.Point{{Time: 20}, {Time: 10}}},
		{"duplicate time", 10, []rollup.Point{{Time: 10}, {Time: 10}}},
		{"off the step", 10, []rollup.Point{{Time: 10}, {Time: 25}}},
		{"time out of range", 10, []rollup.Point{{Time: 1 << 40}}},
		{"last_at overflows", 10, []rollup.Point{{Time: 20, LastAt: math.MinInt64}}},
	} {
		if _, err := Append(nil, tc.step, tc.pts); err == nil {
			t.Errorf("%s: Append accepted it", tc.name)
		}
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	data, err := Append(nil, 10, series("timer", 50, 10, 1_700_000_000, 1, 7))
	if err != nil {
		t.Fatal(err)
	}
	for cut := range len(data) {
		if _, _, err := Decode(nil, data[:cut]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: err %v, want truncated or corrupt", cut, len(data), err)
		}
	}
	bad := append([]byte{Version + 1}, data[1:]...)
	if _, _, err := Decode(nil, bad); !errors.Is(err, ErrVersion) {
		t.Fatalf("version %d: err %v", bad[0], err)
	}
}

func TestIterStopsEarly(t *testing.T) {
	pts := series("gauge", 100, 10, 1000, 1, 8)
	data, err := Append(nil, 10, pts)
	if err != nil {
		t.Fatal(err)
	}
	it, err := NewIter(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []rollup.Point
	for it.Next() && it.Point().Time < 1500 {
		got = append(got, it.Point())
	}
	if err := it.Err(); err != nil || len(got) != 50 || !reflect.DeepEqual(got, pts[:50]) {
		t.Fatalf("%d points, err %v; want the first 50", len(got), err)
	}
}

// FuzzDecode: no input makes the decoder panic or allocate beyond its bound,
// whatever decodes re-encodes to points that decode the same, and Fill
// gives Next's values (and fails where Next fails) on every input.
func FuzzDecode(f *testing.F) {
	for i, kind := range []string{"counter", "gauge", "constant", "timer"} {
		data, err := Append(nil, 10, series(kind, 20, 10, 1_700_000_000, 1, uint64(i)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{1, 10, 0, 0, 9})
	f.Add([]byte{1, 10, 0, 255, 255, 255, 255, 15, 0, 0xff, 0xff})
	f.Add([]byte{Version, 10, 0, 0, 9, 0, 0xff, 0xff})
	f.Add([]byte{Version, 10, 0, 255, 255, 255, 255, 15, 0, 15, 0xff, 0xff})
	// every golden block (each version, each shape) and a few of this
	// version's headers: every flag, decimal modes
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.block"))
	for _, g := range golden {
		if data, err := os.ReadFile(g); err == nil && len(data) < 4096 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFill(t, "input", data) // Fill gives what Next gives, whatever the input
		pts, h, err := Decode(nil, data)
		if err != nil {
			return
		}
		again, err := Append(nil, h.Step, pts)
		if err != nil {
			t.Fatalf("decoded points do not re-encode: %v", err)
		}
		back, _, err := Decode(nil, again)
		if err != nil || len(back) != len(pts) {
			t.Fatalf("re-encoded block: %d points, err %v; want %d", len(back), err, len(pts))
		}
		for i := range pts {
			if !samePoint(back[i], pts[i]) {
				t.Fatalf("point %d: %+v became %+v", i, pts[i], back[i])
			}
		}
	})
}

// BenchmarkEncode and BenchmarkDecode report points/s (as bytes/s: one
// "byte" per point) and the encoded size per point for each kind of data.
func BenchmarkEncode(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			var buf []byte
			b.SetBytes(int64(len(bc.pts)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Append(buf[:0], bc.step, bc.pts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(buf))/float64(len(bc.pts)), "bytes/point")
			b.ReportMetric(float64(len(bc.pts))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchCases() {
		data, err := Append(nil, bc.step, bc.pts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			pts := make([]rollup.Point, 0, len(bc.pts))
			b.SetBytes(int64(len(bc.pts)))
			b.ReportAllocs()
			for b.Loop() {
				if pts, _, err = Decode(pts[:0], data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data))/float64(len(bc.pts)), "bytes/point")
			b.ReportMetric(float64(len(bc.pts))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

type benchCase struct {
	name string
	step int64
	pts  []rollup.Point
}

// benchCases: 720 points (a 2 h block of 10 s bins) of each kind, with
// last_at in nanoseconds, milliseconds and whole seconds; then each of
// realisticShapes ("real/...").
func benchCases() []benchCase {
	var out []benchCase
	for _, kind := range []string{"counter", "gauge", "constant", "timer"} {
		for _, u := range []struct {
			name string
			unit int64
		}{{"ns", 1}, {"ms", 1e6}, {"s", 1e9}} {
			out = append(out, benchCase{kind + "/last_at_" + u.name, 10, series(kind, 720, 10, 1_700_000_000, u.unit, 9)})
		}
	}
	for _, s := range realisticShapes() {
		out = append(out, benchCase{"real/" + goldenName(s.name), s.step, s.pts})
	}
	return out
}
