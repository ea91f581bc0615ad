package agg

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

func startAgg(t *testing.T, url, id string) *Aggregator {
	t.Helper()
	cfg, err := config.Parse(id+".toml", fmt.Sprintf(`
id = %q
times = ["1s:1h", "2s:2h"]
shards = 8
[admin]
listen = ""
[nats]
url = %q
[membership]
interval = "100ms"
`, id, url))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	return a
}

func stopAgg(t *testing.T, a *Aggregator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// converged waits until the running aggregators hold every shard exactly
// once between them.
func converged(t *testing.T, what string, shards int, aggs ...*Aggregator) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		held := map[int]int{}
		for _, a := range aggs {
			for _, s := range a.Owned() {
				held[s]++
			}
		}
		ok := len(held) == shards
		for _, n := range held {
			ok = ok && n == 1
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: shards never settled: %v", what, held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScaleOneThreeTwoKeepsTotalsExact runs a steady stream of statsd
// counters while aggregators go 1 -> 3 -> 2: the counters stored at every
// resolution (newest per path, resolution, time and producer) sum exactly to
// what was sent, and at the end each aggregator held a disjoint set of shards.
func TestScaleOneThreeTwoKeepsTotalsExact(t *testing.T) {
	url := testenv.NATS(t)
	const shards = 8
	a := startAgg(t, url, "agg-a")
	converged(t, "one aggregator", shards, a)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	want := map[string]float64{}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(7, 9))
		sent := 0
		for {
			select {
			case <-stop:
				nc.Flush()
				done <- sent
				return
			default:
			}
			batches := map[int]*strings.Builder{}
			mu.Lock()
			for i := 0; i < 100; i++ {
				key := fmt.Sprintf("scale.c%d", rng.IntN(60))
				v := 1 + rng.IntN(9)
				want["stats_counts."+key] += float64(v)
				sh := ring.Shard([]byte(key), shards)
				if batches[sh] == nil {
					batches[sh] = &strings.Builder{}
				}
				fmt.Fprintf(batches[sh], "%s:%d|c\n", key, v)
				sent++
			}
			mu.Unlock()
			for sh, b := range batches {
				msg := nats.NewMsg(fmt.Sprintf("consthash.lines.%d", sh))
				msg.Header.Set(bus.FormatHeader, "statsd")
				msg.Data = []byte(b.String())
				if err := nc.PublishMsg(msg); err != nil {
					t.Error(err)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	time.Sleep(800 * time.Millisecond)
	b := startAgg(t, url, "agg-b")
	c := startAgg(t, url, "agg-c")
	converged(t, "three aggregators", shards, a, b, c)
	if len(a.Owned()) == shards {
		t.Fatal("the new aggregators took no shard")
	}
	time.Sleep(800 * time.Millisecond)
	stopAgg(t, c) // 3 -> 2: c leaves, a and b take its shards first
	converged(t, "two aggregators", shards, a, b)
	time.Sleep(800 * time.Millisecond)
	close(stop)
	sent := <-done
	time.Sleep(300 * time.Millisecond)
	stopAgg(t, a)
	stopAgg(t, b)

	stored := readStream(t, url, "CONSTHASH_ROLLUPS")
	sources := map[string]bool{}
	for _, step := range []int64{1, 2} {
		got := map[string]float64{}
		for k, p := range stored {
			if k.step == step && strings.HasPrefix(k.path, "stats_counts.scale.") {
				got[k.path] += p.Sum
				sources[k.source] = true
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("resolution %d s: %s = %v, sent %v", step, k, got[k], v)
			}
		}
	}
	if len(sources) != 3 {
		t.Errorf("rollups came from %d producers, want 3", len(sources))
	}
	t.Logf("%d counter lines across 1 -> 3 -> 2 aggregators; totals exact at 1 s and 2 s", sent)
}
