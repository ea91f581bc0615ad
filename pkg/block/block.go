// Package block encodes the rollup points of one series, resolution and
// producer over a fixed span as one compressed value: the storage unit of
// consthash's time blocks (docs/storage-blocks.md).
//
// Layout (version 2): a version byte; the step in seconds (uvarint); the
// first point's time in unix seconds (varint); the point count (uvarint); the
// unit of last_at offsets as a power of ten nanoseconds (one byte, 0–9); a
// flags byte saying which fields every point shares (then not in the stream:
// regular times; one last_at offset, then in the header as a varint; one
// count, then in the header as a uvarint; every point flat); the mode of each
// float field (sum, min, max, last: a nibble each, 15 = Gorilla XOR, 0–14 =
// decimal with that many digits); then one bit stream, per point:
//
//   - time: after the first, the delta-of-delta in steps (Gorilla's idea);
//   - last_at: the offset of the last sample into its bin, in the block's unit,
//     as a delta from the previous point's offset;
//   - count: '0' when it equals the previous point's (starting from 1), else
//     '1' and the difference;
//   - flat: '0' when the bin is flat (min = max = last and sum = last × count,
//     bit for bit: every one-sample bin, a constant gauge), then only last
//     follows; else '1' and sum, min, max and last;
//   - each value in its field's mode: XORed against the field's previous value
//     (Gorilla), or the integer n of float64(n) / 10^d as a delta from the
//     field's previous n.
//
// Flat points leave the previous values of sum, min and max as they were.
// Version 1 (still decoded) had no flags nor modes: every field in the
// stream, every value XORed, flat points setting sum, min and max.
//
// Encoding is exact: every float comes back bit for bit, every time and
// last_at to the nanosecond.
package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/consthash/consthash/pkg/rollup"
)

// Version is the first byte of every block this package writes; Decode
// reads it and every older version.
const Version = 2

// Errors of Decode; every malformed input returns one of them (wrapped with
// where it was found), never panics.
var (
	// ErrTruncated means the block ends before its last point.
	ErrTruncated = errors.New("block is truncated")
	// ErrCorrupt means the block's header or bit stream holds an impossible value.
	ErrCorrupt = errors.New("block is corrupt")
	// ErrVersion means the block was written by a newer (or unknown) format.
	ErrVersion = errors.New("unknown block version")
)

// maxPoints bounds what a decoder allocates for one block, whatever its
// header claims (a day of 1 s points is 86,400).
const maxPoints = 1 << 20

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// maxTime bounds a point's time (unix seconds, either side of 1970: about
// 270 years) so that time × 1e9 + a last_at offset never overflows.
const maxTime = 1 << 33

// Append encodes pts, the points of one series at one resolution (step
// seconds), in strictly increasing time, each a whole number of steps after
// the first, and appends the block to dst. Paths are not stored.
func Append(dst []byte, step int64, pts []rollup.Point) ([]byte, error) {
	return appendBlock(dst, step, pts, nil)
}

// Sizes counts the bits an encoding spends on each group of fields.
type Sizes struct {
	Header, Time, LastAt, Count, Flat, Values int
}

// Total is every bit counted.
func (s Sizes) Total() int { return s.Header + s.Time + s.LastAt + s.Count + s.Flat + s.Values }

// AppendSizes is Append that also adds to sz the bits each group of fields
// took (measurements: TestBytesPerPoint).
func AppendSizes(dst []byte, step int64, pts []rollup.Point, sz *Sizes) ([]byte, error) {
	return appendBlock(dst, step, pts, sz)
}

