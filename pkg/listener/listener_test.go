package listener

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

type sink struct {
	mu    sync.Mutex
	lines []string
}

func (s *sink) handle(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, string(b))
	return !strings.HasPrefix(string(b), "bad")
}

func (s *sink) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := slices.Clone(s.lines)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, url string, cfg Config) (*Listener, *sink) {
	t.Helper()
	ep, err := endpoint.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	l, err := Listen(ep, cfg, s.handle, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l, s
}

func TestStreamListeners(t *testing.T) {
	long := strings.Repeat("x", 200)
	in := "a 1 1\r\n\n" + long + "\nb 2 2\nbad line\nc 3 3" // last line has no newline
	want := []string{"a 1 1", "b 2 2", "bad line", "c 3 3"}
	for _, url := range []string{"tcp://127.0.0.1:0", "unix://" + filepath.Join(t.TempDir(), "l.sock")} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			l, s := start(t, url, Config{MaxLineLength: 100})
			c, err := net.Dial(l.Addr().Network(), l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte(in)); err != nil {
				t.Fatal(err)
			}
			c.Close()
			got := s.waitFor(t, len(want))
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for l.TooLong.Load() != 1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if l.TooLong.Load() != 1 || l.Lines.Load() != 4 || l.Rejected.Load() != 1 || l.Bytes.Load() != uint64(len(in)) {
				t.Errorf("stats: tooLong %d lines %d rejected %d bytes %d", l.TooLong.Load(), l.Lines.Load(), l.Rejected.Load(), l.Bytes.Load())
			}
		})
	}
}

func TestUDPListener(t *testing.T) {
	l, s := start(t, "udp://127.0.0.1:0", Config{MaxLineLength: 100})
	c, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, pkt := range []string{"a:1|c\nb:2|c\n", strings.Repeat("y", 150) + "\nc:3|c", "d:4|c"} {
		if _, err := c.Write([]byte(pkt)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a:1|c", "b:2|c", "c:3|c", "d:4|c"}
	if got := s.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if l.TooLong.Load() != 1 {
		t.Errorf("tooLong = %d, want 1", l.TooLong.Load())
	}
}

func TestHTTPListener(t *testing.T) {
	l, s := start(t, "http://127.0.0.1:0/lines", Config{MaxLineLength: 100})
	url := fmt.Sprintf("http://%s/lines", l.Addr())
	resp, err := http.Post(url, "text/plain", strings.NewReader("a 1\nbad\n"+strings.Repeat("z", 101)+"\nb 2"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep httpReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || rep != (httpReply{Accepted: 2, Rejected: 1, TooLong: 1}) {
		t.Fatalf("status %d reply %+v", resp.StatusCode, rep)
	}
	if got := s.waitFor(t, 3); !slices.Equal(got, []string{"a 1", "bad", "b 2"}) {
		t.Fatalf("got %q", got)
	}
	get, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status %d, want 405", get.StatusCode)
	}
}

func TestListenAddressInUse(t *testing.T) {
	l, _ := start(t, "tcp://127.0.0.1:0", Config{})
	ep, _ := endpoint.Parse("tcp://" + l.Addr().String())
	if _, err := Listen(ep, Config{}, func([]byte) bool { return true }, nil); err == nil || !strings.Contains(err.Error(), "cannot listen on") {
		t.Fatalf("want an address-in-use error naming the endpoint, got %v", err)
	}
}

// TestCloseHandlesBufferedLines checks that Close lets a connection's
// complete lines through before it ends.
func TestCloseHandlesBufferedLines(t *testing.T) {
	ep, _ := endpoint.Parse("tcp://127.0.0.1:0")
	s := &sink{}
	l, err := Listen(ep, Config{}, s.handle, nil)
	if err != nil {
		t.Fatal(err)
	}
	go l.Serve()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "k%d 1 1\n", i)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.waitFor(t, 1000)); n != 1000 {
		t.Fatalf("handled %d lines, want 1000", n)
	}
}

// batchSession buffers lines until Flush, like the relay's sessions.
type batchSession struct {
	mu      *sync.Mutex
	pending []string
	flushed *[][]string
	closed  *int
}

func (b *batchSession) Line(l []byte) bool { b.pending = append(b.pending, string(l)); return true }
func (b *batchSession) Flush() {
	if len(b.pending) == 0 {
		return
	}
	b.mu.Lock()
	*b.flushed = append(*b.flushed, b.pending)
	b.mu.Unlock()
	b.pending = nil
}
func (b *batchSession) Close() { b.mu.Lock(); *b.closed++; b.mu.Unlock() }

// TestSessionsFlushWhenIdle checks that a session's batch is flushed as soon
// as the connection has nothing more to read, without waiting for more input
// or the end of the connection.
func TestSessionsFlushWhenIdle(t *testing.T) {
	var mu sync.Mutex
	var flushed [][]string
	closed := 0
	ep, _ := endpoint.Parse("tcp://127.0.0.1:0")
	l, err := ListenSessions(ep, Config{}, func(net.Addr) Session {
		return &batchSession{mu: &mu, flushed: &flushed, closed: &closed}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go l.Serve()
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("a 1\nb 2\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(flushed)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch was not flushed while the connection stayed open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if got := strings.Join(flushed[0], "|"); got != "a 1|b 2" {
		t.Errorf("first flush %q", got)
	}
	mu.Unlock()
	c.Close()
	for {
		mu.Lock()
		cl := closed
		mu.Unlock()
		if cl == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session not closed after the connection ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeepCR: with KeepCR lines end at '\n' only, so a '\r' stays in the
// line (statsd 0.9.0 keeps it in the last field), on every transport.
func TestKeepCR(t *testing.T) {
	in := "a:1|c\r\n\r\n\nb:2|c|#t:v\r\nc:3|c\r"
	want := []string{"a:1|c\r", "\r", "b:2|c|#t:v\r", "c:3|c\r"}
	for _, url := range []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0", "http://127.0.0.1:0/lines"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			l, s := start(t, url, Config{KeepCR: true})
			if strings.HasPrefix(url, "http") {
				resp, err := http.Post("http://"+l.Addr().String()+"/lines", "text/plain", strings.NewReader(in))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				c, err := net.Dial(l.Addr().Network(), l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write([]byte(in)); err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			if got := s.waitFor(t, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}
