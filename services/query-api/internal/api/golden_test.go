package api

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/fn"
	"github.com/consthash/consthash/services/query-api/internal/pathindex"
)

// The graphite-web golden vectors: testdata/graphite-web-golden holds a data
// set written to whisper and the /render answers of graphite-web 1.1.8 for
// it, produced by regen.sh from the Debian package.

const goldenDir = "../../testdata/graphite-web-golden"

type goldenSeries struct {
	Path     string
	Archives [][2]int64
	Points   [][2]float64
}

func readGzip(t *testing.T, name string, each func(dec *json.Decoder) error) {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := each(json.NewDecoder(zr)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// goldenParams reads a request's params, whose values are a string or a
// list of strings.
func goldenParams(raw map[string]json.RawMessage) (url.Values, error) {
	v := url.Values{}
	for k, m := range raw {
		var list []string
		if err := json.Unmarshal(m, &list); err != nil {
			var s string
			if err := json.Unmarshal(m, &s); err != nil {
				return nil, fmt.Errorf("param %s: %v", k, err)
			}
			list = []string{s}
		}
		v[k] = list
	}
	return v, nil
}

// TestRenderMatchesGraphiteWeb replays graphite-web's answers: path patterns
// (globs, alternatives, character classes, several targets) and function
// calls, nested, over series of one or more steps, whisper's range edges,
// relative and absolute times, maxDataPoints consolidation and noNullPoints,
// over series with gaps and nulls. Series are stored as consthash's writer
// stores them (one rollup point per step at the finest resolution) and must
// come back with graphite-web's names, tags, timestamps and values.
//
// Left out, as consthash stores every path at every resolution while whisper
// keeps a per-file schema: series that exist only at 60s in the data set,
// and requests that reach past the 10s archive's 6h (whisper answers those
// from its own roll-up of the points).
func TestRenderMatchesGraphiteWeb(t *testing.T) {
	eachGoldenStore(t, testRenderMatchesGraphiteWeb)
}

// eachGoldenStore runs a golden test over SQLite and over Cassandra.
func eachGoldenStore(t *testing.T, test func(t *testing.T, g *golden)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, newGolden(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "g.db")}))
	})
	t.Run("cassandra", func(t *testing.T) {
		hosts := testenv.CassandraHosts(t)
		_, ks := testenv.Cassandra(t)
		test(t, newGolden(t, store.Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}}))
	})
}

// golden is the data set stored as consthash stores it, and query-api
// serving it.
type golden struct {
	now        int64
	coarseOnly map[string]bool // paths (and their names) the data set keeps only at 60s
	srv        *httptest.Server
}

