package store

import (
	"context"

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
}
