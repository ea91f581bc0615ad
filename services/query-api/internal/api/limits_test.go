package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/budget"
)

// countingReader is a store.Reader that counts what is asked of the store.
type countingReader struct {
	store.Reader
	reads, lists atomic.Int64
}

func (c *countingReader) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	c.reads.Add(1)
	return c.Reader.Read(ctx, path, res, from, until)
}

func (c *countingReader) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	c.reads.Add(1)
	return c.Reader.ReadColumn(ctx, path, res, from, until, col)
}

func (c *countingReader) ReadMany(ctx context.Context, res rollup.Resolution, start int64, reads []store.SeriesRead) error {
	c.reads.Add(int64(len(reads)))
	return c.Reader.ReadMany(ctx, res, start, reads)
}

func (c *countingReader) Children(ctx context.Context, parent string) ([]store.Node, error) {
	c.lists.Add(1)
	return c.Reader.Children(ctx, parent)
}

func (c *countingReader) ChildrenOf(ctx context.Context, parents []string, glob string) (map[string][]store.Node, error) {
	c.lists.Add(1)
	return c.Reader.ChildrenOf(ctx, parents, glob)
}

// limitsAPI serves n series a.s0..a.s<n-1>, a point a minute over the last
// hour, at 60s:24h and 10m:730d, with the limits given.
func limitsAPI(t *testing.T, n int, cfg Config) (*httptest.Server, *countingReader, *metrics.Set) {
	srv, cr, set, _ := limitsAPIOf(t, n, cfg)
	return srv, cr, set
}

func limitsAPIOf(t *testing.T, n int, cfg Config) (*httptest.Server, *countingReader, *metrics.Set, *API) {
	t.Helper()
	s := openStore(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "q.db")})
	res, _ := rollup.ParseTimes([]string{"60s:24h", "10m:730d"})
	b := &rollup.Batch{Source: "agg", Resolution: res[0]}
	for i := range n {
		for m := int64(0); m < 60; m++ {
			var p rollup.Point
			p.Path, p.Time = fmt.Sprintf("a.s%d", i), now-3600+m*60
			p.Add(float64(m), 1)
			b.Points = append(b.Points, p)
		}
	}
	if err := s.Write(context.Background(), []*rollup.Batch{b}); err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{Reader: s.(store.Reader)}
	set := metrics.NewSet()
	cfg.Resolutions, cfg.MaxSeries, cfg.MaxPoints, cfg.MaxFind = res, 1000, 1_000_000, 1000
	cfg.Now = func() time.Time { return time.Unix(now, 0) }
	cfg.Metrics = set
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 10 * time.Second
	}
	a := New(cfg, cr, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, cr, set, a
}

func metricsText(set *metrics.Set) string {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	return b.String()
}

// TestRefusedBeforeReading checks that what would compute too much is
// refused before the store is read: from the targets alone when one series
// is already too much, from the index's count of series otherwise.
func TestRefusedBeforeReading(t *testing.T) {
	for _, tc := range []struct {
		name, target, from string
		budget             int64 // max_request_points; 0: 10,000
		lists              bool  // the index was listed (the series counted)
	}{
		// One series, a bucket a second over a year: 31.5 million points.
		{"summarize 1s over a year", `summarize(a.s0,"1s")`, "-1y", 0, false},
		{"hitcount 1s over a year", `hitcount(a.s0,"1s")`, "-1y", 0, false},
		{"identity over a century", `identity("x")`, "-100y", 0, false},
		{"nested in other functions", `alias(scale(summarize(a.s0,"1s","max"),2),"x")`, "-1y", 0, false},
		{"one series over a century", "a.s0", "-100y", 0, false},
		// 20 series x 1440 points over a day is more than 10,000.
		{"many series", "a.*", "-24h", 0, true},
		{"many series, a function's argument", "sumSeries(a.*)", "-24h", 0, true},
		// 20 series x 105,120 ten-minute points (read from the longest
		// retention, 2 years, on): one fits in 200,000, 20 do not.
		{"many series over a century", "a.*", "-100y", 200_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.budget == 0 {
				tc.budget = 10_000
			}
			srv, cr, set := limitsAPI(t, 20, Config{MaxRequestPoints: tc.budget})
			code, body := post(t, srv, "/render", url.Values{"target": {tc.target}, "from": {tc.from}})
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, fmt.Sprintf("max_request_points %d", tc.budget)) {
				t.Fatalf("%d %s", code, body)
			}
			if cr.reads.Load() != 0 {
				t.Errorf("%d series read before the refusal", cr.reads.Load())
			}
			if got := cr.lists.Load() > 0; got != tc.lists {
				t.Errorf("index listed: %v, want %v", got, tc.lists)
			}
			if m := metricsText(set); !strings.Contains(m, `consthash_query_api_refused_total{reason="points"} 1`) {
				t.Errorf("/metrics:\n%s", m)
			}
		})
	}
}

