package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/rollup"
)

// What the block stores (SQL, Cassandra) share: Write's read-modify-write of
// blocks and the read of a range out of blocks (docs/storage-blocks.md).

// SchemaVersion is the storage format the block stores record in their
// schema_version row: 2 is one block per (path, resolution, source, span)
// (1 was one row per point). A store holding another version refuses Init:
// there is no migration before 1.0.
const SchemaVersion = 2

// blockUpdate is what one Write brings to one block: its points, each with
// the version of the batch that carried it, in the order they came.
type blockUpdate struct {
	pts []versioned
}

type versioned struct {
	p rollup.Point
	v int64
}

// groupBlocks groups the finite points of batches by the block they belong
// to. Keys come back in first-seen order.
func groupBlocks(batches []*rollup.Batch) (map[BlockKey]*blockUpdate, []BlockKey) {
	ups := map[BlockKey]*blockUpdate{}
	var keys []BlockKey
	for _, b := range batches {
		v := b.Version()
		for _, p := range b.Points {
			if !Finite(p) {
				continue
			}
			k := BlockKey{Path: p.Path, Res: b.Resolution, Source: b.Source, Span: SpanOf(b.Resolution, p.Time)}
			u := ups[k]
			if u == nil {
				u = &blockUpdate{}
				ups[k] = u
				keys = append(keys, k)
			}
			u.pts = append(u.pts, versioned{p, v})
		}
	}
	return ups, keys
}

// apply merges u into the stored block (nil: none) and returns the block to
// write, or false when the stored block already says the same. Among u's
// points at one time the newest version wins (the later on a tie); it
// replaces the stored point at its time when its version is not older than
// the stored block's; new times are added. The result's version is the
// newest of the stored one and those of the points applied; when the data
// changed but that is not newer than what is stored (an older point at a new
// time), it is the stored version + 1 µs, so Cassandra's newest-write-wins
// keeps the merged block (on equal timestamps it keeps the larger blob,
// whichever that is). Batch versions are whole seconds in µs, so the extra µs
// never outranks a newer batch.
func (u *blockUpdate) apply(k BlockKey, stored *BlockRow) (BlockRow, bool, error) {
	// u's points by time, one per time.
	slices.SortStableFunc(u.pts, func(a, b versioned) int { return cmpInt(a.p.Time, b.p.Time) })
	in := u.pts[:0]
	for _, vp := range u.pts {
		if n := len(in); n > 0 && in[n-1].p.Time == vp.p.Time {
			if vp.v >= in[n-1].v {
				in[n-1] = vp
			}
			continue
		}
		in = append(in, vp)
	}
	u.pts = in
	var old []rollup.Point
	var storedVersion int64
	if stored != nil {
		storedVersion = stored.Version
		var err error
		if old, _, err = block.Decode(nil, stored.Data); err != nil {
			return BlockRow{}, false, fmt.Errorf("decoding the stored block %s %s %s %d: %w", k.Path, k.Res, k.Source, k.Span, err)
		}
	}
	version := storedVersion
	pts := make([]rollup.Point, 0, len(old)+len(in))
	i := 0
	for _, vp := range in {
		for i < len(old) && old[i].Time < vp.p.Time {
			pts = append(pts, old[i])
			i++
		}
		if i < len(old) && old[i].Time == vp.p.Time {
			if vp.v < storedVersion { // the stored point is newer
				pts = append(pts, old[i])
				i++
				continue
			}
			i++
		}
		pts = append(pts, vp.p)
		version = max(version, vp.v)
	}
	pts = append(pts, old[i:]...)
	data, err := block.Append(nil, k.Res.Seconds(), pts)
	if err != nil {
		return BlockRow{}, false, fmt.Errorf("block %s %s %s %d: %w", k.Path, k.Res, k.Source, k.Span, err)
	}
	if stored != nil {
		if bytes.Equal(data, stored.Data) {
			return BlockRow{}, false, nil
		}
		if version <= storedVersion {
			version = storedVersion + 1
		}
	}
	return BlockRow{BlockKey: k, Data: data, Version: version}, true, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mergeBlocks updates the stored blocks (those of keys that exist) with ups
// and returns the blocks to write.
func mergeBlocks(ups map[BlockKey]*blockUpdate, keys []BlockKey, stored []BlockRow) ([]BlockRow, error) {
	have := make(map[BlockKey]*BlockRow, len(stored))
	for i := range stored {
		have[stored[i].BlockKey] = &stored[i]
	}
	out := make([]BlockRow, 0, len(keys))
	for _, k := range keys {
		row, changed, err := ups[k].apply(k, have[k])
		if err != nil {
			return nil, err
		}
		if changed {
			out = append(out, row)
		}
	}
	return out, nil
}

// rangeReader turns the stored blocks of one path and resolution into the
// points of [from, until), merged over sources. Feed it blocks in (span,
// source) order, as the stores select them; it keeps the order today's row
// stores merged in: by time, then source.
type rangeReader struct {
	path        string
	from, until int64
	col         string
	pts         []rollup.Point
	sources     int
	last        string
	it          block.Iter
}

// add decodes one block's points inside the range.
func (r *rangeReader) add(source string, data []byte) error {
	if r.sources == 0 || source != r.last {
		r.sources++ // counts changes of source: 1 means a single producer
		r.last = source
	}
	if err := r.it.Reset(data); err != nil {
		return fmt.Errorf("reading %s: %w", r.path, err)
	}
	if r.pts == nil && r.it.Step > 0 {
		// Room for the range's bins, up to two blocks' worth: a wide range
		// (a dump reads all time) must not allocate for bins nobody stored;
		// past that, append doubles.
		r.pts = make([]rollup.Point, 0, min((r.until-r.from)/r.it.Step+1, 2*BlockPoints))
	}
	for r.it.Next() {
		p := r.it.Point()
		if p.Time < r.from {
			continue
		}
		if p.Time >= r.until {
			break
		}
		p.Path = r.path
		r.pts = append(r.pts, p)
	}
	if err := r.it.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", r.path, err)
	}
	return nil
}

