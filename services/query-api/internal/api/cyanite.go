package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/find"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// Two read APIs besides graphite-web's:
//
//   - cyanite's, at the root, which graphite-web's and graphite-api's
//     Cyanite finder (graphite-cyanite) call: GET /paths?query=<glob> and
//     GET /metrics?path=<path>&path=...&from=<epoch>[&to=<epoch>];
//   - the seed's (consthash's predecessor), under Config.BasePath:
//     {base}find, {base}expand and {base}metrics?target=&from=&to=.

func (a *API) registerCyanite(mux *http.ServeMux) {
	mux.HandleFunc("/paths", a.cyanitePaths)
	mux.HandleFunc("/metrics", a.cyaniteMetrics)
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, map[string]string{"response": "pong"})
	})
	base := a.cfg.BasePath
	if base == "" || base == "/" {
		return
	}
	base = "/" + strings.Trim(base, "/") + "/"
	mux.HandleFunc(base+"find", a.seedFind)
	mux.HandleFunc(base+"expand", a.expand)
	mux.HandleFunc(base+"metrics", a.seedMetrics)
}

// jsonFind returns the nodes of the query parameter's pattern; false means
// it has answered with a JSON error.
func (a *API) jsonFind(w http.ResponseWriter, r *http.Request) ([]find.Node, bool) {
	query := r.FormValue("query")
	if query == "" {
		jsonError(w, r, http.StatusBadRequest, "no query: give query=<path pattern>")
		return nil, false
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	nodes, err := find.Find(ctx, a.r, query, a.cfg.MaxFind)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "query %s: %v", clipQuote(query), err)
		return nil, false
	}
	return nodes, true
}

