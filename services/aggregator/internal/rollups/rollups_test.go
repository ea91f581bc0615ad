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

// TestCoarseBinsArePublishedOnceWhenTheyClose: a coarse bin goes out once,
// final, on its boundary; the base bin with every flush that has points.
func TestCoarseBinsArePublishedOnceWhenTheyClose(t *testing.T) {
	res, _ := rollup.ParseTimes([]string{"10s:1h", "1m:24h", "10m:720h"})
	s := New(res, "agg-a")
	start := time.Unix(1700000400, 0)
	batches := map[int64]int{}
	for i := 1; i <= 180; i++ {
		p := rollup.Point{Path: "a"}
		p.Add(1, 0)
		for _, b := range s.Add(start.Add(time.Duration(i)*10*time.Second), []rollup.Point{p}) {
			if !b.Final {
				t.Fatalf("a batch of %s is not final", b.Resolution)
			}
			if b.Resolution.Seconds() > 10 && b.Flush%b.Resolution.Seconds() != 0 {
				t.Fatalf("a %s batch published at %d, not on its boundary", b.Resolution, b.Flush)
			}
			batches[b.Resolution.Seconds()]++
		}
	}
	if batches[10] != 180 || batches[60] != 30 || batches[600] != 3 {
		t.Fatalf("batches per resolution %v, want 180, 30 and 3", batches)
	}
}

// TestRecoveryRebuildsTheOpenBins: fed the base batches a producer
// published, Recovery returns the open coarse bins it held when it stopped,
// exactly as that producer would have closed them itself.
func TestRecoveryRebuildsTheOpenBins(t *testing.T) {
	res, _ := rollup.ParseTimes([]string{"10s:1h", "1m:24h", "10m:720h"})
	for _, flushes := range []int{1, 5, 6, 7, 59, 60, 61, 95} {
		s := New(res, "agg-a")
		rec := NewRecovery(res, "agg-a")
		closed := map[string]rollup.Point{}
		start := time.Unix(1700000400, 0)
		for i := 1; i <= flushes; i++ {
			var base []rollup.Point
			for k := range 5 {
				if (i+k)%3 != 0 {
					p := rollup.Point{Path: "p" + string(rune('a'+k))}
					p.Add(float64(i*k), int64(i))
					base = append(base, p)
				}
			}
			for _, b := range s.Add(start.Add(time.Duration(i)*10*time.Second), base) {
				if b.Resolution == res[0] {
					for j := range b.Points {
						rec.Add(&b.Points[j])
					}
				}
				for _, p := range b.Points {
					closed[b.Resolution.String()+" "+p.Path] = p
				}
			}
		}
		want := map[string]rollup.Point{}
		for _, b := range s.Close(0) {
			for _, p := range b.Points {
				want[b.Resolution.String()+" "+p.Path] = p
			}
		}
		got := map[string]rollup.Point{}
		for _, b := range rec.Batches(0, 100) {
			if !b.Final || b.Source != "agg-a" || b.Seq <= 100 {
				t.Fatalf("recovered batch header %+v", b)
			}
			for _, p := range b.Points {
				got[b.Resolution.String()+" "+p.Path] = p
			}
		}
		// A bin its producer closed may come back too (same values: storage
		// overwrites it with itself); the open ones must be exact.
		for k, p := range want {
			if got[k] != p {
				t.Errorf("%d flushes: %s recovered as %+v, held %+v", flushes, k, got[k], p)
			}
		}
		for k, p := range got {
			if _, open := want[k]; !open && closed[k] != p {
				t.Errorf("%d flushes: closed bin %s recovered as %+v, published %+v", flushes, k, p, closed[k])
			}
		}
	}
}
