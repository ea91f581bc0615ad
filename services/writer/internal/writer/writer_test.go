package writer

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/writer/internal/config"
)

// publish publishes b as aggregators do: a message per shard of its paths
// (bus.DefaultShards), under that shard's subject.
func publish(t *testing.T, js jetstream.JetStream, b *rollup.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	byShard := map[int][]rollup.Point{}
	for _, p := range b.Points {
		s := bus.PathShard(p.Path, bus.DefaultShards)
		byShard[s] = append(byShard[s], p)
	}
	for s, pts := range byShard {
		part := *b
		part.Points = pts
		id := fmt.Sprintf("%s:%d", b.MsgID(), s)
		if _, err := js.Publish(ctx, bus.RollupSubject(b.Resolution, s), part.Append(nil), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
}

func runWriter(t *testing.T, storage store.Config) {
	url := testenv.NATS(t)
	cfg, err := config.Parse("writer.toml", fmt.Sprintf(`
nats = %q
batch = 16
batch_wait = "100ms"
ack_wait = "20s"
write_timeout = "15s"
persist_interval = "500ms"
[membership]
interval = "100ms"
[admin]
listen = ""
`, url))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = storage
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dead := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe(cfg.DeadLetter, dead); err != nil {
		t.Fatal(err)
	}
	announced := make(chan *nats.Msg, 1024)
	if _, err := nc.ChanSubscribe(bus.IndexSubject, announced); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	js, _ := jetstream.New(nc)
	// The writer made the stream from the bus's one definition, with the
	// defaults aggregators have too.
	stream, err := js.Stream(ctx, bus.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	have, want := stream.CachedInfo().Config, bus.DefaultStreamConfig().Config()
	if !reflect.DeepEqual(have.Subjects, want.Subjects) || have.MaxBytes != want.MaxBytes || have.MaxAge != want.MaxAge ||
		have.Duplicates != want.Duplicates || have.Discard != want.Discard || have.Storage != want.Storage {
		t.Errorf("the writer made the stream %+v, want %+v", have, want)
	}
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	const n = 50
	for i := 0; i < n; i++ {
		b := &rollup.Batch{Source: "agg-a", Resolution: res, Flush: 1700000010, Seq: uint64(i + 1), Final: true}
		for j := 0; j < 20; j++ {
			var p rollup.Point
			p.Path, p.Time = fmt.Sprintf("w.k%d.v%d", i, j), 1700000000
			p.Add(float64(i*j), 1)
			b.Points = append(b.Points, p)
		}
		publish(t, js, b)
	}
	// The same points again under another message id: a later partial or a
	// republish. The row is overwritten, not added.
	again := &rollup.Batch{Source: "agg-a", Resolution: res, Flush: 1700000010, Seq: 999, Final: true}
	var p rollup.Point
	p.Path, p.Time = "w.k3.v4", 1700000000
	p.Add(12, 1)
	again.Points = append(again.Points, p)
	publish(t, js, again)
	// Garbage on the stream goes to the dead letters with the reason.
	if _, err := js.Publish(context.Background(), "consthash.rollups.10.0", []byte("not a batch")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for w.stored.Get() < n*20+1 {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d points, want %d: %v", w.stored.Get(), n*20+1, w.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case m := <-dead:
		if !strings.Contains(m.Header.Get(bus.ReasonHeader), "undecodable rollup batch") || string(m.Data) != "not a batch" {
			t.Errorf("dead letter %q with reason %q", m.Data, m.Header.Get(bus.ReasonHeader))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
	// Every leaf and every parent is announced once: 1,000 leaves, w and w.k0..w.k49.
	paths := map[string]int{}
	for len(paths) < n*20+n+1 {
		select {
		case m := <-announced:
			for _, p := range strings.Split(strings.TrimSpace(string(m.Data)), "\n") {
				paths[p]++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d new paths announced, want %d", len(paths), n*20+n+1)
		}
	}
	for p, c := range paths {
		if c != 1 {
			t.Errorf("%s announced %d times", p, c)
		}
	}
	cancel()
	<-done

	st, err := store.Open(storage)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rctx := context.Background()
	if err := st.Init(rctx); err != nil {
		t.Fatal(err)
	}
	r := st.(store.Reader)
	pts, err := r.Read(rctx, "w.k3.v4", res, 1700000000, 1700000010)
	if err != nil || len(pts) != 1 || pts[0].Sum != 12 || pts[0].Count != 1 {
		t.Fatalf("w.k3.v4 = %+v, %v: want the overwritten row (12), not a sum", pts, err)
	}
	pts, err = r.Read(rctx, "w.k49.v19", res, 1700000000, 1700000010)
	if err != nil || len(pts) != 1 || pts[0].Sum != 49*19 {
		t.Fatalf("w.k49.v19 = %+v, %v", pts, err)
	}
	kids, err := r.Children(rctx, "w")
	if err != nil || len(kids) != n {
		t.Fatalf("%d children of w, want %d (%v)", len(kids), n, err)
	}
	if w.dead.Get() != 1 || w.msgsAcked.Get() < n+1 {
		t.Errorf("stats %v", w.Stats())
	}
}

func TestWriterSQLite(t *testing.T) {
	runWriter(t, store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "w.db")})
}

func TestWriterMariaDB(t *testing.T) {
	_, dsn := testenv.MySQL(t)
	runWriter(t, store.Config{Driver: "mysql", DSN: dsn})
}

func TestWriterCassandra(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	_, ks := testenv.Cassandra(t)
	runWriter(t, store.Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}})
}

// TestWriterRedeliveredPartialKeepsFinal is issue #19's stale overwrite: a
// coarse bin's older partial is delivered, not acknowledged (its writer was
// killed), and comes back from JetStream after the bin's final is stored.
// The final remains.
func TestWriterRedeliveredPartialKeepsFinal(t *testing.T) {
	url := testenv.NATS(t)
	cfg, err := config.Parse("writer.toml", fmt.Sprintf(`
nats = %q
batch = 16
batch_wait = "100ms"
ack_wait = "2s"
write_timeout = "500ms"
persist_interval = "500ms"
[membership]
interval = "100ms"
[admin]
listen = ""
[storage]
driver = "sqlite"
dsn = %q
`, url, "file:"+filepath.Join(t.TempDir(), "w.db")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, js := connectJS(t, url)
	minute := rollup.Resolution{Step: time.Minute, TTL: 24 * time.Hour}
	const bin = 1700000040
	coarse := func(flush int64, final bool, vals ...float64) *rollup.Batch {
		p := rollup.Point{Path: "r.total", Time: bin}
		for _, v := range vals {
			p.Add(v, flush*1e9)
		}
		return &rollup.Batch{Source: "agg-a", Resolution: minute, Flush: flush, Seq: uint64(flush), Final: final, Points: []rollup.Point{p}}
	}
	publish(t, js, coarse(1700000070, false, 1, 2, 3)) // a partial: 30 s of the minute
	publish(t, js, coarse(1700000100, true, 1, 2, 3, 4, 5, 6))
	// A writer that dies after fetching the partial: it is delivered and never
	// acknowledged, so JetStream sends it again after ack_wait.
	// The shard's consumer as a writer makes it.
	shard := bus.PathShard("r.total", cfg.Shards)
	cons, err := js.CreateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{Durable: fmt.Sprintf("%s-%d", cfg.Durable, shard),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait.D(), MaxDeliver: -1, FilterSubject: bus.RollupShardFilter(shard)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var first rollup.Batch
	for m := range got.Messages() {
		if err := first.Decode(m.Data()); err != nil {
			t.Fatal(err)
		}
	}
	if first.Final || first.Flush != 1700000070 {
		t.Fatalf("the dying writer fetched %+v, want the partial", first)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Both messages are acknowledged by the live writer: the final first, then
	// the partial when it comes back.
	deadline := time.Now().Add(20 * time.Second)
	for w.msgsAcked.Get() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages acknowledged, want 2 (the final and the redelivered partial): %v", w.msgsAcked.Get(), w.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	r := w.store.(store.Reader)
	pts, err := r.Read(context.Background(), "r.total", minute, bin, bin+60)
	if err != nil || len(pts) != 1 || pts[0].Sum != 21 || pts[0].Count != 6 {
		t.Fatalf("r.total = %+v, %v: want the final (sum 21, count 6), not the redelivered partial (6, 3)", pts, err)
	}
}
