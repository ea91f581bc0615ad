package line

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
