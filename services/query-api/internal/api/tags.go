package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/find"
	"github.com/consthash/consthash/services/query-api/internal/fn"
)

// The tag database of graphite-web 1.1 (/tags/...), answered from the path
// index as carbon fills graphite's: every series is in it, an untagged one
// with its name as the only tag. Errors are JSON {"error": ...}, as
// graphite-web's.

// autoCompleteLimit is graphite-web's TAGDB_AUTOCOMPLETE_LIMIT.
const autoCompleteLimit = 100

func (a *API) registerTags(mux *http.ServeMux) {
	mux.HandleFunc("/tags", noJSONP(a.tagList))
	mux.HandleFunc("/tags/", noJSONP(a.tagDetails))
	mux.HandleFunc("/tags/findSeries", noJSONP(a.tagFindSeries))
	mux.HandleFunc("/tags/autoComplete/tags", noJSONP(a.tagAutoCompleteTags))
	mux.HandleFunc("/tags/autoComplete/values", noJSONP(a.tagAutoCompleteValues))
}

// noJSONP: graphite-web's tag endpoints answer plain JSON whatever jsonp
// says.
func noJSONP(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			jsonError(w, r, http.StatusBadRequest, "cannot read the request: %v", err)
			return
		}
		r.Form.Del("jsonp")
		h(w, r)
	}
}

func jsonError(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	writeJSON(w, r, code, map[string]string{"error": clip(fmt.Sprintf(format, args...))})
}

// tagParams reads the form and the tag expressions (expr, or expr[] as
// jQuery sends them).
func tagParams(w http.ResponseWriter, r *http.Request, methods ...string) ([]string, bool) {
	if !slices.Contains(methods, r.Method) {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		jsonError(w, r, http.StatusBadRequest, "cannot read the request: %v", err)
		return nil, false
	}
	exprs := r.Form["expr"]
	if len(exprs) == 0 {
		exprs = r.Form["expr[]"]
	}
	return exprs, true
}

// limitParam reads limit (def when absent) as Python's int() does (blanks
// around it, a sign, '_' between digits): graphite-web hands it to SQLite's
// LIMIT, so 0 is nothing and a negative limit no limit, then the
// autocompletions slice their answer with it ([:-1] drops the last).
func limitParam(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	vs, given := r.Form["limit"]
	if !given || vs[0] == "" && def < 0 { // /tags reads "if limit:", the autocompletions int(limit)
		return def, true
	}
	v := vs[0]
	n, err := pyIntValue(v)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "%v", err) // Python int()'s words
		return 0, false
	}
	return n, true
}

// limited is list cut to limit as SQLite's LIMIT does (a negative limit is
// none); slice also cuts a negative limit's count off the end, as Python's
// [:limit].
func limited[T any](list []T, limit int, slice bool) []T {
	switch {
	case limit >= 0 && len(list) > limit:
		return list[:limit]
	case limit < 0 && slice:
		return list[:max(0, len(list)+limit)]
	}
	return list
}

// anchored compiles a tag or value filter as graphite-web does: anchored at
// the start unless it already is.
func anchored(filter string) (*regexp.Regexp, error) {
	if filter == "" {
		return nil, nil
	}
	if !strings.HasPrefix(filter, "^") {
		filter = "^(" + filter + ")"
	}
	return fn.PyRegexp(filter)
}

// taggedSeries returns every series' path and tags, sorted by path.
func (a *API) taggedSeries(ctx context.Context) ([]string, []map[string]string, error) {
	paths, err := a.leaves(ctx)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(paths)
	tags := make([]map[string]string, len(paths))
	for i, p := range paths {
		tags[i] = tagsOf(p)
	}
	return paths, tags, nil
}

