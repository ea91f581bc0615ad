package writer

import (
	"bytes"
	"cmp"
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
//
// Memory (issue 13: 600,000 open blocks at field scale): a block is one
// small struct; its pending points are a sorted slice of a 64-byte struct
// without the path; a path's blocks (its resolutions, sources and spans)
// hang off one map entry and share one path string. The shard's goroutine
// alone changes the maps and slices, under mu, so it reads them without the
// lock; the recent-points handler reads under mu. No loop over every block
// of a shard runs under mu: a persist visits the dirty blocks (sh.dirty),
// eviction the blocks whose span ended (sh.ends), and a shard at a bound
// forgets all its (clean) blocks by swapping its maps.

// openBlock is one block in memory.
type openBlock struct {
	key     store.BlockKey // Path is the string the path's blocks share (the key of shard.paths)
	data    []byte         // the encoding as stored (nil: none stored); replaced, never changed in place
	version int64          // of data
	pending []pending      // points not persisted yet, sorted by time
	bytes   int32          // accounted in shard.bytes and Writer.openBytes (size)
	loaded  bool           // data is what the store holds (read, or written by us)
}

// pending is a point of an open block not persisted yet: a rollup.Point
// without its path, with its batch's version.
type pending struct {
	time, lastAt        int64
	sum, min, max, last float64
	count               uint64
	version             int64
}

// pendingSize is the bytes of a pending (TestPendingSize checks it).
const pendingSize = 64

// blockOverhead is what an open block costs besides its encoding and its
// pending points: the openBlock (128 bytes with the allocator's rounding),
// its pointer in its path's slice and in shard.ends, and its share of the
// path's map entry, slice and string (TestOpenBlockMemory measures it).
const blockOverhead = 192

// size is what b is accounted: its encoding, its pending points' capacity
// and blockOverhead.
func (b *openBlock) size() int32 {
	return int32(blockOverhead + cap(b.data) + cap(b.pending)*pendingSize)
}

// add puts p in b's pending points: it replaces the point at its time when
// its version is not older.
func (b *openBlock) add(p pending) {
	n := len(b.pending)
	if n == 0 || b.pending[n-1].time < p.time { // points mostly come in time order
		b.pending = append(b.pending, p)
		return
	}
	i, found := slices.BinarySearchFunc(b.pending, p.time, pendingAt)
	switch {
	case !found:
		b.pending = slices.Insert(b.pending, i, p)
	case p.version >= b.pending[i].version:
		b.pending[i] = p
	}
}

func pendingAt(p pending, t int64) int { return cmp.Compare(p.time, t) }

func (p *pending) point() rollup.Point {
	return rollup.Point{Time: p.time, Sum: p.sum, Min: p.min, Max: p.max, Last: p.last, LastAt: p.lastAt, Count: p.count}
}

// merge appends to dst the stored points (sorted) with pend merged in: a
// pending point replaces a stored one at its time when its version is not
// older than the stored block's (version).
func merge(dst, stored []rollup.Point, pend []pending, version int64) []rollup.Point {
	i := 0
	for k := range pend {
		d := &pend[k]
		for i < len(stored) && stored[i].Time < d.time {
			dst = append(dst, stored[i])
			i++
		}
		if i < len(stored) && stored[i].Time == d.time {
			if d.version >= version {
				dst = append(dst, d.point())
			} else {
				dst = append(dst, stored[i])
			}
			i++
			continue
		}
		dst = append(dst, d.point())
	}
	return append(dst, stored[i:]...)
}

// find returns the open block of key, or nil.
func (sh *shard) find(key store.BlockKey) *openBlock {
	for _, b := range sh.paths[key.Path] {
		if b.key.Span == key.Span && b.key.Res == key.Res && b.key.Source == key.Source {
			return b
		}
	}
	return nil
}

// open adds an open block for key (under mu).
func (w *Writer) open(sh *shard, key store.BlockKey) *openBlock {
	blocks := sh.paths[key.Path]
	if len(blocks) > 0 {
		// Index the map with the string it holds: assigning with another
		// string of the same value would replace the key.
		key.Path = blocks[0].key.Path
	}
	b := &openBlock{key: key}
	sh.paths[key.Path] = append(blocks, b)
	end := key.Span + store.SpanSeconds(key.Res) + 2*key.Res.Seconds()
	sh.ends[end] = append(sh.ends[end], b)
	sh.count++
	w.openBlocks.Add(1)
	w.resize(sh, b)
	return b
}

// resize accounts b's size again after its encoding or pending points
// changed.
func (w *Writer) resize(sh *shard, b *openBlock) {
	n := b.size()
	if d := int64(n - b.bytes); d != 0 {
		b.bytes = n
		sh.bytes += d
		w.openBytes.Add(d)
	}
}

// forget removes a clean block from the shard's maps (under mu); the caller
// updates the counts.
func (sh *shard) forget(b *openBlock) {
	sh.forgetting(b)
	path := b.key.Path
	blocks := sh.paths[path]
	if i := slices.Index(blocks, b); i >= 0 {
		blocks = slices.Delete(blocks, i, i+1)
	}
	if len(blocks) == 0 {
		delete(sh.paths, path)
	} else {
		sh.paths[path] = blocks
	}
}

// unacked is a message read and not acknowledged yet: its reply subject
// (not the message: its data is in the open blocks already, and at field
// scale a minute of messages is tens of MiB), its points and its
// resolution's step in seconds.
type unacked struct {
	reply  string
	points int
	step   int64
}

// blockBatch is how many blocks one ReadBlocks call takes.
const blockBatch = 500

// lockRun bounds the blocks or points handled per holding of a shard's mu,
// so the recent-points handler waits for no long run.
const lockRun = 1024

// apply adds the points of fetched messages to the shard's open blocks and
// reads the blocks it opened from the store (so the recent-points handler
// knows which of their points are stored already). Once the open blocks
// reach a bound it stops, after one message at least, and returns the
// messages it left: the caller persists before it applies them, so a bound
// is overrun by at most a message per shard.
func (w *Writer) apply(sh *shard, msgs []jetstream.Msg) (rest []jetstream.Msg) {
	var opened []*openBlock
	for i, m := range msgs {
		if blocksFull, bytesFull := w.full(); i > 0 && (blocksFull || bytesFull) {
			rest = msgs[i:]
			break
		}
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
		// One string per source for the shard's new blocks, not one per batch.
		if b.Source == sh.source {
			b.Source = sh.source
		} else {
			sh.source = b.Source
		}
		sh.mu.Lock()
		for i, p := range b.Points {
			if i > 0 && i%lockRun == 0 {
				sh.mu.Unlock()
				sh.mu.Lock()
			}
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
			ob := sh.find(key)
			if ob == nil {
				ob = w.open(sh, key)
				opened = append(opened, ob)
			}
			if len(ob.pending) == 0 {
				sh.dirty = append(sh.dirty, ob)
			}
			c := cap(ob.pending)
			ob.add(pending{time: p.Time, lastAt: p.LastAt, sum: p.Sum, min: p.Min, max: p.Max, last: p.Last, count: p.Count, version: v})
			if cap(ob.pending) != c {
				w.resize(sh, ob)
			}
			if end := key.Span + store.SpanSeconds(b.Resolution) + 2*step; sh.nextClose == 0 || end < sh.nextClose {
				sh.nextClose = end
			}
		}
		sh.mu.Unlock()
		sh.unacked[meta.Sequence.Stream] = unacked{m.Reply(), len(b.Points), step}
		if _, ok := sh.held[step]; !ok {
			sh.held[step] = time.Now()
		}
	}
	if len(opened) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
		defer cancel()
		if err := w.load(ctx, sh, opened); err != nil {
			// The persist reads them again; until then their points are not served as recent.
			w.log.Warn("reading the stored blocks of new open blocks", "shard", sh.n, "blocks", len(opened), "err", err)
		}
	}
	return rest
}

