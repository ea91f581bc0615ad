package fn

import (
	"regexp"
	"strings"
)

// PyRegexp compiles a regular expression written for Python's re (as
// graphite-web's functions and tag database read them) into Go's syntax
// where the two spell the same thing differently: "{,n}" (Python's {0,n})
// and "\Z" (Go's \z). What Go's RE2 cannot do (lookarounds,
// backreferences) is still an error.
func PyRegexp(pattern string) (*regexp.Regexp, error) {
	if !strings.Contains(pattern, "{,") && !strings.Contains(pattern, `\Z`) {
		return regexp.Compile(pattern)
	}
	var b strings.Builder
	class := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			if pattern[i+1] == 'Z' && !class {
				b.WriteString(`\z`)
			} else {
				b.WriteByte(c)
				b.WriteByte(pattern[i+1])
			}
			i++
			continue
		case c == '[' && !class:
			class = true
		case c == ']' && class:
			class = false
		case c == '{' && !class && strings.HasPrefix(pattern[i:], "{,"):
			j := i + 2
			for j < len(pattern) && pattern[j] >= '0' && pattern[j] <= '9' {
				j++
			}
			if j > i+2 && j < len(pattern) && pattern[j] == '}' {
				b.WriteString("{0,")
				b.WriteString(pattern[i+2 : j+1])
				i = j
				continue
			}
		}
		b.WriteByte(c)
	}
	return regexp.Compile(b.String())
}
