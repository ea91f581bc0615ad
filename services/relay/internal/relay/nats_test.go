package relay

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
