package writer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
)

// fakeMsg is a fetched JetStream message: its batch and stream sequence
// (acknowledged on a subject nobody reads).
type fakeMsg struct {
	jetstream.Msg
	data []byte
	seq  uint64
}

func (m *fakeMsg) Data() []byte  { return m.data }
func (m *fakeMsg) Reply() string { return fmt.Sprintf("test.ack.%d", m.seq) }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1, Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}

// directShard is a writer over a real NATS and the test's SQLite store with
// one held shard whose goroutine is the test: it applies messages and
// persists when the test says.
func directShard(t *testing.T) (*Writer, *shard, *sharedStore) {
	t.Helper()
	st := openShared(t)
	w := blockWriter(t, testenv.NATS(t), st, "2s")
	t.Cleanup(func() { w.Close() })
	w.cfg.WriteTimeout = config.Duration(time.Minute) // 100,000 blocks in one persist on a loaded machine
	w.writes = make(chan writeReq)
	done := make(chan struct{})
	go func() { w.blockWriter(); close(done) }()
	t.Cleanup(func() { close(w.writes); <-done })
	sh := &shard{n: 0}
	w.initShard(sh)
	return w, sh, st
}

// batchOf is a final batch of res flushed at flush, a point at time t for
// each path, its value from value.
func batchOf(res rollup.Resolution, flush, t int64, paths []string, value func(i int) float64) *rollup.Batch {
	b := &rollup.Batch{Source: "agg-a", Resolution: res, Flush: flush, Seq: uint64(flush), Final: true}
	for i, path := range paths {
		p := rollup.Point{Path: path, Time: t}
		p.Add(value(i), t*1e9)
		b.Points = append(b.Points, p)
	}
	return b
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestPendingSize(t *testing.T) {
	if n := unsafe.Sizeof(pending{}); n != pendingSize {
		t.Fatalf("a pending point takes %d bytes, pendingSize says %d", n, pendingSize)
	}
}

// TestOpenBlockMemory measures the heap an open block takes (issue 13):
// 100,000 blocks (33,333 paths × 3 resolutions), 3 points each, then the
// same after their persist (clean, holding their encoding). While they
// persist, recent-points requests of 100 paths are answered (their longest
// time is logged; docs/writer.md quotes both).
//
//	go test ./internal/writer -run TestOpenBlockMemory -v
func TestOpenBlockMemory(t *testing.T) {
	w, sh, _ := directShard(t)
	ress := []rollup.Resolution{{Step: 10 * time.Second, TTL: time.Hour}, {Step: time.Minute, TTL: time.Hour}, {Step: 10 * time.Minute, TTL: time.Hour}}
	const paths, points = 100_000 / 3, 3
	names := make([]string, paths)
	for i := range names {
		names[i] = fmt.Sprintf("bench.memory.series%06d.count", i)
	}
	now := time.Now().Unix()
	t0 := now - now%600 // every block in its current span: none is forgotten after the persist
	before := heapAlloc()
	seq := uint64(0)
	for _, res := range ress {
		for k := range int64(points) {
			seq++
			step := res.Seconds()
			b := batchOf(res, t0+(k+1)*step, t0+k*step, slices.Clone(names), func(i int) float64 { return float64(i) })
			w.apply(sh, []jetstream.Msg{&fakeMsg{data: b.Append(nil), seq: seq}})
		}
	}
	dirty := heapAlloc()
	n := w.openBlocks.Load()
	if n != paths*3 || sh.count != paths*3 {
		t.Fatalf("%d open blocks (shard %d), want %d", n, sh.count, paths*3)
	}
	perDirty := float64(dirty-before) / float64(n)

	// Recent points while the blocks persist.
	req := &bus.RecentRequest{Paths: names[:100], Step: 10, From: t0, Until: t0 + 600}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var longest time.Duration
	asked, answered := 0, 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			rep := w.recent(sh, req)
			longest = max(longest, time.Since(start))
			asked++
			if len(rep.Points) == 100*points {
				answered++
			} else if len(rep.Points) != 0 && len(rep.Points)%points != 0 {
				t.Errorf("%d recent points: neither all nor none of a block's", len(rep.Points))
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	ok := w.persist(sh, "test")
	close(stop)
	wg.Wait()
	if !ok {
		t.Fatal("the persist failed")
	}
	if w.blocksPersisted.Get() != uint64(n) || w.blockPoints.Get() != uint64(n*points) {
		t.Fatalf("persisted %d blocks, %d points; want %d, %d", w.blocksPersisted.Get(), w.blockPoints.Get(), n, n*points)
	}
	if rep := w.recent(sh, req); len(rep.Points) != 0 {
		t.Fatalf("%d recent points after the persist, want none", len(rep.Points))
	}
	clean := heapAlloc()
	encoded := 0
	for _, bs := range sh.paths {
		for _, b := range bs {
			encoded += cap(b.data)
		}
	}
	perClean := float64(clean-before) / float64(n)
	t.Logf("%d open blocks, %d points each: %.0f bytes a block with its points pending (accounted %d); "+
		"%.0f bytes a block clean, %.0f of them its encoding (accounted %d)",
		n, points, perDirty, blockOverhead+4*pendingSize, perClean, float64(encoded)/float64(n), w.openBytes.Load()/n)
	t.Logf("recent points of 100 paths while they persisted: %d requests (%d with every point), the longest %s",
		asked, answered, longest)
	if perDirty >= 1024 || perClean-float64(encoded)/float64(n) >= 512 {
		t.Errorf("an open block takes %.0f bytes with 3 points pending, %.0f clean besides its encoding: want under 1 KiB and 512 bytes",
			perDirty, perClean-float64(encoded)/float64(n))
	}
	runtime.KeepAlive(sh)
}

// TestOpenBoundsForgetAndReread holds a shard's open blocks to
// max_open_bytes (and, the same way, to max_open_blocks) with a real SQLite
// store: two groups of 100 paths take about 27 KB each (a block's
// overhead, one pending point and a one-point encoding), over a bound of
// 40,000 bytes (150 blocks). Each time both groups are open the shard
// persists and forgets every block; their next points read them back, and
// every point ends up stored once with its value, a redelivery changing
// nothing.
func TestOpenBoundsForgetAndReread(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		maxBlocks             int
		maxBytes              int64
		blocksFull, bytesFull uint64
	}{
		{"bytes", 1 << 30, 40_000, 0, 2},
		{"blocks", 150, 1 << 40, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, sh, st := directShard(t)
			w.cfg.MaxOpenBlocks, w.cfg.MaxOpenBytes = tc.maxBlocks, tc.maxBytes
			w.cfg.PersistInterval = config.Duration(time.Hour) // only the bounds and new blocks persist
			res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
			span := store.SpanOf(res, time.Now().Unix())
			var g1, g2 []string
			for i := range 100 {
				g1 = append(g1, fmt.Sprintf("bound.a.p%03d", i))
				g2 = append(g2, fmt.Sprintf("bound.b.p%03d", i))
			}
			value := func(k int) func(int) float64 { return func(i int) float64 { return float64(1000*k + i) } }
			seq := uint64(0)
			var msgs []*fakeMsg
			apply := func(b *rollup.Batch) {
				t.Helper()
				seq++
				m := &fakeMsg{data: b.Append(nil), seq: seq}
				msgs = append(msgs, m)
				w.apply(sh, []jetstream.Msg{m})
				if !w.persistIfDue(sh) {
					t.Fatal("the shard stopped reading")
				}
			}
			type state struct{ open, persists, persisted, evicted, blocksFull, bytesFull uint64 }
			check := func(step string, want state) {
				t.Helper()
				got := state{uint64(w.openBlocks.Load()), w.persists.Get(), w.blocksPersisted.Get(), w.evicted.Get(),
					w.openFull.Get(), w.bytesFull.Get()}
				if got != want {
					t.Fatalf("%s: %+v, want %+v (open bytes %d)", step, got, want, w.openBytes.Load())
				}
				if sh.count != int(got.open) || w.openBytes.Load() != sh.bytes {
					t.Fatalf("%s: shard counts %d blocks, %d bytes; writer %d, %d", step, sh.count, sh.bytes, got.open, w.openBytes.Load())
				}
			}
			full := func(n uint64) state { return state{blocksFull: n * tc.blocksFull / 2, bytesFull: n * tc.bytesFull / 2} }
			with := func(s state, open, persists, persisted, evicted uint64) state {
				s.open, s.persists, s.persisted, s.evicted = open, persists, persisted, evicted
				return s
			}

			apply(batchOf(res, span+10, span, g1, value(0))) // new blocks: persisted at once
			check("group a opened", with(full(0), 100, 1, 100, 0))
			apply(batchOf(res, span+10, span, g2, value(0))) // at the bound: persisted and forgotten
			check("group b opened", with(full(1), 0, 2, 200, 200))
			apply(batchOf(res, span+20, span+10, g1, value(1))) // read back: under the bound
			check("group a again", with(full(1), 100, 2, 200, 200))
			apply(batchOf(res, span+20, span+10, g2, value(1))) // read back: at the bound again
			check("group b again", with(full(2), 0, 3, 400, 400))
			w.apply(sh, []jetstream.Msg{msgs[2]}) // group a's second batch redelivered: the same values
			if !w.persist(sh, "test") {
				t.Fatal("the persist failed")
			}
			check("redelivered", with(full(2), 100, 4, 400, 400))
			if w.blockPoints.Get() != 500 || w.msgsAcked.Get() != 5 || w.stored.Get() != 500 {
				t.Fatalf("points persisted %d, messages acknowledged %d, points stored %d; want 500, 5, 500",
					w.blockPoints.Get(), w.msgsAcked.Get(), w.stored.Get())
			}

			var keys []store.BlockKey
			for _, p := range append(g1, g2...) {
				keys = append(keys, store.BlockKey{Path: p, Res: res, Source: "agg-a", Span: span})
			}
			got := st.points(t, keys)
			for i, k := range keys {
				pts := got[k]
				if len(pts) != 2 || pts[0].Time != span || pts[1].Time != span+10 ||
					pts[0].Sum != value(0)(i%100) || pts[1].Sum != value(1)(i%100) || pts[0].Count != 1 || pts[1].Count != 1 {
					t.Fatalf("%s: stored %+v, want %v at %d and %v at %d", k.Path, pts, value(0)(i%100), span, value(1)(i%100), span+10)
				}
			}
		})
	}
}

