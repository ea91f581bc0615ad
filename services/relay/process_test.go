package main

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// relayProcess is a relay binary running under a test.
type relayProcess struct {
	t      *testing.T
	admin  string
	listen string
	stderr *lockedBuffer
	token  string // sent with reads when the config sets one
}

// buildRelay builds the relay binary into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startRelayProcess runs bin with cfg (a TOML text in which %[1]s is the
// admin address and %[2]s the listen address); nofile > 0 runs it with
// that open-file limit (soft and hard).
func startRelayProcess(t *testing.T, bin, cfg string, nofile int) *relayProcess {
	t.Helper()
	p := &relayProcess{t: t, admin: testenv.FreePort(t), listen: testenv.FreePort(t), stderr: &lockedBuffer{}}
	path := filepath.Join(t.TempDir(), "relay.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(cfg, p.admin, p.listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	if nofile > 0 {
		cmd = exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" --config "$1"`, nofile), bin, path)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("relay stderr:\n%s", p.stderr.String())
		}
	})
	testenv.Eventually(t, "the admin server", func() bool { code, _ := p.get("/ops/status"); return code != 0 })
	return p
}

func (p *relayProcess) get(path string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.admin+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// listenerStats returns the /stats counters of the relay's only listener.
func (p *relayProcess) listenerStats() map[string]any {
	p.t.Helper()
	_, body := p.get("/stats")
	var st struct{ Listeners map[string]map[string]any }
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		p.t.Fatalf("/stats: %v: %s", err, body)
	}
	for _, l := range st.Listeners {
		return l
	}
	p.t.Fatalf("/stats has no listener: %s", body)
	return nil
}

func dialAll(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	return cs
}

// TestListenerAtTheFileLimit runs the relay with 64 open files. At the
// default max_connections (derived from that limit: 64 - 64/8 - 32 = 24) the
// connections beyond it are accepted, closed and counted, and the relay stays
// healthy. With max_connections above what the limit allows, accept fails
// with EMFILE: /ops/status turns 503 while the accept loop backs off, and once
// clients leave the relay accepts and reads again.
func TestListenerAtTheFileLimit(t *testing.T) {
	bin := buildRelay(t)
	sink := testenv.NewSink(t, "127.0.0.1:0")
	const base = `
[admin]
listen = %%[1]q
[sections.main]
listen = ["tcp://%%[2]s"]
cluster = "failover"
servers = ["tcp://%s"]
%s`
	t.Run("derived max_connections", func(t *testing.T) {
		p := startRelayProcess(t, bin, fmt.Sprintf(base, sink.Addr(), ""), 64)
		cs := dialAll(t, p.listen, 30)
		testenv.Eventually(t, "30 connections taken or refused", func() bool {
			st := p.listenerStats()
			return st["connections"].(float64)+st["refused"].(float64) == 30
		})
		st := p.listenerStats()
		if st["connections"] != float64(24) || st["refused"] != float64(6) {
			t.Fatalf("connections %v refused %v, want 24 and 6", st["connections"], st["refused"])
		}
		if code, body := p.get("/ops/status"); code != 200 {
			t.Fatalf("/ops/status %d %s: refusing beyond max_connections is healthy", code, body)
		}
		fmt.Fprintf(cs[0], "derived.a 1 1700000000\n")
		testenv.Eventually(t, "a line through a taken connection", func() bool { return sink.Has("derived.a 1 1700000000") })
	})
	t.Run("EMFILE", func(t *testing.T) {
		p := startRelayProcess(t, bin, fmt.Sprintf(base, sink.Addr(), "max_connections = 1000\n"), 64)
		c0 := dialAll(t, p.listen, 1)[0]
		fmt.Fprintf(c0, "emfile.before 1 1700000000\n")
		testenv.Eventually(t, "the first line", func() bool { return sink.Has("emfile.before 1 1700000000") })
		cs := dialAll(t, p.listen, 80)
		// The admin server cannot accept either: the client reuses the
		// connection it opened before the relay ran out of descriptors.
		testenv.Eventually(t, "accept errors and a 503 naming the listener", func() bool {
			code, body := p.get("/ops/status")
			var st struct {
				Details map[string]struct {
					Accepting map[string]bool `json:"listeners_accepting"`
				}
			}
			_ = json.Unmarshal([]byte(body), &st)
			accepting, named := st.Details["main"].Accepting["tcp://"+p.listen]
			return code == http.StatusServiceUnavailable && named && !accepting
		})
		if p.listenerStats()["accept_errors"].(float64) == 0 {
			t.Fatal("accept_errors is 0")
		}
		for _, c := range cs {
			c.Close()
		}
		testenv.Eventually(t, "healthy again", func() bool { code, _ := p.get("/ops/status"); return code == 200 })
		c := dialAll(t, p.listen, 1)[0]
		fmt.Fprintf(c, "emfile.after 2 1700000000\n")
		testenv.Eventually(t, "a line through a new connection", func() bool { return sink.Has("emfile.after 2 1700000000") })
		if !strings.Contains(p.stderr.String(), "cannot accept a connection; retrying") {
			t.Fatalf("no accept error logged:\n%s", p.stderr.String())
		}
	})
}

