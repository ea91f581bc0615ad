package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// distinct counts the different lines a sink received.
func distinct(s *testenv.Sink) int {
	seen := map[string]bool{}
	for _, l := range s.Lines() {
		seen[l] = true
	}
	return len(seen)
}

// TestRelayBinary runs the relay binary: lines flow, /hashcheck and
// /servers answer, addserver needs the token, SIGHUP reloads under load
// without loss, a bad reload is rejected, SIGTERM sends what is queued.
func TestRelayBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "relay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	a, b := testenv.NewSink(t, "127.0.0.1:0"), testenv.NewSink(t, "127.0.0.1:0")
	listen, adminAddr := testenv.FreePort(t), testenv.FreePort(t)
	cfgPath := filepath.Join(dir, "relay.toml")
	write := func(servers ...string) {
		var q []string
		for _, s := range servers {
			q = append(q, fmt.Sprintf("%q", s))
		}
		cfg := fmt.Sprintf(`
[admin]
listen = %q
token = "s3cret"
[sections.main]
listen = ["tcp://%s"]
cluster = "jump_fnv1a_ch"
servers = [%s]
`, adminAddr, listen, strings.Join(q, ", "))
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tcp://" + a.Addr())
	if out, err := exec.Command(bin, "--config", cfgPath, "--check-config").CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("--check-config: %v %s", err, out)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	testenv.Eventually(t, "the listener", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret") // with a token set, reads need it too
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	testenv.Eventually(t, "the admin server", func() bool { code, _ := get("/ops/status"); return code == 200 })

	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30000
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(conn)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "bin.%d %d 1700000000\n", i, i)
			if i%500 == 0 {
				w.Flush()
				time.Sleep(time.Millisecond)
			}
		}
		done <- w.Flush()
	}()
	// Reload under load to two servers, then a broken file that must be rejected.
	write("tcp://"+a.Addr(), "tcp://"+b.Addr())
	cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, "the reload", func() bool { _, body := get("/servers"); return strings.Contains(body, b.Addr()) })
	os.WriteFile(cfgPath, []byte("[sections.main]\nlisten = 5\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, "the rejected reload logged", func() bool { return strings.Contains(stderr.String(), "reload rejected") })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	conn.Close()
	testenv.Eventually(t, "every line", func() bool { return distinct(a)+distinct(b) == n })
	if distinct(b) == 0 {
		t.Fatal("the server added by the reload got nothing")
	}

	code, body := get("/hashcheck?key=bin.7")
	var hc struct {
		Sections map[string]struct{ Servers []string }
	}
	if code != 200 || json.Unmarshal([]byte(body), &hc) != nil || len(hc.Sections["main"].Servers) != 1 {
		t.Fatalf("/hashcheck: %d %s", code, body)
	}
	if code, _ := get("/stats"); code != 200 {
		t.Fatalf("/stats with the token: %d", code)
	}
	addserver := func(form url.Values, header string) int {
		req, _ := http.NewRequest("POST", "http://"+adminAddr+"/main/addserver", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if header != "" {
			req.Header.Set("X-Consthash-Token", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := addserver(url.Values{"server": {"tcp://127.0.0.1:1"}}, ""); code != http.StatusUnauthorized {
		t.Fatalf("addserver without the token: %d", code)
	}
	if code := addserver(url.Values{"server": {"tcp://127.0.0.1:1"}, "token": {"s3cret"}}, ""); code != http.StatusBadRequest {
		t.Fatalf("addserver with the token in the form: %d, want 400", code)
	}
	if code := addserver(url.Values{"server": {"tcp://127.0.0.1:1"}}, "s3cret"); code != 200 {
		t.Fatalf("addserver with the token: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `consthash_relay_lines_routed_total{section="main"}`) {
		t.Fatalf("/metrics: %d", code)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("relay exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("relay did not stop")
	}
	if !strings.Contains(stderr.String(), "relay stopped") {
		t.Fatalf("no stop log:\n%s", stderr.String())
	}
}