// TestApplyStopsAtBound: a fetch's messages are applied until the open
// blocks reach a bound (one at least); the rest wait for the persist.
func TestApplyStopsAtBound(t *testing.T) {
	w, sh, _ := directShard(t)
	w.cfg.MaxOpenBlocks = 10
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	span := store.SpanOf(res, time.Now().Unix())
	var msgs []jetstream.Msg
	for k := range 3 {
		b := batchOf(res, span+int64(k+1)*10, span, []string{fmt.Sprintf("stop.k%d.a", k), fmt.Sprintf("stop.k%d.b", k)},
			func(i int) float64 { return float64(i) })
		for i := range 4 {
			p := rollup.Point{Path: fmt.Sprintf("stop.k%d.p%d", k, i), Time: span}
			p.Add(1, span*1e9)
			b.Points = append(b.Points, p)
		}
		msgs = append(msgs, &fakeMsg{data: b.Append(nil), seq: uint64(k + 1)})
	}
	// 6 blocks after the first message, 12 after the second: the third waits.
	rest := w.apply(sh, msgs)
	if len(rest) != 1 || rest[0] != msgs[2] || w.openBlocks.Load() != 12 || len(sh.unacked) != 2 {
		t.Fatalf("%d messages left, %d open blocks, %d unacknowledged; want 1, 12, 2", len(rest), w.openBlocks.Load(), len(sh.unacked))
	}
	// Even at the bound, one message at least is applied.
	if rest = w.apply(sh, rest); len(rest) != 0 || w.openBlocks.Load() != 18 {
		t.Fatalf("%d messages left, %d open blocks; want 0, 18", len(rest), w.openBlocks.Load())
	}
}

