package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/fn"
)

// functionsHandler answers /functions (grouped=true groups them by group)
// and /functions/<name> as graphite-web does, from the library's
// definitions: exactly the functions query-api implements.
func (a *API) functionsHandler(w http.ResponseWriter, r *http.Request) {
	defs := a.lib.Definitions()
	if name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/functions"), "/"); name != "" {
		def, ok := defs[name]
		if !ok {
			writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "Function not found: " + name})
			return
		}
		writeJSON(w, r, http.StatusOK, def)
		return
	}
	if g := r.FormValue("grouped"); g == "1" || strings.EqualFold(g, "true") {
		grouped := map[string]map[string]fn.Definition{}
		for name, def := range defs {
			if grouped[def.Group] == nil {
				grouped[def.Group] = map[string]fn.Definition{}
			}
			grouped[def.Group][name] = def
		}
		writeJSON(w, r, http.StatusOK, grouped)
		return
	}
	writeJSON(w, r, http.StatusOK, defs)
}

// The tag expressions and tags of the function library, which the tag
// database answers with too.
type tagMatcher = fn.TagMatcher

func parseTagExpr(s string) (tagMatcher, error) { return fn.ParseTagExpr(s) }

func tagsOf(path string) map[string]string { return fn.TagsOf(path) }

// eventTimes is when the events holding every tag (all for none) happened
// in [from, until]: what events() counts.
func (a *API) eventTimes(ctx context.Context, from, until time.Time, tags []string) ([]time.Time, error) {
	if a.cfg.Events == nil {
		return nil, fmt.Errorf("events(): this storage keeps no events")
	}
	list, err := a.queryEvents(ctx, a.cfg.Events, from, until, tags, "")
	if err != nil {
		return nil, readError{fmt.Errorf("events(): %w", err)}
	}
	times := make([]time.Time, len(list))
	for i, e := range list {
		times[i] = time.Unix(seconds(e.When), 0)
	}
	return times, nil
}
