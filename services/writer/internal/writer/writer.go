// Package writer consumes rollup batches from JetStream and stores them
// (docs/writer.md). Writers agree on which rollup shards each owns
// (shards.go); a held shard is read through its own durable consumer. With a
// store that keeps blocks, a shard's points go into open blocks persisted
// every persist_interval (blocks.go); otherwise each fetched group is written
// at once. Either way a message is acknowledged only after its points are
// stored; a message that cannot be decoded goes to the dead-letter subject
// with the reason.
package writer

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/writer/internal/config"
)

// Writer owns the store, its membership among writers and the shards it
// holds.
type Writer struct {
	cfg     *config.Config
	log     *slog.Logger
	store   store.Store
	blocks  store.BlockStore // nil: a store without blocks (files), written message by message with Write
	nc      *nats.Conn
	stream  jetstream.Stream
	Metrics *metrics.Set
	// ID is this writer's member id: the configured id and a random suffix.
	ID      string
	members *bus.Members
	started time.Time
	leaving atomic.Bool
	refused *ratelog.Limiter
	fullLog *ratelog.Limiter // shards forgetting their blocks at a bound
	// abandon (tests) makes a stop persist and acknowledge nothing: a crash.
	abandon atomic.Bool

	// writeMu makes the shards' writes one at a time without blocks (the
	// stores' path index tells each new path once only to writes that do not
	// overlap); with blocks, the block writer does it (blocks.go).
	writeMu sync.Mutex
	writes  chan writeReq

	mu      sync.Mutex
	shards  map[int]*shard // claimed, held or being released
	shardWG sync.WaitGroup // every shard's goroutine

	stored, msgsAcked, redelivered, dead, writeErrors, skipped, misaligned *metrics.Counter
	persists, blocksPersisted, blockPoints, openFull, resets, corrupt      *metrics.Counter
	recentRequests, recentPoints, recentTruncated, recentBad               *metrics.Counter
	gathered, bytesFull, evicted, notRead, msgsHeld                        *metrics.Counter
	persistSeconds                                                         *metrics.Histogram
	openBlocks, openBytes                                                  atomic.Int64
	pending                                                                atomic.Int64
	lastWrite                                                              atomic.Int64 // ns
	healthy                                                                atomic.Bool
}

// New connects to NATS, opens the store and creates its schema and the
// stream (if no aggregator made it yet). The shards' consumers are made when
// Run takes them.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Writer, error) {
	st, err := store.Open(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return newWithStore(ctx, cfg, log, st)
}

// newWithStore is New over an opened store (tests pass their own).
func newWithStore(ctx context.Context, cfg *config.Config, log *slog.Logger, st store.Store) (*Writer, error) {
	w := &Writer{cfg: cfg, log: log, Metrics: metrics.NewSet(), ID: cfg.ID + "-" + rand.Text()[:8], shards: map[int]*shard{},
		refused: ratelog.New(log, 1, 10*time.Second), fullLog: ratelog.New(log, 1, 10*time.Second)}
	w.members = bus.NewMembers(w.ID)
	c := func(n string) *metrics.Counter { return w.Metrics.GetOrCreateCounter("consthash_writer_" + n) }
	w.stored, w.msgsAcked, w.redelivered = c("points_stored_total"), c("messages_acked_total"), c("messages_redelivered_total")
	w.dead, w.writeErrors, w.skipped = c("messages_dead_lettered_total"), c("write_errors_total"), c("points_not_finite_total")
	w.misaligned = c("points_not_aligned_total")
	w.persists, w.blocksPersisted, w.blockPoints = c("persists_total"), c("blocks_persisted_total"), c("block_points_persisted_total")
	w.openFull, w.resets, w.corrupt = c("open_blocks_full_total"), c("consumer_resets_total"), c("blocks_corrupt_total")
	w.recentRequests, w.recentPoints = c("recent_requests_total"), c("recent_points_total")
	w.recentTruncated, w.recentBad = c("recent_truncated_total"), c("recent_bad_requests_total")
	w.gathered, w.bytesFull, w.evicted = c("persists_gathered_total"), c("open_bytes_full_total"), c("blocks_evicted_total")
	w.notRead, w.msgsHeld = c("blocks_not_read_total"), c("messages_held_total")
	w.persistSeconds = w.Metrics.GetOrCreateHistogram("consthash_writer_persist_duration_seconds")
	w.Metrics.GetOrCreateGauge("consthash_writer_open_blocks", func() float64 { return float64(w.openBlocks.Load()) })
	w.Metrics.GetOrCreateGauge("consthash_writer_open_bytes", func() float64 { return float64(w.openBytes.Load()) })
	w.Metrics.GetOrCreateGauge("consthash_writer_shards_owned", func() float64 { return float64(len(w.Owned())) })
	w.Metrics.GetOrCreateGauge("consthash_writer_pending_messages", func() float64 { return float64(w.pending.Load()) })
	w.Metrics.GetOrCreateGauge("consthash_writer_last_write_seconds", func() float64 { return float64(w.lastWrite.Load()) / 1e9 })
	w.store = st
	w.blocks, _ = st.(store.BlockStore)
	ictx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout.D())
	defer cancel()
	if err := st.Init(ictx); err != nil {
		st.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	nc, err := nats.Connect(cfg.NATS, nats.Name("consthash-writer"), nats.MaxReconnects(-1))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", cfg.NATS, err)
	}
	w.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		w.Close()
		return nil, err
	}
	// Aggregators own the stream's limits; a writer starting first makes it
	// from the same definition and otherwise leaves it as it is.
	want := cfg.StreamConfig()
	stream, differs, err := bus.EnsureStream(ictx, js, want, false)
	if err != nil {
		w.Close()
		return nil, err
	}
	if differs {
		have := stream.CachedInfo().Config
		log.Warn("the rollup stream's limits differ from this writer's stream_max_bytes, stream_max_age and stream_replicas; the aggregators' are kept",
			"stream", want.Name, "max_bytes", have.MaxBytes, "max_age", have.MaxAge, "replicas", have.Replicas,
			"want_max_bytes", want.MaxBytes, "want_max_age", want.MaxAge, "want_replicas", want.Replicas)
	}
	w.stream = stream
	w.healthy.Store(true)
	return w, nil
}