func appendBlock(dst []byte, step int64, pts []rollup.Point, sz *Sizes) ([]byte, error) {
	if step <= 0 {
		return dst, fmt.Errorf("encoding a block: step %d s is not positive", step)
	}
	for i, p := range pts {
		if p.Time < -maxTime || p.Time > maxTime {
			return dst, fmt.Errorf("encoding a block: point %d at %d is outside ±%d s", i, p.Time, int64(maxTime))
		}
		tn := p.Time * 1e9
		if off := p.LastAt - tn; (p.LastAt^tn) < 0 && (off^p.LastAt) < 0 {
			return dst, fmt.Errorf("encoding a block: point %d: last_at %d is too far from its bin %d", i, p.LastAt, p.Time)
		}
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Time <= pts[i-1].Time || (pts[i].Time-pts[0].Time)%step != 0 {
			return dst, fmt.Errorf("encoding a block: point %d at %d does not follow %d by a whole number of %d s steps",
				i, pts[i].Time, pts[i-1].Time, step)
		}
	}
	if sz == nil {
		sz = new(Sizes) // counted and dropped: cheaper than a branch per field
	}
	var first int64
	if len(pts) > 0 {
		first = pts[0].Time
	}
	unit := lastAtUnit(pts)
	fl, q0, c0 := blockFlags(step, unit, pts)
	modes := chooseModes(pts, fl&flagFlat != 0)

	start := len(dst)
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(step))
	dst = binary.AppendVarint(dst, first)
	dst = binary.AppendUvarint(dst, uint64(len(pts)))
	dst = append(dst, byte(unit), fl)
	if fl&flagLastAt != 0 {
		dst = binary.AppendVarint(dst, q0)
	}
	if fl&flagCount != 0 {
		dst = binary.AppendUvarint(dst, c0)
	}
	dst = append(dst, modes[fSum]<<4|modes[fMin], modes[fMax]<<4|modes[fLast])
	sz.Header += (len(dst) - start) * 8

	w := bitWriter{buf: dst}
	mark := w.pos()
	// count adds the bits written since the last mark to *field.
	count := func(field *int) {
		*field += w.pos() - mark
		mark = w.pos()
	}
	st := newState2(first, modes)
	for i, p := range pts {
		if fl&flagRegular == 0 && i > 0 {
			d := (p.Time - st.prevTime) / step
			putSigned(&w, d-st.prevDelta)
			st.prevDelta = d
		}
		st.prevTime = p.Time
		count(&sz.Time)

		if fl&flagLastAt == 0 {
			q := (p.LastAt - p.Time*1e9) / pow10[unit]
			putSigned(&w, q-st.prevLastAt)
			st.prevLastAt = q
			count(&sz.LastAt)
		}

		if fl&flagCount == 0 {
			if p.Count == st.prevCount {
				w.bit(false)
			} else {
				w.bit(true)
				putSigned(&w, int64(p.Count-st.prevCount))
				st.prevCount = p.Count
			}
			count(&sz.Count)
		}

		isFlat := fl&flagFlat != 0 || flat(p)
		if fl&flagFlat == 0 {
			w.bit(!isFlat)
			count(&sz.Flat)
		}
		if !isFlat {
			st.vals[fSum].put(&w, p.Sum)
			st.vals[fMin].put(&w, p.Min)
			st.vals[fMax].put(&w, p.Max)
		}
		st.vals[fLast].put(&w, p.Last)
		count(&sz.Values)
	}
	sz.Values += int(w.free) // the last byte's unused bits
	return w.buf, nil
}

// Header flags of version 2: what holds for every point of the block, so
// that its field is not in the bit stream.
const (
	flagRegular = 1 << iota // each point one step after the previous
	flagLastAt              // one last_at offset (in the header)
	flagCount               // one count (in the header)
	flagFlat                // every point flat
	flagsKnown  = flagRegular | flagLastAt | flagCount | flagFlat
)

// blockFlags returns the header flags for pts, and the offset and count
// every point shares when the flags say so.
func blockFlags(step int64, unit int, pts []rollup.Point) (fl byte, q0 int64, c0 uint64) {
	if len(pts) == 0 {
		return 0, 0, 0
	}
	fl = flagsKnown
	q0, c0 = (pts[0].LastAt-pts[0].Time*1e9)/pow10[unit], pts[0].Count
	for i, p := range pts {
		if i > 0 && p.Time-pts[i-1].Time != step {
			fl &^= flagRegular
		}
		if (p.LastAt-p.Time*1e9)/pow10[unit] != q0 {
			fl &^= flagLastAt
		}
		if p.Count != c0 {
			fl &^= flagCount
		}
		if !flat(p) {
			fl &^= flagFlat
		}
	}
	return fl, q0, c0
}

// The four float fields, in stream order, and their modes: modeXOR, or the
// number of decimal digits d (0–14) of a decimal field, whose values are
// integers n stored as deltas, each value being float64(n) / 10^d bit for
// bit.
const (
	fSum = iota
	fMin
	fMax
	fLast

	maxDigits = 14
	modeXOR   = 15
)

