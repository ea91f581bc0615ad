package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/config"
)

func TestValidate(t *testing.T) {
	with := func(edit func(*Config)) Config {
		c := Default("127.0.0.1:8080")
		edit(&c)
		return c
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"disabled", Config{}, true},
		{"loopback", Default("127.0.0.1:8080"), true},
		{"localhost", Default("localhost:8080"), true},
		{"ipv6 loopback", Default("[::1]:8080"), true},
		{"wildcard without token", Default(":8080"), false},
		{"wildcard with token", with(func(c *Config) { c.Listen, c.Token = "0.0.0.0:8080", "s3cret" }), true},
		{"no port", Default("nope"), false},
		{"token and token_file", with(func(c *Config) { c.Token, c.TokenFile = "s3cret", "/tmp/t" }), false},
		{"read_token equal to token", with(func(c *Config) { c.Token, c.ReadToken = "s3cret", "s3cret" }), false},
		{"open path without slash", with(func(c *Config) { c.OpenPaths = []string{"metrics"} }), false},
		{"allowed host with port", with(func(c *Config) { c.AllowedHosts = []string{"relay:8081"} }), false},
		{"allowed host", with(func(c *Config) { c.AllowedHosts = []string{"relay", "10.0.0.1", "::1"} }), true},
		{"no header timeout", with(func(c *Config) { c.ReadHeaderTimeout = 0 }), false},
		{"no concurrency cap", with(func(c *Config) { c.MaxConcurrent = 0 }), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
			}
		})
	}
}

func TestDecodeFlattensTheLimits(t *testing.T) {
	var c struct {
		Admin Config `toml:"admin"`
	}
	c.Admin = Default("127.0.0.1:1")
	if err := config.Decode("x.toml", "[admin]\nidle_timeout = \"7s\"\nmax_concurrent = 3\nread_token = \"ro\"\n", &c); err != nil {
		t.Fatal(err)
	}
	if c.Admin.IdleTimeout.D() != 7*time.Second || c.Admin.MaxConcurrent != 3 || c.Admin.ReadToken != "ro" || c.Admin.ReadHeaderTimeout.D() != 5*time.Second {
		t.Fatalf("got %+v", c.Admin)
	}
}

// start runs an admin server on a loopback port with a POST /x mutating
// endpoint and stops it when the test ends.
func start(t *testing.T, cfg Config, set *metrics.Set, stats func() any) *Server {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := New("relay", cfg, slog.New(slog.DiscardHandler), set, nil, stats)
	s.HandleMutating("POST /x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done "+r.FormValue("server")) })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

type request struct {
	method, path, host, origin, bearer, header string
	form                                       url.Values
}

