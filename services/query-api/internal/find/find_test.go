package find

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

func testStore(t *testing.T, paths ...string) store.Reader {
	t.Helper()
	s, err := store.Open(store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "f.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	b := &rollup.Batch{Source: "t", Resolution: rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}}
	for _, p := range paths {
		var pt rollup.Point
		pt.Path, pt.Time = p, 1700000000
		pt.Add(1, 1)
		b.Points = append(b.Points, pt)
	}
	if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
		t.Fatal(err)
	}
	return s.(store.Reader)
}

func TestFind(t *testing.T) {
	r := testStore(t, "servers.web01.cpu.load", "servers.web02.cpu.load", "servers.db01.cpu.load",
		"servers.web01.mem.free", "servers.web10.cpu.load", "stats.gauges.x", "stats_counts.y",
		"disk.used;dc=east", "disk.used;dc=west", "disk.usage", "x.a-b_c.d", "x.a.b", "x.ü.z")
	tests := []struct{ pattern, want string }{
		{"servers.*", "servers.db01 servers.web01 servers.web02 servers.web10"},
		{"servers.web0?.cpu.load", "servers.web01.cpu.load* servers.web02.cpu.load*"},
		{"servers.web[0-1][0-9].cpu.*", "servers.web01.cpu.load* servers.web02.cpu.load* servers.web10.cpu.load*"},
		{"servers.web1[0-9].cpu.*", "servers.web10.cpu.load*"},
		{"servers.{web01,db01}.cpu.load", "servers.db01.cpu.load* servers.web01.cpu.load*"},
		{"servers.web01.*", "servers.web01.cpu servers.web01.mem"},
		{"stats*", "stats stats_counts"},
		{"*", "disk servers stats stats_counts x"},
		{"servers.web01.cpu.load", "servers.web01.cpu.load*"},
		{"nope.*", ""},
		{"servers.web[!0]*", "servers.web10"},
		{"disk.used", "disk.used;dc=east* disk.used;dc=west*"},
		{"disk.us?d", "disk.used;dc=east* disk.used;dc=west*"},
		{"disk.*", "disk.usage* disk.used;dc=east* disk.used;dc=west*"},
		{"x.*-*", "x.a-b_c"},
		{"x.[a-z]*_c.d", "x.a-b_c.d*"},
		{"x.?.*", "x.a.b* x.ü.z*"},
		{"x.[a-z].b", "x.a.b*"},
		{"*.used", "disk.used;dc=east* disk.used;dc=west*"},
		{"*.us?d", "disk.used;dc=east* disk.used;dc=west*"},
		{"*.[a-z]", "stats_counts.y* x.a"},
		{"*.?", "stats_counts.y* x.a x.ü"},
		// "**" is any number of levels, none included, as graphite-web's
		// standard finder walks directories; in path order, each once.
		{"servers.**.load", "servers.db01.cpu.load* servers.web01.cpu.load* servers.web02.cpu.load* servers.web10.cpu.load*"},
		{"**.load", "servers.db01.cpu.load* servers.web01.cpu.load* servers.web02.cpu.load* servers.web10.cpu.load*"},
		{"servers.**.web01.cpu.load", "servers.web01.cpu.load*"},
		{"servers.web01.**.free", "servers.web01.mem.free*"},
		{"x.**", "x.a x.a-b_c x.a-b_c.d* x.a.b* x.ü x.ü.z*"},
		{"**.**.y", "stats_counts.y*"},
		{"**.used", "disk.used;dc=east* disk.used;dc=west*"},
		{"servers.**.{cpu,mem}.*", "servers.db01.cpu.load* servers.web01.cpu.load* servers.web01.mem.free* servers.web02.cpu.load* servers.web10.cpu.load*"},
		{"nope.**", ""},
		{"serv**", "servers"}, // "**" inside a level is "*"
	}
	// Each pattern gives the same through ChildrenOf (level by level with an
	// SQL glob) as through Children one parent at a time.
	onebyone := oneByOne{r}
	for _, tt := range tests {
		a, errA := Find(context.Background(), r, tt.pattern, 0)
		b, errB := Find(context.Background(), onebyone, tt.pattern, 0)
		if (errA == nil) != (errB == nil) || len(a) != len(b) {
			t.Errorf("%s: ChildrenOf gives %v %v, Children %v %v", tt.pattern, a, errA, b, errB)
		}
	}
	for _, tt := range tests {
		nodes, err := Find(context.Background(), r, tt.pattern, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		var got []string
		for _, n := range nodes {
			s := n.Path
			if n.Leaf {
				s += "*"
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("Find(%q) = %q, want %q", tt.pattern, strings.Join(got, " "), tt.want)
		}
	}
	if _, err := Find(context.Background(), r, "servers.*.cpu.load", 2); err == nil {
		t.Error("limit not enforced")
	}
	// "**" walks at most limit nodes: servers and the 14 nodes below it.
	if _, err := Find(context.Background(), r, "servers.**.load", 14); err == nil || !strings.Contains(err.Error(), "walks more than 14") {
		t.Errorf("servers.**.load with limit 14: err = %v", err)
	}
	if _, err := Find(context.Background(), r, "servers.**.load", 15); err != nil {
		t.Errorf("servers.**.load with limit 15: %v", err)
	}
	// graphite-web drops backslashes before matching.
	if nodes, err := Find(context.Background(), r, `serv\ers.web0\1`, 0); err != nil || len(nodes) != 1 || nodes[0].Path != "servers.web01" {
		t.Errorf(`serv\ers.web0\1: %v %v`, nodes, err)
	}
}

// TestGlobAsFnmatch: a level matches as graphite-web's finder matches it,
// with Python's fnmatch after expanding {a,b}; brackets and braces it
// reads as characters are characters, not errors.
func TestGlobAsFnmatch(t *testing.T) {
	for _, tt := range []struct {
		glob     string
		match    []string
		mismatch []string
	}{
		{"web0[^2]", []string{"web02", "web0^"}, []string{"web01"}},
		{"web0[!2]", []string{"web01", "web0^"}, []string{"web02"}},
		{"serv[ers", []string{"serv[ers"}, []string{"servers"}},
		{"serv{ers", []string{"serv{ers"}, []string{"servers"}},
		{"serv}ers*", []string{"serv}ers", "serv}ers1"}, []string{"servers"}},
		{"ser[]v]ers", []string{"servers", "ser]ers"}, []string{"serxers"}},
		{"[!]a]x", []string{"bx"}, []string{"]x", "ax"}},
		{"[[:alpha:]]*", []string{"a]", "[]x", ":]"}, []string{"servers", "a"}},
		{"serv[z-a]rs", nil, []string{"servers", "servzrs", "servars"}},
		{"x[a-]", []string{"xa", "x-"}, []string{"xb"}},
		{"x[b-a-c]", []string{"x-", "xc"}, []string{"xb", "xa"}},
		{"{a,b}}", []string{"a}", "b}"}, []string{"a", "{a,b}}"}},
		{"{{a,b}", []string{"{a", "{b"}, []string{"a"}},
		{"{a,{b,c}}x", []string{"ax", "bx", "cx"}, []string{"x"}},
		{"a[&~|]", []string{"a&", "a~", "a|"}, []string{"a"}},
		{"a?c", []string{"abc", "a\nc"}, []string{"ac"}},
		{"é*", []string{"élan", "é"}, []string{"e", "Ã©"}},
		{"x[é]", []string{"xé"}, []string{"xe"}}, // characters, not bytes, as Python reads them
	} {
		g, err := CompileGlob(tt.glob)
		if err != nil {
			t.Errorf("%s: %v", tt.glob, err)
			continue
		}
		for _, m := range tt.match {
			if !g.Match(m) {
				t.Errorf("%s does not match %q", tt.glob, m)
			}
		}
		for _, m := range tt.mismatch {
			if g.Match(m) {
				t.Errorf("%s matches %q", tt.glob, m)
			}
		}
	}
}

// FuzzSQLGlobIsASuperset checks the prefilter find sends to SQLite: every
// name a level matches must pass the level's GLOB (with the tagged-leaf
// form, name;tags, as ChildrenOf asks it).
func FuzzSQLGlobIsASuperset(f *testing.F) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		f.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	f.Cleanup(func() { db.Close() })
	for _, seed := range [][2]string{{"05?", "050"}, {"0[1-3]?", "012"}, {"web[!0]*", "web10"}, {"*.x", "a.x"},
		{"a-b_c", "a-b_c"}, {"[a-z]*_c", "ab_c"}, {"?", "ü"}, {"used", "used;dc=east"}, {"u*d", "used;dc=a.b"},
		{"{a,b}x", "ax"}, {"[\\d]", "5"}, {"x]", "x]"}, {"[^a]", "^"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, level, name string) {
		if strings.Contains(level, ".") || strings.ContainsRune(name, 0) || !utf8.ValidString(name) || !utf8.ValidString(level) {
			return // one level; names are text (SQLite's GLOB stops at NUL and reads UTF-8)
		}
		g, err := CompileGlob(level)
		if err != nil {
			return
		}
		bare, _, tagged := strings.Cut(name, ";")
		if !g.Match(name) && !(tagged && g.Match(bare)) {
			return
		}
		glob := g.SQLGlob()
		if glob == "" {
			return
		}
		var ok bool
		if err := db.QueryRow(`SELECT ? GLOB ? OR ? GLOB ?`, name, glob, name, glob+";*").Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("level %q matches %q, but its GLOB %q does not", level, name, glob)
		}
	})
}

func TestLeavesWalksEveryLevel(t *testing.T) {
	r := testStore(t, "a.b", "a.b.c", "a.d.e.f", "g", "h.i;t=v")
	got, err := Leaves(context.Background(), r, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"a.b", "a.b.c", "a.d.e.f", "g", "h.i;t=v"}; !slices.Equal(got, want) {
		t.Errorf("Leaves = %v, want %v", got, want)
	}
	if _, err := Leaves(context.Background(), r, 3); err == nil || !strings.Contains(err.Error(), "max_find") {
		t.Errorf("limit 3: err = %v", err)
	}
}

// oneByOne lists each parent's children with Children, without the SQL glob
// prefilter: the reference ChildrenOf is checked against.
type oneByOne struct{ store.Reader }

func (o oneByOne) ChildrenOf(ctx context.Context, parents []string, _ string) (map[string][]store.Node, error) {
	out := map[string][]store.Node{}
	for _, p := range parents {
		kids, err := o.Children(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(kids) > 0 {
			out[p] = kids
		}
	}
	return out, nil
}