// newGolden stores the data set as consthash's writer stores it: one rollup
// point per step at the finest resolution the series has in whisper.
func newGolden(t *testing.T, cfg store.Config) *golden {
	var ds struct {
		Now    int64
		Series []goldenSeries
	}
	readGzip(t, "dataset.json.gz", func(dec *json.Decoder) error { return dec.Decode(&ds) })
	s := openStore(t, cfg)
	ctx := context.Background()
	res, err := rollup.ParseTimes([]string{"10s:6h", "60s:168h"})
	if err != nil {
		t.Fatal(err)
	}
	g := &golden{now: ds.Now, coarseOnly: map[string]bool{}}
	fine := &rollup.Batch{Source: "golden", Resolution: res[0]}
	coarse := &rollup.Batch{Source: "golden", Resolution: res[1]}
	for _, gs := range ds.Series {
		b := fine
		if gs.Archives[0][0] != 10 {
			b = coarse
			g.coarseOnly[gs.Path] = true
			g.coarseOnly[strings.SplitN(gs.Path, ";", 2)[0]] = true // its name, as groupByTags names groups
		}
		for _, p := range gs.Points {
			var rp rollup.Point
			rp.Path, rp.Time = gs.Path, int64(p[0])
			rp.Add(p[1], 1)
			b.Points = append(b.Points, rp)
		}
	}
	// The empty series exists in graphite (a whisper file with no points);
	// consthash knows a path once it has a point, so it gets one outside every
	// window the requests read.
	var empty rollup.Point
	empty.Path, empty.Time = "stats.empty.series", ds.Now-5*3600
	empty.Add(0, 1)
	fine.Points = append(fine.Points, empty)
	if err := s.Write(ctx, []*rollup.Batch{fine, coarse}); err != nil {
		t.Fatal(err)
	}
	// Finds and globs go through the path index, as query-api's default.
	index := pathindex.New(s.(store.Reader), 1_000_000, 16, metrics.NewSet(), slog.New(slog.DiscardHandler))
	if err := index.Load(ctx); err != nil || index.State() != pathindex.Ready {
		t.Fatalf("loading the path index: %v (state %s)", err, index.State())
	}
	a := New(Config{Resolutions: res, MaxSeries: 1000, MaxPoints: 1000000, MaxFind: 10000, QueryTimeout: 10 * time.Second,
		Now: func() time.Time { return time.Unix(ds.Now, 0) }}, index, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func testRenderMatchesGraphiteWeb(t *testing.T, g *golden) {
	var reqs []struct {
		Params map[string]json.RawMessage
		Status int
		Body   json.RawMessage
	}
	readGzip(t, "render.jsonl.gz", func(dec *json.Decoder) error {
		for dec.More() {
			var r struct {
				Params map[string]json.RawMessage
				Status int
				Body   json.RawMessage
			}
			if err := dec.Decode(&r); err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
		return nil
	})
	srv, coarseOnly := g.srv, g.coarseOnly
	compared, unsupported := 0, 0
	missing := map[string]bool{}
	proven := map[string]int{} // compared requests by the functions they call
	someFiltered := false
	for _, r := range reqs {
		form, err := goldenParams(r.Params)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 200 || !goldenServed(form, g.now) || selectsAny(form["target"], coarseOnly) || tagsSelectAny(form["target"], coarseOnly) {
			continue
		}
		var want rendered
		if err := json.Unmarshal(r.Body, &want); err != nil {
			t.Fatalf("%s: golden body: %v", form.Encode(), err)
		}
		if slices.ContainsFunc(want, func(s renderedSeries) bool { return coarseOnly[strings.SplitN(s.Target, ";", 2)[0]] }) {
			continue // a tag query that selects a series the data set keeps only at 60s
		}
		form.Set("format", "json")
		// One subtest per request, named by the function it calls first:
		// -run 'TestRenderMatchesGraphiteWeb/sqlite/holtWintersForecast'
		// replays that function's requests alone.
		filtered := true
		t.Run(subtestName(form["target"]), func(t *testing.T) {
			filtered = false
			code, body := post(t, srv, "/render", form)
			name := form.Encode()
			if code == 400 && strings.Contains(body, "is not implemented yet") {
				unsupported++
				if m := missingFunc.FindStringSubmatch(body); m != nil {
					missing[m[1]] = true
				}
				return
			}
			if code != 200 {
				t.Errorf("%s: status %d %s, graphite-web 200", name, code, body)
				return
			}
			var got rendered
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			compared++
			for _, target := range form["target"] {
				if e, err := expr.Parse(target); err == nil {
					for _, f := range callsOf(e) {
						proven[f]++
					}
				}
			}
			if diff := diffRendered(got, want); diff != "" {
				t.Errorf("%s: %s", name, diff)
			}
		})
		someFiltered = someFiltered || filtered
	}
	if someFiltered {
		return // -run chose some requests: the counts below are of all
	}
	if compared < 460 {
		t.Fatalf("compared %d requests with graphite-web's answers; the golden set gave 460 with the functions of package fn", compared)
	}
	// Every function implemented is proven by graphite-web's own answers.
	proven["events"]++ // by TestEventsMatchGraphiteWeb, over graphite-web's events
	// Random by definition: no answer of graphite-web's can be compared;
	// fn's TestRandomWalk checks what the walk promises instead.
	proven["randomWalk"]++
	proven["randomWalkFunction"]++
	for _, f := range fn.New().Names() {
		if proven[f] == 0 {
			t.Errorf("%s: no golden request uses it", f)
		}
	}
	t.Logf("%d /render answers equal graphite-web 1.1.8's; %d use functions not implemented yet: %v",
		compared, unsupported, slices.Sorted(maps.Keys(missing)))
}

// goldenServed reports whether a golden request is one query-api can
// answer alike: reading the 10s archive, with a target.
func goldenServed(form url.Values, now int64) bool {
	for _, t := range form["target"] {
		if t == "" || strings.Count(t, "(") != strings.Count(t, ")") {
			return false // graphite-web answers [], query-api a 400 that says why
		}
	}
	at := func(k string) (int64, bool) {
		var v int64
		_, err := fmt.Sscanf(form.Get(k), "%d", &v)
		return v, err == nil && !strings.ContainsAny(form.Get(k), "_:-")
	}
	if from, ok := at("from"); ok && now-from > 6*3600 {
		return false
	}
	if strings.HasSuffix(form.Get("from"), "20231114") && !strings.Contains(form.Get("from"), ":") {
		return false // midnight: beyond the 10s archive
	}
	return true
}

var missingFunc = regexp.MustCompile(`graphite function (.+?)\(\) is not implemented yet`)

// selectsAny reports whether a target's path patterns could select one of
// paths.
func selectsAny(targets []string, paths map[string]bool) bool {
	for _, t := range targets {
		e, err := expr.Parse(t)
		if err != nil {
			continue
		}
		for _, pattern := range pathsOf(e) {
			re := regexp.MustCompile("^" + globRE(pattern) + "$")
			for p := range paths {
				if re.MatchString(p) {
					return true
				}
			}
		}
	}
	return false
}

// tagsSelectAny reports whether a seriesByTag call in the targets selects
// one of paths.
func tagsSelectAny(targets []string, paths map[string]bool) bool {
	for _, t := range targets {
		for _, call := range seriesByTagCall.FindAllStringSubmatch(t, -1) {
			var ms []tagMatcher
			for _, q := range strings.Split(call[1], ",") {
				m, err := parseTagExpr(strings.Trim(strings.TrimSpace(q), `"'`))
				if err != nil {
					return true
				}
				ms = append(ms, m)
			}
			for p := range paths {
				if !slices.ContainsFunc(ms, func(m tagMatcher) bool { return !m.Match(tagsOf(p)) }) {
					return true
				}
			}
		}
	}
	return false
}

var seriesByTagCall = regexp.MustCompile(`seriesByTag\(([^)]*)\)`)

// subtestName names a request's subtest by the function its first target
// calls first ("path" for a plain path pattern).
func subtestName(targets []string) string {
	if len(targets) > 0 {
		if e, err := expr.Parse(targets[0]); err == nil {
			if calls := callsOf(e); len(calls) > 0 {
				return calls[0]
			}
		}
	}
	return "path"
}

// callsOf lists the functions an expression calls.
func callsOf(e *expr.Expr) []string {
	var out []string
	if e.Kind == expr.Call {
		out = append(out, e.Text)
	}
	for _, a := range e.Args {
		out = append(out, callsOf(a)...)
	}
	for _, a := range e.Kwargs {
		out = append(out, callsOf(a)...)
	}
	return out
}

func pathsOf(e *expr.Expr) []string {
	if e.Kind == expr.Path {
		return []string{e.Text}
	}
	var out []string
	for _, a := range e.Args {
		out = append(out, pathsOf(a)...)
	}
	return out
}

func globRE(g string) string {
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(`[^.]*`)
		case '?':
			b.WriteString(`[^.]`)
		case '{':
			b.WriteString(`(`)
		case '}':
			b.WriteString(`)`)
		case ',':
			b.WriteString(`|`)
		case '[', ']', '-':
			b.WriteByte(c)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

func diffRendered(got, want rendered) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d series, graphite-web %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Target != w.Target {
			return fmt.Sprintf("series %d is %q, graphite-web %q", i, g.Target, w.Target)
		}
		if !maps.Equal(g.Tags, w.Tags) {
			return fmt.Sprintf("%s: tags %v, graphite-web %v", w.Target, g.Tags, w.Tags)
		}
		if len(g.Datapoints) != len(w.Datapoints) {
			return fmt.Sprintf("%s: %d datapoints, graphite-web %d", w.Target, len(g.Datapoints), len(w.Datapoints))
		}
		for j := range w.Datapoints {
			gp, wp := g.Datapoints[j], w.Datapoints[j]
			if *gp[1] != *wp[1] {
				return fmt.Sprintf("%s[%d]: time %v, graphite-web %v", w.Target, j, *gp[1], *wp[1])
			}
			if (gp[0] == nil) != (wp[0] == nil) || gp[0] != nil && math.Abs(*gp[0]-*wp[0]) > 1e-9*math.Max(1, math.Abs(*wp[0])) {
				return fmt.Sprintf("%s[%d] at %v: value %s, graphite-web %s", w.Target, j, *wp[1], show(gp[0]), show(wp[0]))
			}
		}
	}
	return ""
}

func show(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}
