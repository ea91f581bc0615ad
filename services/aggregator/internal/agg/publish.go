package agg

import (
	"context"
	"encoding/binary"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/retry"
	"github.com/consthash/consthash/pkg/rollup"
)

// Rollup publishing (docs/aggregator.md, "Publishing rollups"): every batch a
// flush produces is cut into messages of at most maxBytes (well under the
// server's max_payload) and maxPoints points, each with its own
// deduplication id. The messages of one flush are published concurrently, at
// most window unacknowledged at a time; the next flush's messages start only
// once every message of the previous flush is acknowledged, so the stream
// holds each flush's partial coarse bins after the previous flush's (a writer
// overwrites a row with the newest message it reads). A message is retried
// until it is acknowledged or the stop deadline passes; what is still
// unacknowledged then is counted as lost, never dropped silently.

// outMsg is one encoded rollup message.
type outMsg struct {
	flush   int64 // the flush it belongs to: the publishing barrier
	subject string
	id      string
	data    []byte
	points  int
}

// publisher owns the rollup message queue, its sender and the messages in
// flight.
type publisher struct {
	started atomic.Bool // start was called: run will close done
	js      jetstream.JetStream
	log     *slog.Logger
	retries *ratelog.Limiter
	queue   chan *outMsg
	window  int
	timeout time.Duration
	abort   chan struct{} // closed (abortOnce) when the stop deadline passes
	aborted sync.Once
	done    chan struct{} // closed when the sender and every message in flight ended

	published, failed, pointsSent, lostMsgs, lostPoints, produced *metrics.Counter

	mu       sync.Mutex
	inFlight int
}

func newPublisher(js jetstream.JetStream, log *slog.Logger, set *metrics.Set, queue, window int, timeout time.Duration) *publisher {
	c := func(n string) *metrics.Counter { return set.GetOrCreateCounter("consthash_aggregator_" + n) }
	p := &publisher{js: js, log: log, retries: ratelog.New(log, 1, 5*time.Second), queue: make(chan *outMsg, queue),
		window: window, timeout: timeout, abort: make(chan struct{}), done: make(chan struct{})}
	p.published, p.failed, p.pointsSent = c("rollup_batches_published_total"), c("rollup_batches_failed_total"), c("rollup_points_published_total")
	p.lostMsgs, p.lostPoints = c("rollup_batches_lost_total"), c("rollup_points_lost_total")
	p.produced = c("rollup_points_produced_total")
	set.GetOrCreateGauge("consthash_aggregator_rollup_messages_in_flight", func() float64 { return float64(p.flying()) })
	set.GetOrCreateGauge("consthash_aggregator_pending_messages", func() float64 { return float64(len(p.queue)) })
	return p
}

func (p *publisher) flying() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight
}

// enqueue hands a message to the sender, waiting while the queue is full
// (the flush waits: backpressure, not growth) until the stop deadline.
func (p *publisher) enqueue(m *outMsg) {
	p.produced.Add(m.points)
	select {
	case p.queue <- m:
	case <-p.abort:
		p.lose(m)
	}
}

func (p *publisher) lose(m *outMsg) {
	p.lostMsgs.Inc()
	p.lostPoints.Add(m.points)
	p.log.Error("rollup message lost: unacknowledged at the stop deadline", "subject", m.subject, "id", m.id, "points", m.points)
}

// start runs the publisher until stop.
func (p *publisher) start() {
	p.started.Store(true)
	go p.run()
}

// run sends until the queue is closed and drained.
func (p *publisher) run() {
	defer close(p.done)
	sem := make(chan struct{}, p.window)
	var wg sync.WaitGroup
	var flush int64
	for m := range p.queue {
		if m.flush != flush {
			wg.Wait() // barrier: the previous flush is wholly acknowledged first
			flush = m.flush
		}
		select {
		case sem <- struct{}{}:
		case <-p.abort:
			p.lose(m)
			continue
		}
		p.mu.Lock()
		p.inFlight++
		p.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.send(m)
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
			<-sem
		}()
	}
	wg.Wait()
}

