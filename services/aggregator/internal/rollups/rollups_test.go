package rollups

import (
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
)

// TestCoarseBinsSumTheBase feeds 30 minutes of 10 s flushes and checks every
// resolution's totals, keeping the newest batch per (path, resolution, time)
// as storage does.
func TestCoarseBinsSumTheBase(t *testing.T) {
	res, err := rollup.ParseTimes([]string{"10s:1h", "1m:24h", "10m:720h"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(res, "agg-a")
	type k struct {
		path string
		step int64
		time int64
	}
	stored := map[k]rollup.Point{}
	seqs := map[k]uint64{}
	start := time.Unix(1700000400, 0) // a multiple of 10 min
	var want float64
	for i := 1; i <= 180; i++ {
		end := start.Add(time.Duration(i) * 10 * time.Second)
		var base []rollup.Point
		if i%7 != 0 { // some flushes have nothing
			var p rollup.Point
			p.Path = "stats_counts.req"
			p.Add(float64(i), end.UnixNano())
			want += float64(i)
			base = append(base, p)
		}
		for _, b := range s.Add(end, base) {
			for _, p := range b.Points {
				key := k{p.Path, b.Resolution.Seconds(), p.Time}
				if b.Seq < seqs[key] {
					t.Fatal("sequence went backwards")
				}
				seqs[key] = b.Seq
				stored[key] = p
				if p.Time%b.Resolution.Seconds() != 0 {
					t.Fatalf("point at %d not on a %d s boundary", p.Time, b.Resolution.Seconds())
				}
			}
		}
	}
	for _, step := range []int64{10, 60, 600} {
		var total float64
		var n uint64
		for key, p := range stored {
			if key.step == step {
				total += p.Sum
				n += p.Count
			}
		}
		if total != want {
			t.Errorf("resolution %d s sums to %v, want %v", step, total, want)
		}
		if n != 180-180/7 {
			t.Errorf("resolution %d s counts %d samples, want %d", step, n, 180-180/7)
		}
	}
}
