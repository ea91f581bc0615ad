package writer

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// Open blocks (docs/writer.md, "Open blocks"): a held shard keeps, per
// store.BlockKey, the block as last persisted (its encoding and version, read
// from the store before the first point is added: read-modify-write) and the
// points added since, each with its batch's version. A point replaces the
// one at its time when its version is not older; when the block is
// persisted, a new point replaces a stored one when its version is not older
// than the stored block's. A producer's batches reach a shard's stream in
// version order and a replay (after a holder died) starts at the
// acknowledgement floor, so this keeps the newest point of every bin, and a
// point delivered twice merges into the same value.
//
// A persist writes every dirty block (re-encoded whole) with WriteBlocks and
// then acknowledges every message read before it began: the shard's
// goroutine reads nothing while it persists.

// openBlock is one block in memory.
type openBlock struct {
	data    []byte // the encoding as stored (nil: none stored)
	version int64  // of data
	loaded  bool   // data is what the store holds (read, or written by us)
	dirty   map[int64]versioned
}

// unacked is a message read and not acknowledged yet, with its points.
type unacked struct {
	m      jetstream.Msg
	points int
}

type versioned struct {
	p rollup.Point
	v int64
}

// blockBatch is how many blocks one ReadBlocks or WriteBlocks call takes.
const blockBatch = 500

// apply adds the points of fetched messages to the shard's open blocks and
// reads the blocks it opened from the store (so the recent-points handler
// knows which of their points are stored already).
func (w *Writer) apply(sh *shard, msgs []jetstream.Msg) {
	var opened []store.BlockKey
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			w.deadLetter(m, fmt.Sprintf("not a JetStream message: %v", err))
			continue
		}
		if meta.NumDelivered > 1 {
			w.redelivered.Inc()
		}
		var b rollup.Batch
		if err := b.Decode(m.Data()); err != nil {
			w.deadLetter(m, fmt.Sprintf("undecodable rollup batch: %v", err))
			continue
		}
		step := b.Resolution.Seconds()
		if step <= 0 {
			w.deadLetter(m, fmt.Sprintf("rollup batch with a step of %d s", step))
			continue
		}
		v := b.Version()
		sh.mu.Lock()
		for _, p := range b.Points {
			if !store.Finite(p) {
				w.skipped.Inc()
				w.refused.Warn("a point with a non-finite value is not stored", "path", p.Path, "source", b.Source)
				continue
			}
			if p.Time%step != 0 {
				w.misaligned.Inc()
				w.refused.Warn("a point whose time is not a multiple of its step is not stored", "path", p.Path, "time", p.Time, "step", step)
				continue
			}
			key := store.BlockKey{Path: p.Path, Res: b.Resolution, Source: b.Source, Span: store.SpanOf(b.Resolution, p.Time)}
			ob := sh.blocks[key]
			if ob == nil {
				ob = &openBlock{}
				sh.blocks[key] = ob
				sh.byPath[key.Path] = append(sh.byPath[key.Path], key)
				w.openBlocks.Add(1)
				opened = append(opened, key)
			}
			if ob.dirty == nil {
				ob.dirty = map[int64]versioned{}
			}
			if old, ok := ob.dirty[p.Time]; !ok || v >= old.v {
				ob.dirty[p.Time] = versioned{p, v}
			}
			if end := key.Span + store.SpanSeconds(b.Resolution) + 2*step; sh.nextClose == 0 || end < sh.nextClose {
				sh.nextClose = end
			}
		}
		sh.mu.Unlock()
		sh.unacked[meta.Sequence.Stream] = unacked{m, len(b.Points)}
	}
	if len(opened) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
		defer cancel()
		if err := w.load(ctx, sh, opened); err != nil {
			// The persist reads them again; until then their points are not served as recent.
			w.log.Warn("reading the stored blocks of new open blocks", "shard", sh.n, "blocks", len(opened), "err", err)
		}
	}
}

