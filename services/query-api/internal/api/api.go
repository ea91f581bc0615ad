// Package api serves graphite-web 1.1's HTTP API over consthash storage:
// /render, /metrics/find, /metrics/expand, /metrics/index.json and /version.
// Targets are paths with globs and the graphite functions of package fn;
// any other function is answered with a 400 that says so.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/codec"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/find"
	"github.com/consthash/consthash/services/query-api/internal/fn"
	"github.com/consthash/consthash/services/query-api/internal/graph"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// Version is what /version answers: the graphite-web API level served.
const Version = "1.1.10"

// Config tunes the API.
type Config struct {
	Resolutions  []rollup.Resolution
	MaxSeries    int // series per request
	MaxPoints    int // datapoints per response
	MaxFind      int // paths per find
	QueryTimeout time.Duration
	Location     *time.Location
	Now          func() time.Time
	BasePath     string // the seed's find, expand and metrics live under it ("": not served)
	// ReadConcurrency is how many store queries (each a group of series)
	// one request runs at once (0: 8).
	ReadConcurrency int
	// Rules pick the column a series is read from, as the aggregators'
	// (nil: bus.DefaultRules).
	Rules []bus.Rule
	// MaxRequestPoints bounds the points one request reads and computes
	// (0: DefaultMaxRequestPoints).
	MaxRequestPoints int64
	// MaxPointsInFlight bounds the points all requests hold together
	// (0: DefaultMaxPointsInFlight).
	MaxPointsInFlight int64
	// MaxDepth is how deeply a target's calls may nest (0: expr.DefaultMaxDepth).
	MaxDepth int
	// Metrics is where the limits' counters are registered (nil: a set of
	// the API's own).
	Metrics *metrics.Set
	// Events is where graphite's events are kept (nil: the events API
	// answers 501).
	Events store.EventStore
	// MaxEvents bounds the events one answer holds (0: DefaultMaxEvents).
	MaxEvents int
	// EventsPostOpen lets anyone POST /events/ to the API's port, as
	// graphite-web does; else only the admin server takes them, with its
	// token.
	EventsPostOpen bool
}

// The defaults of the limits (docs/query-api.md).
const (
	DefaultMaxRequestPoints  = 10_000_000
	DefaultMaxPointsInFlight = 40_000_000
)

// API answers graphite requests.
type API struct {
	cfg    Config
	r      store.Reader
	log    *slog.Logger
	pool   *budget.Pool
	limits *limitStats
	lib    *fn.Library // the graphite functions
	events *eventStats
}

// New returns the API over a store reader.
func New(cfg Config, r store.Reader, log *slog.Logger) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ReadConcurrency <= 0 {
		cfg.ReadConcurrency = 8
	}
	if cfg.Rules == nil {
		cfg.Rules = bus.DefaultRules()
	}
	if cfg.MaxRequestPoints <= 0 {
		cfg.MaxRequestPoints = DefaultMaxRequestPoints
	}
	if cfg.MaxPointsInFlight <= 0 {
		cfg.MaxPointsInFlight = DefaultMaxPointsInFlight
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = expr.DefaultMaxDepth
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	pool := budget.NewPool(cfg.MaxPointsInFlight)
	return &API{cfg: cfg, r: r, log: log, pool: pool, limits: newLimitStats(cfg.Metrics, pool), lib: fn.New(), events: newEventStats(cfg.Metrics)}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("/render", a.render)
	mux.HandleFunc("/render/", a.render)
	mux.HandleFunc("/metrics/find", a.findHandler)
	mux.HandleFunc("/metrics/find/", a.findHandler)
	mux.HandleFunc("/metrics/expand", a.expand)
	mux.HandleFunc("/metrics/expand/", a.expand)
	mux.HandleFunc("/metrics/index.json", a.index)
	mux.HandleFunc("/_internal/capabilities/", a.capabilities)
	mux.HandleFunc("/events", a.eventsHandler)
	mux.HandleFunc("/events/", a.eventsHandler)
	a.registerTags(mux)
	a.registerCyanite(mux)
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, Version)
	})
	// Grafana's editor reads /functions: it then offers exactly the
	// functions query-api implements.
	mux.HandleFunc("/functions", a.functionsHandler)
	mux.HandleFunc("/functions/", a.functionsHandler)
}

// badRequest answers as graphite-web does: 400 with a plain-text reason.
func badRequest(w http.ResponseWriter, format string, args ...any) {
	textError(w, http.StatusBadRequest, format, args...)
}