// Blocks reports whether this writer keeps open blocks (its store
// implements store.BlockStore) rather than writing every message's points.
func (w *Writer) Blocks() bool { return w.blocks != nil }

// Run announces this writer, takes the shards it should own and consumes
// them until ctx ends; then it hands every shard over (each persists its
// blocks and acknowledges what they hold first) and returns.
func (w *Writer) Run(ctx context.Context) error {
	// The expirer and the lag probe end with ctx; Run returns only after them.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { w.expirer(ctx) })
	wg.Go(func() { w.lag(ctx) })
	sub, err := w.nc.Subscribe(bus.WriterHeartbeatSubject, func(m *nats.Msg) {
		var hb bus.Heartbeat
		if hb.Decode(m.Data) == nil {
			w.members.Observe(hb, time.Now())
		}
	})
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", bus.WriterHeartbeatSubject, err)
	}
	defer sub.Unsubscribe()
	if w.blocks != nil {
		w.writes = make(chan writeReq)
		done := make(chan struct{})
		go func() { w.blockWriter(); close(done) }()
		defer func() { close(w.writes); <-done }() // after leave: every shard's last persist is written
	}
	w.mu.Lock()
	w.started = time.Now()
	w.mu.Unlock()
	t := time.NewTicker(w.interval())
	defer t.Stop()
	for ctx.Err() == nil {
		w.reconcile()
		w.heartbeat()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	w.leave()
	return nil
}