// load reads the stored blocks of bs (not read yet). A block whose span
// starts after the store's horizon of its resolution is not read: none was
// ever written (issue 13: at a cold start, or when a new span begins,
// 200,000 series open 600,000 blocks, and Cassandra spent 0.15–0.3 ms of CPU
// on each partition read to find nothing).
func (w *Writer) load(ctx context.Context, sh *shard, bs []*openBlock) error {
	if err := w.readHorizons(ctx, sh); err != nil {
		return err
	}
	keys := make([]store.BlockKey, 0, min(len(bs), blockBatch))
	for chunk := range slices.Chunk(bs, blockBatch) {
		keys = keys[:0]
		for _, b := range chunk {
			if !sh.beyondHorizon(b.key) {
				keys = append(keys, b.key)
			}
		}
		if skipped := len(chunk) - len(keys); skipped > 0 {
			w.notRead.Add(skipped)
		}
		var rows []store.BlockRow
		if len(keys) > 0 {
			var err error
			if rows, err = w.blocks.ReadBlocks(ctx, keys); err != nil {
				return fmt.Errorf("reading %d blocks: %w", len(keys), err)
			}
		}
		sh.mu.Lock()
		for _, r := range rows {
			if b := sh.find(r.BlockKey); b != nil && !b.loaded {
				b.data, b.version = r.Data, r.Version
				w.resize(sh, b)
			}
		}
		for _, b := range chunk {
			if !b.loaded && b.data == nil {
				sh.unindexed = append(sh.unindexed, b.key.Path)
			}
			b.loaded = true
		}
		sh.mu.Unlock()
	}
	return nil
}

