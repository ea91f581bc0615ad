package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/store"
)

// TestEventsRefusals: posting on the API's port when events_post_open is
// false, and a store that keeps no events, are refused with a reason.
func TestEventsRefusals(t *testing.T) {
	s := openStore(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "e.db")})
	set := metrics.NewSet()
	for _, tt := range []struct {
		cfg        Config
		method     string
		path, body string
		code       int
		want       string
	}{
		{Config{Events: s.(store.EventStore), Metrics: set}, "POST", "/events/", `{"what": "x"}`, 403, "events_post_open = false"},
		{Config{}, "GET", "/events/get_data", "", 501, "keeps no events"},
		{Config{}, "POST", "/events/", `{"what": "x"}`, 403, "events_post_open"},
		{Config{EventsPostOpen: true}, "POST", "/events/", `{"what": "x"}`, 501, "keeps no events"},
		{Config{Events: s.(store.EventStore)}, "GET", "/events/", "", 405, "POST an event"},
		{Config{Events: s.(store.EventStore)}, "GET", "/events/abc/", "", 404, "no such page"},
		{Config{Events: s.(store.EventStore)}, "GET", "/events/get_data?from=bogus", "", 400, "invalid from"},
		{Config{Events: s.(store.EventStore), EventsPostOpen: true}, "POST", "/events/", `{"what": "x", "tags": [1]}`, 400, "list of strings"},
		{Config{Events: s.(store.EventStore), EventsPostOpen: true}, "POST", "/events/", `{"what": "x", "when": "noon"}`, 400, "seconds since 1970"},
		{Config{Events: s.(store.EventStore), EventsPostOpen: true}, "POST", "/events/", `["x"]`, 400, "JSON object"},
	} {
		a := New(tt.cfg, s.(store.Reader), slog.New(slog.DiscardHandler))
		mux := http.NewServeMux()
		a.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s %s %s: %d %s, want %d %q", tt.method, tt.path, tt.body, rec.Code, rec.Body, tt.code, tt.want)
		}
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), `consthash_query_api_events_refused_total{reason="post_closed"} 1`) {
		t.Errorf("post_closed not counted:\n%s", b.String())
	}
}

// TestEventsFunction renders events() over posted events: one-second steps
// counting the events of each second, tags selecting as get_data does.
func TestEventsFunction(t *testing.T) {
	const now = 1700000000
	srv, _ := eventsAPI(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "e.db")}, now)
	for _, body := range []string{`{"what": "a", "tags": "deploy", "when": 1699999990}`, `{"what": "b", "tags": "deploy web", "when": 1699999990.5}`,
		`{"what": "c", "tags": "web", "when": 1699999995}`, `{"what": "d", "tags": "deploy", "when": 1700000000}`} {
		resp, err := http.Post(srv.URL+"/events/", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post %s: %v %v", body, err, resp)
		}
		resp.Body.Close()
	}
	for _, tt := range []struct{ target, want string }{
		{`events("*")`, `events("*"): 2@1699999990 1@1699999995`},
		{`events("deploy")`, `events("deploy"): 2@1699999990`},
		{`events("web", "deploy")`, `events("web", "deploy"): 1@1699999990`},
		{`events("nosuch")`, `events("nosuch"):`},
	} {
		code, body := post(t, srv, "/render", url.Values{"target": {tt.target}, "from": {"1699999980"}, "until": {"1700000000"}, "format": {"json"}})
		var v []struct {
			Target     string
			Datapoints [][2]*float64
		}
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || len(v) != 1 {
			t.Fatalf("%s: %d %v %s", tt.target, code, err, body)
		}
		got := v[0].Target + ":"
		for _, p := range v[0].Datapoints {
			if p[0] != nil {
				got += " " + jsonFloat(*p[0]) + "@" + jsonFloat(*p[1])
			}
		}
		if len(v[0].Datapoints) != 20 || got != tt.want {
			t.Errorf("%s: %d points %q, want 20 and %q", tt.target, len(v[0].Datapoints), got, tt.want)
		}
	}
}

func jsonFloat(f float64) string { b, _ := json.Marshal(f); return string(b) }
