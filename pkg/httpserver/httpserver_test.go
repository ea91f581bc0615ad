package httpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/config"
)

func testConfig() Config {
	return Config{ReadHeaderTimeout: config.Duration(5 * time.Second), ReadTimeout: config.Duration(5 * time.Second),
		WriteTimeout: config.Duration(10 * time.Second), IdleTimeout: config.Duration(time.Minute),
		MaxHeaderBytes: 4096, MaxConcurrent: 8}
}

// start serves h on a loopback port with cfg and returns the server and its
// address; the server is shut down when the test ends.
func start(t *testing.T, cfg Config, h http.Handler) (*Server, string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, h, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reads c until the server closes it, failing the test when
// the deadline (far longer than the timeouts under test) passes first.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open past the deadline")
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })

func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = config.Duration(100 * time.Millisecond)
	s, addr := start(t, cfg, ok)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Close {
		t.Fatalf("got %d %q close=%v, want a kept-alive 200 ok", resp.StatusCode, body, resp.Close)
	}
	closedByServer(t, c, br)
	waitFor(t, "no open connection", func() bool { return s.Connections.Load() == 0 })
	if got := s.Accepted.Load(); got != 1 {
		t.Errorf("connections accepted %d, want 1", got)
	}
}

func TestSlowHeaderIsCutOff(t *testing.T) {
	cfg := testConfig()
	cfg.ReadHeaderTimeout = config.Duration(100 * time.Millisecond)
	s, addr := start(t, cfg, ok)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	closedByServer(t, c, c)
	if got := s.Requests.Load(); got != 0 {
		t.Errorf("requests %d, want 0", got)
	}
}

// slowBody sends a POST that promises 100 bytes and sends 10.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlowBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	t.Run("read_timeout", func(t *testing.T) {
		cfg := testConfig()
		cfg.ReadTimeout = config.Duration(100 * time.Millisecond)
		_, addr := start(t, cfg, h)
		c := slowBody(t, addr)
		if err := <-readErr; err == nil {
			t.Fatal("the handler read a body that never came")
		}
		closedByServer(t, c, c)
	})
	t.Run("request_timeout", func(t *testing.T) {
		cfg := testConfig()
		cfg.ReadTimeout = 0
		cfg.RequestTimeout = 100 * time.Millisecond
		s, addr := start(t, cfg, h)
		c := slowBody(t, addr)
		if err := <-readErr; err == nil {
			t.Fatal("the handler read a body that never came")
		}
		closedByServer(t, c, c)
		waitFor(t, "the request counted as timed out", func() bool { return s.TimedOut.Load() == 1 })
	})
}

// TestUnreadSlowBodyIsCutOff: a handler that answers without reading the
// body (as a 429 does) leaves net/http reading the rest after it returns;
// the request deadline bounds that too.
func TestUnreadSlowBodyIsCutOff(t *testing.T) {
	cfg := testConfig()
	cfg.ReadTimeout = 0
	cfg.RequestTimeout = 100 * time.Millisecond
	_, addr := start(t, cfg, ok)
	c := slowBody(t, addr)
	closedByServer(t, c, c)
}

func TestRequestTimeoutEndsTheHandlersContext(t *testing.T) {
	cfg := testConfig()
	cfg.RequestTimeout = 100 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, r.Context().Err().Error(), http.StatusServiceUnavailable)
		case <-time.After(10 * time.Second):
			io.WriteString(w, "no deadline")
		}
	})
	s, addr := start(t, cfg, h)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "deadline exceeded") {
		t.Fatalf("got %d %q, want 503 deadline exceeded", resp.StatusCode, body)
	}
	if got := s.TimedOut.Load(); got != 1 {
		t.Errorf("timed out %d, want 1", got)
	}
}

func TestMaxConcurrentAnswers429(t *testing.T) {
	const max = 3
	cfg := testConfig()
	cfg.MaxConcurrent = max
	entered, release := make(chan struct{}, max), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	})
	s, addr := start(t, cfg, h)
	set := metrics.NewSet()
	s.Register(set, "test")
	codes := make(chan int, max)
	for range max {
		go func() {
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range max {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the blocked requests did not all reach the handler")
		}
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("request %d: %d (Retry-After %q), want 429 with Retry-After 1", max+1, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got, in := s.Busy.Load(), s.InFlight.Load(); got != 1 || in != max {
		t.Errorf("busy %d in flight %d, want 1 and %d", got, in, max)
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	for _, want := range []string{`consthash_http_requests_busy_total{server="test"} 1`, `consthash_http_requests_in_flight{server="test"} 3`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
	close(release)
	for range max {
		if c := <-codes; c != 200 {
			t.Errorf("a blocked request ended %d, want 200", c)
		}
	}
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the release: %d, want 200", resp.StatusCode)
	}
	if got := s.Requests.Load(); got != max+1 {
		t.Errorf("requests %d, want %d", got, max+1)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeaderBytes = 1024
	_, addr := start(t, cfg, ok)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8192)) // net/http allows 4 KiB of slack
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %d, want 431", resp.StatusCode)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no header timeout", func(c *Config) { c.ReadHeaderTimeout = 0 }, "read_header_timeout"},
		{"no idle timeout", func(c *Config) { c.IdleTimeout = 0 }, "idle_timeout"},
		{"tiny header cap", func(c *Config) { c.MaxHeaderBytes = 10 }, "max_header_bytes"},
		{"no cap", func(c *Config) { c.MaxConcurrent = 0 }, "max_concurrent"},
		{"write before read", func(c *Config) { c.WriteTimeout = c.ReadTimeout }, "write_timeout"},
		{"write before request", func(c *Config) { c.RequestTimeout = time.Hour }, "write_timeout"},
		{"no read or write timeout", func(c *Config) { c.ReadTimeout, c.WriteTimeout = 0, 0 }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}