// readHorizons reads the store's horizons once per holding of a shard
// (another writer may have raised them while it held the shard).
func (w *Writer) readHorizons(ctx context.Context, sh *shard) error {
	if sh.horizonsRead {
		return nil
	}
	h, err := w.blocks.Horizons(ctx)
	if err != nil {
		return err
	}
	sh.horizons, sh.tracked, sh.horizonsRead = h.For(sh.n, w.cfg.Shards), h.Tracked, true
	return nil
}

// beyondHorizon reports whether k was never written: its span starts
// after the shard's horizon of its resolution (no holder before wrote it:
// their persists raised the horizon before they wrote, and it was read
// after the previous holder released the shard), and no block of that span
// and resolution was forgotten by this holding (a block this holding wrote
// is open or, once forgotten, read again). A new series that appears after
// the shard's first persist of a span is not read either (at a cold start,
// statblast's first partial interval left a tenth of the series for later).
func (sh *shard) beyondHorizon(k store.BlockKey) bool {
	if !sh.tracked {
		return false
	}
	secs := k.Res.Seconds()
	if h, ok := sh.horizons[secs]; ok && k.Span <= h {
		return false
	}
	return !sh.forgotten[[2]int64{secs, k.Span}]
}

// maxForgotten bounds the spans shard.forgotten remembers; past it, the
// shard's horizons move to the latest span forgotten (every block up to it
// is read again).
const maxForgotten = 1024

// forgetting records the span of a block forgotten (under mu) when it is
// beyond the shard's horizon: its next point reads it.
func (sh *shard) forgetting(b *openBlock) {
	if !sh.tracked {
		return
	}
	secs := b.key.Res.Seconds()
	if h, ok := sh.horizons[secs]; ok && b.key.Span <= h {
		return
	}
	if sh.forgotten == nil {
		sh.forgotten = map[[2]int64]bool{}
	}
	sh.forgotten[[2]int64{secs, b.key.Span}] = true
	if len(sh.forgotten) > maxForgotten {
		for k := range sh.forgotten {
			if h, ok := sh.horizons[k[0]]; !ok || k[1] > h {
				sh.horizons[k[0]] = k[1]
			}
		}
		clear(sh.forgotten)
	}
}

// full reports whether the open blocks of all shards reached max_open_blocks
// or max_open_bytes.
func (w *Writer) full() (blocks, bytes bool) {
	return w.openBlocks.Load() >= int64(w.cfg.MaxOpenBlocks), w.openBytes.Load() >= w.cfg.MaxOpenBytes
}

// persistIfDue persists when persist_interval passed since the last try, a
// dirty block's span is over, the open blocks reached max_open_blocks or
// max_open_bytes (and this shard holds some), or the messages waiting for a
// persist reached the consumer's bound. It returns false when reading should
// pause: storage is failing and the open blocks are at their bound.
func (w *Writer) persistIfDue(sh *shard) bool {
	now := time.Now()
	blocksFull, bytesFull := w.full()
	full := blocksFull || bytesFull
	if sh.failing && now.Before(sh.retryAt) {
		return !full
	}
	if len(sh.unindexed) > 0 {
		w.indexNew(sh)
	}
	reason := ""
	switch {
	case full && sh.count > 0:
		reason = "full"
	case len(sh.unacked) >= w.maxAckPending():
		reason = "ack_pending"
	case sh.nextClose != 0 && now.Unix() >= sh.nextClose:
		reason = "span"
	case !now.Before(w.nextPersist(sh)):
		reason = "interval"
	default:
		return true
	}
	if reason == "full" {
		if blocksFull {
			w.openFull.Inc()
		}
		if bytesFull {
			w.bytesFull.Inc()
		}
	}
	ok := w.persist(sh, reason)
	return ok || !full
}

