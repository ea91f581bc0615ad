package line

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// StatsdType is a statsd metric type as statsd 0.9.0 acts on it.
type StatsdType uint8

// The statsd types. Etsy statsd treats "h" and any unknown type as a counter.
const (
	StatsdCounter StatsdType = iota
	StatsdTimer
	StatsdGauge
	StatsdSet
)

func (t StatsdType) String() string {
	return [...]string{"counter", "timer", "gauge", "set"}[t]
}

// StatsdValue is one value of a statsd line (`key:v1|c:v2|ms` has two).
type StatsdValue struct {
	Type       StatsdType
	Value      float64 // Number(value); unused for sets
	Raw        []byte  // the value text as sent (set members); aliases the line
	SampleRate float64 // 1 unless |@rate
	Delta      bool    // a gauge value starting with '+' or '-' adds to the gauge
}

var (
	errStatsdType       = &Error{"statsd", ReasonType, "missing type: want key:value|type"}
	errStatsdSampleRate = &Error{"statsd", ReasonSampleRate, "sample rate is not @<positive number>"}
	errStatsdValue      = &Error{"statsd", ReasonValue, "value is not a number"}
	errStatsdNegTimer   = &Error{"statsd", ReasonValue, "timer value is negative"}
	errStatsdNonFinite  = &Error{"statsd", ReasonNonFinite, "value or sample rate is infinite"}
)

// StatsdParser parses statsd lines with Etsy statsd 0.9.0's exact rules
// (docs/line-formats.md): DogStatsD tags after "|#" become ";tag=value" in
// the key, the key is sanitised as keyNameSanitize does, and each value is
// validated as is_valid_packet does. Where statsd would store an infinite
// value (a value of Infinity, a sample rate of 0) or crash (a sample rate such
// as "@Infinity" or "@ 1" that passes its check but not its regex), the
// value is rejected instead. A StatsdParser reuses its buffers and is not safe
// for concurrent use.
type StatsdParser struct {
	// NoSanitize turns off key sanitising (statsd's keyNameSanitize = false).
	NoSanitize bool
	// AllowNonFinite accepts what statsd accepts and turns into infinities or
	// NaN downstream: values of ±Infinity (or overflowing), and sample rates
	// of 0 or overflowing. Off by default: such values are rejected.
	AllowNonFinite bool

	raw    []byte // the key with its tags, before sanitising
	key    []byte
	values []StatsdValue
	bad    []error
}

// Parse parses one line, without its '\n' (statsd splits packets on '\n'
// only, so a '\r' stays part of the line). It returns the key and the valid
// values; bad lists an error for each invalid value (statsd's bad_lines_seen
// counts each). All results are valid until the next call. An empty line has
// no key and no values, and is not bad.
func (p *StatsdParser) Parse(line []byte) (key []byte, values []StatsdValue, bad []error) {
	p.values, p.bad = p.values[:0], p.bad[:0]
	if len(line) == 0 {
		return nil, nil, nil
	}
	// Tags: the text after the first "|#" up to a second "|#", split on ','.
	body, tags := line, []byte(nil)
	if bytes.IndexByte(line, '#') < 0 {
		// No tags: the common case, found without looking for "|#".
	} else if i := bytes.Index(line, []byte("|#")); i >= 0 {
		body, tags = line[:i], line[i+2:]
		if j := bytes.Index(tags, []byte("|#")); j >= 0 {
			tags = tags[:j]
		}
	}
	rawKey, rest, hasValue := cutByte(body, ':')
	src := rawKey // the key with its tags, before sanitising
	if len(tags) > 0 {
		p.raw = append(p.raw[:0], rawKey...)
		for more := true; more; {
			var tag []byte
			tag, tags, more = bytes.Cut(tags, []byte{','})
			p.raw = append(p.raw, ';')
			start := len(p.raw)
			p.raw = append(p.raw, tag...)
			// JavaScript's replace with a string pattern changes the first occurrence only.
			if k := bytes.IndexByte(p.raw[start:], ';'); k >= 0 {
				p.raw[start+k] = '_'
			}
			if k := bytes.IndexByte(p.raw[start:], ':'); k >= 0 {
				p.raw[start+k] = '='
			}
		}
		src = p.raw
	}
	if p.NoSanitize {
		p.key = append(p.key[:0], src...)
	} else {
		p.key = sanitizeStatsdKey(p.key[:0], src)
	}
	if !hasValue {
		// statsd treats a line without ':' as the value "1" with no type: bad.
		p.bad = append(p.bad, errStatsdType)
		return p.key, nil, p.bad
	}
	for {
		var bit []byte
		more := false
		if i := bytes.IndexByte(rest, ':'); i >= 0 {
			bit, rest, more = rest[:i], rest[i+1:], true
		} else {
			bit = rest
		}
		// Parsed in place: a StatsdValue is too big to copy twice a line.
		p.values = append(p.values, StatsdValue{})
		if err := parseStatsdValue(&p.values[len(p.values)-1], bit, p.AllowNonFinite); err != nil {
			p.values = p.values[:len(p.values)-1]
			p.bad = append(p.bad, err)
		}
		if !more {
			break
		}
	}
	return p.key, p.values, p.bad
}

