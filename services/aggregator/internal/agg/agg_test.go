package agg

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
)

type storeKey struct {
	path   string
	step   int64
	time   int64
	source string
}

// readStream reads every rollup batch on the stream and keeps, as storage
// does, the newest point per (path, resolution, time, source).
func readStream(t *testing.T, url, stream string) map[storeKey]rollup.Point {
	t.Helper()
	out, _ := readStreamSizes(t, url, stream)
	return out
}

// readStreamSizes is readStream that also returns the largest message's
// size.
func readStreamSizes(t *testing.T, url, stream string) (map[storeKey]rollup.Point, int) {
	t.Helper()
	maxSize := 0
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := info.NumPending
	out := map[storeKey]rollup.Point{}
	seqs := map[storeKey]uint64{}
	var b rollup.Batch
	for n := uint64(0); n < total; {
		msgs, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			maxSize = max(maxSize, len(m.Data()))
			if err := b.Decode(m.Data()); err != nil {
				t.Fatalf("undecodable batch: %v", err)
			}
			for _, p := range b.Points {
				k := storeKey{p.Path, b.Resolution.Seconds(), p.Time, b.Source}
				if b.Seq >= seqs[k] {
					seqs[k] = b.Seq
					out[k] = p
				}
			}
		}
		if got == 0 {
			t.Fatalf("stream ended after %d of %d messages", n, total)
		}
		n += uint64(got)
	}
	return out, maxSize
}

// TestCountersAreExactAtEveryResolution sends statsd counters (with sample
// rates) over TCP and over NATS shard subjects across several flushes, stops
// the aggregator (which flushes its open bin) and checks that, at every
// resolution, the stored stats_counts sums equal what was sent.
func TestCountersAreExactAtEveryResolution(t *testing.T) {
	url := testenv.NATS(t)
	cfg, err := config.Parse("agg.toml", fmt.Sprintf(`
times = ["1s:1h", "2s:2h", "4s:4h"]
shards = 4
[admin]
listen = ""
[nats]
url = %q
[[listeners]]
url = "tcp://127.0.0.1:0"
format = "statsd"
`, url))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	conn, err := net.Dial("tcp", a.ListenerAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	want := map[string]float64{}
	rng := rand.New(rand.NewPCG(1, 2))
	w := bufio.NewWriter(conn)
	deadline := time.Now().Add(3500 * time.Millisecond) // spans several 1 s bins and a 4 s boundary
	sent := 0
	for time.Now().Before(deadline) {
		var viaNATS strings.Builder
		for i := 0; i < 200; i++ {
			key := fmt.Sprintf("app.c%d", rng.IntN(40))
			v := 1 + rng.IntN(9)
			rate := []string{"", "|@0.5", "|@0.25", "|@0.1"}[rng.IntN(4)]
			mult := map[string]float64{"": 1, "|@0.5": 2, "|@0.25": 4, "|@0.1": 10}[rate]
			want["stats_counts."+key] += float64(v) * mult
			l := fmt.Sprintf("%s:%d|c%s\n", key, v, rate)
			if i%2 == 0 {
				w.WriteString(l)
			} else {
				viaNATS.WriteString(l)
			}
			sent++
		}
		w.Flush()
		msg := nats.NewMsg(fmt.Sprintf("consthash.lines.%d", ring.Shard([]byte("x"), 4)))
		msg.Header.Set(bus.FormatHeader, "statsd")
		msg.Data = []byte(viaNATS.String())
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc.Flush()
	conn.Close()
	time.Sleep(200 * time.Millisecond) // let the listener and NATS deliver the last lines
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stored := readStream(t, url, "CONSTHASH_ROLLUPS")
	for _, step := range []int64{1, 2, 4} {
		got := map[string]float64{}
		for k, p := range stored {
			if k.step == step && strings.HasPrefix(k.path, "stats_counts.app.") {
				got[k.path] += p.Sum
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("resolution %d s: %s = %v, sent %v", step, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("resolution %d s: %d keys stored, %d sent", step, len(got), len(want))
		}
	}
	t.Logf("%d counter lines over TCP and NATS; %d stored points; stats %v", sent, len(stored), a.Stats())
}
