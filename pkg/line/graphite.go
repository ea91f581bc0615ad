// Package line parses the line formats consthash accepts: graphite plaintext
// (with graphite 1.1 tags), statsd (with Etsy statsd's exact rules and
// DogStatsD tags) and any line a user regex can pull a key from.
//
// Parsers work on []byte, never panic, allocate nothing per line in steady
// state, and return an *Error naming a Reason for a bad line. Parsed results
// alias the input buffer: copy what must outlive it.
package line

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Graphite is one parsed graphite plaintext line, `key value [timestamp]`.
// Key aliases the input.
type Graphite struct {
	Key       []byte
	Value     float64
	Timestamp int64 // unix seconds; 0 when the line has no timestamp (or -1, carbon's "now")
}

var (
	errGraphiteEmpty     = &Error{"graphite", ReasonEmpty, "empty line"}
	errGraphiteFields    = &Error{"graphite", ReasonFields, "want 'key value [timestamp]'"}
	errGraphiteValue     = &Error{"graphite", ReasonValue, "value is not a number"}
	errGraphiteNonFinite = &Error{"graphite", ReasonNonFinite, "value is NaN or infinite"}
	errGraphiteTime      = &Error{"graphite", ReasonTimestamp, "timestamp is not a non-negative number"}
	errGraphiteTags      = &Error{"graphite", ReasonTags, "malformed tags: want name;tag=value;..."}
	errGraphiteKey       = &Error{"graphite", ReasonKey, "empty metric name"}
)

// Timestamps at or above these magnitudes are read as milliseconds,
// microseconds and nanoseconds: 1e11 seconds is the year 5138, so no real
// seconds value is that large, and likewise for the others.
const (
	msThreshold = 1e11
	usThreshold = 1e14
	nsThreshold = 1e17
)

// ParseGraphite parses one graphite plaintext line (without its newline; a
// trailing '\r' is ignored) into g. Fields are separated by runs of spaces or
// tabs. The value is a float in any form strconv.ParseFloat reads; NaN and
// infinities are rejected. The timestamp is optional; it may be a float, and
// values too large to be seconds are read as milliseconds, microseconds or
// nanoseconds by magnitude. A key with graphite 1.1 tags must be well formed
// (see ValidTags).
func ParseGraphite(b []byte, g *Graphite) error {
	key, rest := nextField(b)
	if len(key) == 0 {
		return errGraphiteEmpty
	}
	return parseGraphiteValues(key, rest, g)
}

// ParseGraphiteKeyed is ParseGraphite for a line whose key the caller has
// already found to be b[:keyLen], non-empty and free of spaces, tabs,
// carriage returns and ';' (CRelayNormalizer.Unchanged's hash length): the
// key is not scanned again. It returns what ParseGraphite returns for b.
func ParseGraphiteKeyed(b []byte, keyLen int, g *Graphite) error {
	return parseGraphiteValues(b[:keyLen], b[keyLen:], g)
}

// parseGraphiteValues parses what follows a line's key.
func parseGraphiteValues(key, rest []byte, g *Graphite) error {
	val, rest := nextField(rest)
	if len(val) == 0 {
		return errGraphiteFields
	}
	ts, rest := nextField(rest)
	if extra, _ := nextField(rest); len(extra) != 0 {
		return errGraphiteFields
	}
	v, err := parseFloat(val)
	if err != nil {
		return errGraphiteValue
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return errGraphiteNonFinite
	}
	var t int64
	if len(ts) != 0 {
		if t, err = parseTimestamp(ts); err != nil {
			return err
		}
	}
	if i := bytes.IndexByte(key, ';'); i >= 0 {
		if i == 0 {
			return errGraphiteKey
		}
		if !ValidTags(key[i+1:]) {
			return errGraphiteTags
		}
	}
	g.Key, g.Value, g.Timestamp = key, v, t
	return nil
}

// ValidTags reports whether b, the part of a graphite key after its first ';',
// is a well-formed graphite 1.1 tag list: `tag=value` pairs separated by ';',
// each tag name non-empty and free of '!', '^' and '=', each value non-empty
// and not starting with '~'.
func ValidTags(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		var pair []byte
		if i := bytes.IndexByte(b, ';'); i >= 0 {
			pair, b = b[:i], b[i+1:]
			if len(b) == 0 {
				return false // trailing ';'
			}
		} else {
			pair, b = b, nil
		}
		eq := bytes.IndexByte(pair, '=')
		if eq <= 0 || eq == len(pair)-1 {
			return false
		}
		if bytes.ContainsAny(pair[:eq], "!^") || pair[eq+1] == '~' {
			return false
		}
	}
	return true
}

