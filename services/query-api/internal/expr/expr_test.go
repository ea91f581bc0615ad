package expr

import "testing"

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
	for _, s := range []string{"a.b.c", "sumSeries(a.*,b.{c,d})", `alias(x,"y")`, "f(k=1,2)", "scale(a,-1e3)", "seriesByTag('name=~a.*')"} {
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
