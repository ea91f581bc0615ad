package writer

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/writer/internal/config"
)

// sharedStore is one store shared by the in-process writers of a test (its
// Close does nothing; the test closes the store). It keeps blocks with the
// store's own WriteBlocks and ReadBlocks when store.Open returned a
// store.BlockStore, and otherwise (until the stores keep blocks) in memory,
// with the contract's version rule.
type sharedStore struct {
	store.Store
	real store.BlockStore
	mu   sync.Mutex
	mem  map[store.BlockKey]store.BlockRow
	read atomic.Int64 // keys asked of ReadBlocks
}

func openShared(t *testing.T) *sharedStore {
	t.Helper()
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &sharedStore{Store: st, mem: map[store.BlockKey]store.BlockRow{}}
	if bs, ok := st.(store.BlockStore); ok {
		s.real = bs
	} else {
		t.Log("the SQLite store keeps no blocks yet: blocks are kept in memory by the test")
	}
	return s
}

func (s *sharedStore) Close() error { return nil }

func (s *sharedStore) TakeNewPaths() []string {
	if ix, ok := s.Store.(store.Indexer); ok {
		return ix.TakeNewPaths()
	}
	return nil
}

func (s *sharedStore) IndexPaths(ctx context.Context, paths []string) error {
	if s.real != nil {
		return s.real.IndexPaths(ctx, paths)
	}
	return nil
}

func (s *sharedStore) WriteBlocks(ctx context.Context, rows []store.BlockRow) error {
	if s.real != nil {
		return s.real.WriteBlocks(ctx, rows)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if old, ok := s.mem[r.BlockKey]; !ok || r.Version >= old.Version {
			r.Data = append([]byte(nil), r.Data...)
			s.mem[r.BlockKey] = r
		}
	}
	return nil
}

