package writer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/retry"
)

// Shard ownership (docs/writer.md): writers announce themselves on
// bus.WriterHeartbeatSubject with the shards they hold, and the owner a
// shard should have is bus.Owner over the live writers, as for aggregators.
// Unlike an aggregator's, a writer's hand-over is exclusive, because a block
// must be built by one writer: the old holder stops fetching, persists and
// acknowledges, and only then stops announcing the shard; a writer claims a
// shard only when no other member announces it, announces the claim, and
// starts reading it only after two intervals in which nobody else claimed it
// (of two claims, the smaller id keeps it). A writer that starts waits three
// intervals, hearing the others, before it claims anything. A holder that
// dies stops being heard after three intervals; its unacknowledged messages
// are then replayed in order by the next holder (see consumer).

// shard is one claimed or held rollup shard.
type shard struct {
	n       int
	claimed time.Time
	running bool // its goroutine was started
	cancel  context.CancelFunc
	cons    jetstream.Consumer // set by its goroutine once made (under Writer.mu)

	// The open blocks (blocks.go). Only the shard's goroutine changes them,
	// under mu (so it reads them without); the recent-points handler reads
	// them under mu.
	mu        sync.Mutex
	paths     map[string][]*openBlock // by path: a path's blocks, sharing the key's string
	ends      map[int64][]*openBlock  // by when they may be forgotten (span end + 2 steps)
	dirty     []*openBlock            // the blocks with pending points
	count     int                     // open blocks
	bytes     int64                   // their accounted bytes (openBlock.size)
	source    string                  // the last batch's source: new blocks share it
	unacked   map[uint64]unacked      // stream sequence -> the latest delivery, acknowledged after the next persist
	nextClose int64                   // unix s when the earliest dirty block's span is over; 0: none
	// held: per resolution (step in seconds) with messages not acknowledged,
	// when the oldest of them was read (coarse resolutions persist every
	// coarse_persist_interval).
	held map[int64]time.Time
	// unindexed: paths of blocks opened with nothing stored, indexed at once
	// (their blocks wait for the persist).
	unindexed []string
	// The store's horizons (store.BlockStore.Horizons), read at the shard's
	// first load: a block whose span starts later, and whose span no
	// forgotten block had, was never written, so it is not read before its
	// first write (beyondHorizon).
	horizons     map[int64]int64
	tracked      bool // the store keeps horizons
	horizonsRead bool
	forgotten    map[[2]int64]bool // {resolution seconds, span} of blocks forgotten beyond the horizon
	lastTry      time.Time         // the last persist's start
	failing      bool              // the last persist failed: the next waits for retryAt
	retryAt      time.Time
	backoff      retry.Backoff
}

func (w *Writer) interval() time.Duration { return w.cfg.Membership.Interval.D() }

