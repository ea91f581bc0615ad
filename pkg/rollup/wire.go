package rollup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Batch is what an aggregator publishes on consthash.rollups.<seconds>.<shard>
// (pkg/bus owns the subjects and the stream): the
// points of one resolution from one producer, from one flush.
type Batch struct {
	Source     string // producer id (the aggregator's)
	Resolution Resolution
	Flush      int64 // unix seconds of the flush that produced it
	Seq        uint64
	Final      bool // false: in-progress bins (overwritten by later batches)
	Points     []Point
}

// WireVersion is the version byte of the encoding (docs/wire.md).
const WireVersion = 1

// Errors of Decode.
var (
	ErrVersion   = errors.New("unknown rollup wire version")
	ErrTruncated = errors.New("rollup batch is truncated or malformed")
	ErrTooLarge  = errors.New("rollup batch declares more than it holds")
)

// Version orders the batches of one producer: storage keeps, per (path,
// resolution, time, source), the point of the newest version, so a
// redelivered older partial of a coarse bin never overwrites a later one or
// the final. It is the flush time in unix microseconds: it grows with every
// flush of a producer, across its restarts too (the wall clock does), and is
// what Cassandra takes as a write timestamp. Batches of one producer with the
// same flush never hold the same point, so equal versions carry equal values
// (a redelivery).
func (b *Batch) Version() int64 { return b.Flush * 1e6 }

// MsgID is the JetStream deduplication id of a batch: a redelivered or
// republished batch is stored once.
func (b *Batch) MsgID() string {
	return fmt.Sprintf("%s:%d:%d:%d", b.Source, b.Resolution.Seconds(), b.Flush, b.Seq)
}

// Append encodes b after dst:
//
//	version u8 | flags u8 (bit 0: final) | source (uvarint length + bytes)
//	step seconds uvarint | ttl seconds uvarint | flush varint | seq uvarint
//	count uvarint | count × point
//	point: path (uvarint length + bytes) | time varint | sum, min, max, last float64 LE
//	       | lastAt varint | count uvarint
func (b *Batch) Append(dst []byte) []byte {
	dst = append(dst, WireVersion)
	var flags byte
	if b.Final {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = appendString(dst, b.Source)
	dst = binary.AppendUvarint(dst, uint64(b.Resolution.Step.Seconds()))
	dst = binary.AppendUvarint(dst, uint64(b.Resolution.TTL.Seconds()))
	dst = binary.AppendVarint(dst, b.Flush)
	dst = binary.AppendUvarint(dst, b.Seq)
	dst = binary.AppendUvarint(dst, uint64(len(b.Points)))
	for i := range b.Points {
		p := &b.Points[i]
		dst = appendString(dst, p.Path)
		dst = binary.AppendVarint(dst, p.Time)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Sum))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Min))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Max))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Last))
		dst = binary.AppendVarint(dst, p.LastAt)
		dst = binary.AppendUvarint(dst, p.Count)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// minPoint is the fewest bytes one encoded point takes.
const minPoint = 1 + 1 + 32 + 1 + 1

// Decode reads a batch, reusing b's point slice. It never panics and checks
// every length against what the input holds.
func (b *Batch) Decode(data []byte) error {
	d := decoder{data: data}
	if v := d.byte(); d.err == nil && v != WireVersion {
		return fmt.Errorf("%w %d (this build reads %d)", ErrVersion, v, WireVersion)
	}
	flags := d.byte()
	if flags&^1 != 0 {
		return fmt.Errorf("rollup batch: unknown flags %#x", flags)
	}
	b.Final = flags&1 != 0
	b.Source = d.string()
	step, ttl := d.uvarint(), d.uvarint()
	b.Flush = d.varint()
	b.Seq = d.uvarint()
	n := d.uvarint()
	if d.err != nil {
		return d.err
	}
	if step == 0 || step > math.MaxInt64/uint64(1e9) || ttl > math.MaxInt64/uint64(1e9) {
		return fmt.Errorf("rollup batch: bad resolution %d:%d seconds", step, ttl)
	}
	b.Resolution = Resolution{Step: secondsDur(step), TTL: secondsDur(ttl)}
	if n > uint64(len(d.data)/minPoint) {
		return ErrTooLarge
	}
	b.Points = b.Points[:0]
	for i := uint64(0); i < n; i++ {
		var p Point
		p.Path = d.string()
		p.Time = d.varint()
		p.Sum, p.Min, p.Max, p.Last = d.float(), d.float(), d.float(), d.float()
		p.LastAt = d.varint()
		p.Count = d.uvarint()
		if d.err != nil {
			return d.err
		}
		b.Points = append(b.Points, p)
	}
	if len(d.data) != 0 {
		return fmt.Errorf("rollup batch: %d bytes after the last point", len(d.data))
	}
	return nil
}

func secondsDur(s uint64) time.Duration { return time.Duration(s) * time.Second }

type decoder struct {
	data    []byte
	err     error
	scratch [binary.MaxVarintLen64]byte
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.data) < 1 {
		d.fail()
		return 0
	}
	c := d.data[0]
	d.data = d.data[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data)
	if n <= 0 || n != len(binary.AppendUvarint(d.scratch[:0], v)) { // truncated, or not minimal
		d.fail()
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data)
	if n <= 0 || n != len(binary.AppendVarint(d.scratch[:0], v)) {
		d.fail()
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.data) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.data))
	d.data = d.data[8:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.data)) {
		d.fail()
		return ""
	}
	s := string(d.data[:n])
	d.data = d.data[n:]
	return s
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrTruncated
	}
}