// TestBudgetStopsFunctions checks a function that makes more values than
// its series hold is stopped by the request's budget before it makes them,
// when only the number of series read shows it is too much.
func TestBudgetStopsFunctions(t *testing.T) {
	// With 12,000 points, one series fits: its 60 points, the function's
	// values and the answer's (two values a point). Five do not, and the
	// function is what goes past: the 300 points read fit.
	for _, tc := range []struct{ name, target string }{
		// 300 points read, then 5 x 3,601 one-second buckets.
		{"summarize", `summarize(a.*,"1s")`},
		{"hitcount", `hitcount(a.*,"1s")`},
		// 300 read, then 5 x 1,440 read again for the 23-hour windows
		// before the request's start, then 5 x 1,440 values averaged.
		{"movingAverage", `movingAverage(a.*,"23h")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cr, _ := limitsAPI(t, 5, Config{MaxRequestPoints: 12_000})
			// Alone, one series fits.
			code, body := post(t, srv, "/render", url.Values{"target": {strings.Replace(tc.target, "a.*", "a.s0", 1)}, "from": {"-1h"}})
			if code != http.StatusOK {
				t.Fatalf("one series: %d %.300s", code, body)
			}
			before := cr.reads.Load()
			code, body = post(t, srv, "/render", url.Values{"target": {tc.target}, "from": {"-1h"}})
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, "max_request_points 12000") || strings.Contains(body, "the answer") {
				t.Fatalf("%d %.300s", code, body)
			}
			if cr.reads.Load() == before {
				t.Errorf("refused before reading: the function's budget was not what stopped it")
			}
		})
	}
}

func TestDepthLimited(t *testing.T) {
	srv, cr, set := limitsAPI(t, 1, Config{MaxDepth: 10})
	nest := func(n int) string { return strings.Repeat("scale(", n) + "a.s0" + strings.Repeat(",1)", n) }
	if code, body := post(t, srv, "/render", url.Values{"target": {nest(10)}, "from": {"-1h"}}); code != http.StatusOK {
		t.Fatalf("depth 10: %d %.300s", code, body)
	}
	lists := cr.lists.Load()
	code, body := post(t, srv, "/render", url.Values{"target": {nest(100_000)}, "from": {"-1h"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "functions nest too deeply: more than 10 levels") {
		t.Fatalf("%d %.300s", code, body)
	}
	if len(body) > errBodyMax+1 {
		t.Errorf("error body of %d bytes", len(body))
	}
	if cr.lists.Load() != lists {
		t.Errorf("the store was asked about a target refused for its depth")
	}
	if m := metricsText(set); !strings.Contains(m, `consthash_query_api_refused_total{reason="depth"} 1`) {
		t.Errorf("/metrics:\n%s", m)
	}
}

// TestErrorBodiesShort checks no error answer repeats a long request.
func TestErrorBodiesShort(t *testing.T) {
	srv, _, _ := limitsAPI(t, 1, Config{})
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		code       int
	}{
		{"unparsable target", "/render", url.Values{"target": {"a.b)" + long}}, 400},
		{"unknown function", "/render", url.Values{"target": {long + "(a.s0)"}}, 400},
		{"long string argument", "/render", url.Values{"target": {`aliasSub(a.s0,"(` + long + `)")`}}, 400},
		{"bad from", "/render", url.Values{"target": {"a.s0"}, "from": {long}}, 400},
		{"bad format", "/render", url.Values{"target": {"a.s0"}, "format": {long}}, 400},
		{"jsonp", "/render", url.Values{"target": {"a.s0"}, "jsonp": {long}}, 400},
		{"find", "/metrics/find", url.Values{"query": {"a.*\xff" + long}}, 400}, // not UTF-8: no pattern
		{"tags", "/tags/findSeries", url.Values{"expr": {long}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, srv, tc.path, tc.form)
			if code != tc.code {
				t.Fatalf("%d, want %d: %.300s", code, tc.code, body)
			}
			if len(body) > 600 {
				t.Fatalf("error body of %d bytes: %.300s", len(body), body)
			}
		})
	}
}

// TestPointsInFlightBounded fills the shared pool as other requests would:
// a render that does not fit waits until its query timeout and is answered
// 503; one that is waiting when points come back is served.
func TestPointsInFlightBounded(t *testing.T) {
	srv, _, set, a := limitsAPIOf(t, 2, Config{MaxRequestPoints: 2000, MaxPointsInFlight: 2500, QueryTimeout: 300 * time.Millisecond})
	others := budget.NewRequest(a.pool, 2000)
	defer others.Release()
	if err := others.Charge(context.Background(), 2000); err != nil {
		t.Fatal(err)
	}
	// A series over a day is 1440 points, charged before it is read: with
	// what the request reserves for computing and answering, 2000.
	code, body := post(t, srv, "/render", url.Values{"target": {"a.s0"}, "from": {"-24h"}})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "max_points_in_flight 2500") {
		t.Fatalf("%d %.300s", code, body)
	}
	if code, body := post(t, srv, "/render", url.Values{"target": {"a.s0"}, "from": {"-1h"}}); code != http.StatusOK {
		t.Fatalf("60 points fit: %d %.300s", code, body)
	}
	more := budget.NewRequest(a.pool, 400)
	defer more.Release()
	if err := more.Charge(context.Background(), 400); err != nil { // 2400 of 2500 held
		t.Fatal(err)
	}
	type answer struct {
		code int
		body string
	}
	waiting := make(chan answer, 1)
	go func() {
		code, body := post(t, srv, "/render", url.Values{"target": {"a.s1"}, "from": {"-2h"}}) // 120 points
		waiting <- answer{code, body}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for a.pool.Waits() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the render never waited")
		}
		time.Sleep(time.Millisecond)
	}
	others.Release()
	more.Release()
	if w := <-waiting; w.code != http.StatusOK {
		t.Fatalf("after the points came back: %d %.300s", w.code, w.body)
	}
	m := metricsText(set)
	for _, want := range []string{`consthash_query_api_refused_total{reason="busy"} 1`, "consthash_query_api_points_in_flight 0",
		"consthash_query_api_points_waits_total 2"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
}

// TestCyaniteBudget checks cyanite's /metrics reads under the same budget,
// its answer (a boxed value per point, encoded whole) charged too: 20
// series of 60 points fit as read (1,200) but not with their answer.
func TestCyaniteBudget(t *testing.T) {
	srv, _, set := limitsAPI(t, 20, Config{MaxRequestPoints: 10_000})
	from := fmt.Sprint(now - 3600)
	if code, body := post(t, srv, "/metrics", url.Values{"path": {"a.s0"}, "from": {from}}); code != http.StatusOK {
		t.Fatalf("one series: %d %.300s", code, body)
	}
	code, body := post(t, srv, "/metrics", url.Values{"path": {"a.*"}, "from": {from}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"error":"path \"a.*\": the request would hold more than 10000 points`) {
		t.Fatalf("%d %.300s", code, body)
	}
	if m := metricsText(set); !strings.Contains(m, `consthash_query_api_refused_total{reason="points"} 1`) {
		t.Errorf("/metrics:\n%s", m)
	}
}
