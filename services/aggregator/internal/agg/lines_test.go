package agg

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

// TestLinesToBackend runs an aggregator without NATS: statsd and graphite
// listeners in, flushed lines out over TCP, named as statsd names them.
func TestLinesToBackend(t *testing.T) {
	sink := testenv.NewSink(t, "127.0.0.1:0")
	got := func() map[string]string { // the last value of each name
		m := map[string]string{}
		for _, l := range sink.Lines() {
			if f := strings.Fields(l); len(f) == 3 {
				m[f[0]] = f[1]
			}
		}
		return m
	}
	cfg, err := config.Parse("lines.toml", fmt.Sprintf(`
times = ["1h:2h"] # no regular flush during the test: Close flushes the open bin
[admin]
listen = ""
[[listeners]]
url = "udp://127.0.0.1:0"
format = "statsd"
[[listeners]]
url = "tcp://127.0.0.1:0"
format = "graphite"
[output]
lines = "tcp://%s"
`, sink.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	addrs := a.ListenerAddrs()
	u, _ := net.Dial("udp", addrs[0].String())
	u.Write([]byte("req:3|c\nreq:1|c|@0.5\nlat:10|ms\nlat:30|ms\nbad line\n"))
	u.Close()
	c, _ := net.Dial("tcp", addrs[1].String())
	c.Write([]byte("host.cpu.load 1 1\nhost.cpu.load 3 1\nstats_counts.x 2 1\nstats_counts.x 5 1\n"))
	c.Close()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	want := map[string]string{"stats_counts.req": "5", "stats.timers.lat.mean": "20", "stats.timers.lat.upper_90": "30",
		"host.cpu.load": "2", "stats_counts.x": "7", "stats_counts.statsd.bad_lines_seen": "1"}
	for {
		m := got()
		ok := true
		for k, v := range want {
			ok = ok && m[k] == v
		}
		snapshot := fmt.Sprint(m)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines out: %s", snapshot)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUDPStatsdLongLines sends statsd a datagram whose first line is 60,000
// bytes: statsd 0.9.0 reads it like any other, and so does a udp listener
// without max_line_length; an explicit max_line_length still drops it.
func TestUDPStatsdLongLines(t *testing.T) {
	long := strings.Repeat("k", 60000)
	for _, tc := range []struct {
		name, extra string
		want        map[string]string // flushed name -> value; "" means absent
		tooLong     uint64
	}{
		{"default reads the whole datagram", "", map[string]string{
			"stats_counts." + long: "2", "stats_counts.small": "1", "stats_counts.statsd.metrics_received": "2"}, 0},
		{"explicit max_line_length drops it", "max_line_length = 32768\n", map[string]string{
			"stats_counts." + long: "", "stats_counts.small": "1", "stats_counts.statsd.metrics_received": "1"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := testenv.NewSink(t, "127.0.0.1:0")
			cfg, err := config.Parse("long.toml", fmt.Sprintf("times = [\"24h:48h\"]\n[admin]\nlisten = \"\"\n"+
				"[output]\nlines = \"tcp://%s\"\n[[listeners]]\nurl = \"udp://127.0.0.1:0\"\nformat = \"statsd\"\n%s",
				sink.Addr(), tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			a.Start()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := a.Close(ctx); err != nil {
					t.Error(err)
				}
			}()
			c, err := net.Dial("udp", a.ListenerAddrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(long + ":2|c\nsmall:1|c")); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				p, _, _ := a.statsdReceived()
				if p == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the datagram was not read")
				}
				time.Sleep(2 * time.Millisecond)
			}
			binEnd := time.Unix(1795572976, 0).Truncate(24 * time.Hour)
			a.Flush(binEnd)
			ts := " " + fmt.Sprint(binEnd.Unix())
			var got map[string]string
			for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				got = map[string]string{}
				for _, l := range sink.Lines() {
					if rest, ok := strings.CutSuffix(l, ts); ok {
						i := strings.LastIndexByte(rest, ' ')
						got[rest[:i]] = rest[i+1:]
					}
				}
				if got["stats_counts.statsd.metrics_received"] != "" || time.Now().After(deadline) {
					break
				}
			}
			for name, v := range tc.want {
				if got[name] != v {
					t.Errorf("%.40s = %q, want %q", name, got[name], v)
				}
			}
			if n := a.Stats()["lines_too_long"]; n != tc.tooLong {
				t.Errorf("/stats lines_too_long = %v, want %d", n, tc.tooLong)
			}
			var prom strings.Builder
			a.Metrics.WritePrometheus(&prom)
			if want := fmt.Sprintf("consthash_aggregator_lines_too_long_total %d\n", tc.tooLong); !strings.Contains(prom.String(), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}
}