var pow10f = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14}

// decimal returns n with float64(n) / 10^d == v bit for bit, if there is one.
func decimal(v float64, d int) (int64, bool) {
	x := v * pow10f[d]
	if !(math.Abs(x) < 1<<53) { // NaN too
		return 0, false
	}
	n := int64(math.Round(x))
	return n, math.Float64bits(float64(n)/pow10f[d]) == math.Float64bits(v)
}

// chooseModes picks each field's mode: decimal, with the fewest digits that
// fit every value the field writes, when that takes fewer bits than XOR.
func chooseModes(pts []rollup.Point, allFlat bool) [4]byte {
	var modes [4]byte
	for f := range modes {
		modes[f] = modeXOR
		if f != fLast && allFlat {
			continue
		}
		value := func(p *rollup.Point) (float64, bool) {
			switch f {
			case fSum:
				return p.Sum, !flat(*p)
			case fMin:
				return p.Min, !flat(*p)
			case fMax:
				return p.Max, !flat(*p)
			}
			return p.Last, true
		}
		d := 0
		for i := range pts {
			v, ok := value(&pts[i])
			if !ok {
				continue
			}
			for d <= maxDigits {
				if _, ok := decimal(v, d); ok {
					break
				}
				d++
			}
			if d > maxDigits {
				break
			}
		}
		if d > maxDigits {
			continue
		}
		var xs, ds valState
		var xBits, dBits int
		fits := true
		for i := range pts {
			v, ok := value(&pts[i])
			if !ok {
				continue
			}
			xBits += xs.cost(v)
			n, ok := decimal(v, d)
			if !ok {
				fits = false
				break
			}
			dBits += intBits(n-ds.n, valueBuckets[:])
			ds.n = n
		}
		if fits && dBits < xBits {
			modes[f] = byte(d)
		}
	}
	return modes
}

// valState is one float field's state in version 2: Gorilla XOR, or the
// previous integer of a decimal field.
type valState struct {
	xorState
	dec   bool
	d     int // decimal digits
	n     int64
	scale float64 // 10^d
}

func (s *valState) put(w *bitWriter, v float64) {
	if !s.dec {
		s.xorState.put(w, math.Float64bits(v))
		return
	}
	n, _ := decimal(v, s.d)
	putInt(w, n-s.n, valueBuckets[:])
	s.n = n
}

func (s *valState) get(r *bitReader) float64 {
	if !s.dec {
		return math.Float64frombits(s.xorState.get(r))
	}
	s.n += getInt(r, valueBuckets[:])
	return float64(s.n) / s.scale
}

// cost is the bits put would write in XOR mode, and updates s as put does.
func (s *valState) cost(v float64) int { return s.xorState.cost(math.Float64bits(v)) }

// cursor is the time, last_at and count both versions' streams remember
// from the previous point.
type cursor struct {
	prevTime, prevDelta, prevLastAt int64
	prevCount                       uint64
	lastAt                          int64 // the decoded point's last_at (decoding only)
}

func newCursor(first int64) cursor { return cursor{prevTime: first, prevDelta: 1, prevCount: 1} }

// state2 is what both sides of a version 2 stream remember.
type state2 struct {
	cursor
	vals [4]valState
}

func newState2(first int64, modes [4]byte) state2 {
	st := state2{cursor: newCursor(first)}
	for f, m := range modes {
		if m != modeXOR {
			st.vals[f] = valState{dec: true, d: int(m), scale: pow10f[m]}
		}
	}
	return st
}

// state is what both sides of the stream remember from the previous point.
type state struct {
	cursor
	sum, min, max, last xorState
}

func newState(first int64) state { return state{cursor: newCursor(first)} }

// flat reports whether a point's five fields follow from last and count alone.
func flat(p rollup.Point) bool {
	l := math.Float64bits(p.Last)
	return p.Count > 0 && math.Float64bits(p.Min) == l && math.Float64bits(p.Max) == l &&
		math.Float64bits(p.Sum) == math.Float64bits(p.Last*float64(p.Count))
}

// lastAtUnit is the largest power of ten nanoseconds dividing every point's
// last_at offset: 6 (milliseconds) for a producer with millisecond clocks.
func lastAtUnit(pts []rollup.Point) int {
	unit := len(pow10) - 1
	for _, p := range pts {
		off := p.LastAt - p.Time*1e9
		for unit > 0 && off%pow10[unit] != 0 {
			unit--
		}
	}
	return unit
}

