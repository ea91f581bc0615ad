package api

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
	"syscall"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/query-api/internal/fn"
	"github.com/consthash/consthash/services/query-api/internal/pyread"
)

const now = 1700003640 // on a minute: stored bins start on multiples of their step

func testAPI(t testing.TB) *httptest.Server {
	t.Helper()
	s := openStore(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "q.db")})
	ctx := context.Background()
	res, _ := rollup.ParseTimes([]string{"60s:24h", "10m:30d"})
	// Two producers wrote stats_counts.app.req for the same minutes: reads add them.
	for _, src := range []string{"agg-a", "agg-b"} {
		b := &rollup.Batch{Source: src, Resolution: res[0]}
		for m := int64(0); m < 60; m++ {
			if m == 30 {
				continue // a gap: null
			}
			var p rollup.Point
			p.Path, p.Time = "stats_counts.app.req", now-3600+m*60
			p.Add(float64(m), 1)
			b.Points = append(b.Points, p)
			var g rollup.Point
			g.Path, g.Time = "servers.web01.cpu;dc=eu", now-3600+m*60
			g.Add(2, 1)
			g.Add(4, 2)
			b.Points = append(b.Points, g)
		}
		if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	a := New(Config{Resolutions: res, MaxSeries: 100, MaxPoints: 100000, MaxFind: 1000, QueryTimeout: 10 * time.Second,
		Now: func() time.Time { return time.Unix(now, 0) }, BasePath: "/graphite/"}, s.(store.Reader), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t testing.TB, srv *httptest.Server, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openStore opens and initialises a store, closed when the test ends.
func openStore(tb testing.TB, cfg store.Config) store.Store {
	tb.Helper()
	s, err := store.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Init(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// getJSON GETs path and decodes its JSON answer into v; it returns the
// status.
func getJSON(t *testing.T, srv *httptest.Server, path string, v any) int {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
	return resp.StatusCode
}

type renderedSeries struct {
	Target     string
	Tags       map[string]string
	Datapoints [][2]*float64
}

type rendered []renderedSeries

// TestRenderAsGrafanaAsks replays the request Grafana's graphite datasource
// sends: a POST form with target, from, until, format=json and maxDataPoints.
func TestRenderAsGrafanaAsks(t *testing.T) {
	srv := testAPI(t)
	code, body := post(t, srv, "/render", url.Values{"target": {"stats_counts.app.*"}, "from": {"-1h"}, "until": {"now"},
		"format": {"json"}, "maxDataPoints": {"1000"}})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var r rendered
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || r[0].Target != "stats_counts.app.req" || r[0].Tags["name"] != "stats_counts.app.req" {
		t.Fatalf("%s", body)
	}
	dps := r[0].Datapoints
	if len(dps) != 60 {
		t.Fatalf("%d datapoints, want 60", len(dps))
	}
	// Whisper's window starts one step after from: the first value is minute 1, summed over both producers.
	if *dps[0][1] != now-3600+60 || *dps[0][0] != 2 {
		t.Errorf("first datapoint %v %v", *dps[0][0], *dps[0][1])
	}
	if dps[29][0] != nil {
		t.Errorf("the gap is %v, want null", *dps[29][0])
	}
	// maxDataPoints consolidates with graphite's algorithm.
	code, body = post(t, srv, "/render", url.Values{"target[]": {"servers.*.cpu"}, "from": {"-1h"}, "maxDataPoints": {"20"}})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	r = nil
	json.Unmarshal([]byte(body), &r)
	if len(r) != 1 || r[0].Tags["dc"] != "eu" || len(r[0].Datapoints) > 21 || *r[0].Datapoints[0][0] != 3 {
		t.Fatalf("consolidated: %s", body)
	}
}

func TestRenderErrors(t *testing.T) {
	srv := testAPI(t)
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{}, "no target"},
		{url.Values{"target": {"a.b"}, "from": {"-1m"}}, "invalid from"},
		{url.Values{"target": {"a.b"}, "until": {"bogus"}}, "invalid until"},
		{url.Values{"target": {"noSuchFunction(\"a\")"}}, "noSuchFunction() is not implemented yet"},
		{url.Values{"target": {"sumSeries(a.*"}}, "missing ')'"},
		{url.Values{"target": {"scale(a.*,\"x\")"}}, "want a number"},
		{url.Values{"target": {"a.b"}, "from": {"-1h"}, "until": {"-60min"}}, "must be before"},
		{url.Values{"target": {"a.b"}, "format": {"pdf"}}, "not supported"},
		{url.Values{"target": {"scale(a.*,fator=2)"}}, "unknown keyword argument fator"},
		{url.Values{"target": {"scale(a.*,None)"}}, "want a number, got a None"},
		{url.Values{"target": {"sumSeries(seriesLists=a.*)"}}, "cannot be given by keyword"},
		{url.Values{"target": {"scale(a.*,2,factor=3)"}}, "factor given twice"},
	} {
		code, body := post(t, srv, "/render", tc.form)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%v: %d %q, want 400 with %q", tc.form, code, body, tc.want)
		}
	}
}

func TestFindExpandVersion(t *testing.T) {
	srv := testAPI(t)
	code, body := post(t, srv, "/metrics/find", url.Values{"query": {"*"}})
	var tree []map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &tree) != nil || len(tree) != 2 {
		t.Fatalf("find: %d %s", code, body)
	}
	if tree[0]["id"] != "servers" || tree[0]["leaf"].(float64) != 0 || tree[0]["expandable"].(float64) != 1 {
		t.Errorf("treejson %v", tree[0])
	}
	code, body = post(t, srv, "/metrics/find", url.Values{"query": {"stats_counts.app.*"}, "format": {"completer"}})
	if code != 200 || !strings.Contains(body, `"path":"stats_counts.app.req"`) || !strings.Contains(body, `"is_leaf":"1"`) {
		t.Errorf("completer: %d %s", code, body)
	}
	resp, _ := http.Get(srv.URL + "/metrics/expand?query=servers.*&query=stats_counts.*")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"results":["servers.web01","stats_counts.app"]`) {
		t.Errorf("expand: %s", b)
	}
	resp, _ = http.Get(srv.URL + "/metrics/index.json")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `["servers.web01.cpu;dc=eu","stats_counts.app.req"]` {
		t.Errorf("index: %s", b)
	}
	resp, _ = http.Get(srv.URL + "/version")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != Version {
		t.Errorf("version %q", b)
	}
	resp, _ = http.Get(srv.URL + "/render?target=stats_counts.app.req&from=-10min&format=csv")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "stats_counts.app.req,2023-11-14 23:05:00,102\n") {
		t.Errorf("csv: %s", b)
	}
}

// TestGrafanaDatasourceChecks covers what Grafana's graphite datasource asks
// besides /render and /metrics/find: "Save & test" renders
// constantLine(100); the query editor reads /functions (and offers what it
// lists), and its tag editor asks /tags, /tags/<tag> and the autoComplete
// endpoints, with expr repeated as Grafana's HTTP client sends a list.
func TestGrafanaDatasourceChecks(t *testing.T) {
	srv := testAPI(t)
	code, body := post(t, srv, "/render", url.Values{"target": {"constantLine(100)"}, "from": {"-1h"}, "until": {"now"},
		"format": {"json"}, "maxDataPoints": {"300"}})
	var r rendered
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r) != 1 || r[0].Target != "100.0" ||
		len(r[0].Datapoints) != 3 || *r[0].Datapoints[0][0] != 100 {
		t.Fatalf("constantLine: %d %s", code, body)
	}
	get := func(path string, v any) int { t.Helper(); return getJSON(t, srv, path, v) }
	// The schema Grafana's parseFuncDefs reads: name, group, description and
	// params with name and type, for every function query-api implements.
	var defs map[string]struct {
		Name, Group, Description string
		Params                   []struct {
			Name, Type string
			Required   bool
		}
	}
	functions := fn.New().Names()
	if code := get("/functions", &defs); code != 200 || len(defs) != len(functions) {
		t.Fatalf("/functions: %d, %d functions, implemented %d", code, len(defs), len(functions))
	}
	for _, name := range functions {
		d := defs[name]
		if d.Name != name || d.Group == "" || d.Description == "" || len(d.Params) == 0 && name != "identity" && name != "time" {
			t.Errorf("/functions %s: %+v", name, d)
		}
	}
	if p := defs["movingAverage"].Params; len(p) != 3 || p[1].Name != "windowSize" || p[1].Type != "intOrInterval" || !p[1].Required {
		t.Errorf("movingAverage params %+v", p)
	}
	var one map[string]any
	if code := get("/functions/aliasSub", &one); code != 200 || one["name"] != "aliasSub" {
		t.Errorf("/functions/aliasSub: %d %v", code, one)
	}
	if code := get("/functions/noSuchFunction", &one); code != 404 || one["error"] != "Function not found: noSuchFunction" {
		t.Errorf("/functions/<not implemented>: %d %v", code, one)
	}
	var grouped map[string]map[string]json.RawMessage
	if code := get("/functions?grouped=true", &grouped); code != 200 || grouped["Alias"]["aliasByNode"] == nil {
		t.Errorf("/functions?grouped=true: %d %v", code, grouped)
	}

	var tags []map[string]string
	if code := get("/tags?filter=&from=-6h&until=now", &tags); code != 200 || len(tags) != 2 || tags[0]["tag"] != "dc" || tags[1]["tag"] != "name" {
		t.Errorf("/tags: %d %v", code, tags)
	}
	var values struct {
		Tag    string
		Values []struct {
			Value string
			Count int
		}
	}
	if code := get("/tags/dc?filter=e", &values); code != 200 || values.Tag != "dc" || len(values.Values) != 1 || values.Values[0].Value != "eu" || values.Values[0].Count != 1 {
		t.Errorf("/tags/dc: %d %+v", code, values)
	}
	var names []string
	if code := get("/tags/autoComplete/tags?expr=name%3Dservers.web01.cpu&tagPrefix=&limit=100", &names); code != 200 || !slices.Equal(names, []string{"dc"}) {
		t.Errorf("autoComplete/tags: %d %v", code, names)
	}
	if code := get("/tags/autoComplete/values?expr=name%3D~servers.*&expr=dc!%3Dus&tag=dc&valuePrefix=e&limit=100", &names); code != 200 || !slices.Equal(names, []string{"eu"}) {
		t.Errorf("autoComplete/values: %d %v", code, names)
	}
	code, body = post(t, srv, "/render", url.Values{"target": {`aliasSub(seriesByTag('dc=eu'), '(.*)', '\1')`}, "from": {"-1h"},
		"until": {"now"}, "format": {"json"}, "maxDataPoints": {"100"}})
	r = nil
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r) != 1 || r[0].Target != "servers.web01.cpu;dc=eu" || r[0].Tags["dc"] != "eu" {
		t.Errorf("seriesByTag through Grafana's aliasSub: %d %s", code, body)
	}
}

// BenchmarkRenderFunctions renders an hour of minutely points through a
// nested function call, as a Grafana panel does.
func BenchmarkRenderFunctions(b *testing.B) {
	srv := testAPI(b)
	form := url.Values{"target": {`aliasByNode(movingAverage(sumSeries(stats_counts.app.*),5),1)`}, "from": {"-1h"}, "format": {"json"}}
	for b.Loop() {
		if code, body := post(b, srv, "/render", form); code != 200 {
			b.Fatalf("%d %s", code, body)
		}
	}
}

// TestPickleAndMsgpackAsPythonReadsThem asks /render and /metrics/find for
// format=pickle and msgpack and reads the answers with Python's own pickle
// and msgpack, as graphite-web's clients (its remote finder) do.
func TestPickleAndMsgpackAsPythonReadsThem(t *testing.T) {
	srv := testAPI(t)
	read := func(path string, form url.Values) []map[string]any {
		t.Helper()
		code, body := post(t, srv, path, form)
		if code != 200 {
			t.Fatalf("%s %v: %d %s", path, form, code, body)
		}
		out := pyread.JSON(t, form.Get("format"), []byte(body))
		var v []map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return v
	}
	for _, format := range []string{"pickle", "msgpack"} {
		v := read("/render", url.Values{"target": {"stats_counts.app.*"}, "from": {"-1h"}, "format": {format}})
		if len(v) != 1 || v[0]["name"] != "stats_counts.app.req" || v[0]["step"] != 60.0 || v[0]["consolidationFunc"] != "average" ||
			v[0]["pathExpression"] != "stats_counts.app.*" || v[0]["end"].(float64)-v[0]["start"].(float64) != 3600 {
			t.Fatalf("%s render: %v", format, v)
		}
		values := v[0]["values"].([]any)
		if len(values) != 60 || values[0] != 2.0 || values[29] != nil {
			t.Errorf("%s render values: %v", format, values)
		}
		v = read("/metrics/find", url.Values{"query": {"stats_counts.app.*"}, "format": {format}})
		if len(v) != 1 || v[0]["path"] != "stats_counts.app.req" || v[0]["is_leaf"] != true || v[0]["isLeaf"] != true || len(v[0]["intervals"].([]any)) != 1 {
			t.Errorf("%s find: %v", format, v)
		}
	}
}

// TestCyaniteAndSeedAPIs replays what graphite-cyanite's finder asks
// (GET /paths?query=, GET /metrics?path=&from=&to=) and the seed's read API
// under its base path (find, expand, metrics).
func TestCyaniteAndSeedAPIs(t *testing.T) {
	srv := testAPI(t)
	get := func(path string, v any) int { t.Helper(); return getJSON(t, srv, path, v) }
	var paths []struct {
		Path  string
		Leaf  bool
		Depth int
	}
	if code := get("/paths?query=stats_counts.*", &paths); code != 200 || len(paths) != 1 || paths[0].Path != "stats_counts.app" || paths[0].Leaf || paths[0].Depth != 2 {
		t.Errorf("/paths branch: %d %+v", code, paths)
	}
	if code := get("/paths?query=stats_counts.app.*", &paths); code != 200 || len(paths) != 1 || !paths[0].Leaf {
		t.Errorf("/paths leaf: %d %+v", code, paths)
	}
	var m struct {
		From, To, Step int64
		Series         map[string][]*float64
	}
	q := fmt.Sprintf("/metrics?path=stats_counts.app.req&path=servers.web01.cpu%%3Bdc%%3Deu&from=%d&to=%d", now-3600, now)
	if code := get(q, &m); code != 200 || m.Step != 60 || m.From != now-3600+60 || m.To != now+60 || len(m.Series) != 2 {
		t.Fatalf("/metrics: %d %+v", code, m)
	}
	if vs := m.Series["stats_counts.app.req"]; len(vs) != 60 || *vs[0] != 2 || vs[29] != nil {
		t.Errorf("/metrics values %v", vs)
	}
	var e map[string]string
	if code := get("/metrics?path=x", &e); code != 400 || e["error"] == "" {
		t.Errorf("/metrics without from: %d %v", code, e)
	}

	var found []map[string]any
	if code := get("/graphite/find?query=servers.*.*", &found); code != 200 || len(found) != 1 || found[0]["path"] != "servers.web01.cpu;dc=eu" ||
		found[0]["leaf"] != 1.0 || found[0]["text"] != "cpu;dc=eu" {
		t.Errorf("seed find: %d %v", code, found)
	}
	var exp map[string][]string
	if code := get("/graphite/expand?query=stats_counts.*.*", &exp); code != 200 || !slices.Equal(exp["results"], []string{"stats_counts.app.req"}) {
		t.Errorf("seed expand: %d %v", code, exp)
	}
	var sm struct {
		Step   int64
		Series map[string]struct {
			Target string
			Data   [][2]*float64
		}
	}
	if code := get("/graphite/metrics?target=stats_counts.app.*&from=-1h&to=now", &sm); code != 200 || sm.Step != 60 {
		t.Fatalf("seed metrics: %d %+v", code, sm)
	}
	if d := sm.Series["stats_counts.app.req"].Data; len(d) != 60 || *d[0][0] != 2 || *d[0][1] != float64(now-3600+60) || d[29][0] != nil {
		t.Errorf("seed metrics data %v", d)
	}
}

// BenchmarkRenderDay is bench/query.sh's render_day on SQLite and Cassandra:
// 100 series of one day at 10 s (864,000 points), consolidated to
// maxDataPoints=1000.
func BenchmarkRenderDay(b *testing.B) { benchRenderStores(b, "-24h") }

// BenchmarkRenderHour is bench/query.sh's render_hour: the same series over
// the last hour.
func BenchmarkRenderHour(b *testing.B) { benchRenderStores(b, "-1h") }

func benchRenderStores(b *testing.B, from string) {
	b.Run("sqlite", func(b *testing.B) {
		benchRenderDay(b, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(b.TempDir(), "day.db"), Options: map[string]string{"connections": "8"}}, from)
	})
	b.Run("cassandra", func(b *testing.B) {
		hosts := testenv.CassandraHosts(b)
		_, ks := testenv.Cassandra(b)
		benchRenderDay(b, store.Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}}, from)
	})
}

func benchRenderDay(b *testing.B, cfg store.Config, from string) {
	s := openStore(b, cfg)
	ctx := context.Background()
	res, _ := rollup.ParseTimes([]string{"10s:2d", "1m:30d"})
	for k := range 100 {
		batch := &rollup.Batch{Source: "bench", Resolution: res[0]}
		for i := range int64(8640) {
			var p rollup.Point
			p.Path, p.Time = fmt.Sprintf("bench.render.s%02d", k), now-86400+10+i*10
			p.Add(float64((i*37+int64(k)*11)%1000)/10, 1)
			batch.Points = append(batch.Points, p)
		}
		if err := s.Write(ctx, []*rollup.Batch{batch}); err != nil {
			b.Fatal(err)
		}
	}
	a := New(Config{Resolutions: res, MaxSeries: 1000, MaxPoints: 10_000_000, MaxFind: 100000, QueryTimeout: time.Minute,
		Now: func() time.Time { return time.Unix(now, 0) }}, s.(store.Reader), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	form := url.Values{"target": {"bench.render.*"}, "from": {from}, "maxDataPoints": {"1000"}, "format": {"json"}}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if code, body := post(b, srv, "/render", form); code != 200 {
			b.Fatalf("%d %s", code, body)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkRenderWide is bench/query.sh's render_wide on SQLite: 1,000
// series of 7 days at 1 min (10.08 million points, stored as whole blocks the
// way the writer persists them), consolidated to maxDataPoints=1000.
func BenchmarkRenderWide(b *testing.B) {
	s := openStore(b, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(b.TempDir(), "wide.db"), Options: map[string]string{"connections": "8"}})
	ctx := context.Background()
	res, _ := rollup.ParseTimes([]string{"10s:2d", "1m:30d"})
	const points = 7 * 1440
	first := int64(now - points*60)
	var rows []store.BlockRow
	for k := range 1000 {
		path := fmt.Sprintf("bench.wide.w%04d", k)
		var pts []rollup.Point
		flush := func() {
			if len(pts) == 0 {
				return
			}
			data, err := block.Append(nil, 60, pts)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, store.BlockRow{BlockKey: store.BlockKey{Path: path, Res: res[1], Source: "bench", Span: store.SpanOf(res[1], pts[0].Time)}, Data: data, Version: 1})
			pts = pts[:0]
		}
		for i := range int64(points) {
			t := first + i*60
			if len(pts) > 0 && store.SpanOf(res[1], t) != store.SpanOf(res[1], pts[0].Time) {
				flush()
			}
			var p rollup.Point
			p.Time = t
			p.Add(float64((i*37+int64(k)*11)%1000)/10, t*1e9+int64(i*7919%10_000_000_000))
			pts = append(pts, p)
		}
		flush()
		if len(rows) >= 2000 || k == 999 {
			if err := s.(store.BlockStore).WriteBlocks(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	a := New(Config{Resolutions: res, MaxSeries: 10000, MaxPoints: 10_000_000, MaxFind: 100000, QueryTimeout: time.Minute,
		MaxRequestPoints: 20_000_000, Now: func() time.Time { return time.Unix(now, 0) }}, s.(store.Reader), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	form := url.Values{"target": {"bench.wide.*"}, "from": {"-7d"}, "maxDataPoints": {"1000"}, "format": {"json"}}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if code, body := post(b, srv, "/render", form); code != 200 {
			b.Fatalf("%d %s", code, body)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user and system time so far: on a loaded machine
// the CPU a request takes says more than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