// points returns the points in time order, the producers of a bin merged
// (rollup.Point.Merge), with only the fields col needs (columnSQL).
func (r *rangeReader) points() []rollup.Point {
	pts := r.pts
	if r.sources > 1 {
		// Blocks came in (span, source) order: a stable sort by time keeps
		// the sources of one bin in source order.
		slices.SortStableFunc(pts, func(a, b rollup.Point) int { return cmpInt(a.Time, b.Time) })
		out := pts[:0]
		for _, p := range pts {
			if n := len(out); n > 0 && out[n-1].Time == p.Time {
				out[n-1].Merge(p)
				continue
			}
			out = append(out, p)
		}
		pts = out
	}
	if r.col != "" {
		for i := range pts {
			keepColumn(&pts[i], r.col)
		}
	}
	return pts
}

// keepColumn zeroes the fields of p that col does not need (ReadColumn's
// contract): time, count and the column stay.
func keepColumn(p *rollup.Point, col string) {
	q := rollup.Point{Path: p.Path, Time: p.Time, Count: p.Count}
	switch col {
	case "sum", "mean":
		q.Sum = p.Sum
	case "min":
		q.Min = p.Min
	case "max":
		q.Max = p.Max
	case "last":
		q.Last, q.LastAt = p.Last, p.LastAt
	}
	*p = q
}

// manyFiller feeds the blocks of many paths, as one query returns them (each
// path's in (span, source) order), to each path's valueFiller. A path whose
// blocks come from several producers is put aside in again, for the caller
// to read alone and merge.
type manyFiller struct {
	byPath map[string][]*valueFiller
	again  []*valueFiller
	end    int64 // the latest end of the reads
}

func newManyFiller(res rollup.Resolution, start int64, reads []SeriesRead) (*manyFiller, error) {
	m := &manyFiller{byPath: make(map[string][]*valueFiller, len(reads)), end: start}
	for _, rd := range reads {
		if _, ok := columnSQL[rd.Col]; !ok {
			return nil, fmt.Errorf("reading %s: unknown column %q", rd.Path, rd.Col)
		}
		f := newValueFiller(rd.Path, res.Seconds(), start, rd.Vals, rd.Col)
		m.byPath[rd.Path] = append(m.byPath[rd.Path], f)
		m.end = max(m.end, f.end)
	}
	return m, nil
}

