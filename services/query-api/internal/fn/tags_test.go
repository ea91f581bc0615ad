package fn

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
		m, err := ParseTagExpr(s)
		if err != nil {
			return
		}
		if m.Tag == "" || strings.ContainsAny(m.Tag, ";!=") || strings.Contains(m.Value, ";") || m.Tag+m.Op+m.Value != s {
			t.Fatalf("%q parsed as %+v", s, m)
		}
		m.Match(map[string]string{"name": s, m.Tag: m.Value})
		m.Match(map[string]string{})
	})
}
