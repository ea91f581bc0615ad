package api

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
)

// goldenEvent is one request of events.jsonl.gz.
type goldenEvent struct {
	Method, Path string
	Params       map[string]string
	Body         *string
	Headers      map[string]string
	Status       int
	Response     json.RawMessage
}

// TestEventsMatchGraphiteWeb replays graphite-web 1.1.8's events API
// (events.jsonl.gz, from gen_events.py) in order over each store that keeps
// events, and compares status and answer. Documented differences: where
// graphite-web fails with a 500 (a body that is not a JSON object, no
// "what", a tag that is not a string, "when" not a number) query-api answers
// 400 with the reason; ids are the store's (Cassandra's are times), mapped
// to graphite-web's 1, 2, ... in the order the events were posted.
func TestEventsMatchGraphiteWeb(t *testing.T) {
	var reqs []goldenEvent
	readGzip(t, "events.jsonl.gz", func(dec *json.Decoder) error {
		for dec.More() {
			var r goldenEvent
			if err := dec.Decode(&r); err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
		return nil
	})
	if len(reqs) < 40 {
		t.Fatalf("events.jsonl.gz holds %d requests", len(reqs))
	}
	run := func(t *testing.T, cfg store.Config) {
		srv, es := eventsAPI(t, cfg, 1699999200)
		var ourIDs []int64 // ours, in the order posted: graphite-web's id i is ourIDs[i-1]
		toGraphite := func(v any) any {
			return mapIDs(v, func(id int64) int64 { return int64(slices.Index(ourIDs, id) + 1) })
		}
		for i, r := range reqs {
			name := fmt.Sprintf("#%d %s %s %v", i, r.Method, r.Path, r.Params)
			path := r.Path
			if strings.HasPrefix(path, "/events/") && path != "/events/" && path != "/events/get_data" {
				var id int64
				fmt.Sscanf(strings.Trim(strings.TrimPrefix(path, "/events/"), "/"), "%d", &id)
				if id >= 1 && int(id) <= len(ourIDs) {
					path = fmt.Sprintf("/events/%d/", ourIDs[id-1])
				}
			}
			q := url.Values{}
			for k, v := range r.Params {
				q.Set(k, v)
			}
			var body io.Reader
			if r.Body != nil {
				body = strings.NewReader(*r.Body)
			}
			req, _ := http.NewRequest(r.Method, srv.URL+path+"?"+q.Encode(), body)
			for k, v := range r.Headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := r.Status
			if want == 500 {
				want = 400
			}
			if resp.StatusCode != want {
				t.Errorf("%s: %d %s, want %d (graphite-web %d %s)", name, resp.StatusCode, got, want, r.Status, r.Response)
				continue
			}
			if r.Method == "POST" && r.Status == 200 {
				list, err := es.Events(context.Background(), store.EventQuery{From: -1 << 62, Until: 1 << 62, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range list {
					if !slices.Contains(ourIDs, e.ID) {
						ourIDs = append(ourIDs, e.ID)
					}
				}
				if len(got) != 0 {
					t.Errorf("%s: answered %s, want nothing", name, got)
				}
				continue
			}
			if r.Status == 500 {
				continue // graphite-web's error page; ours says why
			}
			var wantV, gotV any
			wantRaw := r.Response
			if cb := r.Params["jsonp"]; cb != "" {
				var text string
				json.Unmarshal(r.Response, &text)
				wantRaw = []byte(strings.TrimSuffix(strings.TrimPrefix(text, cb+"("), ")"))
				if !bytes.HasPrefix(got, []byte(cb+"(")) || !bytes.HasSuffix(got, []byte(")")) {
					t.Errorf("%s: %s is not wrapped in %s(...)", name, got, cb)
					continue
				}
				got = got[len(cb)+1 : len(got)-1]
			}
			if err := json.Unmarshal(wantRaw, &wantV); err != nil {
				t.Fatalf("%s: golden %v", name, err)
			}
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Errorf("%s: %v: %s", name, err, got)
				continue
			}
			if r.Path == "/render" {
				wantV, gotV = dropKey(wantV, "tags"), dropKey(gotV, "tags")
			}
			gb, _ := json.Marshal(toGraphite(gotV))
			wb, _ := json.Marshal(wantV)
			if string(gb) != string(wb) {
				t.Errorf("%s:\n got %.600s\nwant %.600s", name, gb, wb)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		run(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "e.db")})
	})
	t.Run("mariadb", func(t *testing.T) {
		_, dsn := testenv.MySQL(t)
		run(t, store.Config{Driver: "mysql", DSN: dsn})
	})
	t.Run("cassandra", func(t *testing.T) {
		hosts := testenv.CassandraHosts(t)
		_, ks := testenv.Cassandra(t)
		run(t, store.Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}})
	})
}

// eventsAPI serves an empty store with its events at now.
func eventsAPI(t *testing.T, cfg store.Config, now int64) (*httptest.Server, store.EventStore) {
	t.Helper()
	s := openStore(t, cfg)
	if err := s.(store.EventStore).InitEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, _ := rollup.ParseTimes([]string{"10s:6h", "60s:168h"})
	a := New(Config{Resolutions: res, MaxSeries: 1000, MaxPoints: 1000000, MaxFind: 10000, QueryTimeout: 10 * time.Second,
		Now: func() time.Time { return time.Unix(now, 0) }, Events: s.(store.EventStore), EventsPostOpen: true, MaxEvents: 100},
		s.(store.Reader), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, s.(store.EventStore)
}

// mapIDs replaces every "id" number in v by f of it.
func mapIDs(v any, f func(int64) int64) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(float64); ok && k == "id" {
				x[k] = float64(f(int64(n)))
			} else {
				x[k] = mapIDs(e, f)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = mapIDs(e, f)
		}
	}
	return v
}
