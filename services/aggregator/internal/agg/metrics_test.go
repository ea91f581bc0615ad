package agg

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// TestEveryStatIsOnMetrics: each number /stats shows has a Prometheus series
// on /metrics, consthash_aggregator_<name> or <name>_total (shards_owned, a
// list on /stats, is its length there; udp_reader_datagrams, a map of lists,
// one labelled series per reader).
func TestEveryStatIsOnMetrics(t *testing.T) {
	a := newAgg(t, testenv.NATS(t), "")
	a.Start()
	t.Cleanup(func() { stopAgg(t, a) })
	var buf bytes.Buffer
	a.Metrics.WritePrometheus(&buf)
	exposed := buf.String()
	for name, v := range a.Stats() {
		switch v.(type) {
		case string: // source: the producer's name, not a number
			continue
		}
		base := "consthash_aggregator_" + name
		if !strings.Contains(exposed, base+" ") && !strings.Contains(exposed, base+"_total ") && !strings.Contains(exposed, base+"{") &&
			!strings.Contains(exposed, base+"_total{") {
			t.Errorf("/stats %s has no series %s or %s_total on /metrics", name, base, base)
		}
	}
}

// TestCloseBeforeStartEnds: an aggregator closed before it started (its
// admin port was taken, say) returns from Close, counting what it could not
// publish, instead of waiting for a publisher that never ran.
func TestCloseBeforeStartEnds(t *testing.T) {
	a := newAgg(t, testenv.NATS(t), "")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- a.Close(ctx)
	}()
	select {
	case err := <-done:
		lost := a.Stats()["rollup_points_lost"].(uint64)
		if (err == nil) != (lost == 0) {
			t.Fatalf("Close: %v with %d points counted lost", err, lost)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close before Start did not return")
	}
}
