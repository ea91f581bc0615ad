package store

import (
	"context"
	"fmt"
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
	// Horizons returns, per resolution (in seconds), the latest span start
	// any writer raised with RaiseHorizon: no block of a later span was
	// ever written. tracked is false for a store created before horizons
	// were kept (or whose creation was interrupted): its horizons say
	// nothing, and every block must be read before its first write.
	Horizons(ctx context.Context) (h map[int64]int64, tracked bool, err error)
	// RaiseHorizon records that blocks of span (a span start, unix seconds)
	// at a resolution of secs seconds may be written: the stored horizon
	// becomes the larger of the two. WriteBlocks and Write raise the
	// horizons of what they write before (Cassandra) or with (SQL, in the
	// same transaction) the blocks.
	RaiseHorizon(ctx context.Context, secs, span int64) error
}

// horizonCache remembers the horizons a store raised, so that a write asks
// the store only when a new span begins.
type horizonCache struct {
	mu     sync.Mutex
	raised map[int64]int64
}

// toRaise returns, per resolution (seconds), the latest span of rows that
// is beyond what was raised.
func (c *horizonCache) toRaise(rows []BlockRow) map[int64]int64 {
	var out map[int64]int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range rows {
		secs, span := rows[i].Res.Seconds(), rows[i].Span
		if r, ok := c.raised[secs]; ok && span <= r {
			continue
		}
		if out == nil {
			out = map[int64]int64{}
		}
		if l, ok := out[secs]; !ok || span > l {
			out[secs] = span
		}
	}
	return out
}

// done records raised horizons (after they are stored).
func (c *horizonCache) done(raised map[int64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raised == nil {
		c.raised = map[int64]int64{}
	}
	for secs, span := range raised {
		if r, ok := c.raised[secs]; !ok || span > r {
			c.raised[secs] = span
		}
	}
}

// horizonName is the meta row of the horizon of a resolution of secs
// seconds (both stores keep horizons in their meta table); horizonsName
// marks a store whose horizons are kept since its creation.
func horizonName(secs int64) string { return fmt.Sprintf("horizon_%ds", secs) }

const horizonsName = "horizons"

// parseHorizons folds meta rows (name, value) into Horizons' answer.
func parseHorizons(names []string, values []int64) (map[int64]int64, bool) {
	h, tracked := map[int64]int64{}, false
	for i, n := range names {
		var secs int64
		switch {
		case n == horizonsName:
			tracked = true
		case strings.HasPrefix(n, "horizon_"):
			if _, err := fmt.Sscanf(n, "horizon_%ds", &secs); err == nil && horizonName(secs) == n {
				h[secs] = values[i]
			}
		}
	}
	return h, tracked
}
