package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
)

// graphite-web's events API, which Grafana's annotations read:
//
//	POST /events/            {"what", "tags" (a list or a space-separated string), "data", "when"}
//	GET  /events/get_data    from, until, tags ("a b": all of them), set=union|intersection, jsonp
//	GET  /events/<id>/       one event
//	DELETE /events/<id>      on the admin server, with its token (graphite-web has no delete)
//
// Answers are graphite-web 1.1.8's (testdata/graphite-web-golden/events.jsonl.gz),
// including its tag matching: an unknown tag is dropped from tags=...
// without set= or with set=union, so "deploy nosuch" matches what "deploy"
// does; with set=intersection every tag must be on the event.

// DefaultMaxEvents is the most events one answer holds (max_events).
const DefaultMaxEvents = 10_000

// maxEventBody bounds a posted event: its data and the rest.
const maxEventBody = store.MaxEventData + 16<<10

// eventStats counts the events API's work and refusals.
type eventStats struct {
	posted, deleted                          *metrics.Counter
	invalid, bodySize, maxEvents, postClosed *metrics.Counter
}

func newEventStats(set *metrics.Set) *eventStats {
	c := func(reason string) *metrics.Counter {
		return set.NewCounter(fmt.Sprintf(`consthash_query_api_events_refused_total{reason=%q}`, reason))
	}
	return &eventStats{posted: set.NewCounter("consthash_query_api_events_posted_total"),
		deleted: set.NewCounter("consthash_query_api_events_deleted_total"),
		invalid: c("invalid"), bodySize: c("body_size"), maxEvents: c("max_events"), postClosed: c("post_closed")}
}

// EventStats is the events' part of /stats.
func (a *API) EventStats() any {
	e := a.events
	return map[string]any{"posted": e.posted.Get(), "deleted": e.deleted.Get(), "max_events": a.cfg.MaxEvents,
		"refused": map[string]uint64{"invalid": e.invalid.Get(), "body_size": e.bodySize.Get(), "max_events": e.maxEvents.Get(), "post_closed": e.postClosed.Get()}}
}

// eventsHandler serves /events and everything under it on the API's port.
func (a *API) eventsHandler(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/events"), "/")
	switch {
	case rest == "":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			jsonError(w, r, http.StatusMethodNotAllowed, "POST an event to /events/; read them from /events/get_data")
			return
		}
		if !a.cfg.EventsPostOpen {
			a.events.postClosed.Inc()
			jsonError(w, r, http.StatusForbidden, "posting events here is off (events_post_open = false): POST them to the admin server's /events/ with its token")
			return
		}
		a.PostEvent(w, r)
	case rest == "get_data":
		a.getEvents(w, r)
	default:
		if r.Method == http.MethodDelete {
			w.Header().Set("Allow", "GET")
			jsonError(w, r, http.StatusMethodNotAllowed, "deleting an event needs the admin token: send DELETE /events/<id> to the admin server")
			return
		}
		a.getEvent(w, r, rest)
	}
}

// eventStore returns the store's events, or answers 501 when it keeps none.
func (a *API) eventStore(w http.ResponseWriter, r *http.Request) (store.EventStore, bool) {
	if a.cfg.Events == nil {
		jsonError(w, r, http.StatusNotImplemented, "this storage keeps no events (SQLite, MySQL and Cassandra do)")
		return nil, false
	}
	return a.cfg.Events, true
}

