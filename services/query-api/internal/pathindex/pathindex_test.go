package pathindex

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/query-api/internal/find"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// realStore is a real store (SQLite unless said); write adds paths to it,
// one point each.
type realStore struct {
	store.Store
	store.Reader
}

func newStore(tb testing.TB) *realStore {
	tb.Helper()
	return openStore(tb, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(tb.TempDir(), "i.db")})
}

// openStore opens and initialises the store cfg names.
func openStore(tb testing.TB, cfg store.Config) *realStore {
	tb.Helper()
	s, err := store.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Init(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &realStore{Store: s, Reader: s.(store.Reader)}
}

func (s *realStore) write(tb testing.TB, paths ...string) {
	tb.Helper()
	b := &rollup.Batch{Source: "t", Resolution: rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}}
	for _, p := range paths {
		var pt rollup.Point
		pt.Path, pt.Time = p, 1700000000
		pt.Add(1, 1)
		b.Points = append(b.Points, pt)
	}
	if err := s.Write(context.Background(), []*rollup.Batch{b}); err != nil {
		tb.Fatal(err)
	}
}

func loaded(tb testing.TB, r store.Reader, max int) (*Index, *metrics.Set) {
	tb.Helper()
	set := metrics.NewSet()
	x := New(r, max, 16, set, quiet)
	if err := x.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return x, set
}

// show writes nodes as find's tests do: a leaf ends with '*'.
func show(nodes []find.Node, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, n := range nodes {
		s := n.Path
		if n.Leaf {
			s += "*"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

var paths = []string{"servers.web01.cpu.load", "servers.web02.cpu.load", "servers.db01.cpu.load",
	"servers.web01.mem.free", "servers.web10.cpu.load", "stats.gauges.x", "stats_counts.y",
	"disk.used;dc=east", "disk.used;dc=west", "disk.usage", "x.a-b_c.d", "x.a.b", "x.ü.z",
	"a.b", "a.b.c", "h.i;t=v.w", "Upper.Case", "upper.case"}

// TestIndexAnswersAsTheStore runs every pattern through find over the store
// and over the loaded index: the same nodes, in the same order, the same
// errors, with and without limits.
func TestIndexAnswersAsTheStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testIndexAnswersAsTheStore(t, newStore(t)) })
	t.Run("cassandra", func(t *testing.T) {
		hosts := testenv.CassandraHosts(t)
		_, ks := testenv.Cassandra(t)
		testIndexAnswersAsTheStore(t, openStore(t, store.Config{Driver: "cassandra", DSN: strings.Join(hosts, ","),
			Options: map[string]string{"keyspace": ks}}))
	})
}

func testIndexAnswersAsTheStore(t *testing.T, s *realStore) {
	s.write(t, paths...)
	x, _ := loaded(t, s, 1000)
	if x.State() != Ready {
		t.Fatalf("state %s, want %s", x.State(), Ready)
	}
	patterns := []string{"*", "servers.*", "servers.web0?.cpu.load", "servers.web[0-1][0-9].cpu.*", "servers.web1[0-9].cpu.*",
		"servers.{web01,db01}.cpu.load", "servers.web01.*", "stats*", "servers.web01.cpu.load", "nope.*", "servers.web[!0]*",
		"disk.used", "disk.us?d", "disk.*", "x.*-*", "x.[a-z]*_c.d", "x.?.*", "x.[a-z].b", "*.used", "*.us?d", "*.[a-z]", "*.?",
		"servers.**.load", "**.load", "servers.**.web01.cpu.load", "servers.web01.**.free", "x.**", "**.**.y", "**.used",
		"servers.**.{cpu,mem}.*", "nope.**", "serv**", "**", "a.b", "a.*", "a.b.*", "h.*", "h.i", "*.*.*", "{a,x}.*",
		"[uU]pper.*", "upper.Case", "a.[b", "a.{b", "*.{b,c", ""}
	for _, limit := range []int{0, 1, 2, 5, 14, 15} {
		for _, p := range patterns {
			want := show(find.Find(context.Background(), s, p, limit))
			got := show(find.Find(context.Background(), x, p, limit))
			if got != want {
				t.Errorf("Find(%q, limit %d): index gives %q, the store %q", p, limit, got, want)
			}
		}
	}
	want, errW := find.Leaves(context.Background(), s, 0)
	got, errG := find.Leaves(context.Background(), x, 0)
	if errW != nil || errG != nil || !slices.Equal(got, want) {
		t.Errorf("Leaves: index %v %v, store %v %v", got, errG, want, errW)
	}
	for _, parent := range []string{"", "servers", "disk", "h", "nope"} {
		w, _ := s.Children(context.Background(), parent)
		g, _ := x.Children(context.Background(), parent)
		if !slices.Equal(g, w) {
			t.Errorf("Children(%q): index %v, store %v", parent, g, w)
		}
	}
	if x.memHits.Get() == 0 || x.storeHits.Get() != 0 {
		t.Errorf("listings from memory %d, from the store %d: want all from memory", x.memHits.Get(), x.storeHits.Get())
	}
	if st := x.Stats().(map[string]any); st["paths"] != x.n || st["state"] != Ready {
		t.Errorf("stats %v", st)
	}
}