// Header is what a block says about itself before its points.
type Header struct {
	Step  int64 // seconds
	First int64 // the first point's time, unix seconds
	N     int   // points
}

// Iter decodes a block's points one at a time, so a read can stop at the end
// of the range it wants.
type Iter struct {
	Header
	r       bitReader
	unit    int64
	i       int
	version byte
	flags   byte
	st      state  // version 1
	st2     state2 // version 2
	p       rollup.Point
	err     error
	// bounds checked per point, divided once per block
	maxSteps, minQ, maxQ int64
}

// NewIter reads the block's header; Next then decodes its points in order.
func NewIter(data []byte) (*Iter, error) {
	it := &Iter{}
	if err := it.Reset(data); err != nil {
		return nil, err
	}
	return it, nil
}

// Reset makes it decode data from its start, keeping nothing of before.
func (it *Iter) Reset(data []byte) error {
	*it = Iter{}
	if len(data) == 0 {
		return fmt.Errorf("reading a block header: %w", ErrTruncated)
	}
	if data[0] != 1 && data[0] != Version {
		return fmt.Errorf("reading a block header: %w %d (this build reads 1 to %d)", ErrVersion, data[0], Version)
	}
	it.version = data[0]
	pos := 1
	step, n := binary.Uvarint(data[pos:])
	if n <= 0 {
		return fmt.Errorf("reading a block's step: %w", ErrTruncated)
	}
	pos += n
	first, n := binary.Varint(data[pos:])
	if n <= 0 {
		return fmt.Errorf("reading a block's first time: %w", ErrTruncated)
	}
	pos += n
	count, n := binary.Uvarint(data[pos:])
	if n <= 0 {
		return fmt.Errorf("reading a block's point count: %w", ErrTruncated)
	}
	pos += n
	if pos >= len(data) {
		return fmt.Errorf("reading a block's last_at unit: %w", ErrTruncated)
	}
	unit := data[pos]
	pos++
	switch {
	case step == 0 || step > math.MaxInt32:
		return fmt.Errorf("reading a block header: step %d s: %w", step, ErrCorrupt)
	case int(unit) >= len(pow10):
		return fmt.Errorf("reading a block header: last_at unit 1e%d ns: %w", unit, ErrCorrupt)
	}
	if first < -maxTime || first > maxTime {
		return fmt.Errorf("reading a block header: first time %d: %w", first, ErrCorrupt)
	}
	it.Header = Header{Step: int64(step), First: first, N: int(count)}
	it.unit = pow10[unit]
	it.maxSteps = 2 * maxTime / it.Step
	it.minQ, it.maxQ = math.MinInt64/it.unit, math.MaxInt64/it.unit
	minBits := uint64(4) // every version 1 point takes at least four bits
	if it.version == 1 {
		it.st = newState(first)
	} else {
		if pos >= len(data) {
			return fmt.Errorf("reading a block's flags: %w", ErrTruncated)
		}
		it.flags = data[pos]
		pos++
		if it.flags&^flagsKnown != 0 {
			return fmt.Errorf("reading a block header: flags %#x: %w", it.flags, ErrCorrupt)
		}
		var q int64
		if it.flags&flagLastAt != 0 {
			if q, n = binary.Varint(data[pos:]); n <= 0 {
				return fmt.Errorf("reading a block's last_at offset: %w", ErrTruncated)
			}
			pos += n
			if q > it.maxQ || q < it.minQ {
				return fmt.Errorf("reading a block header: last_at offset %d × %d ns: %w", q, it.unit, ErrCorrupt)
			}
		}
		c := uint64(1)
		if it.flags&flagCount != 0 {
			if c, n = binary.Uvarint(data[pos:]); n <= 0 {
				return fmt.Errorf("reading a block's count: %w", ErrTruncated)
			}
			pos += n
		}
		if pos+2 > len(data) {
			return fmt.Errorf("reading a block's value modes: %w", ErrTruncated)
		}
		modes := [4]byte{data[pos] >> 4, data[pos] & 15, data[pos+1] >> 4, data[pos+1] & 15}
		pos += 2
		it.st2 = newState2(first, modes)
		it.st2.prevLastAt, it.st2.prevCount = q, c
		minBits = 1 // the last value takes at least a bit
	}
	if count > maxPoints || count*minBits > uint64(len(data)-pos)*8 {
		return fmt.Errorf("reading a block header: %d points in %d bytes: %w", count, len(data)-pos, ErrCorrupt)
	}
	it.r = bitReader{buf: data[pos:]}
	return nil
}

