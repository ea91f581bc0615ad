package ring

import (
	"crypto/md5"
	"encoding/binary"
	"strconv"
	"strings"
)

// carbonPy is carbon-relay.py's ConsistentHashRing with its
// ConsistentHashingRouter (graphite-carbon 1.1), as docs/hashing.md defines:
//
//   - A member is the node (server, instance): the host without the port,
//     and the instance or Python's None. With carbon_ch each of its 100 ring
//     points hashes the text "%s:%d" % (node, i), that is Python's str() of
//     the tuple, e.g. "('10.0.0.1', None):7"; with fnv1a_ch it hashes
//     "%d-%s" % (i, instance), e.g. "7-None".
//   - carbon_ch positions are the first two bytes of the MD5 digest (big
//     endian); fnv1a_ch positions fold FNV-1a 32 to 16 bits, (h>>16)^(h&0xffff).
//   - A point landing on a taken position moves to the next free one,
//     position+1, without wrapping (so positions may exceed 65535); members
//     are inserted in configuration order, which decides who moves.
//   - A key goes to the first point at or after its position (bisect_left),
//     wrapping; replicas are the next distinct members walking forward, over
//     at most all points but one (the walk stops before the point it started
//     behind). With diverse replicas a member whose host was already chosen is
//     skipped.
type carbonPy struct {
	algo    Algorithm
	members []Member
	opt     Options
	ring    points
	idx     index // key positions are 16 bits; ring points may be above (probing)
}

const carbonReplicas = 100

func newCarbonPy(algo Algorithm, ms []Member, opt Options) *carbonPy {
	r := &carbonPy{algo: algo, members: ms, opt: opt, ring: make(points, 0, carbonReplicas*len(ms))}
	taken := make(map[uint64]bool, carbonReplicas*len(ms))
	var buf []byte
	for mi, m := range ms {
		for i := 0; i < carbonReplicas; i++ {
			if algo == CarbonPyFNV {
				buf = strconv.AppendInt(buf[:0], int64(i), 10)
				buf = append(buf, '-')
				switch {
				case m.HashKey != "":
					buf = append(buf, m.HashKey...)
				case m.Instance != "":
					buf = append(buf, m.Instance...)
				default:
					buf = append(buf, "None"...)
				}
			} else {
				if m.HashKey != "" {
					buf = append(buf[:0], m.HashKey...)
				} else {
					buf = appendPyNode(buf[:0], m.Host, m.Instance)
				}
				buf = append(buf, ':')
				buf = strconv.AppendInt(buf, int64(i), 10)
			}
			pos := r.Position(buf)
			for taken[pos] {
				pos++
			}
			taken[pos] = true
			r.ring = append(r.ring, point{pos: pos, member: int32(mi)})
		}
	}
	sortPoints(r.ring)
	r.idx = newIndex(r.ring, 16)
	return r
}

func (r *carbonPy) Algorithm() Algorithm { return r.algo }
func (r *carbonPy) Members() []Member    { return r.members }
func (r *carbonPy) Options() Options     { return r.opt }

// Position is carbonHash(key, hash_type).
func (r *carbonPy) Position(key []byte) uint64 {
	if r.algo == CarbonPyFNV {
		h := fnv1a32(key)
		return uint64((h >> 16) ^ (h & 0xffff))
	}
	sum := md5.Sum(key)
	return uint64(binary.BigEndian.Uint16(sum[:2]))
}

func (r *carbonPy) GetN(dst []int, key []byte, n int) []int {
	if n > len(r.members) {
		n = len(r.members)
	}
	if n <= 0 {
		return dst
	}
	if len(r.members) == 1 {
		return append(dst, 0)
	}
	base := len(dst)
	start := r.idx.search(r.ring, r.Position(key))
	for k := 0; k < len(r.ring)-1 && len(dst)-base < n; k++ {
		m := int(r.ring[(start+k)%len(r.ring)].member)
		if contains(dst[base:], m) {
			continue
		}
		if r.opt.Diverse && r.hostTaken(dst[base:], m) {
			continue
		}
		dst = append(dst, m)
	}
	return dst
}

// hostTaken reports whether a member on m's host is among chosen.
func (r *carbonPy) hostTaken(chosen []int, m int) bool {
	for _, c := range chosen {
		if r.members[c].Host == r.members[m].Host {
			return true
		}
	}
	return false
}

// appendPyNode appends Python's str() of the tuple (host, instance), with
// None for no instance: ('10.0.0.1', 'a') or ('10.0.0.1', None).
func appendPyNode(b []byte, host, instance string) []byte {
	b = append(b, '(')
	b = appendPyRepr(b, host)
	b = append(b, ", "...)
	if instance == "" {
		b = append(b, "None"...)
	} else {
		b = appendPyRepr(b, instance)
	}
	return append(b, ')')
}

// appendPyRepr appends Python 3's repr() of a str: single quotes unless the
// text holds a single quote and no double quote; backslash, the quote,
// \t \n \r escaped; other ASCII control characters as \xNN. Non-ASCII
// characters are kept as they are (Python keeps the printable ones).
func appendPyRepr(b []byte, s string) []byte {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b = append(b, q)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, `\t`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, q)
}