// TestNotLoadedAsksTheStore: before the first load, listings go to the
// store.
func TestNotLoadedAsksTheStore(t *testing.T) {
	s := newStore(t)
	s.write(t, paths...)
	x := New(s, 1000, 16, metrics.NewSet(), quiet)
	if x.State() != Loading {
		t.Fatalf("state %s", x.State())
	}
	got := show(find.Find(context.Background(), x, "servers.*.cpu.*", 0))
	if want := show(find.Find(context.Background(), s, "servers.*.cpu.*", 0)); got != want || got == "" {
		t.Errorf("got %q, want %q", got, want)
	}
	if x.storeHits.Get() != 4 || x.memHits.Get() != 0 { // one a level
		t.Errorf("from the store %d, from memory %d: want 4 and 0", x.storeHits.Get(), x.memHits.Get())
	}
}

// TestMaxPathsDisables: past max_paths the index is disabled, counted, and
// find answers from the store.
func TestMaxPathsDisables(t *testing.T) {
	s := newStore(t)
	s.write(t, paths...)
	x, set := loaded(t, s, 10)
	if x.State() != Disabled || x.overflows.Get() != 1 {
		t.Fatalf("state %s, overflows %d: want disabled, 1", x.State(), x.overflows.Get())
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), "consthash_query_api_path_index_overflows_total 1") {
		t.Errorf("/metrics lacks the overflow counter:\n%s", b.String())
	}
	got := show(find.Find(context.Background(), x, "servers.**.load", 0))
	if want := show(find.Find(context.Background(), s, "servers.**.load", 0)); got != want || got == "" {
		t.Errorf("got %q, want %q", got, want)
	}
	// An index that fits again on a later load is used again.
	x.max = 1000
	if err := x.Load(context.Background()); err != nil || x.State() != Ready {
		t.Fatalf("reload: %v, state %s", err, x.State())
	}
}

// TestAnnouncedPathsShowUp: paths a writer adds and announces on NATS, as
// services/writer does, show up in the running index without a reload;
// paths written without an announcement show up at the next reload.
func TestAnnouncedPathsShowUp(t *testing.T) {
	s := newStore(t)
	s.write(t, "servers.web01.cpu.load", "a.b")
	s.Store.(store.Indexer).TakeNewPaths()
	x := New(s, 1000, 16, metrics.NewSet(), quiet)
	nc := testenv.NATSConn(t)
	sub, err := nc.Subscribe(bus.IndexSubject, func(m *nats.Msg) { x.Announce(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return x.State() == Ready })

	pub, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// a new leaf under a new branch, a new leaf beside an old one, a branch
	// that becomes a leaf, a tagged leaf
	s.write(t, "servers.web02.cpu.load", "servers.web01.cpu.idle", "a", "new.deep.er.leaf;t=1")
	var buf []byte
	for _, p := range s.Store.(store.Indexer).TakeNewPaths() {
		buf = append(append(buf, p...), '\n')
	}
	if err := pub.Publish(bus.IndexSubject, buf); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"servers.*.cpu.*", "*", "new.**", "a", "**"} {
		want := show(find.Find(context.Background(), s, p, 0))
		waitFor(t, func() bool { return show(find.Find(context.Background(), x, p, 0)) == want })
	}
	if x.announced.Get() == 0 || x.relisted.Get() == 0 {
		t.Errorf("announced %d, relisted %d", x.announced.Get(), x.relisted.Get())
	}
	// Not announced: the next load brings it.
	s.write(t, "quiet.one")
	if got := show(find.Find(context.Background(), x, "quiet.*", 0)); got != "" {
		t.Fatalf("before a reload: %q", got)
	}
	if err := x.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := show(find.Find(context.Background(), x, "quiet.*", 0)); got != "quiet.one*" {
		t.Errorf("after a reload: %q", got)
	}
	if x.n != 16 { // servers web01 web02 cpu×2 load×2 idle a a.b new deep er leaf quiet one
		t.Errorf("%d paths, want 16", x.n)
	}
}

