package accum

import (
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
)

func TestGraphiteBinsByArrival(t *testing.T) {
	now := time.Unix(1700000000, 0)
	g := NewGraphite(func() time.Time { now = now.Add(time.Millisecond); return now })
	for _, l := range []string{"a 1 100", "a 3 5", "a 2", "b 7 1", "bad line", "c NaN 1"} {
		g.Line([]byte(l))
	}
	got := map[string]rollup.Point{}
	g.Flush(func(p rollup.Point) { got[p.Path] = p })
	a := got["a"]
	if a.Count != 3 || a.Sum != 6 || a.Min != 1 || a.Max != 3 || a.Last != 2 || len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if a.Mean() != 2 {
		t.Errorf("mean %v", a.Mean())
	}
	if g.Len() != 0 {
		t.Error("flush did not start a new bin")
	}
}

// fakeClock advances only when the loop waits.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	t := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

// TestFlushesStayAlignedForHours runs the loop for 24 simulated hours with
// flushes that take random time, sometimes longer than the interval: every
// flush is on a multiple of the interval and none is skipped.
func TestFlushesStayAlignedForHours(t *testing.T) {
	c := &fakeClock{now: time.Unix(1700000003, 123456789)}
	interval := 10 * time.Second
	stop := make(chan struct{})
	var got []time.Time
	lates := 0
	Run(c, interval, stop, func(end time.Time) {
		got = append(got, end)
		// Some flushes run long (3 s, and every 1000th 25 s).
		c.mu.Lock()
		c.now = c.now.Add(3 * time.Second)
		if len(got)%1000 == 0 {
			c.now = c.now.Add(22 * time.Second)
		}
		c.mu.Unlock()
		if len(got) == 24*360 {
			close(stop)
		}
	}, func(time.Duration) { lates++ })
	if len(got) != 24*360 {
		t.Fatalf("%d flushes", len(got))
	}
	for i, g := range got {
		if g.UnixNano()%int64(interval) != 0 {
			t.Fatalf("flush %d at %v is not aligned", i, g)
		}
		if i > 0 && g.Sub(got[i-1]) != interval {
			t.Fatalf("flush %d at %v follows %v: a bin was skipped or repeated", i, g, got[i-1])
		}
	}
	if got[0] != time.Unix(1700000010, 0) {
		t.Errorf("first flush %v", got[0])
	}
	if lates == 0 {
		t.Error("long flushes were not reported")
	}
}
