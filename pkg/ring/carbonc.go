package ring

import (
	"crypto/md5"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// cRing is carbon-c-relay's carbon_ch or fnv1a_ch (3.x), as docs/hashing.md
// defines:
//
//   - Each member gets 100 entries, in configuration order. carbon_ch hashes
//     "('<host>', None):<i>" or "('<host>', '<instance>'):<i>" (never the
//     port) with MD5, position = first two digest bytes big endian. fnv1a_ch
//     hashes "<i>-<host>:<port>", or "<i>-<instance>" when there is one, with
//     FNV-1a 32 over bytes read as signed chars, folded (h>>16)^(h&0xffff).
//   - Entries sort by position; ties by host text (bytewise), then for
//     carbon_ch by instance (an absent instance after a present one) and for
//     fnv1a_ch by port; remaining ties keep insertion order. Then every entry
//     whose position equals the previous entry's takes that entry's member,
//     so the first of a run of equal positions owns it (no probing).
//   - A key goes to the first entry at or after its position, wrapping;
//     replicas walk forward to the next distinct members.
type cRing struct {
	algo    Algorithm
	members []Member
	opt     Options
	ring    points
	idx     index
}

type cEntry struct {
	pos    uint64
	member int32
	seq    int32 // insertion order, for a stable tie-break
}

// cInstance is the instance as carbon-c-relay's config parser keeps it: a
// bare integer is normalised ("007" becomes "7").
func cInstance(s string) string {
	if n, ok := cStrtol(s); ok {
		return strconv.FormatInt(n, 10)
	}
	return s
}

// cStrtol reads s as strtol does when the whole string must be consumed:
// optional leading white space and sign, then base-10 digits.
func cStrtol(s string) (int64, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	if t == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || strings.HasPrefix(t, "+-") {
		return 0, false
	}
	return n, true
}

func newCRing(algo Algorithm, ms []Member, opt Options) *cRing {
	r := &cRing{algo: algo, members: ms, opt: opt}
	entries := make([]cEntry, 0, carbonReplicas*len(ms))
	insts := make([]string, len(ms))
	var buf []byte
	for mi, m := range ms {
		insts[mi] = cInstance(m.Instance)
		for i := 0; i < carbonReplicas; i++ {
			buf = buf[:0]
			switch {
			case m.HashKey != "" && algo == CarbonC:
				buf = append(buf, m.HashKey...)
				buf = append(buf, ':')
				buf = strconv.AppendInt(buf, int64(i), 10)
			case algo == CarbonC:
				buf = append(buf, "('"...)
				buf = append(buf, m.Host...)
				if insts[mi] == "" {
					buf = append(buf, "', None):"...)
				} else {
					buf = append(buf, "', '"...)
					buf = append(buf, insts[mi]...)
					buf = append(buf, "'):"...)
				}
				buf = strconv.AppendInt(buf, int64(i), 10)
			default: // FNV1aC
				buf = strconv.AppendInt(buf, int64(i), 10)
				buf = append(buf, '-')
				switch {
				case m.HashKey != "":
					buf = append(buf, m.HashKey...)
				case insts[mi] != "":
					buf = append(buf, insts[mi]...)
				default:
					buf = append(buf, m.Host...)
					buf = append(buf, ':')
					buf = strconv.AppendInt(buf, int64(m.Port), 10)
				}
			}
			if len(buf) > 255 {
				buf = buf[:255] // carbon-c-relay builds these in a 256-byte buffer
			}
			entries = append(entries, cEntry{pos: r.Position(buf), member: int32(mi), seq: int32(len(entries))})
		}
	}
	slices.SortFunc(entries, func(a, b cEntry) int {
		if a.pos != b.pos {
			if a.pos < b.pos {
				return -1
			}
			return 1
		}
		ma, mb := ms[a.member], ms[b.member]
		if c := strings.Compare(ma.Host, mb.Host); c != 0 {
			return c
		}
		if algo == CarbonC {
			ia, ib := insts[a.member], insts[b.member]
			switch {
			case ia == "" && ib != "":
				return 1
			case ia != "" && ib == "":
				return -1
			case ia != "" && ib != "":
				if c := strings.Compare(ia, ib); c != 0 {
					return c
				}
			}
		} else if ma.Port != mb.Port {
			return ma.Port - mb.Port
		}
		return int(a.seq - b.seq)
	})
	r.ring = make(points, len(entries))
	for i, e := range entries {
		r.ring[i] = point{pos: e.pos, member: e.member}
		if i > 0 && e.pos == r.ring[i-1].pos {
			r.ring[i].member = r.ring[i-1].member
		}
	}
	r.idx = newIndex(r.ring, 16)
	return r
}

func (r *cRing) Algorithm() Algorithm { return r.algo }
func (r *cRing) Members() []Member    { return r.members }
func (r *cRing) Options() Options     { return r.opt }

func (r *cRing) Position(key []byte) uint64 {
	if r.algo == FNV1aC {
		h := fnv1a32Signed(key)
		return uint64((h >> 16) ^ (h & 0xffff))
	}
	sum := md5.Sum(key)
	return uint64(binary.BigEndian.Uint16(sum[:2]))
}

// GetN walks the ring from the key's entry. Where the ring holds fewer
// distinct members than n (members sharing all their positions), it returns
// what there is; carbon-c-relay would loop forever there.
func (r *cRing) GetN(dst []int, key []byte, n int) []int {
	return r.ring.walk(dst, r.idx.search(r.ring, r.Position(key)), n, len(r.members))
}

// fnv1a32Signed is carbon-c-relay's FNV-1a 32: each byte is read as a signed
// char, so bytes >= 0x80 are XORed in sign-extended.
func fnv1a32Signed(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(int32(int8(c)))
		h *= 16777619
	}
	return h
}