// load reads the stored blocks of keys not read yet.
func (w *Writer) load(ctx context.Context, sh *shard, keys []store.BlockKey) error {
	for chunk := range slices.Chunk(keys, blockBatch) {
		rows, err := w.blocks.ReadBlocks(ctx, chunk)
		if err != nil {
			return fmt.Errorf("reading %d blocks: %w", len(chunk), err)
		}
		sh.mu.Lock()
		for _, r := range rows {
			if b := sh.blocks[r.BlockKey]; b != nil && !b.loaded {
				b.data, b.version = r.Data, r.Version
			}
		}
		for _, k := range chunk {
			if b := sh.blocks[k]; b != nil {
				if !b.loaded && b.data == nil {
					sh.unstored = true
				}
				b.loaded = true
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// persistIfDue persists when persist_interval passed since the last try, a
// dirty block's span is over, the open blocks reached max_open_blocks, or the
// messages waiting for a persist reached the consumer's bound. It returns
// false when reading should pause: storage is failing and the open blocks
// are at their bound.
func (w *Writer) persistIfDue(sh *shard) bool {
	now := time.Now()
	full := w.openBlocks.Load() >= int64(w.cfg.MaxOpenBlocks)
	if sh.failing && now.Before(sh.retryAt) {
		return !full
	}
	reason := ""
	switch {
	case full:
		reason = "full"
	case len(sh.unacked) >= w.maxAckPending():
		reason = "ack_pending"
	case sh.nextClose != 0 && now.Unix() >= sh.nextClose:
		reason = "span"
	case sh.unstored:
		reason = "new_block"
	case now.Sub(sh.lastTry) >= w.cfg.PersistInterval.D():
		reason = "interval"
	default:
		return true
	}
	if reason == "full" {
		w.openFull.Inc()
	}
	ok := w.persist(sh, reason)
	return ok || !full
}

// persist writes the shard's dirty blocks and then acknowledges the messages
// read before it. It reports success.
func (w *Writer) persist(sh *shard, reason string) bool {
	start := time.Now()
	sh.lastTry = start
	var keys []store.BlockKey
	for k, b := range sh.blocks {
		if len(b.dirty) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		if err := w.writeBlocks(sh, keys); err != nil {
			w.writeErrors.Inc()
			w.healthy.Store(false)
			sh.failing, sh.retryAt = true, time.Now().Add(sh.backoff.Next())
			w.log.Error("persisting open blocks; they stay open and their messages unacknowledged until a persist succeeds",
				"shard", sh.n, "reason", reason, "blocks", len(keys), "messages", len(sh.unacked), "err", err)
			return false
		}
		took := time.Since(start)
		w.healthy.Store(true)
		w.lastWrite.Store(int64(took))
		w.persistSeconds.Update(took.Seconds())
		w.persists.Inc()
		w.announcePaths()
	}
	sh.failing = false
	sh.backoff.Reset()
	acked := 0
	for seq, u := range sh.unacked {
		// points_stored counts the points of the messages stored, as
		// Write's path does (a point sent twice counts twice).
		w.stored.Add(u.points)
		if err := u.m.Ack(); err != nil {
			// The blocks are stored; a redelivery merges into the same values.
			w.log.Warn("ack", "err", err)
		} else {
			acked++
		}
		delete(sh.unacked, seq)
	}
	w.msgsAcked.Add(acked)
	if acked > 0 {
		// Acknowledgements are sent before this shard is announced as
		// released, so its next holder sees none pending.
		if err := w.nc.Flush(); err != nil {
			w.log.Warn("flushing acknowledgements", "err", err)
		}
	}
	w.evict(sh)
	return true
}

// writeBlocks reads the blocks of keys not in memory, merges their dirty
// points, writes them and marks them clean.
func (w *Writer) writeBlocks(sh *shard, keys []store.BlockKey) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
	defer cancel()
	var unread []store.BlockKey
	for _, k := range keys {
		if !sh.blocks[k].loaded {
			unread = append(unread, k)
		}
	}
	if err := w.load(ctx, sh, unread); err != nil {
		return err
	}
	rows := make([]store.BlockRow, 0, len(keys))
	var same []store.BlockKey // re-encoded byte for byte as stored: nothing to write
	points := 0
	var pts []rollup.Point
	for _, k := range keys {
		b := sh.blocks[k]
		pts = pts[:0]
		if len(b.data) > 0 {
			var err error
			if pts, _, err = block.Decode(pts, b.data); err != nil {
				// Unreadable already: what the new points make of it is the best left.
				w.corrupt.Inc()
				w.log.Error("a stored block does not decode; it is replaced by its new points", "path", k.Path,
					"resolution", k.Res.String(), "source", k.Source, "span", k.Span, "err", err)
				pts = pts[:0]
			}
		}
		version := b.version
		for t, d := range b.dirty {
			i, found := slices.BinarySearchFunc(pts, t, func(p rollup.Point, t int64) int { return compare(p.Time, t) })
			switch {
			case !found:
				pts = slices.Insert(pts, i, d.p)
			case d.v >= b.version:
				pts[i] = d.p
			}
			version = max(version, d.v)
		}
		points += len(b.dirty)
		data, err := block.Append(nil, k.Res.Seconds(), pts)
		if err != nil {
			return fmt.Errorf("encoding the block of %s: %w", k.Path, err)
		}
		switch {
		case len(b.data) > 0 && bytes.Equal(data, b.data):
			same = append(same, k) // a redelivery
			continue
		case len(b.data) > 0 && version == b.version:
			// Changed with no newer batch (an older point at a new time):
			// Cassandra keeps the larger of two blobs written with one
			// timestamp, so the block goes out 1 µs newer (batch versions are
			// whole seconds: this never outranks a newer batch).
			version++
		}
		rows = append(rows, store.BlockRow{BlockKey: k, Data: data, Version: version})
	}
	if err := w.writeRows(rows); err != nil {
		return err
	}
	sh.mu.Lock()
	for _, r := range rows {
		b := sh.blocks[r.BlockKey]
		b.data, b.version, b.dirty = r.Data, r.Version, nil
	}
	for _, k := range same {
		sh.blocks[k].dirty = nil
	}
	sh.nextClose, sh.unstored = 0, false
	sh.mu.Unlock()
	w.blocksPersisted.Add(len(rows))
	w.blockPoints.Add(points)
	return nil
}

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// evict forgets clean blocks whose span is over (a late point reads them
// again), and every clean block while the open blocks are at their bound.
func (w *Writer) evict(sh *shard) {
	now := time.Now().Unix()
	full := w.openBlocks.Load() >= int64(w.cfg.MaxOpenBlocks)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, b := range sh.blocks {
		if len(b.dirty) == 0 && (full || now >= k.Span+store.SpanSeconds(k.Res)+2*k.Res.Seconds()) {
			delete(sh.blocks, k)
			w.openBlocks.Add(-1)
			keys := slices.DeleteFunc(sh.byPath[k.Path], func(o store.BlockKey) bool { return o == k })
			if len(keys) == 0 {
				delete(sh.byPath, k.Path)
			} else {
				sh.byPath[k.Path] = keys
			}
		}
	}
}

// dropBlocks forgets every block of a shard that is being given up. Dirty
// ones (their last persist failed) are left to the next holder, which
// replays their unacknowledged messages.
func (w *Writer) dropBlocks(sh *shard) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w.openBlocks.Add(-int64(len(sh.blocks)))
	clear(sh.blocks)
	clear(sh.byPath)
}

// writeReq is one shard's persist, handed to the block writer.
type writeReq struct {
	rows []store.BlockRow
	done chan error
}

// maxGathered bounds the blocks the block writer gathers into one write.
const maxGathered = 20 * blockBatch

// writeRows has the block writer write rows and waits for the outcome.
func (w *Writer) writeRows(rows []store.BlockRow) error {
	if len(rows) == 0 {
		return nil
	}
	req := writeReq{rows: rows, done: make(chan error, 1)}
	w.writes <- req
	return <-req.done
}

// blockWriter writes the shards' persists one write at a time, gathering
// those that wait meanwhile into that write (up to maxGathered blocks): many
// shards persisting at once cost one store write, not one each, and the
// stores' path index tells each new path once only to writes that do not
// overlap. It ends when writes is closed.
func (w *Writer) blockWriter() {
	for req := range w.writes {
		batch, n := []writeReq{req}, len(req.rows)
	gather:
		for n < maxGathered {
			select {
			case r, ok := <-w.writes:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				n += len(r.rows)
			default:
				break gather
			}
		}
		rows := req.rows
		if len(batch) > 1 {
			rows = make([]store.BlockRow, 0, n)
			for _, r := range batch {
				rows = append(rows, r.rows...)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
		var err error
		for chunk := range slices.Chunk(rows, blockBatch) {
			if err = w.blocks.WriteBlocks(ctx, chunk); err != nil {
				err = fmt.Errorf("writing %d blocks (%d persists gathered): %w", len(chunk), len(batch), err)
				break
			}
		}
		cancel()
		w.gathered.Add(len(batch) - 1)
		for _, r := range batch {
			r.done <- err
		}
	}
}
