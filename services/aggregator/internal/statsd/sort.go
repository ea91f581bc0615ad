package statsd

import (
	"math"
	"slices"
)

// radixMin is the number of samples from which a timer's samples are sorted
// by radix (linear time) instead of by comparisons (n log n).
const radixMin = 256

// sortFloats sorts vs (no NaN) in ascending order and returns the scratch
// buffer it used, for the next call. Equal values compare equal either way;
// only -0 and +0 may come out in another order than a stable sort's, which no
// statistic can tell apart (both print "0").
//
// Above radixMin samples it is an LSD radix sort over the values' bits
// mapped to order-preserving unsigned keys, 11 bits per pass, skipping the
// passes whose digit is the same in every key (timings share their high bits).
func sortFloats(vs []float64, scratch []uint64) []uint64 {
	n := len(vs)
	if n < radixMin {
		slices.Sort(vs)
		return scratch
	}
	scratch = slices.Grow(scratch[:0], 2*n)[:2*n]
	keys, tmp := scratch[:n], scratch[n:]
	for i, v := range vs {
		b := math.Float64bits(v)
		if b>>63 != 0 {
			b = ^b // negative: larger magnitudes first
		} else {
			b |= 1 << 63
		}
		keys[i] = b
	}
	const bits, buckets = 11, 1 << 11
	var count [buckets]int
	for shift := uint(0); shift < 64; shift += bits {
		clear(count[:])
		for _, k := range keys {
			count[(k>>shift)&(buckets-1)]++
		}
		if count[(keys[0]>>shift)&(buckets-1)] == n {
			continue // every key has this digit
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k >> shift) & (buckets - 1)
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, b := range keys {
		if b>>63 != 0 {
			b &^= 1 << 63
		} else {
			b = ^b
		}
		vs[i] = math.Float64frombits(b)
	}
	return scratch
}
