package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/consthash/consthash/pkg/rollup"
)

// The contract between the writer's open blocks and the stores that keep them
// (docs/storage-blocks.md). A block is the pkg/block encoding of the points of
// one series at one resolution from one producer over one span.

// BlockPoints is how many bins a block spans: 720, so 2 h of 10 s bins, 12 h
// of 1 min bins, 5 days of 10 min bins.
const BlockPoints = 720

// SpanSeconds is the length of a block of res, in seconds.
func SpanSeconds(res rollup.Resolution) int64 { return res.Seconds() * BlockPoints }

// SpanOf returns the start of the span of res holding the bin that starts at t
// (unix seconds).
func SpanOf(res rollup.Resolution, t int64) int64 {
	n := SpanSeconds(res)
	s := t - t%n
	if t < 0 && t%n != 0 {
		s -= n
	}
	return s
}

// BlockKey names one stored block.
type BlockKey struct {
	Path   string
	Res    rollup.Resolution
	Source string // the producer (aggregator id)
	Span   int64  // start of the span, unix seconds, a multiple of SpanSeconds(Res)
}

// BlockRow is a stored block: its key, its pkg/block encoding, and its
// version: the newest batch version (flush time in µs) folded into it.
type BlockRow struct {
	BlockKey
	Data    []byte
	Version int64
	// Horizon is the horizon the write raises (ShardHorizon for a writer
	// shard's blocks; "": the store-wide one). Not stored with the block.
	Horizon string
}

// BlockStore is implemented by the stores that keep blocks (SQLite, MySQL,
// Cassandra); the file store keeps TSV rows and does not.
type BlockStore interface {
	// WriteBlocks upserts whole blocks, one row each. A stored row whose
	// version is newer than the incoming one is kept. The paths go into the
	// path index as Write's do (and into TakeNewPaths).
	WriteBlocks(ctx context.Context, rows []BlockRow) error
	// ReadBlocks returns the stored blocks of keys; keys with no stored
	// block are left out. The writer reads a block it does not hold in
	// memory before it adds points to it (read-modify-write).
	ReadBlocks(ctx context.Context, keys []BlockKey) ([]BlockRow, error)
	// Horizons returns the store's horizons (Horizons): for each
	// resolution and raiser, the latest span start of the blocks it wrote.
	Horizons(ctx context.Context) (Horizons, error)
	// RaiseHorizon records that blocks of span (a span start, unix seconds)
	// may be written under key: the stored horizon becomes the larger of
	// the two. WriteBlocks and Write raise the horizons of what they write
	// (BlockRow.Horizon) before (Cassandra) or with (SQL, in the same
	// transaction) the blocks.
	RaiseHorizon(ctx context.Context, key HorizonKey, span int64) error
	// IndexPaths adds paths (leaves) and their parents to the path index
	// when it does not hold them yet (and into TakeNewPaths), with no block
	// written: the writer indexes a new series at once and persists its
	// blocks at the interval (WriteBlocks indexes the paths it writes too).
	IndexPaths(ctx context.Context, paths []string) error
}

// Horizons (docs/storage-blocks.md, "Horizons"): a block whose span starts
// after every horizon that bounds it was never written, and the writer
// opens it without reading it. Each writer shard raises its own horizons
// (BlockRow.Horizon = ShardHorizon): a shard's paths are written by its
// holder only, and one horizon shared by all shards would be raised by the
// first shard to write a new span, making every other shard read its new
// blocks. Other writers of blocks (Write, loaders) raise the store-wide
// horizon ("").
type Horizons struct {
	// Tracked is false for a store created before horizons were kept (or
	// whose creation was interrupted): its horizons say nothing, and every
	// block must be read before its first write.
	Tracked bool
	Spans   map[HorizonKey]int64
}

// HorizonKey names a horizon: a resolution (seconds) and who raises it
// (ShardHorizon, or "": any other writer of blocks).
type HorizonKey struct {
	Secs  int64
	Shard string
}

