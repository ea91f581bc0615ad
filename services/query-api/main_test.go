package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
)

// closedByServer reads c until the server closes it; the deadline is far
// longer than the timeouts under test.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
}

// TestServerLimits runs the query-api binary with short limits: an idle
// keep-alive connection and a client that never finishes its headers or its
// body are closed, and /stats and /metrics count the API server's requests.
func TestServerLimits(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "query-api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	listen, adminAddr := testenv.FreePort(t), testenv.FreePort(t)
	cfgPath := filepath.Join(dir, "query-api.toml")
	cfg := fmt.Sprintf(`listen = %q
query_timeout = "300ms"
read_header_timeout = "200ms"
idle_timeout = "200ms"
write_timeout = "10s"
max_concurrent = 4
[admin]
listen = %q
[storage]
driver = "sqlite"
dsn = "file:%s"
`, listen, adminAddr, filepath.Join(dir, "consthash.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("query-api stderr:\n%s", stderr.String())
		}
	}()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, "query-api", func() bool { code, _ := get("http://" + listen + "/version"); return code == 200 })

	dial := func() net.Conn {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("%d close=%v, want a kept-alive 200", resp.StatusCode, resp.Close)
		}
		closedByServer(t, c, br)
	})
	t.Run("slow header", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET /version HTTP/1.1\r\nHost: localhost\r\n")
		closedByServer(t, c, c)
	})
	t.Run("slow body", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST /render HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntarget=a.b")
		closedByServer(t, c, c)
	})
	code, body := get("http://" + adminAddr + "/stats")
	if code != 200 || !strings.Contains(body, `"http": {`) || !strings.Contains(body, `"max_concurrent": 4`) ||
		!strings.Contains(body, `"timed_out": 1`) {
		t.Fatalf("/stats %d %s", code, body)
	}
	code, body = get("http://" + adminAddr + "/metrics")
	if code != 200 || !strings.Contains(body, `consthash_http_requests_total{server="query"}`) ||
		!strings.Contains(body, `consthash_http_requests_busy_total{server="query"} 0`) {
		t.Fatalf("/metrics %d %s", code, body)
	}
}

