package agg

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/services/aggregator/internal/accum"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
)

// shardAcc is the accumulator of one owned shard (or of the listeners).
type shardAcc struct {
	// in holds a shard's statsd messages, merged into statsd at each flush;
	// gone: released and its subscription ended, this flush is its last.
	in       *sink
	gone     bool
	statsd   *statsd.Accumulator
	graphite *accum.Graphite
	sub      *nats.Subscription
	released bool // draining or drained: flushed once more after the drain, then forgotten
}

// Shard ownership (docs/aggregator.md): every aggregator announces itself
// and the shards it holds; the owner a shard should have is the live member
// with the highest murmur3(id + ":" + shard) (rendezvous hashing). A member
// subscribes to the shards it should own at once, with a queue group per
// shard, and gives a shard up only after its new owner announces holding
// it: during a hand-over both hold it and each message goes to exactly one
// of them, so no message is lost or counted twice.

func (a *Aggregator) heartbeatMsg(m *nats.Msg) {
	var hb bus.Heartbeat
	if err := hb.Decode(m.Data); err != nil || hb.ID == a.Source {
		return
	}
	a.members.Observe(hb, time.Now())
}

func (a *Aggregator) interval() time.Duration {
	if d := a.cfg.Membership.Interval.D(); d > 0 {
		return d
	}
	return time.Second
}

// membership announces this aggregator and reconciles its shards every
// interval.
func (a *Aggregator) membership() {
	defer a.hbWG.Done()
	t := time.NewTicker(a.interval())
	defer t.Stop()
	for tick := 0; ; tick++ {
		a.reconcile()
		a.announce()
		if tick%5 == 4 && a.recovering.CompareAndSwap(false, true) {
			// Off this loop: listing the checkpoints can take up to its
			// timeout when JetStream is unwell (a NATS node just lost), and
			// heartbeats silent for 3 intervals would make the others take
			// this aggregator's shards (a hand-over churn that splits statsd
			// gauges between owners). Close waits for it (recoverWG) after
			// this loop has ended.
			a.recoverWG.Add(1)
			go func() {
				defer a.recoverWG.Done()
				defer a.recovering.Store(false)
				a.recoverOrphans()
			}()
		}
		select {
		case <-a.hbStop:
			return
		case <-t.C:
		}
	}
}

func (a *Aggregator) announce() {
	a.mu.Lock()
	// Shards is announced for relays, which check theirs against it.
	hb := bus.Heartbeat{ID: a.Source, Shards: a.cfg.Shards, Leaving: a.leaving.Load()}
	for s, acc := range a.shards {
		if !acc.released {
			hb.Owned = append(hb.Owned, s)
		}
	}
	a.mu.Unlock()
	slices.Sort(hb.Owned)
	if err := a.nc.Publish(bus.HeartbeatSubject, hb.Encode()); err != nil {
		a.log.Warn("announcing", "err", err)
	}
}

// reconcile subscribes to the shards this aggregator should own and releases
// those whose new owner holds them.
func (a *Aggregator) reconcile() {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.members.View(time.Now(), 3*a.interval(), a.leaving.Load())
	for shard := 0; shard < a.cfg.Shards; shard++ {
		want := bus.Owner(v.Live, shard)
		acc := a.shards[shard]
		switch {
		case want == a.Source && acc == nil:
			a.subscribe(shard)
		case want != a.Source && want != "" && acc != nil && !acc.released && slices.Contains(v.Holders[shard], want):
			if err := acc.sub.Drain(); err != nil {
				a.log.Warn("releasing a shard", "shard", shard, "err", err)
				continue
			}
			acc.released = true
			a.log.Info("shard handed over", "shard", shard, "to", want)
		}
	}
}

func (a *Aggregator) subscribe(shard int) {
	subject := bus.LinesSubject(shard)
	cfg := a.cfg.StatsdCfg
	cfg.NoInternal = true
	acc := a.newAcc(cfg)
	sub, err := a.nc.QueueSubscribe(subject, "consthash-shard-"+strconv.Itoa(shard), a.shardMsg(acc, a.dedups[shard]))
	if err != nil {
		a.log.Error("cannot subscribe to a shard", "subject", subject, "err", err)
		return
	}
	if err := sub.SetPendingLimits(-1, 256<<20); err != nil {
		a.log.Warn("pending limits", "err", err)
	}
	acc.sub = sub
	a.shards[shard] = acc
	if err := a.nc.Flush(); err != nil { // the subscription is in place before we announce it
		a.log.Warn("flushing a subscription", "err", err)
	}
}

// Owned returns the shards this aggregator holds, sorted.
func (a *Aggregator) Owned() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for s, acc := range a.shards {
		if !acc.released {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// leave announces that this aggregator is going, waits until the others hold
// its shards (or ctx ends, or no other member is alive), then drains its
// subscriptions.
func (a *Aggregator) leave(ctx context.Context) {
	a.leaving.Store(true)
	for ctx.Err() == nil {
		a.announce()
		a.reconcile()
		a.mu.Lock()
		held := 0
		for _, acc := range a.shards {
			if !acc.released {
				held++
			}
		}
		a.mu.Unlock()
		others := a.members.View(time.Now(), 3*a.interval(), true).Others
		if held == 0 || others == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(a.interval() / 4):
		}
	}
	a.mu.Lock()
	var subs []*nats.Subscription
	for _, acc := range a.shards {
		if !acc.released {
			acc.sub.Drain()
			acc.released = true
		}
		subs = append(subs, acc.sub)
	}
	a.mu.Unlock()
	for _, s := range subs {
		for s.IsValid() && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
