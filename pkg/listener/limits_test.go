package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

func dial(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer waits until the server side closes c (a read returns EOF or a
// reset).
func closedByPeer(t *testing.T, c net.Conn, within time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestMaxConnectionsRefusesBeyond(t *testing.T) {
	l, s := start(t, "tcp://127.0.0.1:0", Config{MaxConnections: 2})
	c1, c2 := dial(t, l), dial(t, l)
	fmt.Fprintf(c1, "one 1 1\n")
	fmt.Fprintf(c2, "two 2 2\n")
	s.waitFor(t, 2)
	c3 := dial(t, l) // the third: accepted and closed at once
	if !closedByPeer(t, c3, 5*time.Second) {
		t.Fatal("the connection beyond max_connections was not closed")
	}
	if got := l.Refused.Load(); got != 1 {
		t.Fatalf("refused = %d, want 1", got)
	}
	if got := l.Connections.Load(); got != 2 {
		t.Fatalf("connections = %d, want 2", got)
	}
	// The two open ones still work; once one closes there is room again.
	fmt.Fprintf(c1, "three 3 3\n")
	s.waitFor(t, 3)
	c2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for l.openConns() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still counted open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c4 := dial(t, l)
	fmt.Fprintf(c4, "four 4 4\n")
	s.waitFor(t, 4)
	if got := l.Refused.Load(); got != 1 {
		t.Fatalf("refused = %d after room was made, want 1", got)
	}
}

func TestIdleTimeoutClosesIdleConnections(t *testing.T) {
	l, s := start(t, "tcp://127.0.0.1:0", Config{IdleTimeout: 300 * time.Millisecond})
	idle, busy := dial(t, l), dial(t, l)
	fmt.Fprintf(idle, "idle 1 1\n")
	stop := make(chan struct{})
	sent := make(chan int)
	go func() { // a line every 20 ms: never idle for 300 ms
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(busy, "busy %d 1\n", n); err != nil {
				sent <- n
				return
			}
			n++
		}
	}()
	if !closedByPeer(t, idle, 5*time.Second) {
		t.Fatal("the idle connection was not closed")
	}
	close(stop)
	n := <-sent
	s.waitFor(t, n+1)
	if got := l.IdleClosed.Load(); got != 1 {
		t.Fatalf("idle_closed = %d, want 1 (the busy connection must stay open)", got)
	}
	if _, err := fmt.Fprintf(busy, "busy last 1\n"); err != nil {
		t.Fatalf("the busy connection was closed: %v", err)
	}
	s.waitFor(t, n+2)
}

// flaky fails Accept with EMFILE while fail is set, as a process out of file
// descriptors does; connections wait in the kernel's backlog meanwhile.
type flaky struct {
	net.Listener
	fail atomic.Bool
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fail.Load() {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}

func TestAcceptErrorsBackOffAndRecover(t *testing.T) {
	ep, _ := endpoint.Parse("tcp://127.0.0.1:0")
	s := &sink{}
	l, err := Listen(ep, Config{}, s.handle, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Listener: l.ln}
	f.fail.Store(true)
	l.ln = f
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	c := dial(t, l) // in the backlog, not accepted yet
	fmt.Fprintf(c, "waited 1 1\n")
	deadline := time.Now().Add(5 * time.Second)
	for l.AcceptErrors.Load() < 5 || l.Accepting() {
		if time.Now().After(deadline) {
			t.Fatalf("accept errors %d, accepting %v: want errors and not accepting", l.AcceptErrors.Load(), l.Accepting())
		}
		time.Sleep(time.Millisecond)
	}
	f.fail.Store(false)
	s.waitFor(t, 1)
	for !l.Accepting() {
		if time.Now().After(deadline) {
			t.Fatal("still not accepting after accepts succeed again")
		}
		time.Sleep(time.Millisecond)
	}
	c2 := dial(t, l)
	fmt.Fprintf(c2, "after 2 2\n")
	s.waitFor(t, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if l.Accepting() {
		t.Fatal("a closed listener reports accepting")
	}
}