// cyanitePaths answers [{"path", "leaf", "depth"}] for the nodes a glob
// selects.
func (a *API) cyanitePaths(w http.ResponseWriter, r *http.Request) {
	nodes, ok := a.jsonFind(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, n := range nodes {
		out = append(out, map[string]any{"path": n.Path, "leaf": n.Leaf, "depth": strings.Count(strings.SplitN(n.Path, ";", 2)[0], ".") + 1})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// epochParam reads an epoch-seconds parameter, def when absent.
func epochParam(r *http.Request, key string, def time.Time) (time.Time, bool) {
	v := r.FormValue(key)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def, false
	}
	return time.Unix(n, 0), true
}

// cyaniteMetrics answers {"from", "to", "step", "series": {path: [values]}}
// with nulls where there is no point, for the paths (or globs) given.
func (a *API) cyaniteMetrics(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		jsonError(w, r, http.StatusBadRequest, "cannot read the request: %v", err)
		return
	}
	paths := r.Form["path"]
	now := a.cfg.Now()
	from, ok1 := epochParam(r, "from", time.Time{})
	until, ok2 := epochParam(r, "to", now)
	if !ok1 || !ok2 || from.IsZero() || len(paths) == 0 {
		jsonError(w, r, http.StatusBadRequest, "give path=<path> (repeated), from=<epoch seconds> and optionally to=<epoch seconds>")
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	ctx, release := a.withBudget(ctx)
	defer release()
	out := map[string]any{}
	var start, end, step int64
	pre := a.prefetch(ctx, uniq(paths), from, until, now)
	for _, p := range paths {
		list, err := a.read(ctx, pre, p, from, until, now)
		if err != nil {
			if !a.limitError(w, r, "path "+clipQuote(p), err, true) {
				jsonError(w, r, http.StatusBadRequest, "%v", err)
			}
			return
		}
		// This answer is encoded whole, from a value boxed in an any per
		// point: charge what that holds.
		if err := chargeWeighted(ctx, list, cyaniteWeight); err != nil {
			if !a.limitError(w, r, "path "+clipQuote(p), err, true) {
				jsonError(w, r, http.StatusInternalServerError, "%v", err)
			}
			return
		}
		for _, s := range list {
			vals := make([]any, len(s.Values))
			for i, v := range s.Values {
				if !math.IsNaN(v) {
					vals[i] = jsonNumber(v)
				}
			}
			out[s.Name] = vals
			start, end, step = s.Start, s.End, s.Step
		}
	}
	if step == 0 { // nothing found: the window as asked
		res := series.Choose(a.cfg.Resolutions, from, now)
		start, end, step = from.Unix(), until.Unix(), res.Seconds()
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"from": start, "to": end, "step": step, "series": out})
}

// seedFind answers the seed's find: one treejson-like node per match, with
// its full path.
func (a *API) seedFind(w http.ResponseWriter, r *http.Request) {
	nodes, ok := a.jsonFind(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, n := range nodes {
		text := n.Path
		if i := strings.LastIndexByte(strings.SplitN(n.Path, ";", 2)[0], '.'); i >= 0 {
			text = n.Path[i+1:]
		}
		leaf := 0
		if n.Leaf {
			leaf = 1
		}
		out = append(out, map[string]any{"text": text, "id": n.Path, "path": n.Path, "leaf": leaf,
			"expandable": 1 - leaf, "allowChildren": 1 - leaf, "tags": tagList(tagsOf(n.Path))})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// tagList is a series' tags other than name as the seed lists them.
func tagList(tags map[string]string) []map[string]string {
	out := []map[string]string{}
	for k, v := range tags {
		if k != "name" {
			out = append(out, map[string]string{"name": k, "value": v})
		}
	}
	return out
}

// seedMetrics answers the seed's metrics: for each series the target
// selects, its [value, time] points from `from` to `to` (graphite time
// forms), with nulls where there is no point.
func (a *API) seedMetrics(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		jsonError(w, r, http.StatusBadRequest, "cannot read the request: %v", err)
		return
	}
	targets := r.Form["target"]
	if len(targets) == 0 {
		jsonError(w, r, http.StatusBadRequest, "no target: give target=<path pattern>")
		return
	}
	now := a.cfg.Now()
	from, until := now.Add(-time.Hour), now
	var err error
	if v := r.FormValue("from"); v != "" {
		if from, err = gtime.Parse(v, now, a.cfg.Location); err != nil {
			jsonError(w, r, http.StatusBadRequest, "invalid from: %v", err)
			return
		}
	}
	if v := r.FormValue("to"); v != "" {
		if until, err = gtime.Parse(v, now, a.cfg.Location); err != nil {
			jsonError(w, r, http.StatusBadRequest, "invalid to: %v", err)
			return
		}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	ctx, release := a.withBudget(ctx)
	defer release()
	out := map[string]any{}
	var start, end, step int64
	pre := a.prefetch(ctx, uniq(targets), from, until, now)
	for _, t := range targets {
		list, err := a.read(ctx, pre, t, from, until, now)
		if err != nil {
			if !a.limitError(w, r, "path "+clipQuote(t), err, true) {
				jsonError(w, r, http.StatusBadRequest, "%v", err)
			}
			return
		}
		// This answer is encoded whole, from a value boxed in an any per
		// point: charge what that holds.
		if err := chargeWeighted(ctx, list, seedWeight); err != nil {
			if !a.limitError(w, r, "path "+clipQuote(t), err, true) {
				jsonError(w, r, http.StatusInternalServerError, "%v", err)
			}
			return
		}
		for _, s := range list {
			data := make([][2]any, 0, len(s.Values))
			for i, v := range s.Values {
				var val any
				if !math.IsNaN(v) {
					val = jsonNumber(v)
				}
				data = append(data, [2]any{val, s.Start + int64(i)*s.Step})
			}
			out[s.Name] = map[string]any{"target": s.Name, "tags": tagList(tagsOf(s.Name)), "data": data}
			start, end, step = s.Start, s.End, s.Step
		}
	}
	if step == 0 {
		start, end, step = from.Unix(), until.Unix(), series.Choose(a.cfg.Resolutions, from, now).Seconds()
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"real_start": start, "real_end": end, "start": start, "end": end,
		"from": from.Unix(), "to": until.Unix(), "step": step, "series": out})
}

// uniq is list without repeats, in its order.
func uniq(list []string) []string {
	var out []string
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
