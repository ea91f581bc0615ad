package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/testenv"
)

// TestShardCountMismatchIsUnhealthy: a relay publishing lines with 32 shards
// beside an aggregator reading 64 loses the lines of shards no aggregator
// reads, so its /ops/status says so, a counter counts it, and an aggregator
// with the same count (or one that left) does not.
func TestShardCountMismatchIsUnhealthy(t *testing.T) {
	url := testenv.NATS(t)
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "forward"
servers = ["%s"]
shards = 32
`, url))
	adm := admin.New("relay", admin.Default("127.0.0.1:0"), slog.New(slog.DiscardHandler), r.Metrics, r.Healthy,
		func() any { return r.Stats() })
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Shutdown(context.Background()) })
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + adm.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	announce := func(hb bus.Heartbeat) {
		t.Helper()
		if err := nc.Publish(bus.HeartbeatSubject, hb.Encode()); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	mismatches := func() int {
		_, body := get("/metrics")
		m := regexp.MustCompile(`consthash_relay_nats_shard_mismatch_total\{section="main"\} (\d+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no shard mismatch counter on /metrics")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	// Aggregators reading 32 shards, or not saying (older ones): healthy.
	announce(bus.Heartbeat{ID: "agg-32", Shards: 32, Owned: []int{0, 1}})
	announce(bus.Heartbeat{ID: "agg-old", Owned: []int{2}})
	waitFor(t, "the heartbeats to be seen", 10*time.Second, func() bool {
		r.shardCheck.mu.Lock()
		defer r.shardCheck.mu.Unlock()
		return len(r.shardCheck.aggs) == 2
	})
	if code, body := get("/ops/status"); code != http.StatusOK {
		t.Fatalf("/ops/status %d with aggregators of the same shard count: %s", code, body)
	}
	if n := mismatches(); n != 0 {
		t.Fatalf("%d mismatches counted with none", n)
	}

	// One reading 64: unhealthy, counted, named.
	announce(bus.Heartbeat{ID: "agg-64", Shards: 64, Owned: []int{3}})
	var body string
	waitFor(t, "/ops/status to turn unhealthy", 10*time.Second, func() bool {
		var code int
		code, body = get("/ops/status")
		return code == http.StatusServiceUnavailable
	})
	var status struct {
		Details struct {
			Mismatch []map[string]any `json:"nats_shard_mismatch"`
		} `json:"details"`
	}
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"aggregator": "agg-64", "aggregator_shards": 64.0, "section": "main", "shards": 32.0}}
	if !reflect.DeepEqual(status.Details.Mismatch, want) {
		t.Errorf("/ops/status names %v, want %v", status.Details.Mismatch, want)
	}
	if n := mismatches(); n < 1 {
		t.Errorf("%d mismatches counted, want > 0", n)
	}
	var stats struct {
		Sections map[string]struct {
			Mismatch int `json:"nats_shard_mismatch"`
		} `json:"sections"`
	}
	_, sbody := get("/stats")
	if err := json.Unmarshal([]byte(sbody), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Sections["main"].Mismatch < 1 {
		t.Errorf("/stats counts %d mismatches, want > 0: %s", stats.Sections["main"].Mismatch, sbody)
	}

	// It leaves: healthy again.
	announce(bus.Heartbeat{ID: "agg-64", Shards: 64, Leaving: true})
	waitFor(t, "/ops/status to turn healthy", 10*time.Second, func() bool {
		code, _ := get("/ops/status")
		return code == http.StatusOK
	})
}

// TestHeartbeatBeforeTable: a heartbeat can arrive between the subscription
// and the first routing table (seen in a compose run, where a restarted relay
// panicked on it); it is recorded and the check waits for the next one.
func TestHeartbeatBeforeTable(t *testing.T) {
	r := &Relay{shardCheck: newShardCheck(ratelog.New(slog.New(slog.DiscardHandler), 1, time.Minute))}
	hb := bus.Heartbeat{ID: "agg-1", Shards: 64, Owned: []int{1, 2}}
	r.heartbeat("nats://127.0.0.1:4222", hb.Encode())
	if got := len(r.shardCheck.aggs); got != 1 {
		t.Fatalf("%d aggregators recorded, want 1", got)
	}
}
