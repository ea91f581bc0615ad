package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestStatsCountRequestsPerEndpoint(t *testing.T) {
	set := metrics.NewSet()
	st := NewStats(set)
	mux := http.NewServeMux()
	mux.HandleFunc("/render", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("target") == "" {
			http.Error(w, "no target", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/tags/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	srv := httptest.NewServer(st.Wrap(mux))
	defer srv.Close()
	for _, p := range []string{"/render?target=a", "/render", "/tags/x", "/nope", "/metrics/find?query=*"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	snap := st.Snapshot().(map[string]any)["endpoints"].(map[string]any)
	render := snap["render"].(map[string]any)
	if render["requests"] != uint64(2) || render["client_errors"] != uint64(1) || render["server_errors"] != uint64(0) {
		t.Errorf("render: %v", render)
	}
	if tags := snap["tags"].(map[string]any); tags["server_errors"] != uint64(1) {
		t.Errorf("tags: %v", tags)
	}
	if snap["other"] == nil || snap["find"] == nil {
		t.Errorf("endpoints %v", snap)
	}
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for _, want := range []string{`consthash_query_api_requests_total{endpoint="render"} 2`, `consthash_query_api_client_errors_total{endpoint="render"} 1`,
		`consthash_query_api_request_duration_seconds_bucket{endpoint="tags"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, b.String())
		}
	}
}
