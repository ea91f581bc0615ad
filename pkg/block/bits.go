package block

import (
	"encoding/binary"
	"math/bits"
)

// bitWriter appends bits, most significant first, to a byte slice.
type bitWriter struct {
	buf  []byte
	free uint8 // unused low bits in the last byte of buf
}

// write appends the low n bits of v (n ≤ 64).
func (w *bitWriter) write(v uint64, n uint8) {
	for n > 0 {
		if w.free == 0 {
			w.buf = append(w.buf, 0)
			w.free = 8
		}
		take := min(n, w.free)
		chunk := byte(v>>(n-take)) & byte(1<<take-1)
		w.buf[len(w.buf)-1] |= chunk << (w.free - take)
		w.free -= take
		n -= take
	}
}

// pos is the number of bits written.
func (w *bitWriter) pos() int { return len(w.buf)*8 - int(w.free) }

func (w *bitWriter) bit(b bool) {
	if b {
		w.write(1, 1)
	} else {
		w.write(0, 1)
	}
}

// bitReader reads what bitWriter wrote. Reading past the end sets err and
// returns zeros, so a decoder checks err once per point instead of per field.
// A read loads the 8 bytes at its position at once (decoding is the cost of
// every read of storage), one byte at a time only near the end.
type bitReader struct {
	buf []byte
	pos uint64 // bit position
	err error
}

// word returns the 64 bits of buf starting at byte i, zeros past the end.
func (r *bitReader) word(i uint64) uint64 {
	if i+8 <= uint64(len(r.buf)) {
		return binary.BigEndian.Uint64(r.buf[i:])
	}
	var w uint64
	for k := uint64(0); k < 8; k++ {
		w <<= 8
		if i+k < uint64(len(r.buf)) {
			w |= uint64(r.buf[i+k])
		}
	}
	return w
}

// read returns the next n bits (n ≤ 64).
func (r *bitReader) read(n uint8) uint64 {
	if r.err != nil || n == 0 {
		return 0
	}
	if r.pos+uint64(n) > uint64(len(r.buf))*8 {
		r.err = ErrTruncated
		return 0
	}
	i, shift := r.pos>>3, uint8(r.pos&7)
	v := r.word(i) << shift >> (64 - n)
	if shift+n > 64 { // the last bits are in a ninth byte
		extra := shift + n - 64
		v |= uint64(r.buf[i+8] >> (8 - extra))
	}
	r.pos += uint64(n)
	return v
}

func (r *bitReader) bit() bool {
	if r.err != nil {
		return false
	}
	if r.pos >= uint64(len(r.buf))*8 {
		r.err = ErrTruncated
		return false
	}
	b := r.buf[r.pos>>3] >> (7 - r.pos&7) & 1
	r.pos++
	return b == 1
}

// ones counts the 1 bits before the next 0, up to limit, and consumes them
// and the 0 (not the 0 when limit ones came first).
func (r *bitReader) ones(limit int) int {
	if r.err != nil {
		return 0
	}
	left := uint64(len(r.buf))*8 - r.pos
	w := r.word(r.pos>>3) << (r.pos & 7) // at least 57 valid bits
	n := bits.LeadingZeros64(^w)
	if n >= limit {
		n = limit
		if uint64(n) > left {
			r.err = ErrTruncated
			return 0
		}
		r.pos += uint64(n)
		return n
	}
	if uint64(n)+1 > left {
		r.err = ErrTruncated
		return 0
	}
	r.pos += uint64(n) + 1
	return n
}

// xorState is one float field's Gorilla state: the previous value and the
// window of meaningful bits the previous XOR used.
type xorState struct {
	prev     uint64
	leading  uint8
	trailing uint8
	started  bool
}

// putXOR writes v as Gorilla does: '0' when unchanged; '10' and the
// meaningful bits when they fit the previous window; '11', 5 bits of leading
// zeros, 6 bits of length and the bits otherwise.
func (s *xorState) put(w *bitWriter, v uint64) {
	x := v ^ s.prev
	s.prev = v
	if x == 0 {
		w.bit(false)
		return
	}
	w.bit(true)
	lead := uint8(min(bits.LeadingZeros64(x), 31))
	trail := uint8(bits.TrailingZeros64(x))
	if s.started && lead >= s.leading && trail >= s.trailing {
		w.bit(false)
		w.write(x>>s.trailing, 64-s.leading-s.trailing)
		return
	}
	w.bit(true)
	sig := 64 - lead - trail
	w.write(uint64(lead), 5)
	w.write(uint64(sig-1), 6) // 1..64 in six bits
	w.write(x>>trail, sig)
	s.leading, s.trailing, s.started = lead, trail, true
}