// Next decodes the next point; it returns false at the end or on an error.
func (it *Iter) Next() bool {
	if it.err != nil || it.i >= it.N {
		return false
	}
	if it.version == 1 {
		return it.nextV1()
	}
	r, st, p := &it.r, &it.st2, &it.p
	if !it.nextCursor(&st.cursor, it.flags&flagRegular != 0, it.flags&flagLastAt != 0, it.flags&flagCount != 0) {
		return false
	}
	p.Time, p.LastAt, p.Count = st.prevTime, st.lastAt, st.prevCount
	if it.flags&flagFlat != 0 || !r.bit() {
		p.Last = st.vals[fLast].get(r)
		p.Min, p.Max, p.Sum = p.Last, p.Last, p.Last*float64(p.Count)
	} else {
		p.Sum = st.vals[fSum].get(r)
		p.Min = st.vals[fMin].get(r)
		p.Max = st.vals[fMax].get(r)
		p.Last = st.vals[fLast].get(r)
	}
	if r.err != nil {
		it.err = fmt.Errorf("decoding point %d of %d: %w", it.i, it.N, r.err)
		return false
	}
	it.i++
	return true
}

// nextCursor decodes a point's time, last_at and count into c (both
// versions; a version 2 block may leave out the time's delta-of-delta
// (regular), the last_at delta and the count flag when every point shares
// them).
func (it *Iter) nextCursor(c *cursor, regular, sameLastAt, sameCount bool) bool {
	r := &it.r
	t := it.First
	if it.i > 0 {
		d := int64(1)
		if !regular {
			d = c.prevDelta + getSigned(r)
		}
		// prevTime >= -maxTime, so d*Step <= 2*maxTime cannot overflow.
		if d <= 0 || d > it.maxSteps || c.prevTime+d*it.Step > maxTime {
			it.err = fmt.Errorf("decoding point %d: %d steps after %d: %w", it.i, d, c.prevTime, ErrCorrupt)
			return false
		}
		t = c.prevTime + d*it.Step
		c.prevDelta = d
	}
	c.prevTime = t
	if !sameLastAt {
		c.prevLastAt += getSigned(r)
	}
	q, tn := c.prevLastAt, t*1e9
	if q > it.maxQ || q < it.minQ {
		it.err = fmt.Errorf("decoding point %d: last_at offset %d × %d ns: %w", it.i, q, it.unit, ErrCorrupt)
		return false
	}
	off := q * it.unit
	c.lastAt = tn + off
	if (tn^off) >= 0 && (c.lastAt^tn) < 0 {
		it.err = fmt.Errorf("decoding point %d: last_at overflows: %w", it.i, ErrCorrupt)
		return false
	}
	if !sameCount && r.bit() {
		c.prevCount += uint64(getSigned(r))
	}
	return true
}

// nextV1 is Next for a version 1 block.
func (it *Iter) nextV1() bool {
	r, st, p := &it.r, &it.st, &it.p
	if !it.nextCursor(&st.cursor, false, false, false) {
		return false
	}
	p.Time, p.LastAt, p.Count = st.prevTime, st.lastAt, st.prevCount
	if !r.bit() {
		p.Last = math.Float64frombits(st.last.get(r))
		p.Min, p.Max, p.Sum = p.Last, p.Last, p.Last*float64(p.Count)
		st.sum.prev, st.min.prev, st.max.prev = math.Float64bits(p.Sum), math.Float64bits(p.Min), math.Float64bits(p.Max)
	} else {
		p.Sum = math.Float64frombits(st.sum.get(r))
		p.Min = math.Float64frombits(st.min.get(r))
		p.Max = math.Float64frombits(st.max.get(r))
		p.Last = math.Float64frombits(st.last.get(r))
	}
	if r.err != nil {
		it.err = fmt.Errorf("decoding point %d of %d: %w", it.i, it.N, r.err)
		return false
	}
	it.i++
	return true
}

// Point is the point Next decoded last (its Path is empty).
func (it *Iter) Point() rollup.Point { return it.p }

