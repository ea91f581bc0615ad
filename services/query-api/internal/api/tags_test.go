package api

import (
	"strings"
	"testing"
)

// FuzzTagExpr: any text either parses as graphite's tag=spec grammar (a tag
// without ';', '!' or '=', an operator, a spec without ';') or is refused;
// a parsed expression matches without panicking.
func FuzzTagExpr(f *testing.F) {
	for _, s := range []string{"name=disk.used", "dc!=west", "host=~[ab]", "host!=~a|c", "a=b!=c", "=x", "x", "a=~(", "t=v;w", "ü=日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTagExpr(s)
		if err != nil {
			return
		}
		if m.tag == "" || strings.ContainsAny(m.tag, ";!=") || strings.Contains(m.value, ";") || m.tag+m.op+m.value != s {
			t.Fatalf("%q parsed as %+v", s, m)
		}
		m.match(map[string]string{"name": s, m.tag: m.value})
		m.match(map[string]string{})
	})
}
