package line

import (
	"fmt"
	"regexp"
)

// Regex pulls a key, and optionally a timestamp, out of any line with a user
// regular expression that has a named group `Key` (Go syntax `(?P<Key>...)`
// or `(?<Key>...)`) and optionally `Timestamp`.
type Regex struct {
	re  *regexp.Regexp
	key int // submatch index of Key
	ts  int // submatch index of Timestamp, or -1
}

var (
	errRegexNoMatch = &Error{"regex", ReasonNoMatch, "line does not match the regex"}
	errRegexNoKey   = &Error{"regex", ReasonKey, "regex matched an empty key"}
	errRegexTime    = &Error{"regex", ReasonTimestamp, "timestamp group is not a non-negative number"}
)

// NewRegex compiles expr, which must have a named group Key. The error names
// what is wrong so that configuration validation can report it.
func NewRegex(expr string) (*Regex, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("cannot compile regex %q: %w", expr, err)
	}
	r := &Regex{re: re, key: re.SubexpIndex("Key"), ts: re.SubexpIndex("Timestamp")}
	if r.key < 0 {
		return nil, fmt.Errorf("regex %q has no named group Key: write (?P<Key>...) around the part that is the key", expr)
	}
	return r, nil
}

// String returns the source of the regex.
func (r *Regex) String() string { return r.re.String() }

// Parse returns the key of the line and its timestamp (0 when the regex has
// no Timestamp group or it matched nothing). The key aliases b. A Regex is
// safe for concurrent use.
func (r *Regex) Parse(b []byte) (key []byte, ts int64, err error) {
	// regexp allocates its result slice; this is the one allocation per line
	// of the regex format.
	m := r.re.FindSubmatchIndex(b)
	if m == nil {
		return nil, 0, errRegexNoMatch
	}
	ks, ke := m[2*r.key], m[2*r.key+1]
	if ks < 0 || ke <= ks {
		return nil, 0, errRegexNoKey
	}
	if r.ts >= 0 {
		if s, e := m[2*r.ts], m[2*r.ts+1]; s >= 0 && e > s {
			if ts, err = parseTimestamp(b[s:e]); err != nil {
				return nil, 0, errRegexTime
			}
		}
	}
	return b[ks:ke], ts, nil
}