// nextPersist is when the shard's next persist_interval persist is due.
// Shards persist at staggered phases (shard n at n/shards of the interval
// past each multiple of it), so their persists spread over the interval: a
// shard reads nothing while it persists, and all of them persisting at once
// stalled every shard for the whole write (about 10 s at 200,000 series on
// SQLite) and showed as lag in /render. A persist for another reason does
// not move the phase.
func (w *Writer) nextPersist(sh *shard) time.Time {
	iv := int64(w.cfg.PersistInterval.D())
	off := iv * int64(sh.n%w.cfg.Shards) / int64(w.cfg.Shards)
	k := (sh.lastTry.UnixNano() - off) / iv
	if sh.lastTry.UnixNano()-off < 0 {
		k-- // floor
	}
	return time.Unix(0, (k+1)*iv+off)
}

// indexNew puts the paths of blocks opened with nothing stored (a new series,
// or a path's new span) into the path index at once, so finds and renders
// see a new series before its blocks are persisted (its points are served
// as recent points meanwhile): a cold start of 200,000 series used to write
// each of their 600,000 new blocks twice in its first minute. A path the
// store has indexed already costs a map lookup. If indexing fails, the
// persist indexes them with their blocks.
func (w *Writer) indexNew(sh *shard) {
	paths := sh.unindexed
	sh.unindexed = nil
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
	defer cancel()
	if err := w.blocks.IndexPaths(ctx, paths); err != nil {
		w.writeErrors.Inc()
		w.refused.Warn("indexing new paths; the next persist indexes them with their blocks", "shard", sh.n,
			"paths", len(paths), "err", err)
		return
	}
	w.announcePaths()
}

// every is how often the dirty blocks of a resolution of step seconds are
// persisted: persist_interval, or coarse_persist_interval (at least
// persist_interval) when the step is at least coarse_step.
func (w *Writer) every(step int64) time.Duration {
	pi := w.cfg.PersistInterval.D()
	if time.Duration(step)*time.Second < w.cfg.CoarseStep.D() {
		return pi
	}
	return max(pi, w.cfg.CoarsePersistInterval.D())
}

// dueSteps is the resolutions (steps in seconds) a persist for reason
// writes; nil is all of them. A persist_interval persist writes a
// resolution once its oldest unacknowledged message would otherwise wait
// longer than every(step) (so a coarse one is written every 4 to 5
// minutes, not each minute); any other persist (a span over, a bound, the
// consumer's bound, a hand-over, a stop) writes all of them.
func (w *Writer) dueSteps(sh *shard, reason string, now time.Time) map[int64]bool {
	if reason != "interval" {
		return nil
	}
	due := make(map[int64]bool, len(sh.held))
	all := true
	for step, since := range sh.held {
		due[step] = now.Sub(since) >= w.every(step)-w.cfg.PersistInterval.D()
		all = all && due[step]
	}
	if all {
		return nil
	}
	return due
}

