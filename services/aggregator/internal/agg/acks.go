package agg

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
)

// Acknowledged batches (docs/wire.md): a relay with nats_acks sends each
// batch as a request carrying bus.BatchHeader ("<sender> <seq>") and sends
// it again, same id, until it is answered. The aggregator answers once the
// lines are accumulated, and takes a batch only if its seq is above the
// highest it took from that sender on that shard: a sender sends seq+1 only
// after seq is answered, so anything at or below is a copy.

// senderSeq is what a shard remembers of one sender.
type senderSeq struct {
	seq  uint64
	seen time.Time
}

// dedup is one shard's memory of its senders, kept across the shard's
// subscriptions (a shard given away and taken back still knows them).
type dedup struct {
	mu      sync.Mutex
	max     int
	senders map[string]senderSeq
}

func newDedup(max int) *dedup { return &dedup{max: max, senders: map[string]senderSeq{}} }

// fresh reports whether batch seq of sender has not been taken yet.
func (d *dedup) fresh(sender string, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.senders[sender]
	return !ok || seq > s.seq
}

// took records that batch seq of sender was taken; it returns how many
// senders it forgot to make room (max_senders).
func (d *dedup) took(sender string, seq uint64, now time.Time) (evicted int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.senders[sender]; !ok && len(d.senders) >= d.max {
		oldest, at := "", now
		for k, v := range d.senders {
			if !v.seen.After(at) {
				oldest, at = k, v.seen
			}
		}
		delete(d.senders, oldest)
		evicted++
	}
	d.senders[sender] = senderSeq{seq: seq, seen: now}
	return evicted
}

// batchOf returns the sender and seq of an acknowledged batch; ok false for
// a message no one waits for (published, not requested) or without an id.
func (a *Aggregator) batchOf(m *nats.Msg) (sender string, seq uint64, ok bool) {
	if m.Reply == "" {
		return "", 0, false
	}
	v := m.Header.Get(bus.BatchHeader)
	if v == "" {
		return "", 0, false
	}
	sender, seq, err := bus.ParseBatchID(v)
	if err != nil {
		a.batchBadIDs.Inc()
		a.badLog.Warn("bad batch id: taken without deduplication", "subject", m.Subject, "id", v)
		return "", 0, false
	}
	return sender, seq, true
}

// ack answers a request once its lines are accumulated (or known copies).
func (a *Aggregator) ack(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	if err := m.Respond(nil); err != nil {
		a.ackErrors.Inc()
		a.badLog.Warn("acknowledging a batch", "subject", m.Subject, "err", err)
		return
	}
	a.batchesAcked.Inc()
}
