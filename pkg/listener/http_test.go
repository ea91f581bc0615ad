package listener

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
)

// closedByServer reads c until the server closes it; the deadline is far
// longer than the limits under test.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the listener kept the connection open")
	}
}

func TestHTTPListenerLimits(t *testing.T) {
	cfg := Config{HTTP: DefaultHTTP()}
	cfg.HTTP.IdleTimeout = config.Duration(100 * time.Millisecond)
	cfg.HTTP.ReadHeaderTimeout = config.Duration(100 * time.Millisecond)
	cfg.HTTP.ReadTimeout = config.Duration(200 * time.Millisecond)
	l, s := start(t, "http://127.0.0.1:0/lines", cfg)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST /lines HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na 1\n")
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
		io.WriteString(c, "POST /lines HTTP/1.1\r\nHost: x\r\n")
		closedByServer(t, c, c)
	})
	t.Run("slow body", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST /lines HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nb 2\nc 3")
		closedByServer(t, c, c)
	})
	// The complete line of the cut-off body was handled; its partial last
	// line, cut by the deadline and not by the end of the body, was not.
	if got := s.waitFor(t, 2); !slices.Equal(got, []string{"a 1", "b 2"}) {
		t.Errorf("lines %q, want a 1, b 2", got)
	}
	if st := l.HTTPServer(); st.Requests.Load() != 2 || st.Accepted.Load() != 3 {
		t.Errorf("requests %d connections %d, want 2 and 3", st.Requests.Load(), st.Accepted.Load())
	}
}

// blockingSession holds every request in Line until release closes.
type blockingSession struct{ entered, release chan struct{} }

func (b blockingSession) Line([]byte) bool { b.entered <- struct{}{}; <-b.release; return true }
func (blockingSession) Flush()             {}
func (blockingSession) Close()             {}

func TestHTTPListenerMaxConcurrent(t *testing.T) {
	const max = 2
	cfg := Config{HTTP: DefaultHTTP()}
	cfg.HTTP.MaxConcurrent = max
	ep, err := endpoint.Parse("http://127.0.0.1:0/lines")
	if err != nil {
		t.Fatal(err)
	}
	bs := blockingSession{entered: make(chan struct{}, max), release: make(chan struct{})}
	l, err := ListenSessions(ep, cfg, func(net.Addr) Session { return bs }, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	url := fmt.Sprintf("http://%s/lines", l.Addr())
	post := func() int {
		resp, err := http.Post(url, "text/plain", strings.NewReader("a 1\n"))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := make(chan int, max)
	for range max {
		go func() { codes <- post() }()
	}
	for range max {
		select {
		case <-bs.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the blocked requests did not reach the session")
		}
	}
	if code := post(); code != http.StatusTooManyRequests {
		t.Fatalf("request %d: %d, want 429", max+1, code)
	}
	if got := l.HTTPServer().Busy.Load(); got != 1 {
		t.Errorf("busy %d, want 1", got)
	}
	close(bs.release)
	for range max {
		if c := <-codes; c != 200 {
			t.Errorf("a blocked request ended %d, want 200", c)
		}
	}
}

func TestHTTPListenerRefusesBadLimits(t *testing.T) {
	ep, _ := endpoint.Parse("http://127.0.0.1:0/lines")
	cfg := Config{HTTP: DefaultHTTP()}
	cfg.HTTP.MaxConcurrent = 0
	if _, err := Listen(ep, cfg, func([]byte) bool { return true }, nil); err == nil || !strings.Contains(err.Error(), "max_concurrent") {
		t.Fatalf("Listen with max_concurrent 0: %v", err)
	}
}