// persist writes the shard's dirty blocks of the resolutions due (all but
// for a persist_interval persist: dueSteps) and then acknowledges the
// messages of those resolutions read before it; the messages it keeps get
// an in-progress acknowledgement, so JetStream does not send them again
// while they wait for a later persist. It reports success.
func (w *Writer) persist(sh *shard, reason string) bool {
	start := time.Now()
	sh.lastTry = start
	due := w.dueSteps(sh, reason, start)
	if len(sh.dirty) > 0 {
		n, err := w.writeBlocks(sh, due)
		if err != nil {
			w.writeErrors.Inc()
			w.healthy.Store(false)
			sh.failing, sh.retryAt = true, time.Now().Add(sh.backoff.Next())
			w.log.Error("persisting open blocks; they stay open and their messages unacknowledged until a persist succeeds",
				"shard", sh.n, "reason", reason, "blocks", len(sh.dirty), "messages", len(sh.unacked), "err", err)
			return false
		}
		if n > 0 {
			took := time.Since(start)
			w.healthy.Store(true)
			w.lastWrite.Store(int64(took))
			w.persistSeconds.Update(took.Seconds())
			w.persists.Inc()
			w.announcePaths()
		}
	}
	sh.failing = false
	sh.backoff.Reset()
	acked, held := 0, 0
	for seq, u := range sh.unacked {
		if due != nil && !due[u.step] {
			// What jetstream.Msg.InProgress sends: ack_wait starts again.
			if err := w.nc.Publish(u.reply, []byte("+WPI")); err != nil {
				w.log.Warn("in-progress acknowledgement", "err", err)
			}
			held++
			continue
		}
		// points_stored counts the points of the messages stored, as
		// Write's path does (a point sent twice counts twice).
		w.stored.Add(u.points)
		// What jetstream.Msg.Ack sends.
		if err := w.nc.Publish(u.reply, []byte("+ACK")); err != nil {
			// The blocks are stored; a redelivery merges into the same values.
			w.log.Warn("ack", "err", err)
		} else {
			acked++
		}
		delete(sh.unacked, seq)
	}
	for step := range sh.held {
		if due == nil || due[step] {
			delete(sh.held, step)
		}
	}
	w.msgsAcked.Add(acked)
	w.msgsHeld.Add(held)
	if acked+held > 0 {
		// Acknowledgements are sent before this shard is announced as
		// released, so its next holder sees none pending.
		if err := w.nc.Flush(); err != nil {
			w.log.Warn("flushing acknowledgements", "err", err)
		}
	}
	w.evict(sh)
	return true
}

// keepPending is the largest capacity of pending points a block keeps
// for its next points after a persist (a larger one is freed).
const keepPending = 8

// writeBlocks writes the dirty blocks of the resolutions due (nil: all):
// it reads those not in memory, merges their pending points, writes them
// and marks them clean. It returns how many dirty blocks it took.
func (w *Writer) writeBlocks(sh *shard, due map[int64]bool) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout.D())
	defer cancel()
	todo, keep := sh.dirty, []*openBlock(nil)
	if due != nil {
		todo = make([]*openBlock, 0, len(sh.dirty))
		for _, b := range sh.dirty {
			if due[b.key.Res.Seconds()] {
				todo = append(todo, b)
			} else {
				keep = append(keep, b)
			}
		}
	}
	var unread []*openBlock
	for _, b := range todo {
		if !b.loaded {
			unread = append(unread, b)
		}
	}
	if err := w.load(ctx, sh, unread); err != nil {
		return 0, err
	}
	rows := make([]store.BlockRow, 0, len(todo))
	horizon := store.ShardHorizon(sh.n, w.cfg.Shards)
	written := make([]*openBlock, 0, len(todo)) // rows[i]'s block
	points := 0
	var stored, pts []rollup.Point
	var enc []byte
	for _, b := range todo {
		k := b.key
		stored = stored[:0]
		if len(b.data) > 0 {
			var err error
			if stored, _, err = block.Decode(stored, b.data); err != nil {
				// Unreadable already: what the new points make of it is the best left.
				w.corrupt.Inc()
				w.log.Error("a stored block does not decode; it is replaced by its new points", "path", k.Path,
					"resolution", k.Res.String(), "source", k.Source, "span", k.Span, "err", err)
				stored = stored[:0]
			}
		}
		pts = merge(pts[:0], stored, b.pending, b.version)
		version := b.version
		for i := range b.pending {
			version = max(version, b.pending[i].version)
		}
		points += len(b.pending)
		var err error
		if enc, err = block.Append(enc[:0], k.Res.Seconds(), pts); err != nil {
			return 0, fmt.Errorf("encoding the block of %s: %w", k.Path, err)
		}
		switch {
		case len(b.data) > 0 && bytes.Equal(enc, b.data):
			continue // a redelivery: nothing to write
		case len(b.data) > 0 && version == b.version:
			// Changed with no newer batch (an older point at a new time):
			// Cassandra keeps the larger of two blobs written with one
			// timestamp, so the block goes out 1 µs newer (batch versions are
			// whole seconds: this never outranks a newer batch).
			version++
		}
		// A copy of its own size: the block keeps it until the next persist.
		rows = append(rows, store.BlockRow{BlockKey: k, Data: bytes.Clone(enc), Version: version, Horizon: horizon})
		written = append(written, b)
	}
	if err := w.writeRows(rows); err != nil {
		return 0, err
	}
	for i := 0; i < len(rows); i += lockRun {
		sh.mu.Lock()
		for j := i; j < min(i+lockRun, len(rows)); j++ {
			b := written[j]
			b.data, b.version = rows[j].Data, rows[j].Version
		}
		sh.mu.Unlock()
	}
	for chunk := range slices.Chunk(todo, lockRun) {
		sh.mu.Lock()
		for _, b := range chunk {
			if cap(b.pending) <= keepPending {
				b.pending = b.pending[:0]
			} else {
				b.pending = nil
			}
			w.resize(sh, b)
		}
		sh.mu.Unlock()
	}
	n := len(todo)
	if due == nil {
		clear(sh.dirty)
		sh.dirty = sh.dirty[:0]
		sh.nextClose = 0
	} else {
		sh.dirty, sh.nextClose = keep, 0
		for _, b := range keep {
			step := b.key.Res.Seconds()
			if end := b.key.Span + store.SpanSeconds(b.key.Res) + 2*step; sh.nextClose == 0 || end < sh.nextClose {
				sh.nextClose = end
			}
		}
	}
	w.blocksPersisted.Add(len(rows))
	w.blockPoints.Add(points)
	return n, nil
}

