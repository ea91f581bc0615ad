package expr

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	e, err := Parse(`aliasByNode(sumSeries(servers.web0{1,2}.cpu.user, a.b;dc=eu), 1, -1.5, "x,y", 'z', true, key=3)`)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != Call || e.Text != "aliasByNode" || len(e.Args) != 6 || e.Kwargs["key"].Number != 3 {
		t.Fatalf("%+v", e)
	}
	in := e.Args[0]
	if in.Kind != Call || in.Args[0].Text != "servers.web0{1,2}.cpu.user" || in.Args[1].Text != "a.b;dc=eu" {
		t.Fatalf("inner %+v %+v", in.Args[0], in.Args[1])
	}
	if e.Args[1].Number != 1 || e.Args[2].Number != -1.5 || e.Args[3].Text != "x,y" || e.Args[4].Text != "z" || !e.Args[5].Bool {
		t.Fatalf("args %+v", e.Args)
	}
	if p, ok := e.FirstPath(); !ok || p != "servers.web0{1,2}.cpu.user" {
		t.Fatalf("first path %q", p)
	}
	for _, bad := range []string{"sumSeries(", "sumSeries(a.b", `alias(a,"x)`, "f(a))", "f(,)", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a.b.c", "sumSeries(a.*,b.{c,d})", `alias(x,"y")`, "f(k=1,2)", "scale(a,-1e3)", "seriesByTag('name=~a.*')", "f(f(f(f(a))))", "f(g(h(i(j(k(l(m(n(o(p(q(r(s(t(u(v(w(x(y(z(a)))))))))))))))))))))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err == nil && e == nil {
			t.Fatal("nil expression without error")
		}
	})
}

func BenchmarkParse(b *testing.B) {
	const target = `aliasByNode(highestAverage(sumSeriesWithWildcards(servers.web0[1-4].cpu.{user,system}, 1), 2), 1, 3)`
	for b.Loop() {
		if _, err := Parse(target); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseDepth(t *testing.T) {
	nest := func(n int) string {
		return strings.Repeat("scale(", n) + "a.b" + strings.Repeat(",2)", n)
	}
	for _, tc := range []struct {
		name   string
		target string
		max    int
		ok     bool
	}{
		{"at the default", nest(DefaultMaxDepth), 0, true},
		{"past the default", nest(DefaultMaxDepth + 1), 0, false},
		{"at a given depth", nest(3), 3, true},
		{"past a given depth", nest(4), 3, false},
		// 100,000 levels: refused at level 65, having read only that far.
		{"deep", nest(100_000), 0, false},
		{"deep and unclosed", strings.Repeat("f(", 100_000), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseDepth(tc.target, tc.max)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if e.Text != "scale" {
					t.Fatalf("%+v", e)
				}
				return
			}
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("want ErrTooDeep, got %v", err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes: %.300s", len(err.Error()), err)
			}
		})
	}
}

// TestParseErrorsQuoteLittle checks an error never echoes a long target.
func TestParseErrorsQuoteLittle(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, target := range []string{
		"a.b)" + long,
		long + "(a.b",
		"sumSeries(a.b " + long + ")",
		"f(" + long + "=1, 2)",
		strings.Repeat("sumSeries(", 60) + "a," + long,
	} {
		_, err := Parse(target)
		if err == nil {
			t.Fatalf("%.40q parsed", target)
		}
		if len(err.Error()) > 4096 {
			t.Errorf("%.40q: error of %d bytes", target, len(err.Error()))
		}
	}
}
