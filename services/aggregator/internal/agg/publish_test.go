package agg

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

func newAgg(t *testing.T, url, extra string) *Aggregator {
	t.Helper()
	return newAggTimes(t, url, `["10s:1h", "1m:2h"]`, extra)
}

// newAggTimes is newAgg with times; extra is top-level TOML.
func newAggTimes(t *testing.T, url, times, extra string) *Aggregator {
	t.Helper()
	cfg, err := config.Parse("agg.toml", fmt.Sprintf(`%s
times = %s
shards = 4
[admin]
listen = ""
[nats]
url = %q
`, extra, times, url))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestFlushOf100000SeriesArrivesWhole flushes 100,000 graphite series
// through a real NATS server at its default max_payload (1 MiB): every point
// of both resolutions is in the stream, nothing was lost or retried into
// oblivion, and no message came near max_payload.
func TestFlushOf100000SeriesArrivesWhole(t *testing.T) {
	const n = 100_000
	url := testenv.NATS(t)
	a := newAgg(t, url, "")
	a.Start()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for i := range n {
		if !a.Line("graphite", []byte("big.s"+strconv.Itoa(i)+".count 2 "+ts)) {
			t.Fatalf("line %d refused", i)
		}
	}
	a.Flush(time.Now().Truncate(10 * time.Second).Add(10 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if lost := st["rollup_points_lost"].(uint64); lost != 0 {
		t.Fatalf("%d points lost", lost)
	}
	stored, maxSize := readStreamSizes(t, url, "CONSTHASH_ROLLUPS")
	for _, step := range []int64{10, 60} {
		paths := map[string]bool{}
		sum := 0.0
		for k, p := range stored {
			if k.step == step && strings.HasPrefix(k.path, "big.s") {
				paths[k.path] = true
				sum += p.Sum
			}
		}
		if len(paths) != n || sum != 2*n {
			t.Errorf("resolution %d s: %d series with sum %v in the stream, want %d with sum %d", step, len(paths), sum, n, 2*n)
		}
	}
	if maxSize > 1<<20/2 {
		t.Errorf("largest message %d bytes, want at most half of max_payload", maxSize)
	}
	t.Logf("%d series at 2 resolutions; largest message %d bytes; %v messages", n, maxSize, st["rollup_batches_published"])
}

// TestStopEndsWithinDeadlineWhenNATSIsGone stops an aggregator whose NATS
// server went away with a flush to publish: Close returns once its deadline
// passes, says so, and counts every point of the flush as lost.
func TestStopEndsWithinDeadlineWhenNATSIsGone(t *testing.T) {
	srv := testenv.NATSServer(t)
	a := newAgg(t, srv.ClientURL(), "")
	a.Start()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for i := range 1000 {
		a.Line("graphite", []byte("gone.s"+strconv.Itoa(i)+" 1 "+ts))
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Close(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lost") {
			t.Fatalf("Close: %v, want an error saying what was lost", err)
		}
	case <-time.After(30 * time.Second): // a bound, not a measurement: Close must not hang
		t.Fatal("Close did not return after its deadline")
	}
	// Close's own final flush holds the 1000 graphite points at 2 resolutions
	// (and statsd's own metrics): all produced, none published, all lost.
	st := a.Stats()
	if lost, made := st["rollup_points_lost"].(uint64), st["rollup_points_produced"].(uint64); lost != made || made < 2000 || st["rollup_points_published"] != uint64(0) {
		t.Fatalf("%d points counted lost, %d produced, %v published", lost, made, st["rollup_points_published"])
	}
}

// TestSplitBoundsMessages cuts batches of many sizes: every part decodes, is
// within the bound (unless one point alone exceeds it), has its own id, and
// together they hold every point in order.
func TestSplitBoundsMessages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		points   int
		pathLen  int
		maxBytes int
	}{
		{"empty", 0, 10, 4096},
		{"one", 1, 10, 4096},
		{"fits exactly in one", 40, 30, 4096},
		{"many small", 50_000, 20, 64 << 10},
		{"count bound", 25_000, 1, 1 << 20},
		{"long paths", 300, 900, 8192},
		{"a point larger than the bound", 3, 6000, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &rollup.Batch{Source: "src-1", Resolution: rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}, Flush: 100, Seq: 7, Final: true}
			for i := range tc.points {
				p := fmt.Sprintf("%0*d", tc.pathLen, i)
				b.Points = append(b.Points, rollup.Point{Path: p, Time: 90, Sum: float64(i), Min: -1e300, Max: 1e300, Last: 3, LastAt: -1 << 62, Count: 1 << 62})
			}
			all := append([]rollup.Point(nil), b.Points...)
			ids := map[string]bool{}
			next := 0
			split(b, tc.maxBytes, b.MsgID(), nil, func(id string, data []byte, points int) {
				if ids[id] {
					t.Fatalf("id %s twice", id)
				}
				ids[id] = true
				var got rollup.Batch
				if err := got.Decode(data); err != nil {
					t.Fatal(err)
				}
				if len(got.Points) != points || points == 0 || points > maxMessagePoints {
					t.Fatalf("part of %d points says %d", len(got.Points), points)
				}
				if len(data) > tc.maxBytes && points > 1 {
					t.Fatalf("part of %d points is %d bytes, bound %d", points, len(data), tc.maxBytes)
				}
				if got.Seq != 7 || got.Source != "src-1" || !got.Final {
					t.Fatalf("part header %+v", got)
				}
				for _, p := range got.Points {
					if p != all[next] {
						t.Fatalf("point %d: %+v, want %+v", next, p, all[next])
					}
					next++
				}
			})
			if next != tc.points {
				t.Fatalf("%d of %d points in the parts", next, tc.points)
			}
		})
	}
}