func do(t *testing.T, s *Server, rq request) (int, string) {
	t.Helper()
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	method := rq.method
	if method == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, "http://"+s.Addr().String()+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	if rq.origin != "" {
		req.Header.Set("Origin", rq.origin)
	}
	if rq.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.header != "" {
		req.Header.Set(TokenHeader, rq.header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	set := metrics.NewSet()
	set.NewCounter(`lines_in_total{listener="a"}`).Add(3)
	healthy := true
	cfg := Default("127.0.0.1:0")
	cfg.Token = "tok"
	s := New("relay", cfg, slog.New(slog.DiscardHandler), set,
		func() (bool, map[string]any) { return healthy, map[string]any{"members": 2} },
		func() any { return map[string]int{"lines_in": 3} })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	get := func(path string) (int, string) { return do(t, s, request{path: path, bearer: "tok"}) }
	code, body := get("/ops/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || !st.Healthy || st.Service != "relay" {
		t.Fatalf("status %d %s", code, body)
	}
	healthy = false
	if code, _ := get("/ops/status"); code != 503 {
		t.Errorf("unhealthy status code %d, want 503", code)
	}
	if code, body := get("/stats"); code != 200 || !strings.Contains(body, `"lines_in": 3`) || !strings.Contains(body, `"admin": {`) {
		t.Errorf("stats %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `lines_in_total{listener="a"} 3`) ||
		!strings.Contains(body, "process_resident_memory_bytes") || !strings.Contains(body, `consthash_http_requests_total{server="admin"}`) {
		t.Errorf("metrics %d %s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("pprof %d", code)
	}
}

// TestGeneratedToken: with no token configured, a mutating endpoint needs
// the token the server wrote to its token file; reads stay open to this
// host's own names.
func TestGeneratedToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run", "relay.token")
	cfg := Default("127.0.0.1:0")
	cfg.TokenFile = file
	s := start(t, cfg, nil, func() any { return map[string]int{"lines_in": 1} })
	if s.TokenFile() != file {
		t.Fatalf("token file %q, want %q", s.TokenFile(), file)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		t.Fatalf("generated token %q is short", tok)
	}
	port := s.Addr().(*net.TCPAddr).Port
	self := s.Addr().String()
	form := url.Values{"server": {"tcp://127.0.0.1:1"}}
	for _, tt := range []struct {
		name string
		rq   request
		code int
	}{
		{"no token", request{method: "POST", path: "/x", form: form}, 401},
		{"wrong token", request{method: "POST", path: "/x", form: form, bearer: "nope"}, 401},
		{"token in the query", request{method: "POST", path: "/x?token=" + tok, form: form, bearer: tok}, 400},
		{"token in the form", request{method: "POST", path: "/x", form: url.Values{"server": {"a"}, "token": {tok}}, bearer: tok}, 400},
		{"foreign host", request{method: "POST", path: "/x", form: form, bearer: tok, host: "evil.example:" + itoa(port)}, 403},
		{"foreign origin", request{method: "POST", path: "/x", form: form, bearer: tok, origin: "http://evil.example"}, 403},
		{"origin on another port", request{method: "POST", path: "/x", form: form, bearer: tok, origin: "http://127.0.0.1:1"}, 403},
		{"null origin", request{method: "POST", path: "/x", form: form, bearer: tok, origin: "null"}, 403},
		{"bearer", request{method: "POST", path: "/x", form: form, bearer: tok}, 200},
		{"token header", request{method: "POST", path: "/x", form: form, header: tok}, 200},
		{"same origin", request{method: "POST", path: "/x", form: form, bearer: tok, origin: "http://" + self}, 200},
		{"localhost", request{method: "POST", path: "/x", form: form, bearer: tok, host: "localhost:" + itoa(port)}, 200},
		{"stats without token", request{path: "/stats"}, 200},
		{"stats for a foreign host", request{path: "/stats", host: "evil.example"}, 403},
		{"status for a foreign host", request{path: "/ops/status", host: "evil.example"}, 200},
		{"metrics for a foreign host", request{path: "/metrics", host: "evil.example"}, 200},
		{"pprof without token", request{path: "/debug/pprof/"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, s, tt.rq)
			if code != tt.code {
				t.Fatalf("%d %q, want %d", code, body, tt.code)
			}
			if code == 200 && tt.rq.path == "/x" && body != "done tcp://127.0.0.1:1" {
				t.Fatalf("body %q", body)
			}
		})
	}
	code, body := do(t, s, request{path: "/stats"})
	var st struct {
		LinesIn int `json:"lines_in"`
		Admin   struct {
			Refused map[string]int `json:"refused"`
		} `json:"admin"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("stats %d %s", code, body)
	}
	want := map[string]int{"no_token": 1, "bad_token": 1, "token_in_url": 2, "foreign_host": 2, "foreign_origin": 3, "read_only_token": 0}
	for k, v := range want {
		if st.LinesIn != 1 || st.Admin.Refused[k] != v {
			t.Errorf("stats %s: %d, want %d (%s)", k, st.Admin.Refused[k], v, body)
		}
	}
	_, body = do(t, s, request{path: "/metrics"})
	if !strings.Contains(body, `consthash_admin_refused_total{reason="foreign_origin"} 3`) {
		t.Errorf("metrics lack the refused counter:\n%s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the token file outlived the server: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestConfiguredTokens: a configured token guards reads too, a read token
// opens reads only, open paths stay open, allowed_hosts extends the names.
func TestConfiguredTokens(t *testing.T) {
	cfg := Default("127.0.0.1:0")
	cfg.Token, cfg.ReadToken, cfg.AllowedHosts = "admin-secret", "read-secret", []string{"relay.internal"}
	cfg.TokenFile = "" // a configured token writes no file
	s := start(t, cfg, nil, nil)
	s.Handle("GET /servers", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[]") })
	if s.TokenFile() != "" {
		t.Errorf("a configured token wrote %s", s.TokenFile())
	}
	form := url.Values{"server": {"s"}}
	for _, tt := range []struct {
		name string
		rq   request
		code int
	}{
		{"stats without token", request{path: "/stats"}, 401},
		{"stats with the read token", request{path: "/stats", bearer: "read-secret"}, 200},
		{"stats with the token", request{path: "/stats", header: "admin-secret"}, 200},
		{"servers without token", request{path: "/servers"}, 401},
		{"servers with the read token", request{path: "/servers", header: "read-secret"}, 200},
		{"pprof without token", request{path: "/debug/pprof/"}, 401},
		{"pprof with the read token", request{path: "/debug/pprof/", bearer: "read-secret"}, 200},
		{"status without token", request{path: "/ops/status"}, 200},
		{"metrics without token", request{path: "/metrics"}, 200},
		{"read token in the query", request{path: "/stats?token=read-secret"}, 400},
		{"mutation with the read token", request{method: "POST", path: "/x", form: form, bearer: "read-secret"}, 403},
		{"mutation with the token", request{method: "POST", path: "/x", form: form, bearer: "admin-secret"}, 200},
		{"allowed host", request{path: "/stats", bearer: "read-secret", host: "Relay.Internal:80"}, 200},
		{"other host", request{path: "/stats", bearer: "read-secret", host: "relay.evil"}, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := do(t, s, tt.rq); code != tt.code {
				t.Fatalf("%d %q, want %d", code, body, tt.code)
			}
		})
	}
}

func TestOpenPathsCanBeClosed(t *testing.T) {
	cfg := Default("127.0.0.1:0")
	cfg.Token, cfg.OpenPaths = "tok", []string{}
	s := start(t, cfg, nil, nil)
	for _, p := range []string{"/metrics", "/ops/status"} {
		if code, _ := do(t, s, request{path: p}); code != 401 {
			t.Errorf("%s without token: %d, want 401", p, code)
		}
		if code, _ := do(t, s, request{path: p, bearer: "tok"}); code != 200 {
			t.Errorf("%s with the token: %d, want 200", p, code)
		}
	}
}

// TestAdminServerHasLimits: the admin port closes idle keep-alive
// connections (the hardened server is the one that serves).
func TestAdminServerHasLimits(t *testing.T) {
	cfg := Default("127.0.0.1:0")
	cfg.IdleTimeout = config.Duration(100 * time.Millisecond)
	s := start(t, cfg, nil, nil)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ops/status HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the idle connection stayed open")
	}
}
