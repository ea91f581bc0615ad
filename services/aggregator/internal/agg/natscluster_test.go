package agg

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

// TestRelayToAggregatorSurvivesNATSNodeLoss is issue 16's proof for the
// relay -> aggregator path: the relay binary (nats_acks, its default) and an
// aggregator on a 3-node NATS cluster; statsd counters and gauges stream
// through the relay while the NATS node the relay is connected to is shut
// down. Every counter's flushed total is exactly what was sent, and every
// gauge's flushed value is the last one sent: batches in flight through the
// lost node are sent again, and copies are not counted twice.
func TestRelayToAggregatorSurvivesNATSNodeLoss(t *testing.T) {
	servers := testenv.NATSCluster(t, 3)
	url := testenv.ClusterURL(servers)
	// The aggregator reaches node 1 through a proxy that holds what goes
	// between them for a while and loses it when the node goes, as a node
	// killed hard (its sockets reset) loses what it had not yet delivered:
	// batches on their way to the aggregator, and its answers.
	proxy := newLossyProxy(t, strings.TrimPrefix(servers[0].ClientURL(), "nats://"), 20*time.Millisecond)
	sink := testenv.NewSink(t, "127.0.0.1:0")
	cfg, err := config.Parse("agg.toml", fmt.Sprintf(`
times = ["1h:2h"] # one flush, at Close: each counter's total is one line
shards = 8
[admin]
listen = ""
[nats]
url = "nats://%s"
[output]
lines = "tcp://%s"
stream_replicas = 3
`, proxy.Addr(), sink.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	var a *Aggregator
	deadline := time.Now().Add(time.Minute)
	for { // until the cluster has a JetStream leader for the stream
		if a, err = New(cfg, slog.New(slog.DiscardHandler)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.Start()
	closed := false
	defer func() {
		if !closed {
			a.Close(context.Background())
		}
	}()

	dir := t.TempDir()
	bin := filepath.Join(dir, "relay")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/consthash/consthash/services/relay").CombinedOutput(); err != nil {
		t.Fatalf("go build relay: %v\n%s", err, out)
	}
	relayAddr, adminAddr := testenv.FreePort(t), testenv.FreePort(t)
	relayCfg := filepath.Join(dir, "relay.toml")
	natsServer := "nats://" + strings.ReplaceAll(strings.TrimPrefix(url, "nats://"), ",nats://", ",nats://")
	os.WriteFile(relayCfg, []byte(fmt.Sprintf(`
[admin]
listen = %q
[sections.statsd]
listen = ["tcp://%s"]
format = "statsd"
cluster = "forward"
servers = [%q]
shards = 8
nats_ack_timeout = "1s"
batch_bytes = 4096 # many messages: some are in flight whenever the node goes
`, adminAddr, relayAddr, natsServer)), 0o644)
	relay := exec.Command(bin, "--config", relayCfg)
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer relay.Process.Kill()
	var conn net.Conn
	testenv.Eventually(t, "the relay listening", func() bool {
		conn, err = net.Dial("tcp", relayAddr)
		return err == nil
	})
	relayStats := func() map[string]any {
		resp, err := http.Get("http://" + adminAddr + "/stats")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var st map[string]any
		json.NewDecoder(resp.Body).Decode(&st)
		d, _ := st["destinations"].(map[string]any)
		n, _ := d[natsServer].(map[string]any)
		return n
	}

	// relayOn reports whether the relay is connected to s.
	relayOn := func(s *server.Server) bool {
		cz, err := s.Connz(&server.ConnzOptions{})
		if err != nil {
			return false
		}
		for _, c := range cz.Conns {
			if c.Name == "consthash-relay" {
				return true
			}
		}
		return false
	}
	const rounds, counters, gauges = 2000, 40, 10
	wantC := map[string]float64{}
	wantG := map[string]float64{}
	w := bufio.NewWriter(conn)
	lines := 0
	var killed *server.Server
	shared := false // the relay was on the killed node too
	for r := 1; r <= rounds; r++ {
		for k := range counters {
			fmt.Fprintf(w, "nodeloss.c%d:%d|c\n", k, r)
			wantC[fmt.Sprintf("stats_counts.nodeloss.c%d", k)] += float64(r)
		}
		for k := range gauges {
			fmt.Fprintf(w, "nodeloss.g%d:%d|g\n", k, r*10+k)
			wantG[fmt.Sprintf("stats.gauges.nodeloss.g%d", k)] = float64(r*10 + k)
		}
		lines += counters + gauges
		w.Flush()
		if r == rounds/2 {
			// The aggregator's node: with core NATS, what it had not yet
			// delivered to the aggregator is lost, and so is what is
			// published until the aggregator has subscribed again elsewhere.
			killed = servers[0]
			shared = relayOn(killed)
			proxy.Kill()
			killed.Shutdown() // mid-stream: the lines keep coming
		}
		time.Sleep(time.Millisecond)
	}
	conn.Close()
	testenv.Eventually(t, "every line acknowledged by the aggregator", func() bool {
		n := relayStats()
		return n != nil && n["sent_lines"] == float64(lines)
	})
	n := relayStats()
	for _, k := range []string{"dropped_queue_full", "dropped_down", "dropped_closing", "spool_errors"} {
		if n[k] != float64(0) {
			t.Errorf("relay %s = %v", k, n[k])
		}
	}
	t.Logf("killed %s (the relay's node too: %v); relay: %d lines sent, publish_retries %v, write_errors %v", killed.Name(), shared, lines, n["publish_retries"], n["write_errors"])
	relay.Process.Signal(os.Interrupt)
	relay.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := a.Stats()
	closed = true
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("aggregator: lines_in %v, batches acked %v, duplicates %v", st["lines_in"], st["nats_batches_acked"], st["nats_batches_duplicate"])
	got := map[string]float64{}
	testenv.Eventually(t, "the flushed lines", func() bool {
		got = map[string]float64{}
		for _, l := range sink.Lines() {
			if f := strings.Fields(l); len(f) == 3 && strings.Contains(f[0], "nodeloss.") {
				var v float64
				fmt.Sscan(f[1], &v)
				got[f[0]] = v
			}
		}
		return len(got) >= len(wantC)+len(wantG)
	})
	for k, v := range wantC {
		if got[k] != v {
			t.Errorf("counter %s = %v, sent %v", k, got[k], v)
		}
	}
	for k, v := range wantG {
		if got[k] != v {
			t.Errorf("gauge %s = %v, last sent %v", k, got[k], v)
		}
	}
}

// lossyProxy forwards TCP connections to a target, holding what goes either
// way for a delay; Kill resets every connection, losing what it still held.
type lossyProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	mu     sync.Mutex
	conns  []*net.TCPConn
}

func newLossyProxy(t *testing.T, target string, delay time.Duration) *lossyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target, delay: delay}
	go p.serve()
	t.Cleanup(p.Kill)
	return p
}

func (p *lossyProxy) Addr() string { return p.ln.Addr().String() }

func (p *lossyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c.(*net.TCPConn), s.(*net.TCPConn))
		p.mu.Unlock()
		go p.pipe(c, s) // client -> server: the aggregator's answers too
		go p.pipe(s, c)
	}
}

// pipe copies from to to, holding each read for the delay.
func (p *lossyProxy) pipe(from, to net.Conn) {
	type held struct {
		at   time.Time
		data []byte
	}
	q := make(chan held, 1<<16)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := from.Read(b)
			if n > 0 {
				q <- held{time.Now().Add(p.delay), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for h := range q {
		time.Sleep(time.Until(h.at))
		if _, err := to.Write(h.data); err != nil {
			return
		}
	}
}

// Kill closes the listener and resets every connection.
func (p *lossyProxy) Kill() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.SetLinger(0)
		c.Close()
	}
	p.conns = nil
}
