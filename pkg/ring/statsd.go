package ring

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

// statsdRing is the ring of Etsy statsd's proxy.js: npm hashring 3.2.0
// configured with every node at weight 100, the md5 algorithm and replicas
// 0 (which hashring raises to 1), as docs/hashing.md defines:
//
//   - Each member "host:port" (or its HashKey) gets
//     floor((100/(100*n)) * 40 * n) points, computed in float64 (40, except
//     39 for n = 7, 14, 28, ...). Point i is the first four bytes of
//     MD5("<member>-<i>") read little endian.
//   - Points sort by value, stably (member order, then i).
//   - A key (the text before the first ':' of a statsd line, which the
//     relay extracts) goes to the first point at or after the little-endian
//     uint32 of its MD5's first four bytes, wrapping. Replicas follow
//     hashring's range(): the next distinct members in ring order.
type statsdRing struct {
	members []Member
	opt     Options
	ring    points
	idx     index
}

// statsdVnodes is hashring's default vnode count.
const statsdVnodes = 40

func newStatsd(ms []Member, opt Options) *statsdRing {
	r := &statsdRing{members: ms, opt: opt}
	n := float64(len(ms))
	weight := 100.0
	per := int(math.Floor((weight / (weight * n)) * statsdVnodes * n))
	var buf []byte
	for mi, m := range ms {
		id := m.HashKey
		if id == "" {
			id = m.Host + ":" + strconv.Itoa(m.Port)
		}
		for i := 0; i < per; i++ {
			buf = strconv.AppendInt(append(append(buf[:0], id...), '-'), int64(i), 10)
			r.ring = append(r.ring, point{pos: r.Position(buf), member: int32(mi)})
		}
	}
	slices.SortStableFunc(r.ring, func(a, b point) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})
	r.idx = newIndex(r.ring, 32)
	return r
}

func (r *statsdRing) Algorithm() Algorithm { return Statsd }
func (r *statsdRing) Members() []Member    { return r.members }
func (r *statsdRing) Options() Options     { return r.opt }

func (r *statsdRing) Position(key []byte) uint64 {
	sum := md5.Sum(key)
	return uint64(binary.LittleEndian.Uint32(sum[:4]))
}

func (r *statsdRing) GetN(dst []int, key []byte, n int) []int {
	return r.ring.walk(dst, r.idx.search(r.ring, r.Position(key)), n, len(r.members))
}
