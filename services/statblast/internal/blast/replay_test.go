package blast

import (
	"context"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

// tcpSink accepts connections and keeps everything each one sent.
type tcpSink struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []string
}

func startSink(t *testing.T) *tcpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				b, _ := io.ReadAll(c)
				c.Close()
				s.mu.Lock()
				s.conns = append(s.conns, string(b))
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

// wait waits, up to a deadline, for n connections to have ended (accepted
// ones and those still in the listener's backlog), then closes the listener;
// it returns what each connection sent.
func (s *tcpSink) wait(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		got := len(s.conns)
		s.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections ended, want %d", got, n)
		}
	}
	s.ln.Close()
	s.wg.Wait()
	return s.conns
}

// onePass is the first lines of fork's ordinary stream that fit in
// replayBytes (at least one, at most quota): what Replay sends over and over.
func onePass(cfg Config, fork int, quota uint64) []string {
	var pass []string
	size := 0
	for _, l := range strings.SplitAfter(generate(cfg, fork, 100000), "\n") {
		if len(pass) > 0 && (size+len(l) > cfg.ReplayBytes || uint64(len(pass)) == quota) {
			break
		}
		pass = append(pass, l)
		size += len(l)
	}
	return pass
}

// aggregate computes, from received lines, what Expected says was sent.
func aggregate(t *testing.T, typ Type, lines []string) *Expected {
	t.Helper()
	e := newExpected(typ)
	sets := map[string]map[string]bool{}
	for _, l := range lines {
		if typ == Graphite {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || len(f) != 3 {
				t.Fatalf("bad graphite line %q", l)
			}
			a := e.Graphite[f[0]]
			if a == nil {
				a = &GraphiteAgg{Min: v, Max: v}
				e.Graphite[f[0]] = a
			}
			a.Count++
			a.Sum += v
			a.Min, a.Max, a.Last = math.Min(a.Min, v), math.Max(a.Max, v), v
			continue
		}
		name, rest, _ := strings.Cut(strings.TrimSuffix(l, "\n"), ":")
		parts := strings.Split(rest, "|")
		rate := 1.0
		if len(parts) == 3 {
			rate, _ = strconv.ParseFloat(strings.TrimPrefix(parts[2], "@"), 64)
		}
		switch parts[1] {
		case "s":
			if sets[name] == nil {
				sets[name] = map[string]bool{}
			}
			sets[name][parts[0]] = true
			e.Sets[name] = len(sets[name])
			continue
		}
		v, err := strconv.ParseFloat(parts[0], 64)
		if err != nil {
			t.Fatalf("bad statsd line %q", l)
		}
		switch parts[1] {
		case "c":
			e.Counters[name] += v * (1 / rate)
		case "ms":
			a := e.Timers[name]
			if a == nil {
				a = &TimerAgg{Min: v, Max: v}
				e.Timers[name] = a
			}
			a.Samples++
			a.Count += 1 / rate
			a.Sum += v
			a.Min, a.Max = math.Min(a.Min, v), math.Max(a.Max, v)
		case "g":
			if parts[0][0] == '+' || parts[0][0] == '-' {
				e.Gauges[name] += v
			} else {
				e.Gauges[name] = v
			}
		}
	}
	return e
}

// near: sums of value × 1/rate depend on the order of additions in their
// last bits, as 1/0.1 is not exact.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func compareExpected(t *testing.T, got, want *Expected) {
	t.Helper()
	if len(got.Counters) != len(want.Counters) || len(got.Timers) != len(want.Timers) || len(got.Gauges) != len(want.Gauges) ||
		len(got.Sets) != len(want.Sets) || len(got.Graphite) != len(want.Graphite) {
		t.Fatalf("keys: statblast says %d/%d/%d/%d/%d, the sink got %d/%d/%d/%d/%d", len(got.Counters), len(got.Timers),
			len(got.Gauges), len(got.Sets), len(got.Graphite), len(want.Counters), len(want.Timers), len(want.Gauges),
			len(want.Sets), len(want.Graphite))
	}
	for k, w := range want.Counters {
		if !near(got.Counters[k], w) {
			t.Errorf("counter %s: statblast says %v, the sink got %v", k, got.Counters[k], w)
		}
	}
	for k, w := range want.Timers {
		g := got.Timers[k]
		if g == nil || g.Samples != w.Samples || !near(g.Count, w.Count) || g.Sum != w.Sum || g.Min != w.Min || g.Max != w.Max {
			t.Errorf("timer %s: statblast says %+v, the sink got %+v", k, g, w)
		}
	}
	for k, w := range want.Gauges {
		if got.Gauges[k] != w {
			t.Errorf("gauge %s: statblast says %v, the sink got %v", k, got.Gauges[k], w)
		}
	}
	for k, w := range want.Sets {
		if got.Sets[k] != w {
			t.Errorf("set %s: statblast says %d, the sink got %d", k, got.Sets[k], w)
		}
	}
	for k, w := range want.Graphite {
		if g := got.Graphite[k]; g == nil || *g != *w {
			t.Errorf("graphite %s: statblast says %+v, the sink got %+v", k, g, w)
		}
	}
}

