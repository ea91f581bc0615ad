package recent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/query-api/internal/api"
	"github.com/consthash/consthash/services/query-api/internal/pathindex"
)

// rig is query-api's /render over SQLite and a real NATS, with paths
// spread over two rollup shards, each path holding one stored point.
type rig struct {
	t          *testing.T
	nc         *nats.Conn
	st         store.Store
	index      *pathindex.Index // nil: finds list the store's index
	rr         *Reader
	url        string
	shard      [2]int      // the two shards
	paths      [2][]string // their paths, in name order
	now        int64
	stored     int64 // the time of every path's stored point (value 5)
	recentTime int64 // when the fake writers' newer points are
}

func newRig(t *testing.T, perShard int) *rig {
	t.Helper()
	return newRigWith(t, perShard, false)
}

// newRigWith is newRig; with indexed, finds answer from the in-memory path
// index under the recent points' reader, as query-api's main composes them.
func newRigWith(t *testing.T, perShard int, indexed bool) *rig {
	t.Helper()
	const shards = 16
	g := &rig{t: t, now: 1700000600}
	g.stored, g.recentTime = g.now-60, g.now-20
	// The first two shards names fall in, perShard names each.
	for i := 0; len(g.paths[0]) < perShard || len(g.paths[1]) < perShard; i++ {
		p := fmt.Sprintf("stats_counts.batch.k%03d", i)
		sh := bus.PathShard(p, shards)
		switch {
		case len(g.paths[0]) == 0 || sh == g.shard[0] && len(g.paths[0]) < perShard:
			g.shard[0] = sh
			g.paths[0] = append(g.paths[0], p)
		case sh != g.shard[0] && (len(g.paths[1]) == 0 || sh == g.shard[1] && len(g.paths[1]) < perShard):
			g.shard[1] = sh
			g.paths[1] = append(g.paths[1], p)
		}
	}
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g.st = st
	ctx := context.Background()
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	var pts []rollup.Point
	for _, p := range slices.Concat(g.paths[0], g.paths[1]) {
		pt := rollup.Point{Path: p, Time: g.stored}
		pt.Add(5, g.stored*1e9)
		pts = append(pts, pt)
	}
	if err := st.Write(ctx, []*rollup.Batch{{Source: "agg-a", Resolution: res, Flush: g.stored + 10, Seq: 1, Final: true, Points: pts}}); err != nil {
		t.Fatal(err)
	}
	if g.nc, err = nats.Connect(testenv.NATS(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.nc.Close)
	var reader store.Reader = st.(store.Reader)
	if indexed {
		g.index = pathindex.New(reader, 1000, 16, metrics.NewSet(), slog.New(slog.DiscardHandler))
		if err := g.index.Load(ctx); err != nil {
			t.Fatal(err)
		}
		reader = g.index
	}
	g.rr = New(reader, g.nc, shards, 300*time.Millisecond, metrics.NewSet(), slog.New(slog.DiscardHandler))
	a := api.New(api.Config{Resolutions: []rollup.Resolution{res}, MaxSeries: 100, MaxPoints: 100000, MaxFind: 1000,
		QueryTimeout: 10 * time.Second, Now: func() time.Time { return time.Unix(g.now, 0) }}, g.rr, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

// render renders targets over the last 90 s: each series' non-null values by time.
func (g *rig) render(targets ...string) map[string]map[int64]float64 {
	g.t.Helper()
	q := url.Values{"target": targets, "from": {fmt.Sprint(g.now - 90)}, "until": {fmt.Sprint(g.now)}, "format": {"json"}}
	resp, err := http.PostForm(g.url+"/render", q)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil {
		g.t.Fatalf("render: %d %s", resp.StatusCode, body)
	}
	got := map[string]map[int64]float64{}
	for _, s := range out {
		vals := map[int64]float64{}
		for _, dp := range s.Datapoints {
			if dp[0] != nil {
				vals[int64(*dp[1])] = *dp[0]
			}
		}
		got[s.Target] = vals
	}
	return got
}

// writer is a stand-in writer answering a shard's recent requests with
// answer, recording the paths of each request.
type writer struct {
	mu       sync.Mutex
	requests [][]string
}

func (w *writer) asked() [][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.requests)
}

// serve answers shard's requests with answer(request, round); a nil reply
// is no answer at all (a writer too slow for the timeout).
func (g *rig) serve(shard int, answer func(req bus.RecentRequest, round int) *bus.RecentReply) *writer {
	g.t.Helper()
	w := &writer{}
	sub, err := g.nc.Subscribe(bus.RecentSubject(shard), func(m *nats.Msg) {
		var req bus.RecentRequest
		if err := req.Decode(m.Data); err != nil {
			g.t.Errorf("request %s: %v", m.Data, err)
			return
		}
		w.mu.Lock()
		w.requests = append(w.requests, req.Paths)
		round := len(w.requests)
		w.mu.Unlock()
		if rep := answer(req, round); rep != nil {
			b, _ := rep.Encode()
			m.Respond(b)
		}
	})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { sub.Unsubscribe() })
	if err := g.nc.Flush(); err != nil {
		g.t.Fatal(err)
	}
	return w
}

// points is what a writer holds of path: another producer's point in the
// stored bin (2) and a newer bin (the path's number).
func (g *rig) points(path string) []bus.RecentPoint {
	var n float64
	fmt.Sscanf(path[strings.LastIndex(path, ".k")+2:], "%f", &n)
	return []bus.RecentPoint{
		{Path: path, Source: "agg-b", Time: g.stored, Sum: 2, Min: 2, Max: 2, Last: 2, LastAt: (g.stored + 5) * 1e9, Count: 1},
		{Path: path, Source: "agg-a", Time: g.recentTime, Sum: n, Min: n, Max: n, Last: n, LastAt: (g.recentTime + 5) * 1e9, Count: 1},
	}
}

// full answers every requested path.
func (g *rig) full(req bus.RecentRequest, _ int) *bus.RecentReply {
	rep := &bus.RecentReply{Points: []bus.RecentPoint{}}
	for _, p := range req.Paths {
		rep.Points = append(rep.Points, g.points(p)...)
	}
	return rep
}

// merged is what a render shows of path with its writer's points (with
// them: the stored 5 plus 2, and the newer bin).
func (g *rig) merged(path string, withRecent bool) map[int64]float64 {
	if !withRecent {
		return map[int64]float64{g.stored: 5}
	}
	pts := g.points(path)
	return map[int64]float64{g.stored: 5 + pts[0].Sum, g.recentTime: pts[1].Sum}
}

func (g *rig) counts() string {
	r := g.rr
	return fmt.Sprintf("batches=%d requests=%d timeouts=%d batch_timeouts=%d no_responders=%d errors=%d points=%d truncated=%d reasked=%d",
		r.batches.Get(), r.requests.Get(), r.timeouts.Get(), r.batchTimeouts.Get(), r.noResponders.Get(), r.failed.Get(),
		r.points.Get(), r.truncated.Get(), r.reasked.Get())
}

// TestRenderAsksEachShardOnce renders the paths of two shards, as one
// target each and as one glob: each render asks each shard's writer once,
// for all of its paths, and every series gets exactly its writer's points.
func TestRenderAsksEachShardOnce(t *testing.T) {
	g := newRig(t, 3)
	w0, w1 := g.serve(g.shard[0], g.full), g.serve(g.shard[1], g.full)
	all := slices.Concat(g.paths[0], g.paths[1])
	want := map[string]map[int64]float64{}
	for _, p := range all {
		want[p] = g.merged(p, true)
	}
	for i, targets := range [][]string{all, {"stats_counts.batch.*"}} {
		got := g.render(targets...)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("render %v: %v, want %v", targets, got, want)
		}
		for s, w := range []*writer{w0, w1} {
			asked := w.asked()
			if len(asked) != i+1 || fmt.Sprint(asked[i]) != fmt.Sprint(g.paths[s]) {
				t.Errorf("render %v: shard %d was asked %v, want once more for %v", targets, g.shard[s], asked, g.paths[s])
			}
		}
	}
	if c, want := g.counts(), "batches=2 requests=4 timeouts=0 batch_timeouts=0 no_responders=0 errors=0 points=24 truncated=0 reasked=0"; c != want {
		t.Errorf("counters: %s, want %s", c, want)
	}
}

