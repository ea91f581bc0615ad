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
