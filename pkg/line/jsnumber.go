package line

import (
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// isJSSpace reports whether r is white space or a line terminator to
// JavaScript (String.prototype.trim, Number(), and the regex class \s).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsTrim removes JavaScript white space from both ends of b.
func jsTrim(b []byte) []byte {
	// JavaScript's ASCII white space is all at or below ' '.
	if n := len(b); n > 0 && b[0] > ' ' && b[0] < utf8.RuneSelf && b[n-1] > ' ' && b[n-1] < utf8.RuneSelf {
		return b
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if !isJSSpace(r) {
			break
		}
		b = b[n:]
	}
	for len(b) > 0 {
		r, n := utf8.DecodeLastRune(b)
		if !isJSSpace(r) {
			break
		}
		b = b[:len(b)-n]
	}
	return b
}

// jsNumber converts text as JavaScript's Number(string) does: white space
// trimmed, "" is 0, decimal literals with optional sign and exponent,
// [+-]Infinity, and unsigned 0x/0o/0b integers; anything else is NaN.
func jsNumber(b []byte) float64 {
	if f, ok := jsInteger(b); ok {
		return f
	}
	b = jsTrim(b)
	if len(b) == 0 {
		return 0
	}
	s := unsafe.String(unsafe.SliceData(b), len(b))
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			return jsRadix(s[2:], base)
		}
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	switch body {
	case "Infinity":
		if s[0] == '-' {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case "":
		return math.NaN()
	}
	// A JavaScript StrDecimalLiteral is exactly floatSyntax without the
	// inf/nan words, which JavaScript spells differently.
	if body[0] == 'i' || body[0] == 'I' || body[0] == 'n' || body[0] == 'N' || !floatSyntax(b) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f // ±Inf or 0, as JavaScript rounds
		}
		return math.NaN()
	}
	return f
}

// jsInteger reads an optionally signed decimal integer of at most 15 digits
// (exact in a float64), the usual statsd value, without strconv; ok is false
// for anything else.
func jsInteger(b []byte) (f float64, ok bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	f = float64(n)
	if neg {
		f = -f // "-0" is -0, as in JavaScript
	}
	return f, true
}

func jsRadix(digits string, base int) float64 {
	if digits == "" {
		return math.NaN()
	}
	for _, c := range digits {
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			return math.NaN()
		}
		if d >= base {
			return math.NaN()
		}
	}
	if n, err := strconv.ParseUint(digits, base, 64); err == nil {
		return float64(n)
	}
	var z big.Int
	z.SetString(digits, base)
	f, _ := new(big.Float).SetInt(&z).Float64()
	return f
}

// jsIsNumber is statsd's isNumber: a non-empty string whose Number() is not
// NaN.
func jsIsNumber(b []byte) bool {
	return len(b) > 0 && !math.IsNaN(jsNumber(b))
}
