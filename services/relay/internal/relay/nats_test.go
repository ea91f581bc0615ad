package relay

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/testenv"
)

// TestNATSDestinationShardsByKey publishes lines to a real NATS server and
// checks each arrives once, on consthash.lines.<murmur3(key) mod shards>.
func TestNATSDestinationShardsByKey(t *testing.T) {
	url := testenv.NATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const shards = 8
	var mu sync.Mutex
	got := map[string]string{} // line -> subject
	dups := 0
	sub, err := nc.Subscribe("consthash.lines.*", func(m *nats.Msg) {
		m.Respond(nil) // acknowledged: nats_acks is on by default
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(strings.TrimSuffix(string(m.Data), "\n"), "\n") {
			if _, ok := got[l]; ok {
				dups++
			}
			got[l] = m.Subject
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "forward"
servers = ["%s"]
shards = %d
`, url, shards))
	var lines []string
	for i := 0; i < 2000; i++ {
		lines = append(lines, fmt.Sprintf("nats.k%d.v %d 1700000000", i, i))
	}
	send(t, r.ListenerAddrs("main")[0], lines)
	waitFor(t, "2000 lines on NATS", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2000
	})
	mu.Lock()
	defer mu.Unlock()
	if dups != 0 {
		t.Fatalf("%d lines arrived twice", dups)
	}
	for _, l := range lines {
		key := strings.Fields(l)[0]
		want := fmt.Sprintf("consthash.lines.%d", ring.Shard([]byte(key), shards))
		if got[l] != want {
			t.Fatalf("%q on %s, want %s", l, got[l], want)
		}
	}
}

// TestStatsdKeepsCR: a statsd section forwards a line as statsd 0.9.0 reads
// it (split on "\n" only), so a '\r' reaches the aggregator in the line's
// last field.
func TestStatsdKeepsCR(t *testing.T) {
	url := testenv.NATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 10)
	sub, err := nc.ChanSubscribe("consthash.lines.*", msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["udp://127.0.0.1:0"]
format = "statsd"
cluster = "forward"
servers = ["%s"]
shards = 1
`, url))
	c, err := net.Dial("udp", r.ListenerAddrs("main")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("a:1|c|#t:v\r\nb:2|c\r\n")); err != nil {
		t.Fatal(err)
	}
	var got string
	deadline := time.After(10 * time.Second)
	for strings.Count(got, "\n") < 2 {
		select {
		case m := <-msgs:
			m.Respond(nil)
			if f := m.Header.Get(bus.FormatHeader); f != "statsd" {
				t.Fatalf("format header %q", f)
			}
			got += string(m.Data)
		case <-deadline:
			t.Fatalf("got %q", got)
		}
	}
	if got != "a:1|c|#t:v\r\nb:2|c\r\n" {
		t.Fatalf("got %q", got)
	}
}

// TestNATSAcksRetrySameBatch: a batch whose acknowledgement does not come
// within nats_ack_timeout is sent again with the same batch id, and counted
// in publish_retries; with nats_acks = false batches are published without
// an id and nobody is asked to answer.
func TestNATSAcksRetrySameBatch(t *testing.T) {
	for _, acks := range []bool{true, false} {
		t.Run(fmt.Sprint("acks=", acks), func(t *testing.T) {
			url := testenv.NATS(t)
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			var mu sync.Mutex
			var ids []string
			lines := map[string]int{} // line -> batches that held it
			sub, err := nc.Subscribe(bus.LinesPrefix+"*", func(m *nats.Msg) {
				mu.Lock()
				defer mu.Unlock()
				ids = append(ids, m.Header.Get(bus.BatchHeader))
				for _, l := range strings.Split(strings.TrimSuffix(string(m.Data), "\n"), "\n") {
					lines[l]++
				}
				if m.Reply != "" && len(ids) > 1 { // the first batch's answer is lost
					m.Respond(nil)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			nc.Flush()
			r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "forward"
servers = ["%s"]
shards = 1
pool_connections = 1
nats_acks = %v
nats_ack_timeout = "200ms"
`, url, acks))
			send(t, r.ListenerAddrs("main")[0], []string{"a 1 1", "b 2 2"})
			copies := 1
			if acks {
				copies = 2
			}
			waitFor(t, "the lines sent and received", 10*time.Second, func() bool {
				mu.Lock()
				got := lines["b 2 2"]
				mu.Unlock()
				return got >= copies && r.Stats()["destinations"].(map[string]any)[url].(map[string]any)["sent_lines"] == uint64(2)
			})
			mu.Lock()
			defer mu.Unlock()
			d := r.Stats()["destinations"].(map[string]any)[url].(map[string]any)
			if !acks {
				if len(ids) != 1 || ids[0] != "" || lines["a 1 1"] != 1 || d["publish_retries"] != uint64(0) {
					t.Fatalf("batch ids %q, lines %v, publish_retries %v; want one batch without id", ids, lines, d["publish_retries"])
				}
				return
			}
			if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
				t.Fatalf("batch ids %q: want the same id twice", ids)
			}
			if lines["a 1 1"] != 2 || lines["b 2 2"] != 2 || d["publish_retries"] != uint64(1) {
				t.Fatalf("lines %v, publish_retries %v: want the batch twice, one retry", lines, d["publish_retries"])
			}
		})
	}
}
