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
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/query-api/internal/api"
)

// TestRenderMergesRecentPoints renders through the real API over SQLite
// and a real NATS, where a stand-in writer answers the path's shard with its
// not-yet-stored points: they are merged with the stored ones (another
// producer's point in a stored bin adds to it; a newer bin appears). A
// writer that does not answer in time, or no writer at all, leaves the
// render to storage, counted.
func TestRenderMergesRecentPoints(t *testing.T) {
	const shards, path, now = 16, "stats_counts.fresh.hits", int64(1700000600)
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	stored := rollup.Point{Path: path, Time: now - 60}
	stored.Add(5, (now-60)*1e9)
	if err := st.Write(ctx, []*rollup.Batch{{Source: "agg-a", Resolution: res, Flush: now - 50, Seq: 1, Final: true, Points: []rollup.Point{stored}}}); err != nil {
		t.Fatal(err)
	}

	natsURL := testenv.NATS(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	set := metrics.NewSet()
	rr := New(st.(store.Reader), nc, shards, 200*time.Millisecond, set, slog.New(slog.DiscardHandler))
	a := api.New(api.Config{Resolutions: []rollup.Resolution{res}, MaxSeries: 100, MaxPoints: 100000, MaxFind: 1000,
		QueryTimeout: 10 * time.Second, Now: func() time.Time { return time.Unix(now, 0) }}, rr, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	render := func() map[int64]float64 {
		t.Helper()
		q := url.Values{"target": {path}, "from": {fmt.Sprint(now - 90)}, "until": {fmt.Sprint(now)}, "format": {"json"}}
		resp, err := http.Get(srv.URL + "/render?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out []struct {
			Datapoints [][2]*float64 `json:"datapoints"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || len(out) != 1 {
			t.Fatalf("render: %d %s", resp.StatusCode, body)
		}
		vals := map[int64]float64{}
		for _, dp := range out[0].Datapoints {
			if dp[0] != nil {
				vals[int64(*dp[1])] = *dp[0]
			}
		}
		return vals
	}
	want := func(what string, got, want map[int64]float64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: rendered %v, want %v", what, got, want)
		}
	}
	counts := func() string {
		return fmt.Sprintf("requests=%d timeouts=%d no_responders=%d errors=%d points=%d", rr.requests.Get(), rr.timeouts.Get(),
			rr.noResponders.Get(), rr.failed.Get(), rr.points.Get())
	}

	// No writer holds the shard: storage alone.
	want("no writer", render(), map[int64]float64{now - 60: 5})
	if c := counts(); c != "requests=1 timeouts=0 no_responders=1 errors=0 points=0" {
		t.Errorf("no writer: %s", c)
	}

	// The stand-in writer holding the path's shard.
	subject := bus.RecentSubject(bus.PathShard(path, shards))
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var req bus.RecentRequest
		if err := req.Decode(m.Data); err != nil || req.Paths[0] != path || req.Step != 10 {
			t.Errorf("request %s: %+v, %v", m.Data, req, err)
			return
		}
		rep := bus.RecentReply{Points: []bus.RecentPoint{
			{Path: path, Source: "agg-b", Time: now - 60, Sum: 2, Min: 2, Max: 2, Last: 2, LastAt: (now - 55) * 1e9, Count: 1},
			{Path: path, Source: "agg-a", Time: now - 20, Sum: 7, Min: 7, Max: 7, Last: 7, LastAt: (now - 15) * 1e9, Count: 1},
			{Path: path, Source: "agg-a", Time: now + 600, Sum: 1, Count: 1}, // outside the range: ignored
		}}
		b, _ := rep.Encode()
		m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	want("a writer answers", render(), map[int64]float64{now - 60: 7, now - 20: 7})
	if c := counts(); c != "requests=2 timeouts=0 no_responders=1 errors=0 points=2" {
		t.Errorf("a writer answers: %s", c)
	}
	sub.Unsubscribe()

	// A writer that does not answer within the timeout.
	slow, err := nc.Subscribe(subject, func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Unsubscribe()
	nc.Flush()
	start := time.Now()
	want("a silent writer", render(), map[int64]float64{now - 60: 5})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the render took %s behind a silent writer", took)
	}
	if c := counts(); c != "requests=3 timeouts=1 no_responders=1 errors=0 points=2" {
		t.Errorf("a silent writer: %s", c)
	}
}
