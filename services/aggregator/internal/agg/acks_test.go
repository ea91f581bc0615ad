package agg

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

// TestAckedBatchesTakenOnce sends a shard acknowledged batches (requests
// with a batch id), copies of them, a batch without an id and a plain
// publish: every request is answered, copies are answered but not counted.
func TestAckedBatchesTakenOnce(t *testing.T) {
	url := testenv.NATS(t)
	sink := testenv.NewSink(t, "127.0.0.1:0")
	cfg, err := config.Parse("acks.toml", fmt.Sprintf(`
times = ["1h:2h"] # one flush, at Close
shards = 1
[admin]
listen = ""
[nats]
url = %q
[output]
lines = "tcp://%s"
`, url, sink.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg := func(format, id, data string) *nats.Msg {
		m := nats.NewMsg(bus.LinesSubject(0))
		m.Header.Set(bus.FormatHeader, format)
		if id != "" {
			m.Header.Set(bus.BatchHeader, id)
		}
		m.Data = []byte(data)
		return m
	}
	requests := []*nats.Msg{
		msg("statsd", "r.0 1", "c:1|c\ng:1|g"),
		msg("statsd", "r.0 1", "c:1|c\ng:1|g"), // a copy: the answer was lost
		msg("statsd", "r.0 2", "c:2|c\ng:2|g"),
		msg("statsd", "r.0 1", "c:1|c\ng:1|g"), // a late copy
		msg("statsd", "r.1 1", "c:4|c"),        // another sender
		msg("graphite", "r.2 1", "gr.x 5 1"),
		msg("graphite", "r.2 1", "gr.x 5 1"),
		msg("statsd", "", "c:100|c"), // no id: taken, answered
		msg("statsd", "r.0 x", "c:1000|c"),
	}
	for i, m := range requests {
		if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if err := nc.PublishMsg(msg("statsd", "r.0 9", "c:10000|c")); err != nil { // no one waits: no deduplication
		t.Fatal(err)
	}
	if err := nc.PublishMsg(msg("statsd", "r.0 9", "c:10000|c")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	testenv.Eventually(t, "the publishes accumulated", func() bool { return a.linesIn.Get() >= 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"stats_counts.c": "21107", "stats.gauges.g": "2", "gr.x": "5"}
	testenv.Eventually(t, "the flushed lines", func() bool {
		got := map[string]string{}
		for _, l := range sink.Lines() {
			if f := strings.Fields(l); len(f) == 3 {
				got[f[0]] = f[1]
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Logf("%s = %q, want %q", k, got[k], v)
				return false
			}
		}
		return true
	})
	st := a.Stats()
	for k, v := range map[string]uint64{"nats_batches_acked": 9, "nats_batches_duplicate": 3, "nats_batch_ids_bad": 1,
		"nats_ack_errors": 0, "nats_dedup_evicted": 0} {
		if st[k] != v {
			t.Errorf("/stats %s = %v, want %d", k, st[k], v)
		}
	}
}

// TestDedupForgetsTheOldestSender: past max senders, the one seen longest
// ago is forgotten; the others still drop their copies.
func TestDedupForgetsTheOldestSender(t *testing.T) {
	d := newDedup(2)
	t0 := time.Unix(1_700_000_000, 0)
	if n := d.took("a", 1, t0); n != 0 {
		t.Fatalf("evicted %d", n)
	}
	d.took("b", 5, t0.Add(time.Second))
	d.took("a", 2, t0.Add(2*time.Second)) // a is now the most recent
	if n := d.took("c", 1, t0.Add(3*time.Second)); n != 1 {
		t.Fatalf("evicted %d, want 1", n)
	}
	for _, tc := range []struct {
		sender string
		seq    uint64
		fresh  bool
	}{{"a", 2, false}, {"a", 3, true}, {"b", 1, true}, {"c", 1, false}, {"c", 2, true}} {
		if got := d.fresh(tc.sender, tc.seq); got != tc.fresh {
			t.Errorf("fresh(%s, %d) = %v, want %v", tc.sender, tc.seq, got, tc.fresh)
		}
	}
}
