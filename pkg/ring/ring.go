// Package ring holds consthash's consistent-hash rings: the only place that
// hashes metric keys to destinations. Each algorithm reproduces a peer bit for
// bit (carbon-relay.py, carbon-c-relay, statsd's proxy.js) or is one of the
// generic rings over murmur3, crc32 and fnv1a. docs/hashing.md defines each.
//
// A Ring is immutable and safe for concurrent use; adding or removing a
// member builds a new Ring, so a relay swaps rings atomically.
package ring

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Algorithm names a ring kind as configuration spells it.
type Algorithm string

// The ring algorithms.
const (
	CarbonPy    Algorithm = "carbon_ch"       // carbon-relay.py (graphite-carbon 1.1)
	CarbonPyFNV Algorithm = "carbon_fnv1a_ch" // carbon-relay.py with ROUTER_HASH_TYPE = fnv1a_ch
	CarbonC     Algorithm = "carbon_c_ch"     // carbon-c-relay's carbon_ch
	FNV1aC      Algorithm = "fnv1a_ch"        // carbon-c-relay's fnv1a_ch
	JumpFNV1aC  Algorithm = "jump_fnv1a_ch"   // carbon-c-relay's jump_fnv1a_ch
	Statsd      Algorithm = "statsd"          // statsd proxy.js (npm hashring 3.2.0)
	Murmur3     Algorithm = "murmur3"         // generic ring over murmur3 x86_32
	CRC32       Algorithm = "crc32"           // generic ring over CRC-32 (IEEE)
	FNV1a       Algorithm = "fnv1a"           // generic ring over FNV-1a 32
)

// Algorithms lists every algorithm, for configuration validation and help.
func Algorithms() []Algorithm {
	return []Algorithm{CarbonPy, CarbonPyFNV, CarbonC, FNV1aC, JumpFNV1aC, Statsd, Murmur3, CRC32, FNV1a}
}

// Options tune a ring. The zero value gives every algorithm its peer's
// defaults.
type Options struct {
	// VirtualNodes is the number of points per member for the generic rings
	// (default 100). The peer-compatible rings ignore it.
	VirtualNodes int
	// Diverse makes carbon-relay.py's ring place replicas on distinct hosts
	// (its DIVERSE_REPLICAS).
	Diverse bool
}

// Ring maps a key to its members.
type Ring interface {
	// Algorithm returns the ring's kind.
	Algorithm() Algorithm
	// Members returns the members in the order they were given. The caller
	// must not modify the slice.
	Members() []Member
	// GetN appends to dst the indexes into Members of up to n distinct
	// members for key, most preferred first, and returns the extended slice.
	// It allocates nothing when dst has room.
	GetN(dst []int, key []byte, n int) []int
	// Position returns the key's hash as the algorithm computes it, for
	// diagnostics such as the relay's /hashcheck.
	Position(key []byte) uint64
	// Options returns the options the ring was built with.
	Options() Options
}

// New builds a ring of the given algorithm over members.
func New(algo Algorithm, members []Member, opt Options) (Ring, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("ring %s: no members", algo)
	}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.String()] {
			return nil, fmt.Errorf("ring %s: member %s is listed twice", algo, m)
		}
		seen[m.String()] = true
	}
	ms := append([]Member(nil), members...)
	switch algo {
	case Murmur3, CRC32, FNV1a:
		return newGeneric(algo, ms, opt)
	case CarbonPy, CarbonPyFNV:
		return newCarbonPy(algo, ms, opt), nil
	case CarbonC, FNV1aC:
		return newCRing(algo, ms, opt), nil
	case JumpFNV1aC:
		return newJump(ms, opt), nil
	case Statsd:
		return newStatsd(ms, opt), nil
	}
	names := make([]string, 0, len(Algorithms()))
	for _, a := range Algorithms() {
		names = append(names, string(a))
	}
	return nil, fmt.Errorf("unknown ring algorithm %q: want one of %s", algo, strings.Join(names, ", "))
}

// With returns a new ring like r with m added.
func With(r Ring, m Member) (Ring, error) {
	return New(r.Algorithm(), append(append([]Member(nil), r.Members()...), m), r.Options())
}

// Without returns a new ring like r without the member whose String() is s.
func Without(r Ring, s string) (Ring, error) {
	ms := make([]Member, 0, len(r.Members()))
	for _, m := range r.Members() {
		if m.String() != s {
			ms = append(ms, m)
		}
	}
	if len(ms) == len(r.Members()) {
		return nil, fmt.Errorf("ring %s: no member %s", r.Algorithm(), s)
	}
	return New(r.Algorithm(), ms, r.Options())
}

// point is one position of a member on a sorted ring.
type point struct {
	pos    uint64
	member int32
}

// points is a ring of positions sorted ascending.
type points []point

// sortPoints sorts by position, then by member index (configuration order).
func sortPoints(ps points) {
	slices.SortStableFunc(ps, func(a, b point) int {
		if a.pos != b.pos {
			if a.pos < b.pos {
				return -1
			}
			return 1
		}
		return int(a.member - b.member)
	})
}

// search returns the index of the first point whose position is >= pos,
// wrapping to 0 past the end.
func (ps points) search(pos uint64) int {
	i := sort.Search(len(ps), func(i int) bool { return ps[i].pos >= pos })
	if i == len(ps) {
		return 0
	}
	return i
}

// index answers points.search with a table lookup instead of a binary
// search: first[b] is the index of the first point at or after b<<shift, for
// each of the 65,536 values b of a key position's top 16 bits. For rings
// whose key positions are 16 bits (carbon's, carbon-c-relay's) the table is
// the answer; for 32-bit positions a bucket holds a point or two, walked
// forward. 128 KiB per ring, built with the ring.
type index struct {
	first []uint16 // nil: too many points for uint16, binary search instead
	shift uint
}

// indexBuckets is the table's size: the top 16 bits of a position.
const indexBuckets = 1 << 16

// newIndex builds the table of ps, sorted, for key positions of posBits bits
// (16 or 32).
func newIndex(ps points, posBits uint) index {
	if len(ps) >= indexBuckets {
		return index{}
	}
	x := index{first: make([]uint16, indexBuckets), shift: posBits - 16}
	i := 0
	for b := range x.first {
		lo := uint64(b) << x.shift
		for i < len(ps) && ps[i].pos < lo {
			i++
		}
		x.first[b] = uint16(i)
	}
	return x
}

// search is ps.search(pos) for the ps the index was built from.
func (x *index) search(ps points, pos uint64) int {
	b := pos >> x.shift
	if x.first == nil || b >= indexBuckets {
		return ps.search(pos)
	}
	i := int(x.first[b])
	for i < len(ps) && ps[i].pos < pos {
		i++
	}
	if i == len(ps) {
		return 0
	}
	return i
}

// walk appends to dst up to n distinct members met walking forward from
// index start (of ps, as search returns), wrapping once around the ring.
func (ps points) walk(dst []int, start, n, members int) []int {
	if n > members {
		n = members
	}
	base := len(dst)
	i := start // an index of ps: search's answer
	for k := 0; k < len(ps) && len(dst)-base < n; k++ {
		m := int(ps[i].member)
		if !contains(dst[base:], m) {
			dst = append(dst, m)
		}
		if i++; i == len(ps) { // wrap without a division per step
			i = 0
		}
	}
	return dst
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