// send publishes one message until it is acknowledged or the stop deadline.
func (p *publisher) send(m *outMsg) {
	backoff := retry.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	for attempt := 1; ; attempt++ {
		msg := &nats.Msg{Subject: m.subject, Data: m.data}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(m.id))
		if err == nil {
			select {
			case <-f.Ok():
				p.published.Inc()
				p.pointsSent.Add(m.points)
				return
			case err = <-f.Err():
			case <-p.abort:
				p.lose(m)
				return
			}
		}
		p.failed.Inc()
		p.retries.Warn("publishing a rollup message; retrying until acknowledged or stopped", "subject", m.subject,
			"id", m.id, "bytes", len(m.data), "attempt", attempt, "err", err)
		select {
		case <-time.After(backoff.Next()):
		case <-p.abort:
			p.lose(m)
			return
		}
	}
}

// stop closes the queue and waits for every queued and in-flight message to
// be acknowledged until ctx ends; then whatever is left is counted lost. It
// returns within ctx's deadline (plus the time to count what is left) and
// reports whether everything was published.
func (p *publisher) stop(ctx context.Context) bool {
	close(p.queue)
	if !p.started.Load() {
		// Never started (an aggregator closed before Start): nothing sends
		// what is queued, so it is counted lost at once.
		lost := 0
		for m := range p.queue {
			p.lose(m)
			lost++
		}
		return lost == 0
	}
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
	}
	p.abortOnce()
	<-p.done
	return false
}

func (p *publisher) abortOnce() { p.aborted.Do(func() { close(p.abort) }) }

// Limits of one rollup message.
const (
	// maxMessagePoints bounds the points of one message, whatever their size.
	maxMessagePoints = 10000
	// batchHeaderMax bounds a batch's encoding without its points and source.
	batchHeaderMax = 2 + 3*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen64
	// pointFixedMax bounds a point's encoding without its path.
	pointFixedMax = 3*binary.MaxVarintLen64 + 32 + binary.MaxVarintLen64
)

// publishBatch cuts b by shard (bus.PathShard of each point's path) and
// each shard's points into messages (split), and hands them to emit with
// their subject, consthash.rollups.<seconds>.<shard>. It returns buf, the
// encoding buffer, for reuse.
func publishBatch(b *rollup.Batch, shards, maxBytes int, buf []byte, emit func(subject, id string, data []byte, points int)) []byte {
	byShard := make([][]rollup.Point, shards)
	for _, p := range b.Points {
		s := bus.PathShard(p.Path, shards)
		byShard[s] = append(byShard[s], p)
	}
	all := b.Points
	defer func() { b.Points = all }()
	for shard, pts := range byShard {
		if len(pts) == 0 {
			continue
		}
		b.Points = pts
		subject := bus.RollupSubject(b.Resolution, shard)
		buf = split(b, maxBytes, b.MsgID()+":"+strconv.Itoa(shard), buf, func(id string, data []byte, points int) {
			emit(subject, id, data, points)
		})
	}
	return buf
}

// split cuts b into messages of at most maxBytes and maxMessagePoints
// points (a point larger than maxBytes alone goes alone) and calls emit for
// each with its encoding. Each part keeps b's sequence number and gets the
// deduplication id id + ":" + part.
func split(b *rollup.Batch, maxBytes int, id string, buf []byte, emit func(id string, data []byte, points int)) []byte {
	all := b.Points
	defer func() { b.Points = all }()
	head := batchHeaderMax + binary.MaxVarintLen64 + len(b.Source)
	for part, i := 0, 0; i < len(all); part++ {
		size, j := head, i
		for j < len(all) && j-i < maxMessagePoints {
			ps := pointFixedMax + binary.MaxVarintLen64 + len(all[j].Path)
			if j > i && size+ps > maxBytes {
				break
			}
			size += ps
			j++
		}
		b.Points = all[i:j]
		buf = b.Append(buf[:0])
		emit(id+":"+strconv.Itoa(part), buf, j-i)
		i = j
	}
	return buf
}