// paths returns the paths asked for, each once.
func (m *manyFiller) paths() []string {
	out := make([]string, 0, len(m.byPath))
	for p := range m.byPath {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// add decodes one block of path.
func (m *manyFiller) add(path, source, data []byte) error {
	for _, f := range m.byPath[string(path)] {
		if f.several {
			continue
		}
		ok, err := f.add(source, data)
		if err != nil {
			return err
		}
		if !ok {
			f.several = true
			m.again = append(m.again, f)
		}
	}
	return nil
}

// blockScanner is a store's scan of one path's blocks overlapping [from,
// until), in (span, source) order.
type blockScanner func(ctx context.Context, path string, res rollup.Resolution, from, until int64, fn func(source, data []byte) (bool, error)) (bool, error)

// readAgain reads the blocks of each path put aside in again (several
// producers) alone with scan, and merges them.
func (m *manyFiller) readAgain(ctx context.Context, res rollup.Resolution, scan blockScanner) error {
	for _, f := range m.again {
		var blocks []storedBlock
		if _, err := scan(ctx, f.path, res, f.start, f.end, func(source, data []byte) (bool, error) {
			blocks = append(blocks, storedBlock{string(source), bytes.Clone(data)})
			return true, nil
		}); err != nil {
			return err
		}
		if err := f.merge(blocks); err != nil {
			return err
		}
	}
	return nil
}

// valueFiller decodes the blocks of one path, fed in (span, source) order,
// onto the steps of vals (ReadMany): vals[i] gets the value that answers
// col of the bin at start + i×step. Blocks of a single producer go straight
// from the decoder to vals; when a second producer shows up, add says so and
// the caller reads the blocks again into merge, which merges the producers'
// points as ReadColumn does first.
type valueFiller struct {
	path             string
	step, start, end int64
	vals             []float64
	col              string
	field            block.Field // col as a field, for the hot loop
	source           string
	blocks           int
	several          bool // a second producer showed up: read again and merge
	it               block.Iter
}

func newValueFiller(path string, step, start int64, vals []float64, col string) *valueFiller {
	f := &valueFiller{path: path, step: step, start: start, end: start + int64(len(vals))*step, vals: vals, col: col}
	switch col {
	case "sum":
		f.field = block.Sum
	case "min":
		f.field = block.Min
	case "max":
		f.field = block.Max
	case "last":
		f.field = block.Last
	}
	for i := range vals {
		vals[i] = math.NaN()
	}
	return f
}

// add decodes one block onto vals (a flat, regular block by block.Iter.Fill,
// without making its points); it returns false, having decoded nothing,
// for a block of another producer than the blocks before.
func (f *valueFiller) add(source, data []byte) (bool, error) {
	if f.blocks == 0 {
		f.source = string(source)
	} else if string(source) != f.source {
		return false, nil
	}
	f.blocks++
	it := &f.it
	if err := it.Reset(data); err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	if ok, err := it.Fill(f.field, f.start, f.step, f.vals); ok {
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", f.path, err)
		}
		return true, nil
	}
	start, end, step, vals := f.start, f.end, f.step, f.vals
	for it.Next() {
		p := it.At()
		if p.Time < start {
			continue
		}
		if p.Time >= end {
			break
		}
		var v float64
		switch f.field {
		case block.Sum:
			v = p.Sum
		case block.Min:
			v = p.Min
		case block.Max:
			v = p.Max
		case block.Last:
			v = p.Last
		default:
			v = p.Mean()
		}
		vals[(p.Time-start)/step] = v
	}
	if err := it.Err(); err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	return true, nil
}

// merge puts on vals the points of blocks of several producers, merged as
// ReadColumn merges them (vals start again from NaN).
func (f *valueFiller) merge(blocks []storedBlock) error {
	for i := range f.vals {
		f.vals[i] = math.NaN()
	}
	rr := rangeReader{path: f.path, from: f.start, until: f.end}
	for _, b := range blocks {
		if err := rr.add(b.source, b.data); err != nil {
			return err
		}
	}
	for _, p := range rr.points() {
		f.vals[(p.Time-f.start)/f.step] = colValue(&p, f.col)
	}
	return nil
}

// storedBlock is one block a range read selected: its producer and encoding.
type storedBlock struct {
	source string
	data   []byte
}

// colValue is the value of a point that answers col: its sum, min, max or
// last, or its mean (sum / count, NaN for no samples) for "mean" and "" (the
// aggregators' reducers, pkg/bus.Value).
func colValue(p *rollup.Point, col string) float64 {
	switch col {
	case "sum":
		return p.Sum
	case "min":
		return p.Min
	case "max":
		return p.Max
	case "last":
		return p.Last
	}
	return p.Mean()
}