// Owned returns the shards this writer claims or holds, sorted.
func (w *Writer) Owned() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, 0, len(w.shards))
	for n := range w.shards {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Reading returns the shards whose consumer this writer reads, sorted.
func (w *Writer) Reading() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for n, sh := range w.shards {
		if sh.cons != nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (w *Writer) consumers() []jetstream.Consumer {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []jetstream.Consumer
	for _, sh := range w.shards {
		if sh.cons != nil {
			out = append(out, sh.cons)
		}
	}
	return out
}

// heartbeat announces this writer and the shards it claims or holds.
func (w *Writer) heartbeat() {
	hb := bus.Heartbeat{ID: w.ID, Shards: w.cfg.Shards, Owned: w.Owned(), Leaving: w.leaving.Load()}
	if err := w.nc.Publish(bus.WriterHeartbeatSubject, hb.Encode()); err != nil {
		w.log.Warn("announcing", "err", err)
	}
}

// reconcile claims, starts and releases shards (see above).
func (w *Writer) reconcile() {
	now := time.Now()
	iv := w.interval()
	v := w.members.View(now, 3*iv, w.leaving.Load())
	w.mu.Lock()
	defer w.mu.Unlock()
	warm := now.Sub(w.started) >= 3*iv
	for n := 0; n < w.cfg.Shards; n++ {
		want := bus.Owner(v.Live, n)
		sh := w.shards[n]
		switch {
		case sh == nil:
			if want == w.ID && warm && len(v.Holders[n]) == 0 {
				w.shards[n] = &shard{n: n, claimed: now}
			}
		case !sh.running:
			smaller := false
			for _, id := range v.Holders[n] {
				smaller = smaller || id < w.ID
			}
			switch {
			case want != w.ID || smaller:
				delete(w.shards, n) // give way
			case now.Sub(sh.claimed) >= 2*iv && len(v.Holders[n]) == 0:
				w.start(sh)
			}
		case sh.cancel != nil && want != w.ID && want != "":
			w.log.Info("handing a shard over", "shard", n, "to", want)
			sh.cancel()
			sh.cancel = nil
		}
	}
}

// start runs a held shard's goroutine (under w.mu).
func (w *Writer) start(sh *shard) {
	ctx, cancel := context.WithCancel(context.Background())
	sh.running, sh.cancel = true, cancel
	w.initShard(sh)
	w.shardWG.Add(1)
	go func() {
		defer w.shardWG.Done()
		w.runShard(ctx, sh)
		w.mu.Lock()
		delete(w.shards, sh.n)
		w.mu.Unlock()
		w.heartbeat() // the next owner may take it now
	}()
}

// initShard makes a held shard's open blocks (empty) and state.
func (w *Writer) initShard(sh *shard) {
	sh.paths, sh.ends, sh.unacked = map[string][]*openBlock{}, map[int64][]*openBlock{}, map[uint64]unacked{}
	sh.held = map[int64]time.Time{}
	sh.backoff = retry.Backoff{Min: time.Second, Max: w.cfg.PersistInterval.D()}
}

// leave releases every shard: each goroutine persists and acknowledges
// what it holds; then this writer announces that it holds nothing.
func (w *Writer) leave() {
	w.leaving.Store(true)
	w.mu.Lock()
	for n, sh := range w.shards {
		if !sh.running {
			delete(w.shards, n)
		} else if sh.cancel != nil {
			sh.cancel()
			sh.cancel = nil
		}
	}
	w.mu.Unlock()
	w.shardWG.Wait()
	w.heartbeat()
}

// runShard reads one held shard until ctx ends.
func (w *Writer) runShard(ctx context.Context, sh *shard) {
	backoff := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var cons jetstream.Consumer
	for cons == nil {
		var err error
		if cons, err = w.consumer(ctx, sh.n); err != nil {
			w.log.Warn("making a shard's consumer", "shard", sh.n, "err", err)
			if backoff.Wait(ctx) != nil {
				return
			}
		}
	}
	w.mu.Lock()
	sh.cons = cons
	w.mu.Unlock()
	w.log.Info("reading a shard", "shard", sh.n, "consumer", cons.CachedInfo().Name)
	if w.blocks != nil {
		// Its not-yet-stored points are served until its last persist is done.
		sub, err := w.nc.Subscribe(bus.RecentSubject(sh.n), w.recentHandler(sh))
		if err != nil {
			w.log.Warn("answering recent points", "shard", sh.n, "err", err)
		} else {
			defer sub.Unsubscribe()
		}
	}
	backoff.Reset()
	sh.lastTry = time.Now()
	for ctx.Err() == nil {
		wait := w.cfg.BatchWait.D()
		if w.blocks != nil {
			if !w.persistIfDue(sh) {
				// Storage is failing and the open blocks are at their bound:
				// read nothing more until a persist succeeds.
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(sh.retryAt)):
				}
				continue
			}
			wait = max(min(wait, time.Until(w.nextPersist(sh))), 10*time.Millisecond)
		}
		batch, err := cons.Fetch(w.cfg.Batch, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("fetching rollups", "shard", sh.n, "err", err)
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
		switch {
		case len(msgs) == 0:
		case w.blocks != nil:
			for rest := w.apply(sh, msgs); len(rest) > 0; rest = w.apply(sh, rest) {
				// At a bound: persist (and forget) before the rest.
				for !w.persistIfDue(sh) && ctx.Err() == nil {
					select {
					case <-ctx.Done():
					case <-time.After(time.Until(sh.retryAt)):
					}
				}
				if ctx.Err() != nil {
					// Not applied, not acknowledged: the next holder replays them.
					break
				}
			}
		default:
			w.handle(msgs)
		}
	}
	if w.blocks != nil {
		if !w.abandon.Load() {
			w.persist(sh, "stop")
		}
		w.dropBlocks(sh)
	}
	w.mu.Lock()
	sh.cons = nil
	w.mu.Unlock()
}

// consumer returns shard n's durable consumer, <durable>-<n> with filter
// consthash.rollups.*.<n>, made (delivering the whole stream) if missing. A
// consumer with messages delivered and not acknowledged belonged to a holder
// that stopped without acknowledging them (killed, or its last persist
// failed): it is made again from its acknowledgement floor, so those
// messages come back now and in stream order, before any later one (a block
// takes a point when its version is not older than the block's: replaying
// in order keeps that exact).
func (w *Writer) consumer(ctx context.Context, n int) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout.D())
	defer cancel()
	name := fmt.Sprintf("%s-%d", w.cfg.Durable, n)
	cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: w.cfg.AckWait.D(),
		MaxDeliver: -1, FilterSubject: bus.RollupShardFilter(n), MaxAckPending: w.maxAckPending()}
	cons, err := w.stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = w.stream.CreateConsumer(ctx, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = w.stream.Consumer(ctx, name)
		}
		return cons, err
	}
	if err != nil {
		return nil, err
	}
	info := cons.CachedInfo()
	if info.NumAckPending == 0 {
		if info.Config.AckWait != cfg.AckWait || info.Config.MaxAckPending != cfg.MaxAckPending {
			up := info.Config
			up.AckWait, up.MaxAckPending = cfg.AckWait, cfg.MaxAckPending
			if c, err := w.stream.UpdateConsumer(ctx, up); err == nil {
				cons = c
			} else {
				w.log.Warn("updating a shard's consumer", "consumer", name, "err", err)
			}
		}
		return cons, nil
	}
	from := info.AckFloor.Stream + 1
	w.log.Info("replaying a shard from its acknowledgement floor: its last holder left messages unacknowledged",
		"shard", n, "consumer", name, "from_stream_seq", from, "unacknowledged", info.NumAckPending)
	if err := w.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	w.resets.Inc()
	return w.stream.CreateConsumer(ctx, cfg)
}

// maxAckPending bounds the messages of a shard delivered and not yet
// acknowledged: what its open blocks hold between persists.
func (w *Writer) maxAckPending() int { return w.cfg.Batch * 8 }