// findByTags returns the paths whose tags match every expression, sorted. As
// in graphite-web, an expression that matches an empty value also matches
// series without the tag, and at least one must not match the empty value.
func (a *API) findByTags(ctx context.Context, exprs []string) ([]string, []map[string]string, error) {
	var ms []tagMatcher
	allMatchEmpty := true
	for _, e := range exprs {
		m, err := parseTagExpr(e)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, m)
		allMatchEmpty = allMatchEmpty && m.Match(map[string]string{})
	}
	if allMatchEmpty {
		//lint:ignore ST1005 graphite-web's message, word for word
		return nil, nil, fmt.Errorf("At least one tagspec must not match the empty string")
	}
	paths, err := a.tagPaths(ctx, ms)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(paths)
	var outP []string
	var outT []map[string]string
	for _, p := range paths {
		tags := tagsOf(p)
		if !slices.ContainsFunc(ms, func(m tagMatcher) bool { return !m.Match(tags) }) {
			outP, outT = append(outP, p), append(outT, tags)
		}
	}
	return outP, outT, nil
}

// tagPaths returns the leaf paths the matchers may select: with a
// name=value matcher, the series of that name, found through the index by
// their levels (tagged ones as name;tags); else every leaf.
func (a *API) tagPaths(ctx context.Context, ms []tagMatcher) ([]string, error) {
	for _, m := range ms {
		if m.Tag != "name" || m.Op != "=" || m.Value == "" || strings.ContainsAny(m.Value, "*?[]{}") {
			continue
		}
		nodes, err := find.Find(ctx, a.r, m.Value, a.cfg.MaxFind)
		if err != nil {
			return nil, err
		}
		var paths []string
		for _, n := range nodes {
			if n.Leaf && strings.SplitN(n.Path, ";", 2)[0] == m.Value {
				paths = append(paths, n.Path)
			}
		}
		return paths, nil
	}
	return a.leaves(ctx)
}

