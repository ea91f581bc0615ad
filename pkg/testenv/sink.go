package testenv

import (
	"bufio"
	"net"
	"slices"
	"sync"
	"testing"
)

// Sink is a TCP server that records every line it receives, for tests of
// what a service sends. It closes when the test ends.
type Sink struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	conns []net.Conn
}

// NewSink listens on addr ("127.0.0.1:0" for any port; an address a closed
// sink had, to bring it back).
func NewSink(t testing.TB, addr string) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	s := &Sink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					s.mu.Lock()
					s.lines = append(s.lines, sc.Text())
					s.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr returns host:port.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Lines returns the lines received so far, in order of arrival per connection.
func (s *Sink) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// Count returns how many lines arrived.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// Has reports whether line arrived.
func (s *Sink) Has(line string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.lines) - 1; i >= 0; i-- {
		if s.lines[i] == line {
			return true
		}
	}
	return false
}

// Close stops listening and closes every connection: a receiver that dies.
func (s *Sink) Close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}