// stoppedClock is a flush loop's clock whose boundaries never come: a test
// that flushes itself is not raced by the loop's own flush.
type stoppedClock struct{}

func (stoppedClock) Now() time.Time                       { return time.Now() }
func (stoppedClock) After(time.Duration) <-chan time.Time { return nil }

// TestReadingContinuesDuringFlush parks a flush after it swapped the
// accumulators out: lines are accepted meanwhile (the lock is free), and
// they belong to the next flush, not this one. The flush loop is held: its
// flush at a 10 s boundary would take the lines the test looks for.
func TestReadingContinuesDuringFlush(t *testing.T) {
	url := testenv.NATS(t)
	a := newAgg(t, url, "")
	a.clock = stoppedClock{}
	a.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Close(ctx)
	}()
	for i := range 20_000 {
		a.Line("statsd", []byte("during.before"+strconv.Itoa(i)+":1|c"))
	}
	parked, release := make(chan struct{}), make(chan struct{})
	a.flushHook = func() {
		a.flushHook = nil
		close(parked)
		<-release
	}
	flushed := make(chan struct{})
	bin := time.Now().Truncate(10 * time.Second).Add(-10 * time.Second)
	go func() { a.Flush(bin); close(flushed) }()
	<-parked
	for i := range 1000 {
		if !a.Line("statsd", []byte("during.flush:1|c")) || !a.Line("statsd", []byte("during.g"+strconv.Itoa(i)+":+2|g")) {
			t.Fatal("a line was refused during the flush")
		}
	}
	close(release)
	<-flushed
	got := map[string]float64{}
	for _, sn := range []*Aggregator{a} {
		sn.mu.Lock()
		s := sn.local.statsd.Take(bin)
		sn.mu.Unlock()
		s.Flush(bin, func(name string, v float64) { got[name] = v })
	}
	if got["stats_counts.during.flush"] != 1000 {
		t.Errorf("the next flush has stats_counts.during.flush = %v, want 1000", got["stats_counts.during.flush"])
	}
	if got["stats_counts.during.before7"] != 0 || got["stats.gauges.during.g7"] != 2 {
		t.Errorf("the next flush has before7 = %v (want 0, flushed already), g7 = %v (want 2)",
			got["stats_counts.during.before7"], got["stats.gauges.during.g7"])
	}
}

// TestMaxSeriesRefusesNewKeys holds max_series keys, refuses (and counts)
// the rest, and keeps accepting values for the keys it holds.
func TestMaxSeriesRefusesNewKeys(t *testing.T) {
	url := testenv.NATS(t)
	a := newAgg(t, url, "max_series = 100")
	a.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Close(ctx)
	}()
	for i := range 150 {
		a.Line("statsd", []byte("lim.c"+strconv.Itoa(i)+":1|c"))
	}
	for i := range 150 {
		a.Line("graphite", []byte("lim.g"+strconv.Itoa(i)+" 1 1"))
	}
	a.Line("statsd", []byte("lim.c5:1|c"))
	st := a.Stats()
	// statsd's own internal counters (3) are keys too.
	if st["series"] != 100 || st["series_refused"] != uint64(150+150-97) {
		t.Fatalf("series %v, refused %v; want 100 and %d", st["series"], st["series_refused"], 150+150-97)
	}
}

// TestPublishBatchByShard cuts a batch by the shard of each path: every
// point goes under its own shard's subject, every message id is distinct,
// and no point is lost or repeated.
func TestPublishBatchByShard(t *testing.T) {
	const shards = 8
	b := &rollup.Batch{Source: "src-1", Resolution: rollup.Resolution{Step: time.Minute, TTL: time.Hour}, Flush: 120, Seq: 2, Final: true}
	for i := range 5000 {
		b.Points = append(b.Points, rollup.Point{Path: "a.b." + strconv.Itoa(i), Time: 60, Sum: float64(i), Count: 1})
	}
	ids, seen := map[string]bool{}, map[string]bool{}
	publishBatch(b, shards, 4096, nil, func(subject, id string, data []byte, points int) {
		if ids[id] {
			t.Fatalf("id %s twice", id)
		}
		ids[id] = true
		var got rollup.Batch
		if err := got.Decode(data); err != nil || len(got.Points) != points {
			t.Fatalf("%s: %d points, says %d, %v", id, len(got.Points), points, err)
		}
		for _, p := range got.Points {
			if want := bus.RollupSubject(b.Resolution, bus.PathShard(p.Path, shards)); subject != want {
				t.Fatalf("%s under %s, want %s", p.Path, subject, want)
			}
			if seen[p.Path] {
				t.Fatalf("%s twice", p.Path)
			}
			seen[p.Path] = true
		}
	})
	if len(seen) != len(b.Points) || len(b.Points) != 5000 {
		t.Fatalf("%d of %d points published", len(seen), len(b.Points))
	}
}
