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

// TestTagRegexAnchoring: graphite-web anchors a tag regex at the start
// unless it starts with '^', then searches the value: "^disk|cpu" selects a
// value with cpu anywhere.
func TestTagRegexAnchoring(t *testing.T) {
	for _, tt := range []struct {
		expr, value string
		want        bool
	}{
		{"name=~disk|cpu", "xcpu", false},
		{"name=~disk|cpu", "cpu.load", true},
		{"name=~^disk|cpu", "xcpu", true},
		{"name=~^disk|cpu", "disk.used", true},
		{"name=~^disk|cpu", "mem", false},
		{"name!=~^disk|cpu", "xcpu", true}, // true of "": re.match, which finds no cpu at the start
		// An expression true of the empty value is checked with re.match.
		{"name!=~^x|cpu", "servers.web01.cpu.user", true},
		{"name!=~^x|cpu", "cpu.x", false},
		{"name!=~^x|cpu", "xcpu", false},
		{"name=~^x|cpu|", "a.cpu", true}, // matches "" at the start of anything
	} {
		m, err := ParseTagExpr(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(map[string]string{"name": tt.value}); got != tt.want {
			t.Errorf("%s on %q: %v", tt.expr, tt.value, got)
		}
	}
}
