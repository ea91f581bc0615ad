package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Listen: "127.0.0.1:8080"}, true},
		{Config{Listen: "localhost:8080"}, true},
		{Config{Listen: "[::1]:8080"}, true},
		{Config{Listen: ":8080"}, false},
		{Config{Listen: "0.0.0.0:8080", Token: "s3cret"}, true},
		{Config{Listen: "nope"}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}

func TestEndpoints(t *testing.T) {
	set := metrics.NewSet()
	set.NewCounter(`lines_in_total{listener="a"}`).Add(3)
	healthy := true
	s := New("relay", Config{Listen: "127.0.0.1:0", Token: "tok"}, slog.New(slog.DiscardHandler), set,
		func() (bool, map[string]any) { return healthy, map[string]any{"members": 2} },
		func() any { return map[string]int{"lines_in": 3} })
	s.HandleMutating("POST /x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done") })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/ops/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || !st.Healthy || st.Service != "relay" {
		t.Fatalf("status %d %s", code, body)
	}
	healthy = false
	if code, _ := get("/ops/status"); code != 503 {
		t.Errorf("unhealthy status code %d, want 503", code)
	}
	if code, body := get("/stats"); code != 200 || !strings.Contains(body, `"lines_in": 3`) {
		t.Errorf("stats %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `lines_in_total{listener="a"} 3`) || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("metrics %d %s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("pprof %d", code)
	}
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer tok", 200}} {
		req, _ := http.NewRequest("POST", ts.URL+"/x", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("POST /x with %q: %d, want %d", tc.auth, resp.StatusCode, tc.code)
		}
	}
}