// handle decodes a fetched group of messages, stores them in one write and
// acknowledges them, or sends them back.
func (w *Writer) handle(msgs []jetstream.Msg) {
	var good []jetstream.Msg
	var batches []*rollup.Batch
	for _, m := range msgs {
		b := &rollup.Batch{}
		if err := b.Decode(m.Data()); err != nil {
			w.deadLetter(m, fmt.Sprintf("undecodable rollup batch: %v", err))
			continue
		}
		for _, p := range b.Points {
			if !store.Finite(p) {
				w.skipped.Inc()
				w.log.Warn("a point with a non-finite value is not stored", "path", p.Path, "source", b.Source)
			}
		}
		good = append(good, m)
		batches = append(batches, b)
	}
	if len(good) == 0 {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
	w.writeMu.Lock()
	err := w.store.Write(ctx, batches)
	w.writeMu.Unlock()
	cancel()
	if err != nil {
		w.writeErrors.Inc()
		w.healthy.Store(false)
		w.log.Error("storing rollups; the messages will come back", "messages", len(good), "err", err)
		for _, m := range good {
			meta, merr := m.Metadata()
			if merr == nil && int(meta.NumDelivered) >= w.cfg.MaxDeliver {
				w.deadLetter(m, fmt.Sprintf("not stored after %d tries: %v", meta.NumDelivered, err))
				continue
			}
			delay := time.Second
			if merr == nil {
				delay = min(time.Duration(1<<min(meta.NumDelivered, 6))*time.Second, w.cfg.RetryMaxDelay.D())
			}
			if nerr := m.NakWithDelay(delay); nerr != nil {
				w.log.Warn("nak", "err", nerr)
			}
			w.redelivered.Inc()
		}
		return
	}
	w.healthy.Store(true)
	w.lastWrite.Store(int64(time.Since(start)))
	n := 0
	for _, b := range batches {
		n += len(b.Points)
	}
	w.stored.Add(n)
	w.announcePaths()
	for _, m := range good {
		if err := m.Ack(); err != nil {
			// The rows are stored; a redelivery overwrites them with the same values.
			w.log.Warn("ack", "err", err)
			continue
		}
		w.msgsAcked.Inc()
	}
}

// announcePaths publishes the paths the last writes added to the index.
func (w *Writer) announcePaths() {
	ix, ok := w.store.(store.Indexer)
	if !ok {
		return
	}
	paths := ix.TakeNewPaths()
	var buf []byte
	for i, p := range paths {
		buf = append(append(buf, p...), '\n')
		if len(buf) > 256<<10 || i == len(paths)-1 {
			if err := w.nc.Publish(bus.IndexSubject, buf); err != nil {
				w.log.Warn("announcing new paths", "err", err)
			}
			buf = nil
		}
	}
}

func (w *Writer) deadLetter(m jetstream.Msg, reason string) {
	w.dead.Inc()
	w.log.Error("dead-lettering a rollup message", "subject", m.Subject(), "reason", reason)
	dl := nats.NewMsg(w.cfg.DeadLetter)
	dl.Data = m.Data()
	dl.Header.Set(bus.ReasonHeader, reason)
	dl.Header.Set(bus.SubjectHeader, m.Subject())
	if err := w.nc.PublishMsg(dl); err != nil {
		w.log.Error("publishing a dead letter", "err", err)
	}
	if err := m.Term(); err != nil {
		w.log.Warn("term", "err", err)
	}
}

// expirer deletes expired rows where the store needs it (SQL).
func (w *Writer) expirer(ctx context.Context) {
	ex, ok := w.store.(interface {
		Expire(context.Context, time.Time) (int64, error)
	})
	if !ok {
		return
	}
	t := time.NewTicker(w.cfg.ExpireInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ectx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout.D())
		n, err := ex.Expire(ectx, time.Now())
		cancel()
		if err != nil {
			w.log.Warn("expiring rows", "err", err)
		} else if n > 0 {
			w.log.Info("expired rows deleted", "rows", n)
		}
	}
}

// lag keeps the held shards' consumers' pending count for /stats and
// /metrics.
func (w *Writer) lag(ctx context.Context) {
	for {
		var n int64
		for _, cons := range w.consumers() {
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if info, err := cons.Info(ictx); err == nil {
				n += int64(info.NumPending + uint64(info.NumAckPending))
			}
			cancel()
		}
		w.pending.Store(n)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// Healthy reports NATS connectivity and the last write's outcome.
func (w *Writer) Healthy() (bool, map[string]any) {
	ok := w.nc.IsConnected() && w.healthy.Load()
	return ok, map[string]any{"nats": w.nc.Status().String(), "storage_ok": w.healthy.Load(), "driver": w.cfg.Storage.Driver}
}

// Stats is the /stats document.
func (w *Writer) Stats() map[string]any {
	return map[string]any{"id": w.ID, "shards_owned": w.Owned(), "shards_reading": w.Reading(), "blocks": w.Blocks(),
		"points_stored": w.stored.Get(), "messages_acked": w.msgsAcked.Get(),
		"messages_redelivered": w.redelivered.Get(), "messages_dead_lettered": w.dead.Get(),
		"write_errors": w.writeErrors.Get(), "points_not_finite": w.skipped.Get(), "points_not_aligned": w.misaligned.Get(),
		"pending_messages": w.pending.Load(), "last_write_seconds": float64(w.lastWrite.Load()) / 1e9,
		"persists": w.persists.Get(), "blocks_persisted": w.blocksPersisted.Get(), "block_points_persisted": w.blockPoints.Get(),
		"open_blocks": w.openBlocks.Load(), "open_blocks_full": w.openFull.Get(), "blocks_corrupt": w.corrupt.Get(),
		"open_bytes": w.openBytes.Load(), "open_bytes_full": w.bytesFull.Get(), "blocks_evicted": w.evicted.Get(),
		"blocks_not_read": w.notRead.Get(),
		"messages_held":   w.msgsHeld.Get(),
		"consumer_resets": w.resets.Get(), "recent_requests": w.recentRequests.Get(), "recent_points": w.recentPoints.Get(),
		"recent_truncated": w.recentTruncated.Get(), "recent_bad_requests": w.recentBad.Get(),
		"persists_gathered": w.gathered.Get()}
}

// Close releases NATS and the store.
func (w *Writer) Close() error {
	if w.nc != nil {
		w.nc.Close()
	}
	if w.store != nil {
		return w.store.Close()
	}
	return nil
}
