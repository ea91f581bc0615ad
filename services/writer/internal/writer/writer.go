// Package writer consumes rollup batches from JetStream and stores them:
// a message is acknowledged only after all its rows are stored; a storage
// error makes it come back later (with back-off), and a message that cannot
// be decoded, or stored after max_deliver tries, goes to the dead-letter
// subject with the reason.
package writer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/retry"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/writer/internal/config"
)

// Writer owns the consumer and the store.
type Writer struct {
	cfg     *config.Config
	log     *slog.Logger
	store   store.Store
	nc      *nats.Conn
	cons    jetstream.Consumer
	Metrics *metrics.Set

	stored, msgsAcked, redelivered, dead, writeErrors, skipped *metrics.Counter
	pending                                                    atomic.Int64
	lastWrite                                                  atomic.Int64 // ns
	healthy                                                    atomic.Bool
}

// New connects to NATS, opens the store, creates its schema and the
// durable consumer (the stream is created too if no aggregator made it yet).
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Writer, error) {
	w := &Writer{cfg: cfg, log: log, Metrics: metrics.NewSet()}
	c := func(n string) *metrics.Counter { return w.Metrics.GetOrCreateCounter("consthash_writer_" + n) }
	w.stored, w.msgsAcked, w.redelivered = c("points_stored_total"), c("messages_acked_total"), c("messages_redelivered_total")
	w.dead, w.writeErrors, w.skipped = c("messages_dead_lettered_total"), c("write_errors_total"), c("points_not_finite_total")
	w.Metrics.GetOrCreateGauge("consthash_writer_pending_messages", func() float64 { return float64(w.pending.Load()) })
	w.Metrics.GetOrCreateGauge("consthash_writer_last_write_seconds", func() float64 { return float64(w.lastWrite.Load()) / 1e9 })
	st, err := store.Open(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	w.store = st
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
	cons, err := stream.CreateOrUpdateConsumer(ictx, jetstream.ConsumerConfig{Durable: cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait.D(), MaxDeliver: -1, FilterSubject: bus.RollupsFilter, MaxAckPending: cfg.Batch * 8})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	w.cons = cons
	w.healthy.Store(true)
	return w, nil
}

// Run consumes until ctx ends, then returns after the batch in hand.
func (w *Writer) Run(ctx context.Context) error {
	// The expirer and the lag probe end with ctx; Run returns only after them.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { w.expirer(ctx) })
	wg.Go(func() { w.lag(ctx) })
	backoff := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		batch, err := w.cons.Fetch(w.cfg.Batch, jetstream.FetchMaxWait(w.cfg.BatchWait.D()))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("fetching rollups", "err", err)
			if backoff.Wait(ctx) != nil {
				break
			}
			continue
		}
		backoff.Reset()
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			w.handle(msgs)
		}
	}
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
	err := w.store.Write(ctx, batches)
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
	w.announce()
	for _, m := range good {
		if err := m.Ack(); err != nil {
			// The rows are stored; a redelivery overwrites them with the same values.
			w.log.Warn("ack", "err", err)
			continue
		}
		w.msgsAcked.Inc()
	}
}

// announce publishes the paths the last writes added to the index.
func (w *Writer) announce() {
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

// lag keeps the consumer's pending count for /stats and /metrics.
func (w *Writer) lag(ctx context.Context) {
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if info, err := w.cons.Info(ictx); err == nil {
			w.pending.Store(int64(info.NumPending + uint64(info.NumAckPending)))
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
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
	return map[string]any{"points_stored": w.stored.Get(), "messages_acked": w.msgsAcked.Get(),
		"messages_redelivered": w.redelivered.Get(), "messages_dead_lettered": w.dead.Get(),
		"write_errors": w.writeErrors.Get(), "points_not_finite": w.skipped.Get(), "pending_messages": w.pending.Load(),
		"last_write_seconds": float64(w.lastWrite.Load()) / 1e9}
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