// parseStatsdValue reads "value|type[|@rate[|...]]" into v, which is zero;
// on an error v is left to be dropped.
func parseStatsdValue(v *StatsdValue, bit []byte, allowNonFinite bool) error {
	f0, rest, ok := cutShort(bit, '|')
	if !ok {
		return errStatsdType
	}
	f1, rest, hasRate := cutShort(rest, '|')
	var f2 []byte
	if hasRate {
		f2, _, _ = cutShort(rest, '|')
	}
	v.SampleRate, v.Raw = 1, f0
	if hasRate {
		// isValidSampleRate: '@' then a number not starting with '-'.
		if len(f2) < 2 || f2[0] != '@' || f2[1] == '-' || !jsIsNumber(f2[1:]) {
			return errStatsdSampleRate
		}
		// statsd then reads the rate as the longest run of digits and dots
		// after '@' (so "@1e-3" is 1); with no such run it would crash.
		n := 1
		for n < len(f2) && (f2[n] >= '0' && f2[n] <= '9' || f2[n] == '.') {
			n++
		}
		if n == 1 {
			return errStatsdSampleRate
		}
		v.SampleRate = jsNumber(f2[1:n])
		if math.IsNaN(v.SampleRate) {
			return errStatsdSampleRate
		}
		if v.SampleRate == 0 && !allowNonFinite {
			return errStatsdNonFinite // 1/0: statsd would count Infinity
		}
		if math.IsInf(v.SampleRate, 0) && !allowNonFinite {
			return errStatsdSampleRate // overflowed: statsd would count the value as 0
		}
	}
	// Validity by the raw type, behaviour by the trimmed type, as statsd does.
	var num float64 // Number(f0), but for sets
	switch string(f1) {
	case "s":
	case "ms":
		if num = jsNumber(f0); len(f0) == 0 || math.IsNaN(num) { // isNumber
			return errStatsdValue
		}
		if num < 0 {
			return errStatsdNegTimer
		}
	default:
		if num = jsNumber(f0); len(f0) == 0 || math.IsNaN(num) {
			return errStatsdValue
		}
	}
	switch string(jsTrim(f1)) {
	case "ms":
		v.Type = StatsdTimer
	case "g":
		v.Type = StatsdGauge
		v.Delta = len(f0) > 0 && (f0[0] == '+' || f0[0] == '-')
	case "s":
		v.Type = StatsdSet
		if len(v.Raw) == 0 {
			v.Raw = []byte("0") // statsd inserts '0' for an empty member
		}
		return nil
	default:
		v.Type = StatsdCounter
	}
	v.Value = num
	if math.IsInf(v.Value, 0) && !allowNonFinite {
		return errStatsdNonFinite
	}
	return nil
}

// cutByte is bytes.Cut for a one-byte separator, without bytes.Index's
// dispatch on the separator's length (a statsd line is cut four times).
func cutByte(s []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, nil, false
}

// cutShort is cutByte for the short fields of a value (a number, a type, a
// rate): a plain loop finds the separator sooner than IndexByte's setup.
func cutShort(s []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range s {
		if c == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

// sanitizeStatsdKey appends src to dst as statsd's keyNameSanitize leaves
// it: each run of white space becomes '_', '/' becomes '-', and every
// character but letters, digits, '_', '-', '.', ';' and '=' is removed.
func sanitizeStatsdKey(dst, src []byte) []byte {
	// Most keys are kept whole: checked by table, copied at once.
	whole := true
	for _, c := range src {
		if !statsdKeyByte[c] {
			whole = false
			break
		}
	}
	if whole {
		return append(dst, src...)
	}
	inSpace := false
	for i := 0; i < len(src); {
		r, n := rune(src[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(src[i:])
		}
		i += n
		if isJSSpace(r) {
			if !inSpace {
				dst = append(dst, '_')
			}
			inSpace = true
			continue
		}
		inSpace = false
		switch {
		case r == '/':
			dst = append(dst, '-')
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '_', r == '-', r == '.', r == ';', r == '=':
			dst = append(dst, byte(r))
		}
	}
	return dst
}

// statsdKeyByte marks the ASCII bytes keyNameSanitize keeps as they are.
var statsdKeyByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ';' || c == '='
	}
	return t
}()

// SanitizeStatsdKey appends key to dst as statsd's keyNameSanitize leaves it.
func SanitizeStatsdKey(dst, key []byte) []byte { return sanitizeStatsdKey(dst, key) }

// JSNumber converts text as JavaScript's Number(string) does.
func JSNumber(b []byte) float64 { return jsNumber(b) }
