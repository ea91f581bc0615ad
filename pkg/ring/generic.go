package ring

import (
	"hash/crc32"
	"strconv"
)

// DefaultVirtualNodes is the number of points per member of a generic ring.
const DefaultVirtualNodes = 100

// generic is a ring of 32-bit positions over murmur3, crc32 or fnv1a. Member
// m's point i is the hash of `<id>-<i>`, where id is m.HashKey or else
// m.String(); points that collide are ordered by member index. A key goes to
// the first point at or after its hash, wrapping; replicas walk forward to the
// next distinct members.
type generic struct {
	algo    Algorithm
	members []Member
	opt     Options
	hash    func([]byte) uint32
	ring    points
	idx     index
}

func newGeneric(algo Algorithm, ms []Member, opt Options) (Ring, error) {
	g := &generic{algo: algo, members: ms, opt: opt}
	switch algo {
	case Murmur3:
		g.hash = murmur3Sum32
	case CRC32:
		g.hash = crc32.ChecksumIEEE
	case FNV1a:
		g.hash = fnv1a32
	}
	vn := opt.VirtualNodes
	if vn <= 0 {
		vn = DefaultVirtualNodes
	}
	g.ring = make(points, 0, vn*len(ms))
	var buf []byte
	for mi, m := range ms {
		id := m.HashKey
		if id == "" {
			id = m.String()
		}
		for i := 0; i < vn; i++ {
			buf = strconv.AppendInt(append(append(buf[:0], id...), '-'), int64(i), 10)
			g.ring = append(g.ring, point{pos: uint64(g.hash(buf)), member: int32(mi)})
		}
	}
	sortPoints(g.ring)
	g.idx = newIndex(g.ring, 32)
	return g, nil
}

func (g *generic) Algorithm() Algorithm { return g.algo }
func (g *generic) Members() []Member    { return g.members }
func (g *generic) Options() Options     { return g.opt }

func (g *generic) Position(key []byte) uint64 { return uint64(g.hash(key)) }

func (g *generic) GetN(dst []int, key []byte, n int) []int {
	return g.ring.walk(dst, g.idx.search(g.ring, uint64(g.hash(key))), n, len(g.members))
}

// fnv1a32 is 32-bit FNV-1a over bytes (treated as unsigned).
func fnv1a32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// Shard returns the NATS shard of key among n shards: murmur3 x86_32 of the
// key modulo n. The relay publishes with it and the aggregator subscribes
// with it, so both must call this one function.
func Shard(key []byte, n int) int {
	return int(murmur3Sum32(key) % uint32(n))
}

// Murmur3Sum32 is MurmurHash3 x86_32 with seed 0 over b, for rendezvous hashing
// of shards over aggregators.
func Murmur3Sum32(b []byte) uint32 { return murmur3Sum32(b) }