// PostEvent stores the posted event (graphite-web's post_event). It is also
// the admin server's POST /events/.
func (a *API) PostEvent(w http.ResponseWriter, r *http.Request) {
	es, ok := a.eventStore(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		a.events.bodySize.Inc()
		jsonError(w, r, http.StatusRequestEntityTooLarge, "the event is larger than %d bytes", maxEventBody)
		return
	}
	e, errBody, err := decodeEvent(body, a.cfg.Now())
	if err == nil {
		e, err = store.CheckEvent(e)
	}
	if err != nil {
		a.events.invalid.Inc()
		if errBody != nil { // graphite-web's own answer
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(errBody)
			return
		}
		jsonError(w, r, http.StatusBadRequest, "invalid event: %v", err)
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	if _, err := es.AddEvent(ctx, e); err != nil {
		jsonError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	a.events.posted.Inc()
	w.WriteHeader(http.StatusOK)
}

// errTagsType is graphite-web's answer to tags that are neither a list nor
// a string.
var errTagsType = []byte(`{"error": "\"tags\" must be an array or space-separated string"}`)

// decodeEvent reads a posted event as graphite-web does: what, tags (a list
// joined by spaces, or a string), data (default ""), when (seconds, may be
// fractional; default now). Where graphite-web fails with a 500 (not JSON,
// no what, a tag that is not a string, when not a number) it says why; for
// tags of another type the second value is graphite-web's 400 body.
func decodeEvent(body []byte, now time.Time) (store.Event, []byte, error) {
	var e store.Event
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return e, nil, fmt.Errorf("want a JSON object: %v", err)
	}
	str := func(key string, raw json.RawMessage) (string, error) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q must be a string", key)
		}
		return s, nil
	}
	var err error
	if raw, ok := m["what"]; ok {
		if e.What, err = str("what", raw); err != nil {
			return e, nil, err
		}
	}
	if raw, ok := m["data"]; ok {
		if e.Data, err = str("data", raw); err != nil {
			return e, nil, err
		}
	}
	if raw, ok := m["tags"]; ok && string(raw) != "null" {
		var list []json.RawMessage
		switch {
		case json.Unmarshal(raw, &list) == nil:
			parts := make([]string, len(list))
			for i, t := range list {
				if parts[i], err = str("tags", t); err != nil {
					return e, nil, errors.New(`"tags" must be a list of strings`)
				}
			}
			e.Tags = strings.Join(parts, " ")
		case json.Unmarshal(raw, &e.Tags) == nil:
		default:
			return e, errTagsType, errors.New("tags")
		}
	}
	e.When = now.UnixMicro()
	if raw, ok := m["when"]; ok {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return e, nil, errors.New(`"when" must be a number of seconds since 1970`)
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return e, nil, fmt.Errorf(`"when" %s is not a time`, n)
		}
		e.When = int64(math.Round(f * 1e6))
	}
	return e, nil, nil
}

// eventJSON is an event as get_data answers it, in graphite-web's order.
type eventJSON struct {
	When int64    `json:"when"`
	What string   `json:"what"`
	Data string   `json:"data"`
	Tags []string `json:"tags"`
	ID   int64    `json:"id"`
}

// seconds is graphite-web's epoch(): whole seconds, rounded down.
func seconds(us int64) int64 {
	s := us / 1e6
	if us < 0 && us%1e6 != 0 {
		s--
	}
	return s
}

// eventTags are the tags graphite-web answers: the posted text split on
// white space.
func eventTags(e store.Event) []string {
	t := strings.Fields(e.Tags)
	if t == nil {
		t = []string{}
	}
	return t
}