// ShardHorizon is the horizon key of rollup shard n of shards.
func ShardHorizon(n, shards int) string { return fmt.Sprintf("%dof%d", n, shards) }

// For returns, per resolution, the latest span whose blocks shard n of
// shards may find written: the max of its own horizon, the store-wide one,
// and those of every shard of another shard count (a path was in another
// shard before the count changed). A resolution absent has none written.
func (h Horizons) For(n, shards int) map[int64]int64 {
	out := map[int64]int64{}
	mine := ShardHorizon(n, shards)
	for k, span := range h.Spans {
		if k.Shard != "" && k.Shard != mine {
			var m, c int
			if _, err := fmt.Sscanf(k.Shard, "%dof%d", &m, &c); err == nil && c == shards {
				continue // another shard of this count: other paths
			}
		}
		if cur, ok := out[k.Secs]; !ok || span > cur {
			out[k.Secs] = span
		}
	}
	return out
}

// spanCache remembers, per key, the furthest span a store recorded one
// way (the latest for horizons, the earliest for Cassandra's floors), so
// that a write asks the store only when a span goes past it.
type spanCache[K comparable] struct {
	mu       sync.Mutex
	recorded map[K]int64
	earliest bool // the earliest span is kept, not the latest
}

// past says whether span goes past bound the cache's way.
func (c *spanCache[K]) past(span, bound int64) bool {
	if c.earliest {
		return span < bound
	}
	return span > bound
}

// pending returns, per key (key of a row), the furthest span of rows that
// goes past what was recorded.
func (c *spanCache[K]) pending(rows []BlockRow, key func(*BlockRow) K) map[K]int64 {
	var out map[K]int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range rows {
		k, span := key(&rows[i]), rows[i].Span
		if r, ok := c.recorded[k]; ok && !c.past(span, r) {
			continue
		}
		if out == nil {
			out = map[K]int64{}
		}
		if l, ok := out[k]; !ok || c.past(span, l) {
			out[k] = span
		}
	}
	return out
}

// done records spans (after they are stored).
func (c *spanCache[K]) done(spans map[K]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recorded == nil {
		c.recorded = map[K]int64{}
	}
	for k, span := range spans {
		if r, ok := c.recorded[k]; !ok || c.past(span, r) {
			c.recorded[k] = span
		}
	}
}

// horizonCache remembers the horizons a store raised, so that a write asks
// the store only when a new span begins.
type horizonCache struct{ spanCache[HorizonKey] }

// toRaise returns, per horizon, the latest span of rows that is beyond what
// was raised.
func (c *horizonCache) toRaise(rows []BlockRow) map[HorizonKey]int64 {
	return c.pending(rows, func(r *BlockRow) HorizonKey { return HorizonKey{r.Res.Seconds(), r.Horizon} })
}

// horizonName is the meta row of a horizon: horizon_{secs}s, or
// horizon_{secs}s_{shard} (both stores keep horizons in their meta table);
// horizonsName marks a store whose horizons are kept since its creation.
func horizonName(k HorizonKey) string {
	if k.Shard == "" {
		return fmt.Sprintf("horizon_%ds", k.Secs)
	}
	return fmt.Sprintf("horizon_%ds_%s", k.Secs, k.Shard)
}

const horizonsName = "horizons"

// parseHorizons folds meta rows (name, value) into Horizons.
func parseHorizons(names []string, values []int64) Horizons {
	h := Horizons{Spans: map[HorizonKey]int64{}}
	for i, n := range names {
		if n == horizonsName {
			h.Tracked = true
			continue
		}
		rest, ok := strings.CutPrefix(n, "horizon_")
		if !ok {
			continue
		}
		secs, shard, _ := strings.Cut(rest, "_")
		v, err := strconv.ParseInt(strings.TrimSuffix(secs, "s"), 10, 64)
		if k := (HorizonKey{v, shard}); err == nil && horizonName(k) == n {
			h.Spans[k] = values[i]
		}
	}
	return h
}