// TestBlocksBeyondHorizonAreNotRead: a block whose span starts after the
// store's horizon is opened without a read (none was ever written); one of
// a span the store may hold is read, whether another holder of the shard
// wrote it or this one did and forgot it, and its points merge with the
// stored ones.
func TestBlocksBeyondHorizonAreNotRead(t *testing.T) {
	w, sh, st := directShard(t)
	w.cfg.PersistInterval = config.Duration(time.Hour) // the test persists
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	s1 := store.SpanOf(res, time.Now().Unix())
	s2 := s1 + store.SpanSeconds(res)
	var paths []string
	for i := range 50 {
		paths = append(paths, fmt.Sprintf("horizon.p%02d", i))
	}
	seq := uint64(0)
	step := func(what string, sh *shard, t0 int64, value float64, wantRead, wantNotRead int64) {
		t.Helper()
		seq++
		b := batchOf(res, t0+10, t0, paths, func(int) float64 { return value })
		w.apply(sh, []jetstream.Msg{&fakeMsg{data: b.Append(nil), seq: seq}})
		if !w.persist(sh, "test") {
			t.Fatalf("%s: the persist failed", what)
		}
		if got, gotNot := st.read.Load(), int64(w.notRead.Get()); got != wantRead || gotNot != wantNotRead {
			t.Fatalf("%s: %d blocks read, %d not read; want %d and %d", what, got, gotNot, wantRead, wantNotRead)
		}
	}
	step("a new store", sh, s1, 1, 0, 50)
	step("the same blocks, held", sh, s1+10, 2, 0, 50)

	// The shard held again (by this writer or another): the store's blocks
	// of s1 are read and merged.
	sh2 := &shard{n: 0}
	w.initShard(sh2)
	step("held again, span s1", sh2, s1+20, 3, 50, 50)
	step("a new span", sh2, s2, 4, 50, 100)

	// Forgotten at a bound after their persist, s2's blocks are read again.
	w.dropBlocks(sh2)
	step("forgotten, span s2", sh2, s2+10, 5, 100, 100)

	var keys []store.BlockKey
	for _, p := range paths {
		keys = append(keys, store.BlockKey{Path: p, Res: res, Source: "agg-a", Span: s1},
			store.BlockKey{Path: p, Res: res, Source: "agg-a", Span: s2})
	}
	got := st.points(t, keys)
	for _, k := range keys {
		want := []float64{1, 2, 3}
		if k.Span == s2 {
			want = []float64{4, 5}
		}
		pts := got[k]
		var sums []float64
		for i, p := range pts {
			sums = append(sums, p.Sum)
			if p.Time != k.Span+int64(i)*10 {
				t.Fatalf("%s span %d: point %d at %d", k.Path, k.Span, i, p.Time)
			}
		}
		if !slices.Equal(sums, want) {
			t.Fatalf("%s span %d: stored %v, want %v", k.Path, k.Span, sums, want)
		}
	}
	h, err := st.Horizons(context.Background())
	if k := (store.HorizonKey{Secs: 10, Shard: store.ShardHorizon(0, w.cfg.Shards)}); err != nil || !h.Tracked || h.Spans[k] != s2 {
		t.Fatalf("store horizons %+v (err %v), want %+v at %d", h, err, k, s2)
	}

	// Another shard's horizons do not bound this one's blocks: shard 1's
	// first blocks of s2 are not read.
	paths = slices.Clone(paths)
	for i := range paths {
		paths[i] = "other." + paths[i]
	}
	sh3 := &shard{n: 1}
	w.initShard(sh3)
	step("another shard, span s2", sh3, s2, 6, 200, 150) // 100 read by st.points above
	// Series new to a span after the shard's first persist of it (a cold
	// start's later series) are not read either.
	for i := range paths {
		paths[i] = "late." + paths[i]
	}
	step("new series, span s2", sh3, s2+10, 7, 200, 200)
}