// TestSlowShardCostsOneTimeout renders many series of a shard whose
// writer never answers beside a shard whose writer does: the silent shard
// is asked once and times out once for the render (not once per series),
// its series answer from storage and the other shard's are merged.
func TestSlowShardCostsOneTimeout(t *testing.T) {
	g := newRig(t, 4)
	w0 := g.serve(g.shard[0], g.full)
	w1 := g.serve(g.shard[1], func(bus.RecentRequest, int) *bus.RecentReply { return nil })
	all := slices.Concat(g.paths[0], g.paths[1])
	got := g.render(all...)
	want := map[string]map[int64]float64{}
	for _, p := range g.paths[0] {
		want[p] = g.merged(p, true)
	}
	for _, p := range g.paths[1] {
		want[p] = g.merged(p, false)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
	if a0, a1 := w0.asked(), w1.asked(); len(a0) != 1 || len(a1) != 1 {
		t.Errorf("asked shard %d %d times, shard %d %d times: want once each", g.shard[0], len(a0), g.shard[1], len(a1))
	}
	if c, want := g.counts(), "batches=1 requests=2 timeouts=1 batch_timeouts=1 no_responders=0 errors=0 points=8 truncated=0 reasked=0"; c != want {
		t.Errorf("counters: %s, want %s", c, want)
	}
}

// TestTruncatedReply: a writer that cuts its reply (in request order, as
// writers fill them) is asked again for the paths from the last one it
// answered, which it then answers whole; a reply cut within its first path
// is kept as it is and counted.
func TestTruncatedReply(t *testing.T) {
	g := newRig(t, 3)
	// First round: the first path whole and one point of the second.
	w0 := g.serve(g.shard[0], func(req bus.RecentRequest, round int) *bus.RecentReply {
		if round == 1 {
			return &bus.RecentReply{Points: append(g.points(req.Paths[0]), g.points(req.Paths[1])[0]), Truncated: true}
		}
		return g.full(req, round)
	})
	// Always one point of the first path asked.
	w1 := g.serve(g.shard[1], func(req bus.RecentRequest, _ int) *bus.RecentReply {
		return &bus.RecentReply{Points: g.points(req.Paths[0])[:1], Truncated: true}
	})
	got := g.render(slices.Concat(g.paths[0], g.paths[1])...)
	want := map[string]map[int64]float64{}
	for _, p := range g.paths[0] {
		want[p] = g.merged(p, true)
	}
	want[g.paths[1][0]] = map[int64]float64{g.stored: 7}
	for _, p := range g.paths[1][1:] {
		want[p] = g.merged(p, false)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
	if a, want := fmt.Sprint(w0.asked()), fmt.Sprint([][]string{g.paths[0], g.paths[0][1:]}); a != want {
		t.Errorf("shard %d asked %s, want %s", g.shard[0], a, want)
	}
	if a, want := fmt.Sprint(w1.asked()), fmt.Sprint([][]string{g.paths[1]}); a != want {
		t.Errorf("shard %d asked %s, want %s", g.shard[1], a, want)
	}
	if c, want := g.counts(), "batches=1 requests=3 timeouts=0 batch_timeouts=0 no_responders=0 errors=0 points=7 truncated=1 reasked=1"; c != want {
		t.Errorf("counters: %s, want %s", c, want)
	}
}
