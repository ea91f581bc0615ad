package relay

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingSink is a TCP server that counts the lines it receives without
// keeping them (nor allocating per read).
func countingSink(t testing.TB) (addr string, lines *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lines = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					lines.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), lines
}

// mallocs returns the heap allocations the process has made so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// TestRoutedLineAllocatesNothing routes lines the way a connection's reader
// does, for each kind of cluster and line format, and checks two things:
// routing a line (parse, rules, ring, lane, batching) allocates nothing at
// all once the session's batches exist, and over the whole pipeline
// (batches handed to the destinations, written to the sinks, buffers
// recycled) allocations stay below one per hundred lines, with every line
// delivered exactly.
func TestRoutedLineAllocatesNothing(t *testing.T) {
	tests := []struct {
		name, format, cluster string
		replication           int
		line                  func(i int) string
	}{
		{"carbon_c_ch", "graphite", "carbon_c_ch", 1, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d %d.5 1700000000", i%37, i, i)
		}},
		{"carbon_c_ch rewritten lines", "graphite", "carbon_c_ch", 1, func(i int) string {
			return fmt.Sprintf("app..server%d.cpu%%metric%d  %d 1700000000", i%37, i, i)
		}},
		{"carbon_ch replication 2", "graphite", "carbon_ch", 2, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d %d 1700000000", i%37, i, i)
		}},
		{"fnv1a_ch", "graphite", "fnv1a_ch", 1, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d -%d.25e1 1700000000", i%37, i, i)
		}},
		{"jump_fnv1a_ch", "graphite", "jump_fnv1a_ch", 1, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d %d", i%37, i, i)
		}},
		{"statsd", "statsd", "statsd", 1, func(i int) string {
			return fmt.Sprintf("app.server%d.requests%d:%d|c|@0.5", i%37, i, i)
		}},
		{"any_of", "graphite", "any_of", 1, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d %d 1700000000", i%37, i, i)
		}},
		{"forward", "graphite", "forward", 3, func(i int) string {
			return fmt.Sprintf("app.server%d.cpu.metric%d %d 1700000000", i%37, i, i)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var servers []string
			var counts []*atomic.Int64
			for i := range 3 {
				addr, n := countingSink(t)
				servers = append(servers, fmt.Sprintf("tcp://%s=m%d", addr, i))
				counts = append(counts, n)
			}
			repl := ""
			if tt.cluster != "forward" && tt.cluster != "any_of" {
				repl = fmt.Sprintf("replication = %d", tt.replication)
			}
			r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
format = %q
cluster = %q
%s
servers = %s
health_interval = "1h"
[[sections.main.rules]]
prefix = "drop."
reject = true
`, tt.format, tt.cluster, repl, quoteList(servers...)))
			const n = 1000
			lines := make([][]byte, n)
			for i := range lines {
				lines[i] = []byte(tt.line(i))
			}
			s := r.newSession("main")(nil)
			route := func() {
				for _, l := range lines {
					if !s.Line(l) {
						t.Fatalf("line %q was not routed", l)
					}
				}
			}

			// The routing path alone: the batches exist (a first round made
			// them) and stay under batch_bytes, so nothing is handed over.
			// The counts are the whole process's: the fewest of five rounds
			// leaves out what other goroutines (the runtime, the previous
			// subtest's closing) happened to allocate meanwhile.
			route()
			fewest := uint64(math.MaxUint64)
			for range 5 {
				before := mallocs()
				route()
				fewest = min(fewest, mallocs()-before)
			}
			if fewest != 0 {
				t.Errorf("routing %d lines allocated %d times, want 0", n, fewest)
			}
			s.Flush()

			// The whole pipeline, as a reader runs it: a Flush per 64 KiB read.
			const rounds = 100
			before := mallocs()
			read := 0
			for range rounds {
				for _, l := range lines {
					s.Line(l)
					if read += len(l) + 1; read >= 64<<10 {
						s.Flush()
						read = 0
					}
				}
			}
			s.Flush()
			total := int64((rounds + 6) * n * tt.replication)
			sum := func() int64 {
				var got int64
				for _, c := range counts {
					got += c.Load()
				}
				return got
			}
			deadline := time.Now().Add(10 * time.Second)
			for sum() < total && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			got := mallocs() - before
			if per := float64(got) / float64(rounds*n); per >= 0.01 {
				t.Errorf("the pipeline allocated %d times for %d lines (%.3f per line), want under 0.01", got, rounds*n, per)
			}
			if d := sum(); d != total {
				t.Errorf("sinks received %d lines, want %d", d, total)
			}
			s.Close()
			st := r.Stats()["sections"].(map[string]any)["main"].(map[string]any)
			if st["lines_in"] != uint64((rounds+6)*n) || st["lines_routed"] != uint64((rounds+6)*n) {
				t.Errorf("section counters %v, want %d lines in and routed", st, (rounds+6)*n)
			}
			if strings.Contains(tt.name, "rewritten") && bytes.Equal(s.(*session).norm, nil) {
				t.Errorf("the rewritten lines did not take the rewriting path")
			}
		})
	}
}