// At is the point Next decoded last, without a copy: Next overwrites it.
func (it *Iter) At() *rollup.Point { return &it.p }

// Err is the error that stopped Next, if any.
func (it *Iter) Err() error { return it.err }

// Decode appends every point of the block to dst.
func Decode(dst []rollup.Point, data []byte) ([]rollup.Point, Header, error) {
	var it Iter
	if err := it.Reset(data); err != nil {
		return dst, Header{}, err
	}
	dst = slices.Grow(dst, it.N)
	for it.Next() {
		dst = append(dst, it.Point())
	}
	return dst, it.Header, it.Err()
}

// Field is a value of a point as a render reads it (Fill).
type Field int

// The fields Fill reads: Mean is Point.Mean (sum / count).
const (
	Mean Field = iota
	Sum
	Min
	Max
	Last
)

// Fill decodes a block that Reset has just read the header of and whose
// points are all flat, one step apart and of one count (the flags of most
// blocks: one sample a bin, no bin missing), straight onto vals: field of
// each point with a time t in [from, from + len(vals)×step) goes to
// vals[(t-from)/step]; points after that range are not decoded. It returns
// false, having decoded nothing, for any other block (or after Next): decode
// those with Next. The values are bit for bit those Next's points give;
// after Fill, Next returns false.
//
// A render decodes most of the points it reads, and this reads a flat
// point's one value with nothing else: no point is made, no field but
// last is set, and the points before from only advance the value's state.
func (it *Iter) Fill(field Field, from, step int64, vals []float64) (bool, error) {
	const simple = flagRegular | flagCount | flagFlat
	if it.version != Version || it.flags&simple != simple || it.i != 0 || it.err != nil || step <= 0 || it.N == 0 {
		return false, nil
	}
	c := &it.st2.cursor
	lastTime := it.First + int64(it.N-1)*it.Step // N ≤ maxPoints, Step ≤ MaxInt32: no overflow
	if lastTime > maxTime || it.flags&flagLastAt != 0 && (overflows(it.First, c.prevLastAt*it.unit) || overflows(lastTime, c.prevLastAt*it.unit)) {
		return false, nil // Next says where the block is corrupt
	}
	until := from + int64(len(vals))*step
	r, s := &it.r, &it.st2.vals[fLast]
	count := float64(c.prevCount)
	// What field takes of a flat point's last (sum = last × count, mean =
	// sum / count): nothing when the count is 1 (x × 1 and x / 1 are x).
	const asIs, times, mean, none = 0, 1, 2, 3
	of := asIs
	switch {
	case field == Mean && c.prevCount == 0:
		of = none
	case field == Mean && c.prevCount != 1:
		of = mean
	case field == Sum && c.prevCount != 1:
		of = times
	}
	sameLastAt := it.flags&flagLastAt != 0
	t := it.First
	for i := 0; i < it.N && t < until; i++ {
		if !sameLastAt {
			q := c.prevLastAt + getSigned(r)
			if q > it.maxQ || q < it.minQ || overflows(t, q*it.unit) {
				it.i, it.err = it.N, fmt.Errorf("decoding point %d: last_at offset %d × %d ns: %w", i, q, it.unit, ErrCorrupt)
				return true, it.err
			}
			c.prevLastAt = q
		}
		var v float64
		if s.dec {
			s.n += getInt(r, valueBuckets[:])
			if t < from {
				if r.err != nil {
					break
				}
				t += it.Step
				continue
			}
			v = float64(s.n)
			if s.d > 0 {
				v /= s.scale
			}
		} else {
			v = math.Float64frombits(s.xorState.get(r))
		}
		if r.err != nil {
			break
		}
		if t >= from {
			switch of {
			case times:
				v *= count
			case mean:
				v = v * count / count
			case none:
				v = math.NaN()
			}
			vals[(t-from)/step] = v
		}
		t += it.Step
	}
	it.i = it.N
	if r.err != nil {
		it.err = fmt.Errorf("decoding a block: %w", r.err)
		return true, it.err
	}
	return true, nil
}

// overflows says whether t seconds in nanoseconds plus off overflows int64
// (as nextCursor checks a last_at).
func overflows(t, off int64) bool {
	tn := t * 1e9
	return (tn^off) >= 0 && ((tn+off)^tn) < 0
}
