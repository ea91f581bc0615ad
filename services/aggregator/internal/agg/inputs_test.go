package agg

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

// TestStatsdReadersFlushExactTotals sends counters, timers, gauges and sets
// from many sockets to a statsd listener with several readers (udp: a
// SO_REUSEPORT socket each; tcp: as many SO_REUSEPORT sockets accepting
// connections, the connections sharing the readers' slots) and
// checks the flushed lines at a tcp sink: counter sums, timer counts, sums and
// percentiles, set sizes, each sender's last gauge, and statsd's own counters,
// all exact.
func TestStatsdReadersFlushExactTotals(t *testing.T) {
	for _, scheme := range []string{"udp", "tcp"} {
		t.Run(scheme, func(t *testing.T) {
			sink := testenv.NewSink(t, "127.0.0.1:0")
			cfg, err := config.Parse("readers.toml", fmt.Sprintf(`
times = ["24h:48h"] # the test flushes
[admin]
listen = ""
[statsd]
percentThreshold = [50, 90]
[[listeners]]
url = "%s://127.0.0.1:0"
format = "statsd"
readers = 4
read_batch = 8
[output]
lines = "tcp://%s"
`, scheme, sink.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			a.Start()
			const senders, packets = 16, 200
			var wg sync.WaitGroup
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial(scheme, a.ListenerAddrs()[0].String())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					for i := range packets {
						// Every sender: the shared counter, timer and set, and its own gauge.
						p := fmt.Sprintf("all.c:%d|c\nall.t:%d|ms\nall.s:m%d|s\ng%d:%d|g\n", i%7, i%100, i%50, s, i)
						if _, err := c.Write([]byte(p)); err != nil {
							t.Error(err)
							return
						}
						if i%50 == 49 {
							time.Sleep(time.Millisecond) // loss is not what this tests
						}
					}
				}()
			}
			wg.Wait()
			wantLines := float64(senders * packets * 4)
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, m, _ := a.statsdReceived()
				if m == wantLines {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("read %v lines, want %v", m, wantLines)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if n := len(a.sinks); n != 4 {
				t.Fatalf("%d sinks, want 4", n)
			}
			if scheme == "udp" {
				// Every datagram, counted by the reader that took it, on
				// /stats and on /metrics.
				byReader := a.Stats()["udp_reader_datagrams"].(map[string][]uint64)
				var sum uint64
				for _, n := range byReader[cfg.Listeners[0].URL] {
					sum += n
				}
				if len(byReader[cfg.Listeners[0].URL]) != 4 || sum != senders*packets {
					t.Fatalf("udp_reader_datagrams %v: want 4 readers summing to %d", byReader, senders*packets)
				}
				var buf bytes.Buffer
				a.Metrics.WritePrometheus(&buf)
				if n := strings.Count(buf.String(), "consthash_aggregator_udp_reader_datagrams_total{"); n != 4 {
					t.Fatalf("%d per-reader series on /metrics, want 4", n)
				}
			}
			if scheme == "tcp" {
				if n := a.listeners[0].Sockets(); n != 4 {
					t.Fatalf("tcp listener bound with %d SO_REUSEPORT sockets, want 4 (readers)", n)
				}
			}
			used := 0
			for _, s := range a.sinks {
				s.mu.Lock()
				if _, m, _ := s.p.Received(); m > 0 {
					used++
				}
				s.mu.Unlock()
			}
			if used < 2 {
				t.Errorf("%d of 4 readers received lines: want more than one", used)
			}
			binEnd := time.Unix(1795572976, 0).Truncate(24 * time.Hour)
			a.Flush(binEnd)
			var wantSum, wantTSum float64
			for i := range packets {
				wantSum += float64(i % 7)
				wantTSum += float64(i % 100)
			}
			ts := strconv.FormatInt(binEnd.Unix(), 10)
			want := []string{
				"stats_counts.all.c " + strconv.FormatFloat(wantSum*senders, 'f', -1, 64),
				"stats.timers.all.t.count " + strconv.Itoa(senders*packets),
				"stats.timers.all.t.sum " + strconv.FormatFloat(wantTSum*senders, 'f', -1, 64),
				"stats.timers.all.t.upper 99", "stats.timers.all.t.lower 0", "stats.timers.all.t.median 49.5",
				"stats.timers.all.t.upper_90 89", "stats.timers.all.t.upper_50 49",
				"stats.sets.all.s.count 50",
				"stats_counts.statsd.metrics_received " + strconv.Itoa(senders*packets*4),
				"stats_counts.statsd.bad_lines_seen 0",
			}
			if scheme == "udp" {
				want = append(want, "stats_counts.statsd.packets_received "+strconv.Itoa(senders*packets))
			}
			for s := range senders {
				want = append(want, "stats.gauges.g"+strconv.Itoa(s)+" "+strconv.Itoa(packets-1))
			}
			deadline = time.Now().Add(10 * time.Second)
			for _, w := range want {
				for !sink.Has(w + " " + ts) {
					if time.Now().After(deadline) {
						var got []string
						for _, l := range sink.Lines() {
							if strings.Contains(l, "all.") || strings.Contains(l, "received") {
								got = append(got, l)
							}
						}
						t.Fatalf("no line %q; flushed: %q", w+" "+ts, got)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