func parseTimestamp(b []byte) (int64, error) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return 0, nil // carbon's "now"
	}
	if n, ok := parseUint(b); ok {
		switch {
		case n >= nsThreshold:
			return int64(n / 1e9), nil
		case n >= usThreshold:
			return int64(n / 1e6), nil
		case n >= msThreshold:
			return int64(n / 1e3), nil
		}
		return int64(n), nil
	}
	f, err := parseFloat(b)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) || f >= math.MaxInt64 {
		return 0, errGraphiteTime
	}
	switch {
	case f >= nsThreshold:
		f /= 1e9
	case f >= usThreshold:
		f /= 1e6
	case f >= msThreshold:
		f /= 1e3
	}
	return int64(f), nil
}

// parseUint parses a run of decimal digits that fits in a uint64.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseFloat parses b with strconv.ParseFloat without copying it to a string.
// The string must not outlive the call: the *NumError that could hold it is
// dropped here.
func parseFloat(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	if f, ok := parsePlain(b); ok {
		return f, nil
	}
	if !floatSyntax(b) {
		return 0, strconv.ErrSyntax // checked here so that a bad value allocates no *NumError
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil // ±Inf or 0 on overflow/underflow, as carbon's float() would give
		}
		return 0, strconv.ErrSyntax
	}
	return f, nil
}

// parsePlain is parseUint below 2^53 or else parseDecimal, in one pass over
// b: the two common forms, whole seconds or counts and plain decimals.
func parsePlain(b []byte) (float64, bool) {
	i := 0
	if len(b) > 0 && b[0] == '-' {
		i = 1
	}
	var m uint64
	dot, digits := -1, 0
	for j := i; j < len(b); j++ {
		c := b[j]
		switch {
		case c >= '0' && c <= '9':
			if digits++; digits > 19 { // past both forms (and uint64)
				return 0, false
			}
			m = m*10 + uint64(c-'0')
		case c == '.' && dot < 0:
			dot = j - i
		default:
			return 0, false
		}
	}
	if dot < 0 { // parseUint: unsigned digits only
		if i != 0 || digits == 0 || m >= 1<<53 {
			return 0, false
		}
		return float64(m), true
	}
	n := len(b) - i
	if n < 2 || n > 16 || digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m) / pow10[n-1-dot]
	if i != 0 {
		f = -f
	}
	return f, true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseDecimal reads the common plain decimal, [-]digits.digits with at most
// 15 digits, as an exact integer divided by an exact power of ten: one
// correctly rounded division, the same float64 strconv.ParseFloat gives (its
// own fast path), without its generic parsing. ok false: not that form.
func parseDecimal(b []byte) (float64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) < 2 || len(b) > 16 {
		return 0, false
	}
	var m uint64
	dot, digits := -1, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
		case c == '.' && dot < 0:
			dot = i
		default:
			return 0, false
		}
	}
	if dot < 0 || digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m) / pow10[len(b)-1-dot]
	if neg {
		f = -f
	}
	return f, true
}

// nextField returns the first run of bytes not containing a space, tab or
// carriage return, and what follows it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && fieldSep[b[i]] {
		i++
	}
	j := i
	for j < len(b) && !fieldSep[b[j]] {
		j++
	}
	return b[i:j], b[j:]
}

// fieldSep marks the bytes that separate graphite fields (space, tab and
// CR): one table load per byte instead of three comparisons.
var fieldSep = [256]bool{' ': true, '\t': true, '\r': true}

// floatSyntax reports whether b is a decimal float as Python's float() and
// strconv.ParseFloat both read it: [+-] digits [. digits] [e [+-] digits],
// or inf, infinity, nan in any case. Hex floats and digit separators are not
// accepted.
func floatSyntax(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	if w := unsafe.String(unsafe.SliceData(b[i:]), len(b)-i); strings.EqualFold(w, "inf") ||
		strings.EqualFold(w, "infinity") || strings.EqualFold(w, "nan") {
		return true
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}