// TestEventsThroughTheBinary posts, reads and deletes an event as a
// deploy script and Grafana do: posting on the API's port, deleting on the
// admin server with its token, the counters on /metrics and /stats.
func TestEventsThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "query-api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	listen, adminAddr := testenv.FreePort(t), testenv.FreePort(t)
	cfgPath := filepath.Join(dir, "query-api.toml")
	cfg := fmt.Sprintf("listen = %q\nmax_events = 2\n[admin]\nlisten = %q\ntoken = \"sesame\"\n[storage]\ndriver = \"sqlite\"\ndsn = \"file:%s\"\n",
		listen, adminAddr, filepath.Join(dir, "consthash.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("query-api stderr:\n%s", stderr.String())
		}
	}()
	do := func(method, url, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	api, adm := "http://"+listen, "http://"+adminAddr
	testenv.Eventually(t, "query-api", func() bool { code, _ := do("GET", api+"/version", "", ""); return code == 200 })
	for _, tt := range []struct {
		method, url, token, body string
		code                     int
		want                     string
	}{
		{"POST", api + "/events/", "", `{"what": "deploy", "tags": ["web", "v2"], "when": 1700000000, "data": "ok"}`, 200, ""},
		{"POST", api + "/events", "", `{"what": "rollback", "tags": "web", "when": 1700000060}`, 200, ""},
		{"GET", api + "/events/get_data?from=1699999000&until=1700001000&tags=v2", "", "", 200,
			`[{"when":1700000000,"what":"deploy","data":"ok","tags":["web","v2"],"id":1}]`},
		{"POST", api + "/events/", "", `{"what": "third", "when": 1700000120}`, 200, ""},
		{"GET", api + "/events/get_data?from=1699999000&until=1700001000", "", "", 400, "more than 2 events (max_events)"},
		{"POST", api + "/events/", "", `{"what": "` + strings.Repeat("x", 100_000) + `"}`, 413, "larger than"},
		{"POST", api + "/events/", "", `{"tags": "x"}`, 400, `\"what\" is required`},
		{"DELETE", api + "/events/1", "", "", 405, "admin"},
		{"DELETE", adm + "/events/1", "", "", 401, "token"},
		{"DELETE", adm + "/events/1", "sesame", "", 200, `{"deleted":1}`},
		{"DELETE", adm + "/events/1", "sesame", "", 404, "Event matching query does not exist"},
		{"POST", adm + "/events/", "sesame", `{"what": "by the admin", "when": 1700000180}`, 200, ""},
		{"GET", api + "/events/get_data?from=1700000100&until=1700001000", "", "", 200, `"what":"by the admin"`},
	} {
		code, body := do(tt.method, tt.url, tt.token, tt.body)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s: %d %.200s, want %d with %s", tt.method, tt.url, code, body, tt.code, tt.want)
		}
	}
	_, metrics := do("GET", adm+"/metrics", "sesame", "")
	for _, want := range []string{"consthash_query_api_events_posted_total 4", "consthash_query_api_events_deleted_total 1",
		`consthash_query_api_events_refused_total{reason="max_events"} 1`, `consthash_query_api_events_refused_total{reason="body_size"} 1`,
		`consthash_query_api_events_refused_total{reason="invalid"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, stats := do("GET", adm+"/stats", "sesame", ""); !strings.Contains(stats, `"events": {`) || !strings.Contains(stats, `"posted": 4`) {
		t.Errorf("/stats: %s", stats)
	}
}

// TestPathIndexThroughTheBinary runs query-api with its path index on NATS:
// once /ops/status says the index is ready, a path a writer stores and
// announces on consthash.index.new is found without a restart, and /stats
// and /metrics count it.
func TestPathIndexThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "query-api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dsn := "file:" + filepath.Join(dir, "consthash.db")
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(paths ...string) {
		b := &rollup.Batch{Source: "t", Resolution: rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}}
		for _, p := range paths {
			var pt rollup.Point
			pt.Path, pt.Time = p, time.Now().Unix()/10*10
			pt.Add(1, 1)
			b.Points = append(b.Points, pt)
		}
		if err := st.Write(ctx, []*rollup.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	write("app.web01.requests", "app.web02.requests")
	st.(store.Indexer).TakeNewPaths()

	nc := testenv.NATSConn(t)
	listen, adminAddr := testenv.FreePort(t), testenv.FreePort(t)
	cfgPath := filepath.Join(dir, "query-api.toml")
	cfg := fmt.Sprintf("listen = %q\n[admin]\nlisten = %q\n[storage]\ndriver = \"sqlite\"\ndsn = %q\n[path_index]\nnats = %q\n",
		listen, adminAddr, dsn, nc.ConnectedUrl())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("query-api stderr:\n%s", stderr.String())
		}
	}()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, "path index ready", func() bool {
		_, body := get("http://" + adminAddr + "/ops/status")
		return strings.Contains(body, `"path_index": "ready"`) || strings.Contains(body, `"path_index":"ready"`)
	})
	find := func() string {
		_, body := get("http://" + listen + "/metrics/find?query=app.*.requests&format=completer")
		return body
	}
	if body := find(); !strings.Contains(body, "app.web02.requests") || strings.Contains(body, "app.web03") {
		t.Fatalf("find before: %s", body)
	}
	// As a writer: store, then announce what the write added to the index.
	write("app.web03.requests")
	var buf []byte
	for _, p := range st.(store.Indexer).TakeNewPaths() {
		buf = append(append(buf, p...), '\n')
	}
	if err := nc.Publish(bus.IndexSubject, buf); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the announced path found", func() bool { return strings.Contains(find(), "app.web03.requests") })
	_, stats := get("http://" + adminAddr + "/stats")
	if !strings.Contains(stats, `"announced_paths": 2`) || !strings.Contains(stats, `"paths": 7`) {
		t.Errorf("/stats: %s", stats)
	}
	_, m := get("http://" + adminAddr + "/metrics")
	if !strings.Contains(m, "consthash_query_api_path_index_paths 7") || !strings.Contains(m, "consthash_query_api_path_index_announced_paths_total 2") {
		t.Errorf("/metrics lacks the path index's figures")
	}
}