// evict runs after a successful persist (every block is clean). While the
// open blocks are at a bound, the shard forgets all its blocks (their next
// point reads them again); otherwise it forgets those whose span is over (a
// late point reads them again).
func (w *Writer) evict(sh *shard) {
	if blocksFull, bytesFull := w.full(); (blocksFull || bytesFull) && sh.count > 0 {
		n, size := sh.count, sh.bytes
		w.dropBlocks(sh)
		w.evicted.Add(n)
		w.fullLog.Warn("open blocks at their bound: a shard forgot its blocks; their next points read them again",
			"shard", sh.n, "blocks", n, "bytes", size, "max_open_blocks", w.cfg.MaxOpenBlocks, "max_open_bytes", w.cfg.MaxOpenBytes)
		return
	}
	now := time.Now().Unix()
	var dirty map[int64][]*openBlock
	for end, bs := range sh.ends {
		if now < end {
			continue
		}
		delete(sh.ends, end)
		for chunk := range slices.Chunk(bs, lockRun) {
			sh.mu.Lock()
			for _, b := range chunk {
				if len(b.pending) > 0 {
					// Not persisted yet (a resolution not due): kept.
					if dirty == nil {
						dirty = map[int64][]*openBlock{}
					}
					dirty[end] = append(dirty[end], b)
					continue
				}
				sh.forget(b)
				sh.count--
				sh.bytes -= int64(b.bytes)
				w.openBlocks.Add(-1)
				w.openBytes.Add(-int64(b.bytes))
			}
			sh.mu.Unlock()
		}
	}
	for end, bs := range dirty {
		sh.ends[end] = bs
	}
}

// dropBlocks forgets every block of a shard (at a bound, or given up). Dirty
// ones of a shard given up (its last persist failed) are left to the next
// holder, which replays their unacknowledged messages.
func (w *Writer) dropBlocks(sh *shard) {
	sh.mu.Lock()
	for _, bs := range sh.ends {
		for _, b := range bs {
			sh.forgetting(b)
		}
	}
	sh.paths, sh.ends = map[string][]*openBlock{}, map[int64][]*openBlock{}
	sh.mu.Unlock()
	clear(sh.dirty)
	sh.dirty = sh.dirty[:0]
	w.openBlocks.Add(-int64(sh.count))
	w.openBytes.Add(-sh.bytes)
	sh.count, sh.bytes = 0, 0
	sh.nextClose = 0
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
		// One call: the store spreads a large write over its connections
		// (Cassandra: write_queues kept busy, not waiting for the slowest
		// at every 500 blocks; 20% more blocks/s in BenchmarkPersistBlocks)
		// and SQL stores cut it into statements themselves.
		err := w.blocks.WriteBlocks(ctx, rows)
		if err != nil {
			err = fmt.Errorf("writing %d blocks (%d persists gathered): %w", len(rows), len(batch), err)
		}
		cancel()
		w.gathered.Add(len(batch) - 1)
		for _, r := range batch {
			r.done <- err
		}
	}
}