// cost is the bits put would write for v; it updates s as put does.
func (s *xorState) cost(v uint64) int {
	x := v ^ s.prev
	s.prev = v
	if x == 0 {
		return 1
	}
	lead := uint8(min(bits.LeadingZeros64(x), 31))
	trail := uint8(bits.TrailingZeros64(x))
	if s.started && lead >= s.leading && trail >= s.trailing {
		return 2 + int(64-s.leading-s.trailing)
	}
	s.leading, s.trailing, s.started = lead, trail, true
	return 2 + 11 + int(64-lead-trail)
}

func (s *xorState) get(r *bitReader) uint64 {
	if !r.bit() {
		return s.prev
	}
	if !r.bit() {
		if !s.started {
			r.err = ErrCorrupt
			return 0
		}
		x := r.read(64-s.leading-s.trailing) << s.trailing
		s.prev ^= x
		return s.prev
	}
	lead := uint8(r.read(5))
	sig := uint8(r.read(6)) + 1
	if int(lead)+int(sig) > 64 {
		r.err = ErrCorrupt
		return 0
	}
	trail := 64 - lead - sig
	x := r.read(sig) << trail
	s.prev ^= x
	s.leading, s.trailing, s.started = lead, trail, true
	return s.prev
}

// Signed values in prefix-coded buckets: '0' for zero; '10', '110', '1110'
// and '11110' followed by the zigzag value in 7, 14, 24 or 40 bits; '11111'
// and 64 bits.
var buckets = [...]uint8{7, 14, 24, 40}

func putSigned(w *bitWriter, v int64) { putInt(w, v, buckets[:]) }

func getSigned(r *bitReader) int64 { return getInt(r, buckets[:]) }

// valueBuckets are the widths of version 2's decimal deltas, finer than
// buckets for the small steps of counters and gauges. putInt and getInt
// code either: '0' for zero, then k ones, a zero and the zigzag value in
// widths[k-1] bits; len+1 ones and 64 bits.
var valueBuckets = [...]uint8{4, 8, 12, 16, 24, 32, 48}

func putInt(w *bitWriter, v int64, widths []uint8) {
	if v == 0 {
		w.bit(false)
		return
	}
	z := uint64(v<<1) ^ uint64(v>>63) // zigzag
	for i, width := range widths {
		if z < 1<<width {
			w.write(1<<(i+2)-2, uint8(i+2)) // i+1 ones, then a zero
			w.write(z, width)
			return
		}
	}
	w.write(1<<(len(widths)+1)-1, uint8(len(widths)+1))
	w.write(z, 64)
}

// intBits is the bits putInt writes for v.
func intBits(v int64, widths []uint8) int {
	if v == 0 {
		return 1
	}
	z := uint64(v<<1) ^ uint64(v>>63)
	for i, width := range widths {
		if z < 1<<width {
			return i + 2 + int(width)
		}
	}
	return len(widths) + 1 + 64
}

func getInt(r *bitReader, widths []uint8) int64 {
	// The prefix and the value from one load of the 57 or more bits at the
	// position (every width but 64 fits); ones and read otherwise.
	if r.err == nil {
		w := r.word(r.pos>>3) << (r.pos & 7)
		ones := bits.LeadingZeros64(^w)
		if ones == 0 {
			if r.pos >= uint64(len(r.buf))*8 {
				r.err = ErrTruncated
				return 0
			}
			r.pos++
			return 0
		}
		if ones <= len(widths) {
			width := widths[ones-1]
			if n := uint64(ones) + 1 + uint64(width); n <= 57 && r.pos+n <= uint64(len(r.buf))*8 {
				z := w << (ones + 1) >> (64 - width)
				r.pos += n
				return int64(z>>1) ^ -int64(z&1)
			}
		}
	}
	ones := r.ones(len(widths) + 1)
	if ones == 0 {
		return 0
	}
	width := uint8(64)
	if ones <= len(widths) {
		width = widths[ones-1]
	}
	z := r.read(width)
	return int64(z>>1) ^ -int64(z&1)
}