func (s *sharedStore) ReadBlocks(ctx context.Context, keys []store.BlockKey) ([]store.BlockRow, error) {
	s.read.Add(int64(len(keys)))
	if s.real != nil {
		return s.real.ReadBlocks(ctx, keys)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.BlockRow
	for _, k := range keys {
		if r, ok := s.mem[k]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *sharedStore) Horizons(ctx context.Context) (store.Horizons, error) {
	if s.real != nil {
		return s.real.Horizons(ctx)
	}
	return store.Horizons{}, nil // untracked: every block is read
}

func (s *sharedStore) RaiseHorizon(ctx context.Context, k store.HorizonKey, span int64) error {
	if s.real != nil {
		return s.real.RaiseHorizon(ctx, k, span)
	}
	return nil
}

// points reads the stored points of keys through ReadBlocks.
func (s *sharedStore) points(t *testing.T, keys []store.BlockKey) map[store.BlockKey][]rollup.Point {
	t.Helper()
	rows, err := s.ReadBlocks(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.BlockKey][]rollup.Point{}
	for _, r := range rows {
		pts, _, err := block.Decode(nil, r.Data)
		if err != nil {
			t.Fatalf("%+v: %v", r.BlockKey, err)
		}
		out[r.BlockKey] = pts
	}
	return out
}

// blockWriter makes a writer over st that persists every persist; extra
// is more TOML.
func blockWriter(t *testing.T, url string, st store.Store, persist string, extra ...string) *Writer {
	t.Helper()
	cfg, err := config.Parse("writer.toml", fmt.Sprintf(`
nats = %q
id = "w"
shards = 8
batch = 32
batch_wait = "100ms"
ack_wait = "5s"
write_timeout = "2s"
persist_interval = %q
%s
[membership]
interval = "100ms"
[admin]
listen = ""
`, url, persist, strings.Join(extra, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWithStore(context.Background(), cfg, slog.New(slog.DiscardHandler), st)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Blocks() {
		t.Fatal("the writer does not keep blocks over a store.BlockStore")
	}
	return w
}

// running is a writer started in the background.
type running struct {
	*Writer
	cancel context.CancelFunc
	done   chan error
}

func startWriter(t *testing.T, w *Writer) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w, cancel, make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops a writer as SIGTERM does: it hands its shards over.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a writer did not stop")
	}
	r.Close()
}

// kill stops a writer as a crash does: no persist, no acknowledgement, no
// last heartbeat.
func (r *running) kill(t *testing.T) {
	t.Helper()
	r.abandon.Store(true)
	r.nc.Close()
	r.stop(t)
}

// readingOnce waits until the writers read every shard exactly once
// between them, each the shards rendezvous hashing gives it among them.
func readingOnce(t *testing.T, what string, shards int, ws ...*running) {
	t.Helper()
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	testenv.Eventually(t, what+": every shard read by its owner alone", func() bool {
		for _, w := range ws {
			var want []int
			for s := range shards {
				if bus.Owner(ids, s) == w.ID {
					want = append(want, s)
				}
			}
			if !slices.Equal(w.Reading(), want) {
				return false
			}
		}
		return true
	})
}

// publishByShard publishes b as aggregators do: a message per shard.
// connectJS connects a client to the test's NATS, closed at the test's end.
func connectJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func publishByShard(t *testing.T, js jetstream.JetStream, b *rollup.Batch, shards int) {
	byShard := map[int][]rollup.Point{}
	for _, p := range b.Points {
		s := bus.PathShard(p.Path, shards)
		byShard[s] = append(byShard[s], p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s, pts := range byShard {
		part := *b
		part.Points = pts
		if _, err := js.Publish(ctx, bus.RollupSubject(b.Resolution, s), part.Append(nil),
			jetstream.WithMsgID(fmt.Sprintf("%s:%d", b.MsgID(), s))); err != nil {
			t.Error(err)
		}
	}
}

// TestWritersScaleAndKillKeepTotalsExact publishes rollups steadily, as two
// aggregators would, while writers go 1 -> 3 -> 2 and then one is killed
// (nothing persisted, nothing acknowledged): every point published is
// stored exactly once with its value, in blocks, through a real NATS.
// Source "now" writes into the current span (persisted on the interval);
// source "past" into spans long over (each persist reads the block back:
// read-modify-write).
func TestWritersScaleAndKillKeepTotalsExact(t *testing.T) {
	scaleAndKill(t)
}

// TestWritersAtByteBoundKeepTotalsExact is the same with max_open_bytes so
// small (16 KiB: about 60 blocks) that the writers forget their blocks over
// and over, to read them back on their next point.
func TestWritersAtByteBoundKeepTotalsExact(t *testing.T) {
	evicted := scaleAndKill(t, "max_open_bytes = 16384")
	if evicted == 0 {
		t.Fatal("no block was forgotten at the bound")
	}
}

// scaleAndKill runs the writers of TestWritersScaleAndKillKeepTotalsExact,
// each with the TOML lines extra, and returns the blocks they forgot at a
// bound.
func scaleAndKill(t *testing.T, extra ...string) (evicted uint64) {
	t.Helper()
	url := testenv.NATS(t)
	st := openShared(t)
	const shards, paths = 8, 40
	w1 := startWriter(t, blockWriter(t, url, st, "300ms", extra...))
	readingOnce(t, "one writer", shards, w1)

	_, js := connectJS(t, url)
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	spanNow := store.SpanOf(res, time.Now().Unix())
	starts := map[string]int64{"now": spanNow, "past": spanNow - 30*store.SpanSeconds(res) + 3500}
	type pk struct {
		source, path string
		t            int64
	}
	want := map[pk]float64{}
	var wantSum float64
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(3, 4))
		flush := 0
		for {
			select {
			case <-stop:
				done <- flush
				return
			default:
			}
			flush++
			for _, src := range []string{"now", "past"} {
				bin := starts[src] + int64(flush)*10
				b := &rollup.Batch{Source: src, Resolution: res, Flush: bin + 10, Seq: uint64(flush), Final: true}
				for i := range paths {
					var p rollup.Point
					p.Path, p.Time = fmt.Sprintf("sc.%s.p%d", src, i), bin
					v := float64(1 + rng.IntN(100))
					p.Add(v, bin*1e9+1)
					b.Points = append(b.Points, p)
					want[pk{src, p.Path, bin}] = v
					wantSum += v
				}
				publishByShard(t, js, b, shards)
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	w2 := startWriter(t, blockWriter(t, url, st, "300ms", extra...))
	w3 := startWriter(t, blockWriter(t, url, st, "300ms", extra...))
	readingOnce(t, "three writers", shards, w1, w2, w3)
	if len(w1.Reading()) == shards {
		t.Fatal("the new writers read no shard")
	}
	time.Sleep(time.Second)
	w3.stop(t) // 3 -> 2: its shards are persisted, acknowledged, handed over
	t.Logf("w3 %v", w3.Stats())
	readingOnce(t, "two writers", shards, w1, w2)
	time.Sleep(time.Second)
	if len(w2.Reading()) == 0 {
		t.Fatal("w2 reads no shard before it is killed")
	}
	w2.kill(t) // its open blocks and unacknowledged messages are lost with it
	readingOnce(t, "after the kill", shards, w1)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	flushes := <-done
	// w1 reads, stores and acknowledges everything published (a message the
	// killed writer had delivered and never acknowledged included), then
	// stops.
	testenv.Eventually(t, "every shard's consumer drained and acknowledged", func() bool {
		for s := range shards {
			cons, err := js.Consumer(context.Background(), bus.DefaultStream, fmt.Sprintf("consthash-writer-%d", s))
			if err != nil {
				return false
			}
			info := cons.CachedInfo()
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return false
			}
		}
		return true
	})
	w1.stop(t)

	var keys []store.BlockKey
	seen := map[store.BlockKey]bool{}
	for k := range want {
		bk := store.BlockKey{Path: k.path, Res: res, Source: k.source, Span: store.SpanOf(res, k.t)}
		if !seen[bk] {
			seen[bk] = true
			keys = append(keys, bk)
		}
	}
	got := st.points(t, keys)
	n, sum := 0, 0.0
	for k, pts := range got {
		for _, p := range pts {
			v, ok := want[pk{k.Source, k.Path, p.Time}]
			if !ok || p.Sum != v || p.Count != 1 {
				t.Fatalf("%s %s at %d: %+v, published %v (%v)", k.Source, k.Path, p.Time, p, v, ok)
			}
			n++
			sum += p.Sum
		}
	}
	if n != len(want) || sum != wantSum {
		t.Fatalf("%d points stored (sum %v), published %d (sum %v)", n, sum, len(want), wantSum)
	}
	evicted = w1.evicted.Get() + w2.evicted.Get() + w3.evicted.Get()
	t.Logf("%d flushes, %d points across writers 1 -> 3 -> 2 -> kill: all stored once; resets %d, persists %d+%d+%d, "+
		"blocks forgotten at a bound %d", flushes, n, w1.resets.Get()+w2.resets.Get()+w3.resets.Get(),
		w1.persists.Get(), w2.persists.Get(), w3.persists.Get(), evicted)
	return evicted
}

// TestRecentPointsUntilPersisted asks the writer holding a shard, over a
// real NATS, for the points it has not stored yet: they come back (with
// their producer) before the persist and not after it, when the store has
// them; a point whose producer has it stored already is left out.
func TestRecentPointsUntilPersisted(t *testing.T) {
	url := testenv.NATS(t)
	st := openShared(t)
	w := startWriter(t, blockWriter(t, url, st, "2.5s"))
	readingOnce(t, "one writer", 8, w)
	nc, js := connectJS(t, url)
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	const path = "rc.hits"
	afterPersistPhase(w.Writer, path)
	bin := store.SpanOf(res, time.Now().Unix()) + 100
	point := func(v float64, at int64) rollup.Point {
		p := rollup.Point{Path: path, Time: at}
		p.Add(v, at*1e9)
		return p
	}
	// Stored already: producer a at bin, b at bin-10 (a block with nothing
	// stored would be persisted at once, to index its path). Then a point of
	// a at bin (a redelivery: left out), of b at bin and of a at bin+10.
	key := store.BlockKey{Path: path, Res: res, Source: "a", Span: store.SpanOf(res, bin)}
	keyB := store.BlockKey{Path: path, Res: res, Source: "b", Span: key.Span}
	data, err := block.Append(nil, 10, []rollup.Point{point(4, bin)})
	if err != nil {
		t.Fatal(err)
	}
	dataB, err := block.Append(nil, 10, []rollup.Point{point(1, bin-10)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteBlocks(context.Background(), []store.BlockRow{{BlockKey: key, Data: data, Version: (bin + 10) * 1e6},
		{BlockKey: keyB, Data: dataB, Version: bin * 1e6}}); err != nil {
		t.Fatal(err)
	}
	publishByShard(t, js, &rollup.Batch{Source: "a", Resolution: res, Flush: bin + 10, Seq: 1, Final: true, Points: []rollup.Point{point(4, bin)}}, 8)
	publishByShard(t, js, &rollup.Batch{Source: "b", Resolution: res, Flush: bin + 10, Seq: 1, Final: true, Points: []rollup.Point{point(2, bin)}}, 8)
	publishByShard(t, js, &rollup.Batch{Source: "a", Resolution: res, Flush: bin + 20, Seq: 2, Final: true, Points: []rollup.Point{point(7, bin+10)}}, 8)
	ask := func() bus.RecentReply {
		t.Helper()
		req := bus.RecentRequest{Paths: []string{path, "rc.other"}, Step: 10, From: bin - 100, Until: bin + 100}
		m, err := nc.Request(bus.RecentSubject(bus.PathShard(path, 8)), req.Encode(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rep bus.RecentReply
		if err := rep.Decode(m.Data); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	var rep bus.RecentReply
	testenv.Eventually(t, "the writer serves its 2 recent points", func() bool { rep = ask(); return len(rep.Points) == 2 })
	got := fmt.Sprintf("%s/%d=%v %s/%d=%v", rep.Points[0].Source, rep.Points[0].Time-bin, rep.Points[0].Sum,
		rep.Points[1].Source, rep.Points[1].Time-bin, rep.Points[1].Sum)
	if got != "a/10=7 b/0=2" || rep.Truncated {
		t.Fatalf("recent points %s (truncated %v), want a/10=7 b/0=2", got, rep.Truncated)
	}
	testenv.Eventually(t, "the persist", func() bool { return w.persists.Get() > 0 && len(ask().Points) == 0 })
	pts := st.points(t, []store.BlockKey{key, keyB})
	if len(pts[key]) != 2 || pts[key][1].Sum != 7 || len(pts[keyB]) != 2 || pts[keyB][1].Sum != 2 {
		t.Fatalf("stored %+v", pts)
	}
	if w.recentRequests.Get() < 2 || w.recentPoints.Get() < 2 {
		t.Errorf("recent counters: %v", w.Stats())
	}
}

// afterPersistPhase sleeps until just after the persist_interval persist of
// the shard holding path (shards persist at fixed phases: nextPersist), so
// that points published next are held, and served as recent points, for
// most of an interval. Published at any moment, they could straddle a
// persist under load and never be held together.
func afterPersistPhase(w *Writer, path string) {
	next := w.nextPersist(&shard{n: bus.PathShard(path, w.cfg.Shards), lastTry: time.Now()})
	time.Sleep(time.Until(next) + 100*time.Millisecond)
}

// TestCoarseResolutionsPersistLess: a new series' paths are indexed at once,
// before any of its blocks is written; a 10 s resolution's blocks are
// written every persist_interval, a 1 min resolution's (coarse_step) every
// coarse_persist_interval; its message, held longer than ack_wait meanwhile,
// is not sent again (in-progress acknowledgements) and is acknowledged once
// its block is stored.
func TestCoarseResolutionsPersistLess(t *testing.T) {
	url := testenv.NATS(t)
	st := openShared(t)
	w := startWriter(t, blockWriter(t, url, st, "300ms", `coarse_persist_interval = "8s"`)) // ack_wait 5s
	readingOnce(t, "one writer", 8, w)
	_, js := connectJS(t, url)
	fine := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	coarse := rollup.Resolution{Step: time.Minute, TTL: 24 * time.Hour}
	now := time.Now().Unix()
	point := func(path string, at int64, v float64) rollup.Point {
		p := rollup.Point{Path: path, Time: at}
		p.Add(v, at*1e9)
		return p
	}
	tf, tc := now/10*10-10, now/60*60-60
	publishByShard(t, js, &rollup.Batch{Source: "a", Resolution: fine, Flush: tf + 10, Seq: 1, Final: true,
		Points: []rollup.Point{point("cp.fine", tf, 3)}}, 8)
	publishByShard(t, js, &rollup.Batch{Source: "a", Resolution: coarse, Flush: tc + 60, Seq: 1, Final: true,
		Points: []rollup.Point{point("cp.coarse", tc, 5)}}, 8)
	keyF := store.BlockKey{Path: "cp.fine", Res: fine, Source: "a", Span: store.SpanOf(fine, tf)}
	keyC := store.BlockKey{Path: "cp.coarse", Res: coarse, Source: "a", Span: store.SpanOf(coarse, tc)}
	stored := func(k store.BlockKey) bool {
		rows, err := st.ReadBlocks(context.Background(), []store.BlockKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows) == 1
	}
	children := func() string {
		nodes, err := st.Store.(store.Reader).Children(context.Background(), "cp")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(nodes)
	}
	testenv.Eventually(t, "both series indexed, the 10 s block stored and its message acknowledged, the 1 min one held", func() bool {
		return children() == "[{cp.coarse true} {cp.fine true}]" && stored(keyF) && w.msgsAcked.Get() == 1 && w.msgsHeld.Get() > 0
	})
	if stored(keyC) {
		t.Fatal("the 1 min block was written at the first persists, not after coarse_persist_interval")
	}
	testenv.Eventually(t, "the 1 min block stored and its message acknowledged", func() bool {
		return stored(keyC) && w.msgsAcked.Get() == 2
	})
	if pts := st.points(t, []store.BlockKey{keyF, keyC}); len(pts[keyF]) != 1 || pts[keyF][0].Sum != 3 ||
		len(pts[keyC]) != 1 || pts[keyC][0].Sum != 5 {
		t.Fatalf("stored %+v", pts)
	}
	if r := w.redelivered.Get(); r != 0 {
		t.Fatalf("%d messages sent again while held past ack_wait", r)
	}
	for _, c := range w.consumers() {
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending != 0 || info.NumRedelivered != 0 {
			t.Fatalf("consumer %s: %d pending, %d redelivered", info.Name, info.NumAckPending, info.NumRedelivered)
		}
	}
}
