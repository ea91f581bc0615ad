package block

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/consthash/consthash/pkg/rollup"
)

// fillByNext is what a reader did before Fill: every point from Next, its
// field put on vals when its time is in range. It returns Next's error and
// how many points Next gave before it.
func fillByNext(data []byte, field Field, from, step int64, vals []float64) (int, error) {
	var it Iter
	if err := it.Reset(data); err != nil {
		return 0, err
	}
	until := from + int64(len(vals))*step
	n := 0
	for it.Next() {
		n++
		p := it.Point()
		if p.Time < from {
			continue
		}
		if p.Time >= until {
			break
		}
		v := [...]float64{Mean: p.Mean(), Sum: p.Sum, Min: p.Min, Max: p.Max, Last: p.Last}[field]
		vals[(p.Time-from)/step] = v
	}
	return n, it.Err()
}

func nans(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// checkFill compares Fill with fillByNext on data over a few windows (the
// whole block, its middle, its start, its end, past it) for every field:
// the same values bit for bit, and an error on the same blocks. It reports
// whether Fill took the block.
func checkFill(t *testing.T, name string, data []byte) bool {
	t.Helper()
	var it Iter
	if it.Reset(data) != nil {
		return false
	}
	step, first, n := it.Step, it.First, int64(it.N)
	took := false
	for _, w := range [][2]int64{{first, n}, {first + step*(n/3), n / 3}, {first - 5*step, 8}, {first + step*(n-4), 10}, {first + step*n, 4}, {first, 0}} {
		for field := Mean; field <= Last; field++ {
			want, got := nans(int(max(0, w[1]))), nans(int(max(0, w[1])))
			good, errWant := fillByNext(data, field, w[0], step, want)
			var it Iter
			if err := it.Reset(data); err != nil {
				t.Fatal(err)
			}
			ok, errGot := it.Fill(field, w[0], step, got)
			if !ok {
				continue
			}
			took = true
			if errWant != nil && errGot == nil && first+int64(good)*step >= w[0]+w[1]*step {
				// Next failed on the first point past the range: Fill
				// knows its time without decoding it.
				errWant = nil
			}
			if (errWant == nil) != (errGot == nil) {
				t.Fatalf("%s: field %d over %v: Fill's error %v, Next's %v", name, field, w, errGot, errWant)
			}
			for i := range want {
				if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
					t.Fatalf("%s: field %d over %v: value %d is %v by Fill, %v by Next", name, field, w, i, got[i], want[i])
				}
			}
			if it.Next() {
				t.Fatalf("%s: Next gave a point after Fill", name)
			}
		}
	}
	return took
}

// TestFillIsNext: Fill gives Next's values on every shape it takes (and
// takes the usual ones: statsd's flat, regular series), and refuses the
// others.
func TestFillIsNext(t *testing.T) {
	taken := 0
	for _, s := range realisticShapes() {
		data, err := Append(nil, s.step, s.pts)
		if err != nil {
			t.Fatal(err)
		}
		if checkFill(t, s.name, data) {
			taken++
		}
		if checkFill(t, s.name+" (gappy)", mustAppend(t, s.step, gappy(s.pts))) {
			t.Errorf("%s: Fill took a block with missing bins", s.name)
		}
	}
	for _, kind := range []string{"counter", "gauge", "constant", "timer"} {
		for _, unit := range []int64{1, 1e6, 1e9} {
			pts := series(kind, 300, 60, 1_700_000_040, unit, 3)
			took := checkFill(t, kind, mustAppend(t, 60, pts))
			if took != (kind != "timer") {
				t.Errorf("%s with last_at in units of %d ns: Fill took it: %v", kind, unit, took)
			}
			taken++
		}
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.block"))
	for _, g := range golden {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		checkFill(t, g, data)
		// damaged: cut, and a bit flipped in every eighth byte
		for cut := len(data) - 1; cut > len(data)/2; cut -= 7 {
			checkFill(t, g+" cut", data[:cut])
		}
		for i := 8; i < len(data); i += 8 {
			bad := append([]byte(nil), data...)
			bad[i] ^= 0x10
			checkFill(t, g+" flipped", bad)
		}
	}
	if taken < 10 {
		t.Errorf("Fill took %d blocks", taken)
	}
}

func mustAppend(t *testing.T, step int64, pts []rollup.Point) []byte {
	t.Helper()
	data, err := Append(nil, step, pts)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func BenchmarkFill(b *testing.B) {
	for _, bc := range benchCases() {
		data, err := Append(nil, bc.step, bc.pts)
		if err != nil {
			b.Fatal(err)
		}
		var it Iter
		if err := it.Reset(data); err != nil {
			b.Fatal(err)
		}
		if ok, _ := it.Fill(Mean, it.First, it.Step, make([]float64, it.N)); !ok {
			continue
		}
		for _, half := range []bool{false, true} {
			name := bc.name
			if half {
				name += "/second_half"
			}
			b.Run(name, func(b *testing.B) {
				var it Iter
				_ = it.Reset(data)
				from, n := it.First, it.N
				if half {
					from, n = it.First+it.Step*int64(it.N/2), it.N-it.N/2
				}
				vals := make([]float64, n)
				b.ReportAllocs()
				for b.Loop() {
					_ = it.Reset(data)
					if _, err := it.Fill(Mean, from, it.Step, vals); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(bc.pts))*float64(b.N)/b.Elapsed().Seconds(), "block_points/s")
			})
		}
	}
}