// TestAddServerValidatesAsTheConfigDoes changes membership through the relay
// binary's admin HTTP: servers the configuration file would refuse are
// refused with 400 and the reason, so is a unix socket that is not there, and
// so is purging a section's last server; a good change still applies.
func TestAddServerValidatesAsTheConfigDoes(t *testing.T) {
	bin := buildRelay(t)
	a, b := testenv.NewSink(t, "127.0.0.1:0"), testenv.NewSink(t, "127.0.0.1:0")
	p := startRelayProcess(t, bin, fmt.Sprintf(`
[admin]
listen = %%[1]q
token = "s3cret"
[sections.main]
listen = ["tcp://%%[2]s"]
cluster = "murmur3"
servers = ["tcp://%s"]
`, a.Addr()), 0)
	post := func(path, server string) (int, string) {
		form := url.Values{"server": {server}}
		req, err := http.NewRequest(http.MethodPost, "http://"+p.admin+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct{ name, server, want string }{
		{"port out of range", "tcp://127.0.0.1:99999", `port "99999" is not a number from 1 to 65535`},
		{"no socket", "unix:///nonexistent", "no socket at /nonexistent"},
		{"no such directory", "unix:///no/such/dir/s.sock", "directory /no/such/dir does not exist"},
		{"host name too long", "tcp://" + strings.Repeat("h", 5000) + ":2003", "host name of 5000 characters: DNS allows at most 253"},
		{"not a URL", "carbon:2003", "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post("/main/addserver", tc.server)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Fatalf("addserver %.80q: %d %q, want 400 with %q", tc.server, code, body, tc.want)
			}
		})
	}
	if code, body := post("/main/purgeserver", "tcp://"+a.Addr()); code != http.StatusBadRequest || !strings.Contains(body, "last server of section main") {
		t.Fatalf("purging the last server: %d %q, want 400", code, body)
	}
	if code, body := post("/main/addserver", "tcp://"+b.Addr()); code != 200 {
		t.Fatalf("addserver of a good server: %d %q", code, body)
	}
	if code, body := post("/main/purgeserver", "tcp://"+a.Addr()); code != 200 {
		t.Fatalf("purgeserver with another server left: %d %q", code, body)
	}
	p.token = "s3cret"
	_, body := p.get("/servers")
	var servers map[string]struct{ Servers []struct{ Server string } }
	if err := json.Unmarshal([]byte(body), &servers); err != nil {
		t.Fatal(err)
	}
	if got := servers["main"].Servers; len(got) != 1 || got[0].Server != "tcp://"+b.Addr() {
		t.Fatalf("/servers after the changes: %s", body)
	}
	c := dialAll(t, p.listen, 1)[0]
	fmt.Fprintf(c, "after.purge 1 1700000000\n")
	testenv.Eventually(t, "a line to the remaining server", func() bool { return b.Has("after.purge 1 1700000000") })
}