// TestAnnouncementQueueBound: announcements past the queue are dropped and
// counted.
func TestAnnouncementQueueBound(t *testing.T) {
	x := New(nil, 10, 2, metrics.NewSet(), quiet)
	for range 5 {
		x.Announce([]byte("a.b\n"))
	}
	if x.dropped.Get() != 3 || len(x.queue) != 2 {
		t.Errorf("dropped %d, queued %d: want 3, 2", x.dropped.Get(), len(x.queue))
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchPaths writes bench/queryload's find set: bench.find.III.JJJ.KKK,
// fanout³ leaves.
func benchStore(b *testing.B, fanout int) *realStore {
	s := newStore(b)
	var batch []string
	for k := 0; k < fanout*fanout*fanout; k++ {
		batch = append(batch, fmt.Sprintf("bench.find.%03d.%03d.%03d", k/(fanout*fanout), k/fanout%fanout, k%fanout))
		if len(batch) == 20_000 {
			s.write(b, batch...)
			batch = batch[:0]
		}
	}
	s.write(b, batch...)
	return s
}

// BenchmarkFind is bench-query's find (docs/benchmarks.md) over 216,000
// leaves, 18,000 matching: from the SQLite store, from the index; and the
// index's heap per path.
//
//	go test -run '^$' -bench BenchmarkFind -benchtime 20x ./internal/pathindex
func BenchmarkFind(b *testing.B) {
	s := benchStore(b, 60)
	const query = "bench.find.0[1-3]?.*.05?"
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			if n, err := find.Find(context.Background(), s, query, 0); err != nil || len(n) != 18_000 {
				b.Fatal(len(n), err)
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	x, _ := loaded(b, s, 10_000_000)
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if n, err := find.Find(context.Background(), x, query, 0); err != nil || len(n) != 18_000 {
				b.Fatal(len(n), err)
			}
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(x.n), "heap-bytes/path")
		b.ReportMetric(float64(x.n), "paths")
		b.ReportMetric(float64(took.Milliseconds()), "load-ms")
	})
	runtime.KeepAlive(x)
}

// gated holds its third ChildrenOf call until release is closed, and says
// when it holds it on held.
type gated struct {
	store.Reader
	calls         atomic.Int32
	held, release chan struct{}
}

func (g *gated) ChildrenOf(ctx context.Context, parents []string, glob string) (map[string][]store.Node, error) {
	if g.calls.Add(1) == 3 {
		close(g.held)
		<-g.release
	}
	return g.Reader.ChildrenOf(ctx, parents, glob)
}

// TestAnnouncedDuringALoad: a path written and announced after a load
// listed its level is not lost when the load swaps its listing in.
func TestAnnouncedDuringALoad(t *testing.T) {
	s := newStore(t)
	s.write(t, "a.b")
	g := &gated{Reader: s, held: make(chan struct{}), release: make(chan struct{})}
	x := New(g, 1000, 16, metrics.NewSet(), quiet)
	loadErr := make(chan error, 1)
	go func() { loadErr <- x.Load(context.Background()) }()
	<-g.held // the roots and a's children are listed; the level under a.b is held
	s.write(t, "c.d")
	if err := x.merge(context.Background(), []string{"c", "c.d"}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"*", "c.*", "**"} {
		if got, want := show(find.Find(context.Background(), x, p, 0)), show(find.Find(context.Background(), s, p, 0)); got != want {
			t.Errorf("Find(%q): index %q, store %q", p, got, want)
		}
	}
	if x.n != 4 {
		t.Errorf("%d paths, want 4", x.n)
	}
}
