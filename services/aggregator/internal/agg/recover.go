package agg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/services/aggregator/internal/rollups"
)

// Coarse bins are published once, when they close (docs/aggregator.md,
// "Coarse bins and crashes"). What a crashed aggregator held of its open
// coarse bins is rebuilt from the base batches it had published: every
// aggregator keeps an entry in the KV bucket CONSTHASH_AGGREGATORS, updated
// with each base flush and deleted at a clean stop. An entry whose producer
// has sent no heartbeat for three membership intervals and has not flushed
// for two base intervals belongs to a crashed producer: the first live
// aggregator that deletes it (compare-and-delete on its revision) reads that
// producer's base batches back from the stream and publishes its open coarse
// bins, final, under the crashed producer's source. Re-publishing a bin the
// producer did close overwrites its rows with the same values.

// aggregatorsBucket is the KV bucket of the aggregators' checkpoints.
const aggregatorsBucket = bus.AggregatorsBucket

// checkpoint is an aggregator's entry in aggregatorsBucket.
type checkpoint struct {
	Source    string `json:"source"`
	LastFlush int64  `json:"last_flush"` // unix seconds of its latest base flush
}

// kvKey turns a source into a KV key (letters, digits, '-', '_', '=', '.').
func kvKey(source string) string {
	b := []byte(source)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			b[i] = '_'
		}
	}
	return string(b)
}

// openCheckpoints creates the bucket and this aggregator's entry. The bucket
// has the rollup stream's replicas: it must survive what the stream does.
func (a *Aggregator) openCheckpoints(ctx context.Context) error {
	kv, err := a.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: aggregatorsBucket, History: 1,
		Replicas: max(a.cfg.Output.StreamReplicas, 1),
		Storage:  jetstream.FileStorage, Description: "consthash aggregators' checkpoints: open coarse bins are recovered for those that crashed"})
	if err != nil {
		return err
	}
	a.kv = kv
	return a.checkpoint(ctx, time.Now().Unix())
}

// checkpoint records this aggregator's latest base flush.
func (a *Aggregator) checkpoint(ctx context.Context, flush int64) error {
	v, _ := json.Marshal(checkpoint{Source: a.Source, LastFlush: flush})
	_, err := a.kv.Put(ctx, kvKey(a.Source), v)
	return err
}

// recoverOrphans claims the entries of crashed aggregators and recovers
// their open coarse bins, each in a goroutine that Close waits for.
func (a *Aggregator) recoverOrphans() {
	if a.kv == nil || time.Since(a.started) < 3*a.interval() {
		return // until then a live member's heartbeat may not have arrived yet
	}
	ctx, cancel := context.WithTimeout(a.recoverCtx, 10*time.Second)
	defer cancel()
	lister, err := a.kv.ListKeys(ctx)
	if err != nil {
		if !errors.Is(err, jetstream.ErrNoKeysFound) {
			a.log.Warn("listing aggregator checkpoints", "err", err)
		}
		return
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	stale := max(3*a.interval(), 2*a.cfg.Resolutions[0].Step)
	for _, k := range keys {
		if k == kvKey(a.Source) {
			continue
		}
		e, err := a.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var cp checkpoint
		if json.Unmarshal(e.Value(), &cp) != nil || cp.Source == "" {
			continue
		}
		alive := a.members.Alive(cp.Source, time.Now(), 3*a.interval())
		if alive || time.Since(e.Created()) < stale {
			continue
		}
		if err := a.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision())); err != nil {
			continue // another aggregator claimed it first
		}
		a.log.Info("recovering the open coarse bins of a stopped aggregator", "source", cp.Source, "last_flush", cp.LastFlush)
		a.recoverWG.Add(1)
		go func() {
			defer a.recoverWG.Done()
			if err := a.recoverSource(cp); err != nil {
				a.log.Error("recovering a stopped aggregator's coarse bins; its entry is put back for another try",
					"source", cp.Source, "err", err)
				v, _ := json.Marshal(cp)
				if _, err := a.kv.Create(context.Background(), k, v); err != nil {
					a.log.Error("putting back a checkpoint", "source", cp.Source, "err", err)
				}
			}
		}()
	}
}

// recoverSource reads cp's producer's base batches back from the stream and
// publishes its open coarse bins.
func (a *Aggregator) recoverSource(cp checkpoint) error {
	res := a.cfg.Resolutions
	if len(res) < 2 {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.recoverCtx, 10*time.Minute)
	defer cancel()
	from := time.Unix(cp.LastFlush, 0).Add(-res[len(res)-1].Step - 2*res[0].Step)
	cons, err := a.js.OrderedConsumer(ctx, a.cfg.Output.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.RollupResolutionFilter(res[0])}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &from})
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	rec := rollups.NewRecovery(res, cp.Source)
	var b rollup.Batch
	for n := uint64(0); n < info.NumPending; {
		msgs, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			if b.Decode(m.Data()) != nil || b.Source != cp.Source {
				continue
			}
			for i := range b.Points {
				rec.Add(&b.Points[i])
			}
		}
		if err := msgs.Error(); err != nil && got == 0 {
			return err
		}
		if got == 0 {
			break // the stream lost its oldest messages meanwhile
		}
		n += uint64(got)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	points := 0
	maxBytes := min(a.cfg.Output.MaxMessageSize, int(a.nc.MaxPayload()/2))
	var buf []byte
	for _, b := range rec.Batches(time.Now().Unix(), 1<<40) {
		buf = publishBatch(b, a.cfg.Shards, maxBytes, buf, func(subject, id string, data []byte, n int) {
			a.pub.enqueue(&outMsg{flush: -1, subject: subject, id: id, data: bytes.Clone(data), points: n})
			points += n
		})
	}
	a.recovered.Add(points)
	a.log.Info("recovered the open coarse bins of a stopped aggregator", "source", cp.Source, "points", points)
	return nil
}
