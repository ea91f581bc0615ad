package statsd

import "unicode/utf8"

// jsUTF8 appends b to dst as Node.js decodes a datagram (msg.toString()):
// valid UTF-8 is kept, and each maximal invalid subpart (WHATWG's UTF-8
// decoder: a lead byte and the continuation bytes valid after it, or one
// stray byte) becomes U+FFFD. statsd keys, tags and set members are those
// strings, so "a\xff" and "a\xfe" are the same set member.
func jsUTF8(dst, b []byte) []byte {
	const repl = "\uFFFD"
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		default: // a continuation byte or a byte that never starts a sequence
			dst = append(dst, repl...)
			i++
			continue
		}
		j := i + 1
		for k := 0; k < need; k++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				break // the bytes so far are one invalid subpart; b[j] is read again
			}
			j++
			lo, hi = 0x80, 0xBF
		}
		if j-i == need+1 {
			dst = append(dst, b[i:j]...)
		} else {
			dst = append(dst, repl...)
		}
		i = j
	}
	return dst
}
