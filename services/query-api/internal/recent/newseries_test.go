package recent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
)

// renderBody is the JSON /render answers for targets over the last 90 s.
func (g *rig) renderBody(targets ...string) string {
	g.t.Helper()
	q := url.Values{"target": targets, "from": {fmt.Sprint(g.now - 90)}, "until": {fmt.Sprint(g.now)}, "format": {"json"}}
	resp, err := http.PostForm(g.url+"/render", q)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		g.t.Fatalf("render %v: %d %s", targets, resp.StatusCode, body)
	}
	return string(body)
}

// holder is a stand-in writer of every shard holding the points of some
// paths (rig.points) and answering, as a writer does, only for the paths
// asked that it holds; it records every path it was asked for.
type holder struct {
	mu    sync.Mutex
	held  map[string]bool
	asked map[string]int
}

func (g *rig) hold(paths ...string) *holder {
	g.t.Helper()
	h := &holder{held: map[string]bool{}, asked: map[string]int{}}
	for _, p := range paths {
		h.held[p] = true
	}
	sub, err := g.nc.Subscribe(bus.RecentPrefix+"*", func(m *nats.Msg) {
		var req bus.RecentRequest
		if err := req.Decode(m.Data); err != nil {
			g.t.Errorf("request %s: %v", m.Data, err)
			return
		}
		rep := bus.RecentReply{Points: []bus.RecentPoint{}}
		h.mu.Lock()
		for _, p := range req.Paths {
			h.asked[p]++
			if h.held[p] {
				rep.Points = append(rep.Points, g.points(p)...)
			}
		}
		h.mu.Unlock()
		b, _ := rep.Encode()
		m.Respond(b)
	})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { sub.Unsubscribe() })
	if err := g.nc.Flush(); err != nil {
		g.t.Fatal(err)
	}
	return h
}

// drop makes the holder forget path (its writer persisted it).
func (h *holder) drop(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.held, path)
}

func (h *holder) wasAsked(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asked[path]
}

// TestRenderNewSeries renders plain paths no store or index knows yet:
// one a writer holds points of renders those points, named as its path,
// alone or among other targets and nested in a function, and the answer
// is byte for byte the one rendered once the writer has stored them; one
// no writer holds renders nothing, as graphite-web renders an unknown path.
func TestRenderNewSeries(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("in-memory index %v", indexed), func(t *testing.T) { testRenderNewSeries(t, indexed) })
	}
}

func testRenderNewSeries(t *testing.T, indexed bool) {
	g := newRigWith(t, 1, indexed)
	const fresh, unknown = "stats_counts.batch.k900", "stats_counts.batch.k901"
	known := g.paths[0][0]

	// No writer answers at all (no responders): nothing, not an error.
	if got := g.render(unknown); len(got) != 0 {
		t.Errorf("render %s with no writer: %v, want nothing", unknown, got)
	}

	h := g.hold(fresh, known)
	newPts := g.points(fresh)
	wantFresh := map[int64]float64{g.stored: newPts[0].Sum, g.recentTime: newPts[1].Sum}
	cases := []struct {
		name    string
		targets []string
		want    map[string]map[int64]float64
	}{
		{"alone", []string{fresh}, map[string]map[int64]float64{fresh: wantFresh}},
		{"unknown alone", []string{unknown}, map[string]map[int64]float64{}},
		{"among others", []string{fresh, unknown, known}, map[string]map[int64]float64{fresh: wantFresh, known: g.merged(known, true)}},
		{"nested", []string{`alias(` + fresh + `,"new")`, `sumSeries(` + unknown + `,` + known + `)`},
			// graphite-web names a sum after the series it found
			map[string]map[int64]float64{"new": wantFresh, "sumSeries(" + known + ")": g.merged(known, true)}},
		{"glob", []string{"stats_counts.batch.k9*"}, map[string]map[int64]float64{}}, // find does not know it
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := g.render(c.targets...); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("render %v: %v, want %v", c.targets, got, c.want)
			}
		})
	}
	if n := h.wasAsked(unknown); n != 3 {
		t.Errorf("the writers were asked %d times for %s, want 3 (once per render naming it)", n, unknown)
	}

	// As a writer persists: the points stored, then no longer held.
	targets := []string{fresh, `alias(` + fresh + `,"new")`, known}
	if got, want := keys(g.render(targets...)), []string{"new", known, fresh}; !slices.Equal(got, want) {
		t.Fatalf("render %v: series %v, want %v", targets, got, want)
	}
	before := g.renderBody(targets...)
	var batches []*rollup.Batch
	for i, rp := range newPts {
		pt := rollup.Point{Path: fresh, Time: rp.Time}
		pt.Add(rp.Sum, rp.LastAt)
		batches = append(batches, &rollup.Batch{Source: rp.Source, Resolution: rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour},
			Flush: rp.Time + 10, Seq: uint64(i + 1), Final: true, Points: []rollup.Point{pt}})
	}
	if err := g.st.Write(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	h.drop(fresh)
	if g.index != nil {
		// Stored, not yet announced: read from the store all the same.
		if mid := g.renderBody(targets...); mid != before {
			t.Errorf("rendered before it was stored:\n%s\nstored, not yet in the in-memory index:\n%s", before, mid)
		}
		// A reload, as the writer's announcement would bring it.
		if err := g.index.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if after := g.renderBody(targets...); after != before {
		t.Errorf("rendered before it was stored:\n%s\nonce stored:\n%s", before, after)
	}
	if got := g.render("stats_counts.batch.k9*"); !slices.Equal(keys(got), []string{fresh}) {
		t.Errorf("the glob once stored: %v, want %s", got, fresh)
	}
}

func keys(m map[string]map[int64]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