// TestReplaySendsExactly sends with Replay over real TCP connections, paced,
// and checks that the sink got exactly Count lines: on each connection the
// fork's first lines (as many as fit in ReplayBytes) over and over, the last
// pass cut at the line that makes Count; and that the aggregates statblast
// reports are those of the lines that arrived.
func TestReplaySendsExactly(t *testing.T) {
	tests := []struct {
		name        string
		typ         Type
		count       uint64
		replayBytes int
		buffer      int
	}{
		{"graphite passes and a part", Graphite, 30001, 20000, 1400},
		{"graphite whole passes", Graphite, 4 * 300, 1 << 20, 700},
		{"graphite fewer lines than the buffer", Graphite, 999, 1 << 20, 65536},
		{"statsd passes and a part", Statsd, 20003, 9000, 1000},
		{"one line per pass", Statsd, 50, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := startSink(t)
			ep, err := endpoint.Parse("tcp://" + sink.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Servers: []endpoint.Endpoint{ep}, Type: tt.typ, Count: tt.count, Forks: 3, Keys: 300, Seed: 5,
				SampleRates: true, Replay: true, ReplayBytes: tt.replayBytes, Buffer: tt.buffer, LinesPerSec: 400000,
				Now: func() time.Time { return time.Unix(1700000000, 0) }}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			conns := sink.wait(t, cfg.Forks)
			if res.Lines != tt.count || res.Expected.Lines != tt.count {
				t.Fatalf("statblast says it sent %d lines (expected %d), want %d", res.Lines, res.Expected.Lines, tt.count)
			}
			if len(conns) != cfg.Forks {
				t.Fatalf("%d connections, want %d", len(conns), cfg.Forks)
			}
			var all []string
			var bytes uint64
			for _, c := range conns {
				bytes += uint64(len(c))
				lines := strings.SplitAfter(c, "\n")
				lines = lines[:len(lines)-1] // after the last newline
				key, _, _ := strings.Cut(lines[0], " ")
				key, _, _ = strings.Cut(key, ":")
				i, err := strconv.Atoi(key[strings.LastIndex(key, ".k")+2:])
				if err != nil {
					t.Fatalf("key %q: %v", key, err)
				}
				fork := i % cfg.Forks
				quota := tt.count / uint64(cfg.Forks)
				if uint64(fork) < tt.count%uint64(cfg.Forks) {
					quota++
				}
				if uint64(len(lines)) != quota {
					t.Fatalf("fork %d: the sink got %d lines, want %d", fork, len(lines), quota)
				}
				vcfg := cfg
				if err := vcfg.Validate(); err != nil {
					t.Fatal(err)
				}
				pass := onePass(vcfg, fork, quota)
				if tt.name == "graphite passes and a part" && uint64(len(pass)) >= quota {
					t.Fatalf("fork %d: %d lines a pass for a quota of %d: not several passes", fork, len(pass), quota)
				}
				for j, l := range lines {
					if l != pass[j%len(pass)] {
						t.Fatalf("fork %d line %d: got %q, want %q (line %d of a pass)", fork, j, l, pass[j%len(pass)], j%len(pass))
					}
				}
				all = append(all, lines...)
			}
			if res.Bytes != bytes {
				t.Errorf("statblast says it sent %d bytes, the sink got %d", res.Bytes, bytes)
			}
			compareExpected(t, res.Expected, aggregate(t, tt.typ, all))
		})
	}
}

// TestReplayRefreshesTimestamps: a new second is patched into every graphite
// line of the buffer, in place, and nothing else changes.
func TestReplayRefreshesTimestamps(t *testing.T) {
	cfg := testConfig(t, Graphite)
	cfg.Replay = true
	r := render(cfg, newKeySet(cfg), 0, 500)
	before := string(r.data)
	r.refresh(1700000042)
	want := strings.ReplaceAll(before, " 1700000000\n", " 1700000042\n")
	if strings.Count(before, " 1700000000\n") != 500 || string(r.data) != want {
		t.Fatalf("after refresh:\n%.200s\nwant:\n%.200s", r.data, want)
	}
	r.refresh(99) // fewer digits: left as it is
	if string(r.data) != want {
		t.Fatal("a timestamp of another width was patched in")
	}
}