// getEvents answers /events/get_data.
func (a *API) getEvents(w http.ResponseWriter, r *http.Request) {
	es, ok := a.eventStore(w, r)
	if !ok {
		return
	}
	list, err := a.findEvents(r, es)
	if err != nil {
		if errors.Is(err, store.ErrTooManyEvents) {
			a.events.maxEvents.Inc()
			jsonError(w, r, http.StatusBadRequest, "more than %d events (max_events): narrow the time range or the tags", a.cfg.MaxEvents)
			return
		}
		var bad badEventQuery
		if errors.As(err, &bad) {
			jsonError(w, r, http.StatusBadRequest, "%v", err)
			return
		}
		jsonError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	out := make([]eventJSON, 0, len(list))
	for _, e := range list {
		out = append(out, eventJSON{When: seconds(e.When), What: e.What, Data: e.Data, Tags: eventTags(e), ID: e.ID})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// badEventQuery is a get_data request that cannot be read.
type badEventQuery struct{ error }

// findEvents selects get_data's events as graphite-web's Event.find_events
// and fetch do (from, until, tags and set from the query string).
func (a *API) findEvents(r *http.Request, es store.EventStore) ([]store.Event, error) {
	q := r.URL.Query()
	loc, err := a.location(r)
	if err != nil {
		return nil, badEventQuery{fmt.Errorf("invalid tz: %v", err)}
	}
	now := a.cfg.Now()
	from, until := time.Unix(0, 0), now
	if v := q.Get("from"); v != "" {
		if from, err = gtime.Parse(v, now, loc); err != nil {
			return nil, badEventQuery{fmt.Errorf("invalid from: %v", err)}
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = gtime.Parse(v, now, loc); err != nil {
			return nil, badEventQuery{fmt.Errorf("invalid until: %v", err)}
		}
	}
	var tags []string
	if q.Has("tags") {
		tags = strings.Split(q.Get("tags"), " ")
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	return a.queryEvents(ctx, es, from, until, tags, q.Get("set"))
}

// queryEvents returns the events in [from, until] that tags select with
// graphite-web's set operation ("union", "intersection", else all of the
// known tags); nil tags select every event.
func (a *API) queryEvents(ctx context.Context, es store.EventStore, from, until time.Time, tags []string, set string) ([]store.Event, error) {
	eq := store.EventQuery{From: from.UnixMicro(), Until: until.UnixMicro(), Limit: a.cfg.MaxEvents}
	if tags == nil {
		return es.Events(ctx, eq)
	}
	// django-tagging looks the names up in its tag table and drops those
	// it does not know; none known selects nothing.
	known, err := es.KnownEventTags(ctx, tags)
	if err != nil || len(known) == 0 {
		return nil, err
	}
	eq.Tags, eq.Any = known, set == "union"
	list, err := es.Events(ctx, eq)
	if err != nil || set != "intersection" {
		return list, err
	}
	// graphite-web's intersection then keeps the events whose posted tags
	// hold as many of the requested tags as were requested.
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	out := list[:0]
	for _, e := range list {
		have := map[string]bool{}
		for _, t := range strings.Fields(e.Tags) {
			if want[t] {
				have[t] = true
			}
		}
		if len(have) == len(tags) {
			out = append(out, e)
		}
	}
	return out, nil
}

// eventID reads the <id> of /events/<id>.
func eventID(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// errNoEvent is graphite-web's answer for an id without an event.
const errNoEvent = "Event matching query does not exist"

// getEvent answers /events/<id>/ as graphite-web's JSON detail view.
func (a *API) getEvent(w http.ResponseWriter, r *http.Request, rest string) {
	id, ok := eventID(rest)
	if !ok {
		jsonError(w, r, http.StatusNotFound, "no such page: /events/%s", rest)
		return
	}
	es, ok := a.eventStore(w, r)
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	e, found, err := es.Event(ctx, id)
	switch {
	case err != nil:
		jsonError(w, r, http.StatusInternalServerError, "%v", err)
	case !found:
		jsonError(w, r, http.StatusNotFound, "%s", errNoEvent)
	default:
		writeJSON(w, r, http.StatusOK, map[string]any{"id": e.ID, "what": e.What, "data": e.Data, "tags": eventTags(e), "when": djangoTime(e.When)})
	}
}

// djangoTime writes a time as Django's JSON encoder does: ISO 8601 in UTC,
// milliseconds when there are any, "Z".
func djangoTime(us int64) string {
	t := time.UnixMicro(us).UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

// DeleteEvent deletes /events/<id>: the admin server serves it, behind its
// token.
func (a *API) DeleteEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := eventID(strings.Trim(strings.TrimPrefix(r.URL.Path, "/events"), "/"))
	if !ok {
		jsonError(w, r, http.StatusNotFound, "DELETE /events/<id>, the id a number")
		return
	}
	es, ok := a.eventStore(w, r)
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	found, err := es.DeleteEvent(ctx, id)
	switch {
	case err != nil:
		jsonError(w, r, http.StatusInternalServerError, "%v", err)
	case !found:
		jsonError(w, r, http.StatusNotFound, "%s", errNoEvent)
	default:
		a.events.deleted.Inc()
		writeJSON(w, r, http.StatusOK, map[string]any{"deleted": id})
	}
}
