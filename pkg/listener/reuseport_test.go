package listener

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestAcceptorsShareAPort binds a tcp listener as 4 SO_REUSEPORT sockets and
// connects 64 clients (the kernel spreads them by address and port): every
// line of every connection arrives exactly once, and more than one socket
// accepted connections. Closing it frees the port.
func TestAcceptorsShareAPort(t *testing.T) {
	l, s := start(t, "tcp://127.0.0.1:0", Config{Acceptors: 4})
	if len(l.lns) != 4 {
		t.Fatalf("%d sockets, want 4", len(l.lns))
	}
	for _, ln := range l.lns[1:] {
		if ln.Addr().String() != l.Addr().String() {
			t.Fatalf("socket bound to %s, want %s", ln.Addr(), l.Addr())
		}
	}
	const conns, lines = 64, 20
	for c := range conns {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for i := range lines {
			fmt.Fprintf(conn, "c%d.l%d 1 1\n", c, i)
		}
		conn.Close()
	}
	got := s.waitFor(t, conns*lines)
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for c := range conns {
		for i := range lines {
			if k := "c" + strconv.Itoa(c) + ".l" + strconv.Itoa(i) + " 1 1"; seen[k] != 1 {
				t.Fatalf("%q arrived %d times", k, seen[k])
			}
		}
	}
	if len(got) != conns*lines {
		t.Fatalf("%d lines, want %d", len(got), conns*lines)
	}
	busy, total := 0, uint64(0)
	for i := range l.accepted {
		n := l.accepted[i].Load()
		total += n
		if n > 0 {
			busy++
		}
	}
	if total != conns || l.Connections.Load() != conns {
		t.Fatalf("accepted %d (Connections %d), want %d", total, l.Connections.Load(), conns)
	}
	if busy < 2 {
		t.Errorf("connections per socket %v: want more than one socket used", l.accepted)
	}
}

// TestAcceptorsAddressInUse: a port another socket holds without
// SO_REUSEPORT is an error at start-up (one that holds it with SO_REUSEPORT,
// as another process of the same user may, would share the connections), and
// Close frees the port of every socket.
func TestAcceptorsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if l, err := listenTCP(ln.Addr().String(), 3); err == nil {
		for _, x := range l {
			x.Close()
		}
		t.Fatal("a port bound without SO_REUSEPORT: no error")
	}
	// After Close, the port is free for a plain listener.
	l, _ := start(t, "tcp://127.0.0.1:0", Config{Acceptors: 2})
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		again, err := net.Listen("tcp", addr)
		if err == nil {
			again.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s still in use after Close: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