// textError answers code with a plain-text reason of at most errBodyMax
// bytes, whatever the request held.
func textError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(code)
	fmt.Fprintln(w, clip(fmt.Sprintf(format, args...)))
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		textError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if cb := r.FormValue("jsonp"); cb != "" {
		if !validCallback(cb) {
			textError(w, http.StatusBadRequest, "invalid jsonp callback %s: want a JavaScript name of at most %d bytes", clipQuote(cb), maxCallback)
			return
		}
		w.Header().Set("Content-Type", "text/javascript")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%s(%s)", cb, b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// maxCallback is the longest jsonp callback answered.
const maxCallback = 128

// validCallback accepts a jsonp callback made of a JavaScript name and
// dots (jQuery's jQuery123_456 or a.b.c), short: the answer repeats it.
func validCallback(cb string) bool {
	if len(cb) > maxCallback {
		return false
	}
	for i := 0; i < len(cb); i++ {
		if c := cb[i]; !(isIdentByte(c) || c == '$' || c == '.' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isIdentByte(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	if a.cfg.QueryTimeout > 0 {
		return context.WithTimeout(r.Context(), a.cfg.QueryTimeout)
	}
	return context.WithCancel(r.Context())
}

func (a *API) location(r *http.Request) (*time.Location, error) {
	if tz := r.FormValue("tz"); tz != "" {
		return time.LoadLocation(tz)
	}
	return a.cfg.Location, nil
}

func (a *API) render(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") == formatV3 && a.renderProtoBody(w, r) {
		return // carbonapi's fetches, in the body
	}
	if err := r.ParseForm(); err != nil {
		badRequest(w, "cannot read the request: %v", err)
		return
	}
	targets := append(r.Form["target"], r.Form["target[]"]...)
	if len(targets) == 0 {
		badRequest(w, "no target: give target=<path pattern>")
		return
	}
	loc, err := a.location(r)
	if err != nil {
		badRequest(w, "invalid tz: %v", err)
		return
	}
	now := a.cfg.Now()
	from, until := now.Add(-24*time.Hour), now
	if v := r.FormValue("from"); v != "" {
		if from, err = gtime.Parse(v, now, loc); err != nil {
			badRequest(w, "invalid from: %v", err)
			return
		}
	}
	if v := r.FormValue("until"); v != "" {
		if until, err = gtime.Parse(v, now, loc); err != nil {
			badRequest(w, "invalid until: %v", err)
			return
		}
	}
	if until.Before(from) {
		from, until = until, from // graphite-web swaps a reversed range
	}
	if !from.Before(until) {
		badRequest(w, "from (%s) must be before until (%s)", from.Format(time.RFC3339), until.Format(time.RFC3339))
		return
	}
	format := r.FormValue("format")
	switch format {
	case "", "json", "csv", "raw", "pickle", "msgpack", "png", "svg", formatV3, formatV2, "protobuf":
	default:
		badRequest(w, "format %s is not supported: use json, csv, raw, pickle, msgpack, png, svg, carbonapi_v3_pb or carbonapi_v2_pb", clipQuote(format))
		return
	}
	var graphOpts graph.Options
	if format == "png" || format == "svg" {
		if graphOpts, err = graph.ParseOptions(r.Form, 0); err != nil {
			badRequest(w, "%v", err)
			return
		}
		graphOpts.Location = loc
	}
	if cb := r.FormValue("jsonp"); cb != "" && !validCallback(cb) {
		badRequest(w, "invalid jsonp callback %s: want a JavaScript name of at most %d bytes", clipQuote(cb), maxCallback)
		return
	}
	maxDataPoints := 0
	if v := r.FormValue("maxDataPoints"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 1 {
			badRequest(w, "invalid maxDataPoints %q", v)
			return
		}
		maxDataPoints = int(f)
	}
	xff := 0.0
	if v := r.FormValue("xFilesFactor"); v != "" {
		if xff, err = strconv.ParseFloat(v, 64); err != nil || xff < 0 || xff > 1 {
			badRequest(w, "invalid xFilesFactor %q: want 0 to 1", v)
			return
		}
	}
	// Parse every target, and refuse what would compute too much even if
	// each pattern selected one series, before anything is read.
	parsed := make([]*expr.Expr, 0, len(targets))
	texts := make([]string, 0, len(targets)) // the targets parsed, quoted for errors
	var bound int64
	for _, target := range targets {
		if strings.TrimSpace(target) == "" {
			continue // graphite-web answers an empty target with nothing
		}
		e, err := expr.ParseDepth(target, a.cfg.MaxDepth)
		if err != nil {
			if !a.limitError(w, r, "target "+clipQuote(target), err, false) {
				badRequest(w, "target %s: %v", clipQuote(target), err)
			}
			return
		}
		parsed, texts = append(parsed, e), append(texts, clipQuote(target))
		if bound += a.lowerBound(e, from, until, now); bound > a.cfg.MaxRequestPoints {
			a.limitError(w, r, "target "+clipQuote(target), &budget.ExceededError{Limit: a.cfg.MaxRequestPoints, Want: bound}, false)
			return
		}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	ctx, release := a.withBudget(ctx)
	defer release() // once the answer is written: its series are held until then
	var all []*series.Series
	fetched := 0
	// Read the targets' series at once (one question per writer shard for
	// their recent points), then evaluate them one after another.
	var patterns []string
	for _, e := range parsed {
		patterns = a.lib.Paths(e, patterns)
	}
	pre := a.prefetch(ctx, patterns, from, until, now)
	env := fn.Env{From: from, Until: until, Now: now, Location: loc, TagPaths: a.tagPaths, Events: a.eventTimes, Fetch: func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error) {
		list, err := a.read(ctx, pre, pattern, from, until, now)
		for _, s := range list {
			s.XFilesFactor = xff
		}
		if fetched += len(list); err == nil && a.cfg.MaxSeries > 0 && fetched > a.cfg.MaxSeries {
			return nil, errMaxSeries{a.cfg.MaxSeries}
		}
		return list, err
	}}
	for i, e := range parsed {
		list, err := a.lib.Eval(ctx, &env, e)
		target := texts[i]
		var re readError
		var ms errMaxSeries
		switch {
		case err == nil:
		case a.limitError(w, r, "target "+target, err, false):
			return
		case errors.As(err, &ms):
			a.limits.maxSeries.Inc()
			badRequest(w, "target %s: %v", target, err)
			return
		case errors.As(err, &re) || ctx.Err() != nil:
			textError(w, http.StatusInternalServerError, "target %s: %v", target, err)
			return
		default: // the target is wrong or asks for what is not implemented
			badRequest(w, "target %s: %v", target, err)
			return
		}
		all = append(all, list...)
	}
	timeRange := until.Unix() - from.Unix()
	// graphite-web consolidates over the span of the series answered, from
	// the first start to the last end.
	var seriesRange int64
	if len(all) > 0 {
		lo, hi := all[0].Start, all[0].End
		for _, s := range all[1:] {
			lo, hi = min(lo, s.Start), max(hi, s.End)
		}
		seriesRange = hi - lo
	}
	noNull := r.FormValue("noNullPoints") == "true" || r.FormValue("noNullPoints") == "1"
	// Consolidate every series first, to refuse past max_points before
	// answering anything; the points made are charged (16 bytes: two
	// values each) as each series is done.
	outs := make([]renderOut, 0, len(all))
	total := 0
	for _, s := range all {
		o := renderOut{s: s}
		o.vals, o.start, o.step = s.Consolidated(maxDataPoints, seriesRange)
		if err := budget.Charge(ctx, 2*int64(len(o.vals))); err != nil {
			if !a.limitError(w, r, "the answer", err, false) {
				textError(w, http.StatusInternalServerError, "%v", err)
			}
			return
		}
		if noNull {
			for j, v := range o.vals {
				if !math.IsNaN(v) {
					o.pts = append(o.pts, series.Point{Value: v, Time: o.start + int64(j)*o.step})
				}
			}
			o.vals, o.points = nil, true
		}
		total += o.len()
		if a.cfg.MaxPoints > 0 && total > a.cfg.MaxPoints {
			a.limits.maxPoints.Inc()
			badRequest(w, "the response would hold more than %d datapoints (max_points): narrow the time range or use maxDataPoints", a.cfg.MaxPoints)
			return
		}
		outs = append(outs, o)
	}
	var err2 error
	switch format {
	case "", "json":
		if !slices.ContainsFunc(all, func(s *series.Series) bool { return len(s.Values) > 0 }) {
			outs = nil // graphite-web's "if any(data)": series without a point are no answer
		}
		err2 = writeRenderJSON(w, r.FormValue("jsonp"), outs)
	case "csv":
		err2 = writeRenderCSV(w, outs, loc)
	case "raw":
		err2 = writeRenderRaw(w, all)
	case "png", "svg":
		// The image's pixels are charged like values (8 bytes each: a
		// pixel takes 4).
		if err := budget.Charge(ctx, int64(graphOpts.Width*graphOpts.Height/2)); err != nil {
			if !a.limitError(w, r, "the image", err, false) {
				textError(w, http.StatusInternalServerError, "%v", err)
			}
			return
		}
		err2 = a.writeGraph(w, r, format, all, graphOpts, timeRange)
	case "pickle", "msgpack", formatV3, formatV2, "protobuf":
		// graphite-web's getInfo() of each series, its values
		// unconsolidated; the encoding takes about two values' room a value.
		var n int64
		for _, s := range all {
			n += 2 * int64(len(s.Values))
		}
		if err := budget.Charge(ctx, n); err != nil {
			if !a.limitError(w, r, "the answer", err, false) {
				textError(w, http.StatusInternalServerError, "%v", err)
			}
			return
		}
		if isProtoFormat(format) {
			writeRenderProto(w, format, all, from, until)
			break
		}
		writeEncoded(w, format, renderInfos(all))
	}
	if err2 != nil {
		a.log.Debug("writing a render answer", "err", err2)
	}
}

// writeEncoded answers with v pickled (protocol 2) or in msgpack.
func writeEncoded(w http.ResponseWriter, format string, v any) {
	var b []byte
	var err error
	if format == "pickle" {
		w.Header().Set("Content-Type", "application/pickle")
		b, err = codec.Pickle(nil, v)
	} else {
		w.Header().Set("Content-Type", "application/x-msgpack")
		b, err = codec.Msgpack(nil, v)
	}
	if err != nil {
		textError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Write(b)
}

// read returns the series of the leaves pattern selects over [from, until]
// at the resolution whisper would choose, as whisper reads them: no later
// than now, no earlier than the longest retention; pre's if it read them
// ahead (nil: none).
func (a *API) read(ctx context.Context, pre *prefetched, pattern string, from, until, now time.Time) ([]*series.Series, error) {
	if list, ok := pre.take(pattern, from, until); ok {
		return list, nil
	}
	res, readFrom, readUntil := a.span(from, until, now)
	leaves, unindexed, err := a.leavesOf(ctx, pattern)
	if err != nil {
		return nil, err
	}
	// The index said how many series: charge their points before reading.
	if err := a.charge(ctx, len(leaves), res, readFrom, readUntil); err != nil {
		return nil, err
	}
	pts, err := a.readLeaves(ctx, leaves, res, readFrom, readUntil)
	if err != nil {
		return nil, err
	}
	list := make([]*series.Series, len(leaves))
	for i, p := range leaves {
		list[i] = a.fit(pattern, p, pts[i], res, readFrom, readUntil)
	}
	return keepIndexed(list, unindexed), nil
}

// errMaxSeries refuses a request that selects more than max_series series.
type errMaxSeries struct{ max int }

func (e errMaxSeries) Error() string {
	return fmt.Sprintf("the request selects more than %d series (max_series)", e.max)
}

// readError is a failure of the store, not of the request.
type readError struct{ error }

func (e readError) Unwrap() error { return e.error }

// jsonNumber keeps infinities serialisable as graphite does (1e9999).
func jsonNumber(v float64) any {
	switch {
	case math.IsInf(v, 1):
		return json.RawMessage("1e9999")
	case math.IsInf(v, -1):
		return json.RawMessage("-1e9999")
	}
	return v
}

// findHandler answers /metrics/find as graphite-web's find_view: treejson
// (the default: one node per name, branches first, ids made of the query's
// parent and the name), completer, json (leaves with their interval),
// nodelist (the names at a position) and pickle.
func (a *API) findHandler(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		badRequest(w, "cannot read the request: %v", err)
		return
	}
	format := r.FormValue("format")
	if isProtoFormat(format) {
		a.findProto(w, r, format)
		return
	}
	// graphite-web's find_view checks its parameters in this order, its
	// integers as Python's int() reads them.
	ints := map[string]int{"leavesOnly": 0, "local": 0, "wildcards": 0, "position": -1, "automatic_variants": 0}
	for _, k := range []string{"leavesOnly", "local", "wildcards"} {
		if !intForm(w, r, k, ints) {
			return
		}
	}
	loc, err := a.location(r)
	if err != nil {
		loc = a.cfg.Location // graphite-web ignores an unknown time zone here
	}
	now := a.cfg.Now()
	if v, ok := r.Form["now"]; ok {
		if now, err = gtime.Parse(v[0], now, loc); err != nil {
			badRequest(w, "Invalid parameters (Invalid value %s for param now: %v)", pyQuote(v[0]), err)
			return
		}
	}
	var times [2]*time.Time
	for i, k := range []string{"from", "until"} {
		if v, ok := r.Form[k]; ok && v[0] != "-1" {
			t, err := gtime.Parse(v[0], now, loc)
			if err != nil {
				badRequest(w, "Invalid parameters (Invalid value %s for param %s: %v)", pyQuote(v[0]), k, err)
				return
			}
			times[i] = &t
		}
	}
	if !intForm(w, r, "position", ints) || !intForm(w, r, "automatic_variants", ints) {
		return
	}
	queries, ok := r.Form["query"]
	if !ok {
		badRequest(w, "Invalid parameters (Missing required parameter 'query')")
		return
	}
	query := queries[0]
	if query == "" {
		badRequest(w, "Invalid parameters (Required parameter 'query' is empty)")
		return
	}
	if format == "" {
		format = "treejson"
	}
	wildcards, leavesOnly := ints["wildcards"] != 0, ints["leavesOnly"] != 0
	base := ""
	if i := strings.LastIndexByte(query, '.'); i >= 0 {
		base = query[:i+1]
	}
	if format == "completer" {
		query = strings.ReplaceAll(query, "..", "*.")
		if !strings.HasSuffix(query, "*") {
			query += "*"
		}
		if ints["automatic_variants"] != 0 {
			parts := strings.Split(query, ".")
			for i, p := range parts {
				if strings.Contains(p, ",") && !strings.Contains(p, "{") {
					parts[i] = "{" + p + "}"
				}
			}
			query = strings.Join(parts, ".")
		}
	}
	if times[0] != nil && times[1] != nil && times[0].After(*times[1]) {
		badRequest(w, "Invalid parameters (Failed to instantiate find query: Invalid interval start=%d end=%d)", times[0].Unix(), times[1].Unix())
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	found, err := find.Find(ctx, a.r, query, a.cfg.MaxFind)
	if err != nil {
		badRequest(w, "query %s: %v", clipQuote(query), err)
		return
	}
	var nodes []find.Node
	for _, n := range found {
		if n.Leaf || !leavesOnly {
			nodes = append(nodes, n)
		}
	}
	name := func(p string) string {
		if i := strings.LastIndexByte(strings.SplitN(p, ";", 2)[0], '.'); i >= 0 {
			return p[i+1:]
		}
		return p
	}
	sort.SliceStable(nodes, func(i, j int) bool { return name(nodes[i].Path) < name(nodes[j].Path) })
	bit := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch format {
	case "treejson":
		out := []map[string]any{}
		if wildcards && len(nodes) > 1 {
			leaf := !slices.ContainsFunc(nodes, func(n find.Node) bool { return !n.Leaf })
			out = append(out, map[string]any{"text": "*", "id": base + "*", "leaf": bit(leaf), "expandable": bit(!leaf), "allowChildren": bit(!leaf)})
		}
		seen := map[string]bool{}
		var leaves []map[string]any
		for _, n := range nodes {
			nm := name(n.Path)
			if seen[nm] {
				continue
			}
			seen[nm] = true
			node := map[string]any{"text": nm, "id": base + nm, "leaf": bit(n.Leaf), "expandable": bit(!n.Leaf), "allowChildren": bit(!n.Leaf)}
			if n.Leaf {
				leaves = append(leaves, node)
			} else {
				out = append(out, node)
			}
		}
		writeJSON(w, r, http.StatusOK, append(out, leaves...))
	case "completer":
		out := []map[string]any{}
		for _, n := range nodes {
			p := n.Path
			if !n.Leaf {
				p += "."
			}
			out = append(out, map[string]any{"path": p, "name": name(n.Path), "is_leaf": strconv.Itoa(bit(n.Leaf))})
		}
		if wildcards && len(out) > 1 {
			out = append(out, map[string]any{"name": "*"})
		}
		writeJSON(w, r, http.StatusOK, map[string]any{"metrics": out})
	case "json", "pickle", "msgpack":
		now := a.cfg.Now().Unix()
		start := now
		if n := len(a.cfg.Resolutions); n > 0 {
			start = now - int64(a.cfg.Resolutions[n-1].TTL/time.Second)
		}
		out := []map[string]any{}
		for _, n := range nodes {
			// graphite-web writes is_leaf; carbonapi's msgpack backend
			// protocol reads isLeaf (graphite-web's remote finder either).
			info := map[string]any{"path": n.Path, "is_leaf": n.Leaf, "isLeaf": n.Leaf}
			if n.Leaf {
				if format == "json" {
					info["intervals"] = []map[string]any{{"start": start, "end": now}}
				} else { // graphite-web pickles an IntervalSet; its msgpack has (start, end) pairs, as here
					info["intervals"] = []any{[]any{start, now}}
				}
			}
			out = append(out, info)
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i]["path"].(string) < out[j]["path"].(string) })
		if format != "json" {
			writeEncoded(w, format, out)
			return
		}
		writeJSON(w, r, http.StatusOK, out)
	case "nodelist":
		pos := ints["position"]
		set := map[string]bool{}
		for _, n := range nodes {
			parts := strings.Split(n.Path, ".")
			i := pos
			if i < 0 {
				i += len(parts)
			}
			if i < 0 || i >= len(parts) {
				badRequest(w, "position %d is past the nodes of %s", pos, n.Path)
				return
			}
			set[parts[i]] = true
		}
		nodes := slices.Sorted(maps.Keys(set))
		if nodes == nil {
			nodes = []string{}
		}
		writeJSON(w, r, http.StatusOK, map[string]any{"nodes": nodes})
	default:
		badRequest(w, "Invalid value for 'format' parameter")
	}
}

func (a *API) expand(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		badRequest(w, "cannot read the request: %v", err)
		return
	}
	queries := r.Form["query"]
	// graphite-web reads its flags with Python's int(): any other number
	// than 0 is true (and so is "true" here, where it fails).
	flag := func(name string) bool {
		v := r.FormValue(name)
		n, err := pyIntValue(v)
		return err == nil && n != 0 || v == "true"
	}
	leavesOnly, groupByExpr := flag("leavesOnly"), flag("groupByExpr")
	ctx, cancel := a.ctx(r)
	defer cancel()
	groups := map[string][]string{} // every query, with what it matched once each
	seen := map[string]bool{}
	flat := []string{}
	for _, q := range queries {
		if _, dup := groups[q]; dup {
			continue // the same query again matches the same
		}
		nodes, err := find.Find(ctx, a.r, q, a.cfg.MaxFind)
		if err != nil {
			badRequest(w, "query %s: %v", clipQuote(q), err)
			return
		}
		groups[q] = []string{}
		for _, n := range nodes {
			if leavesOnly && !n.Leaf {
				continue
			}
			groups[q] = append(groups[q], n.Path)
			if !seen[n.Path] {
				seen[n.Path] = true
				flat = append(flat, n.Path)
			}
		}
	}
	if groupByExpr {
		for _, g := range groups {
			sort.Strings(g)
		}
		writeJSON(w, r, http.StatusOK, map[string]any{"results": groups})
		return
	}
	sort.Strings(flat)
	writeJSON(w, r, http.StatusOK, map[string]any{"results": flat})
}

// leaves lists every leaf path, up to max_find, a level of the index at a
// time (seriesByTag, the tag database and /metrics/index.json use it).
func (a *API) leaves(ctx context.Context) ([]string, error) {
	return find.Leaves(ctx, a.r, a.cfg.MaxFind)
}

// index answers graphite's /metrics/index.json: every leaf path, sorted.
func (a *API) index(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	out, err := a.leaves(ctx)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// intForm reads form value k, when given, into ints[k] as graphite-web's
// queryParamAsInt does (Python's int()); false after answering 400.
func intForm(w http.ResponseWriter, r *http.Request, k string, ints map[string]int) bool {
	v, ok := r.Form[k]
	if !ok {
		return true
	}
	n, err := pyIntValue(v[0])
	if err != nil {
		badRequest(w, "Invalid parameters (Invalid int value %s for param %s: %v)", pyQuote(v[0]), k, err)
		return false
	}
	ints[k] = n
	return true
}

// pyInt is what Python's int() reads, once stripped of blanks.
var pyInt = regexp.MustCompile(`^[+-]?[0-9]+(_[0-9]+)*$`)

// pyIntValue reads s as Python's int(): blanks around it, a sign, '_'
// between digits; its error is in Python's words.
func pyIntValue(s string) (int, error) {
	t := strings.TrimSpace(s)
	if !pyInt.MatchString(t) {
		return 0, fmt.Errorf("invalid literal for int() with base 10: %s", pyQuote(s))
	}
	return strconv.Atoi(strings.ReplaceAll(strings.TrimPrefix(t, "+"), "_", ""))
}

// pyQuote is Python's repr of a simple string: in single quotes.
func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