// fnv1a64Signed is carbon-c-relay's FNV-1a 64 with signed-char bytes.
func fnv1a64Signed(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(int64(int8(c)))
		h *= 1099511628211
	}
	return h
}

// jumpRing is carbon-c-relay's jump_fnv1a_ch: no ring, a bucket list of the
// members (those with an instance first, sorted by instance, numerically when
// both are integers; then the others in configuration order), the key's
// signed FNV-1a 64 hash, and Lamping and Veach's jump hash computed in double
// precision. Each replica removes its bucket (swap with the last) and
// xorshift-multiplies the hash before the next jump.
type jumpRing struct {
	members []Member
	opt     Options
	buckets []int32
}

func newJump(ms []Member, opt Options) *jumpRing {
	r := &jumpRing{members: ms, opt: opt}
	var with, without []int32
	for i, m := range ms {
		if m.Instance != "" {
			with = append(with, int32(i))
		} else {
			without = append(without, int32(i))
		}
	}
	slices.SortStableFunc(with, func(a, b int32) int {
		ia, ib := ms[a].Instance, ms[b].Instance
		na, oka := cStrtol(ia)
		nb, okb := cStrtol(ib)
		if oka && okb {
			switch {
			case na < nb:
				return -1
			case na > nb:
				return 1
			}
			return 0
		}
		return strings.Compare(ia, ib)
	})
	r.buckets = append(with, without...)
	return r
}

func (r *jumpRing) Algorithm() Algorithm { return JumpFNV1aC }
func (r *jumpRing) Members() []Member    { return r.members }
func (r *jumpRing) Options() Options     { return r.opt }

func (r *jumpRing) Position(key []byte) uint64 { return fnv1a64Signed(key) }

// jumpHash is the jump consistent hash with carbon-c-relay's arithmetic.
func jumpHash(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

func (r *jumpRing) GetN(dst []int, key []byte, n int) []int {
	if n > len(r.buckets) {
		n = len(r.buckets)
	}
	h := fnv1a64Signed(key)
	if n == 1 {
		return append(dst, int(r.buckets[jumpHash(h, len(r.buckets))]))
	}
	var local [64]int32
	list := append(local[:0], r.buckets...)
	for k := 0; k < n; k++ {
		j := jumpHash(h, len(list))
		dst = append(dst, int(list[j]))
		h ^= h >> 12
		h ^= h << 25
		h ^= h >> 27
		h *= 2685821657736338717
		list[j] = list[len(list)-1]
		list = list[:len(list)-1]
	}
	return dst
}
