package line

import "math"

// CRelayAllowed is carbon-c-relay's default set of characters allowed in a
// metric name besides letters and digits (its -c option).
const CRelayAllowed = "-_:#"

// CRelayNormalizer rewrites graphite lines as carbon-c-relay 3.x's
// dispatcher does before routing them, so that a consthash relay replacing it
// hashes the same bytes and forwards the same lines. docs/hashing.md gives the
// rules; in short: leading separators go, runs of spaces and dots collapse, a
// dot before the first space goes, a byte of the name that is not a letter,
// digit or allowed character becomes '_', and the name hashed stops at the
// first ';' (tags are forwarded, not hashed).
type CRelayNormalizer struct {
	allowed [256]bool
	tags    bool
	plain   [256]bool // Unchanged: name bytes kept as they are (allowed, not ';')
	rest    [256]bool // Unchanged: bytes after the name kept without a look at their neighbours
}

// NewCRelayNormalizer returns a normalizer for the given allowed set ("" for
// CRelayAllowed). As in carbon-c-relay, a set that contains ';' turns tag
// handling off.
func NewCRelayNormalizer(allowed string) *CRelayNormalizer {
	if allowed == "" {
		allowed = CRelayAllowed
	}
	n := &CRelayNormalizer{tags: true}
	for i := 0; i < len(allowed); i++ {
		n.allowed[allowed[i]] = true
		if allowed[i] == ';' {
			n.tags = false
		}
	}
	for c := '0'; c <= '9'; c++ {
		n.allowed[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		n.allowed[c] = true
		n.allowed[c-'a'+'A'] = true
	}
	n.allowed[0] = false
	for c := range 256 {
		n.plain[c] = n.allowed[c] && c != ';'
		switch c {
		case ' ', '.', ';', '\t', '\r', '\n', 0:
		default:
			n.rest[c] = true
		}
	}
	return n
}

// Normalize appends the rewritten line to dst and returns it with hashLen,
// the length of its prefix that the ring hashes. ok is false when
// carbon-c-relay would discard the line (empty, or no space after the name).
// The line ends at its first '\n' or '\r'.
func (n *CRelayNormalizer) Normalize(dst, line []byte) (out []byte, hashLen int, ok bool) {
	base := len(dst)
	fs := -1 // index in out (relative to base) of the first space or ';'
	tags := n.tags
	for _, c := range line {
		if c == '\n' || c == '\r' {
			break
		}
		if c == '\t' {
			c = ' '
		}
		o := len(dst) - base
		switch {
		case c == ' ' || c == '.':
			if o == 0 {
				continue
			}
			if c == ' ' && fs < 0 {
				if dst[len(dst)-1] == '.' {
					dst = dst[:len(dst)-1]
				}
				fs = len(dst) - base
				dst = append(dst, ' ')
				continue
			}
			if last := dst[len(dst)-1]; last != c && o-1 != fs {
				dst = append(dst, c)
			}
		case c == ';' && tags:
			fs = o
			dst = append(dst, ';')
			tags = false
		case c != 0 && (fs >= 0 || n.allowed[c]):
			dst = append(dst, c)
		default:
			dst = append(dst, '_')
		}
	}
	if len(dst) == base || fs < 0 {
		return dst[:base], 0, false
	}
	return dst, fs, true
}

// Unchanged returns hashLen and true when Normalize would give line back
// byte for byte with ok true: the common well-formed line, which the relay
// can then forward without copying it. false means nothing (Normalize
// decides); it is answered for lines that need a rewrite and for every line
// with a ';', '\t', '\r', '\n' or NUL.
func (n *CRelayNormalizer) Unchanged(line []byte) (hashLen int, ok bool) {
	fs, ok := n.nameEnd(line)
	if !ok {
		return 0, false
	}
	// After it, runs of spaces and of dots collapse, and a space or dot
	// right after the first space goes.
	for j := fs + 1; j < len(line); j++ {
		c := line[j]
		if n.rest[c] {
			continue
		}
		if c != ' ' && c != '.' || j == fs+1 || line[j-1] == c {
			return 0, false
		}
	}
	return fs, true
}

// nameEnd returns the index of the first space, ending a name that
// Normalize leaves as it is: runs of plain bytes, each run ended by one '.',
// the last by the first space. An empty run is a leading dot or space, ".."
// or ". ", all of which Normalize rewrites (ok false).
func (n *CRelayNormalizer) nameEnd(line []byte) (int, bool) {
	i := 0
	for {
		start := i
		for i < len(line) && n.plain[line[i]] {
			i++
		}
		if i == start || i == len(line) {
			return 0, false
		}
		if line[i] == ' ' {
			return i, true
		}
		if line[i] != '.' {
			return 0, false
		}
		i++
	}
}

// ParseUnchanged is Unchanged and then ParseGraphiteKeyed in one pass over
// the common line, `name value [timestamp]` with single spaces: ok true
// means Unchanged(line) is (hashLen, true) and ParseGraphiteKeyed(line,
// hashLen, g) returned nil, with g set as it sets it. ok false means
// nothing (g is untouched): the caller takes the general path, which
// decides. The fields after the name are scanned once, for Unchanged's
// rules and for their ends together, instead of once for each.
func (n *CRelayNormalizer) ParseUnchanged(line []byte, g *Graphite) (hashLen int, ok bool) {
	fs, ok := n.nameEnd(line)
	if !ok {
		return 0, false
	}
	val, j, ok := n.field(line, fs+1)
	if !ok {
		return 0, false
	}
	var ts []byte
	if j < len(line) { // line[j] is a space
		if ts, j, ok = n.field(line, j+1); !ok || j < len(line) {
			return 0, false
		}
	}
	v, err := parseFloat(val)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	var t int64
	if ts != nil {
		if t, err = parseTimestamp(ts); err != nil {
			return 0, false
		}
	}
	g.Key, g.Value, g.Timestamp = line[:fs], v, t
	return fs, true
}

// field returns the field of line starting at i, up to the next space or
// the end, when Unchanged keeps it as it is: it starts with a byte of rest
// and holds rest bytes and single dots. No space, tab or CR is in it, so
// it is also the field nextField finds there.
func (n *CRelayNormalizer) field(line []byte, i int) (f []byte, end int, ok bool) {
	if i >= len(line) || !n.rest[line[i]] {
		return nil, 0, false
	}
	start := i
	for i++; i < len(line); i++ {
		c := line[i]
		if n.rest[c] || c == '.' && line[i-1] != '.' {
			continue
		}
		if c != ' ' {
			return nil, 0, false
		}
		break
	}
	return line[start:i], i, true
}