func (a *API) tagFindSeries(w http.ResponseWriter, r *http.Request) {
	exprs, ok := tagParams(w, r, http.MethodGet, http.MethodPost)
	if !ok {
		return
	}
	if len(exprs) == 0 {
		jsonError(w, r, http.StatusBadRequest, "no tag expressions specified")
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	paths, _, err := a.findByTags(ctx, exprs)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	if paths == nil {
		paths = []string{}
	}
	writeJSON(w, r, http.StatusOK, paths)
}

// tagValues counts the series per value of tag, over the values the filter
// keeps, sorted by value and limited.
func tagValues(tags []map[string]string, tag string, filter *regexp.Regexp, limit int) []map[string]any {
	counts := map[string]int{}
	for _, t := range tags {
		if v, ok := t[tag]; ok && (filter == nil || filter.MatchString(v)) {
			counts[v]++
		}
	}
	values := make([]string, 0, len(counts))
	for v := range counts {
		values = append(values, v)
	}
	slices.Sort(values)
	values = limited(values, limit, false)
	out := make([]map[string]any, len(values))
	for i, v := range values {
		out[i] = map[string]any{"value": v, "count": counts[v]}
	}
	return out
}

// tagNames returns the tag names of tags that the filter keeps, sorted and
// limited.
func tagNames(tags []map[string]string, filter *regexp.Regexp, limit int) []string {
	seen := map[string]bool{}
	for _, t := range tags {
		for k := range t {
			if filter == nil || filter.MatchString(k) {
				seen[k] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	slices.Sort(names)
	names = limited(names, limit, false)
	return names
}

// tagListing reads /tags' and /tags/<tag>'s filter and limit, and every
// series' tags; false means it has answered.
func (a *API) tagListing(w http.ResponseWriter, r *http.Request) ([]map[string]string, *regexp.Regexp, int, bool) {
	if _, ok := tagParams(w, r, http.MethodGet); !ok {
		return nil, nil, 0, false
	}
	filter, err := anchored(r.FormValue("filter"))
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "filter: %v", err)
		return nil, nil, 0, false
	}
	limit, ok := limitParam(w, r, -1)
	if !ok {
		return nil, nil, 0, false
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	_, tags, err := a.taggedSeries(ctx)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "%v", err)
		return nil, nil, 0, false
	}
	return tags, filter, limit, true
}

// selectedTags returns the tags of the series the expressions select, of
// every series without expressions.
func (a *API) selectedTags(ctx context.Context, exprs []string) ([]map[string]string, error) {
	if len(exprs) == 0 {
		_, tags, err := a.taggedSeries(ctx)
		return tags, err
	}
	_, tags, err := a.findByTags(ctx, exprs)
	return tags, err
}

// tagList answers /tags: [{"tag": ...}], filtered by a regular expression.
func (a *API) tagList(w http.ResponseWriter, r *http.Request) {
	tags, filter, limit, ok := a.tagListing(w, r)
	if !ok {
		return
	}
	out := []map[string]string{}
	for _, t := range tagNames(tags, filter, limit) {
		out = append(out, map[string]string{"tag": t})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// tagDetails answers /tags/<tag>: its values with their series counts, or
// null for a tag no series has.
func (a *API) tagDetails(w http.ResponseWriter, r *http.Request) {
	tag := strings.TrimPrefix(r.URL.Path, "/tags/")
	if tag == "" { // graphite-web's ^/?$: /tags/ is the list
		a.tagList(w, r)
		return
	}
	tags, filter, limit, ok := a.tagListing(w, r)
	if !ok {
		return
	}
	if !slices.ContainsFunc(tags, func(t map[string]string) bool { _, ok := t[tag]; return ok }) {
		writeJSON(w, r, http.StatusOK, nil)
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"tag": tag, "values": tagValues(tags, tag, filter, limit)})
}

// tagAutoCompleteTags answers /tags/autoComplete/tags: the tag names of the
// series the expressions select (all series without expressions), less the
// tags the expressions name, starting with tagPrefix, sorted, at most limit.
func (a *API) tagAutoCompleteTags(w http.ResponseWriter, r *http.Request) {
	exprs, ok := tagParams(w, r, http.MethodGet, http.MethodPost)
	if !ok {
		return
	}
	limit, ok := limitParam(w, r, autoCompleteLimit)
	if !ok {
		return
	}
	prefix := r.FormValue("tagPrefix")
	ctx, cancel := a.ctx(r)
	defer cancel()
	tags, err := a.selectedTags(ctx, exprs)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	searched := map[string]bool{}
	for _, e := range exprs {
		if m, err := parseTagExpr(e); err == nil {
			searched[m.Tag] = true
		}
	}
	var names []string
	for _, t := range tagNames(tags, nil, -1) {
		if !searched[t] && strings.HasPrefix(t, prefix) {
			names = append(names, t)
		}
	}
	names = limited(names, limit, true)
	if names == nil {
		names = []string{}
	}
	writeJSON(w, r, http.StatusOK, names)
}

// tagAutoCompleteValues answers /tags/autoComplete/values: the values of
// tag among the series the expressions select (all series without
// expressions), starting with valuePrefix, sorted, at most limit.
func (a *API) tagAutoCompleteValues(w http.ResponseWriter, r *http.Request) {
	exprs, ok := tagParams(w, r, http.MethodGet, http.MethodPost)
	if !ok {
		return
	}
	tag := r.FormValue("tag")
	if tag == "" {
		jsonError(w, r, http.StatusBadRequest, "no tag specified")
		return
	}
	limit, ok := limitParam(w, r, autoCompleteLimit)
	if !ok {
		return
	}
	prefix := r.FormValue("valuePrefix")
	ctx, cancel := a.ctx(r)
	defer cancel()
	if len(exprs) > 0 {
		exprs = append(slices.Clone(exprs), tag+"!=")
	}
	tags, err := a.selectedTags(ctx, exprs)
	if err != nil {
		jsonError(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	values := []string{}
	for _, v := range tagValues(tags, tag, nil, -1) {
		if s := v["value"].(string); strings.HasPrefix(s, prefix) {
			values = append(values, s)
		}
	}
	values = limited(values, limit, true)
	writeJSON(w, r, http.StatusOK, values)
}
