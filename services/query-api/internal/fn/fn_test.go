package fn

import (
	"context"
	"math"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The functions alone, over series held in memory: what graphite-web's
// JSON answers cannot show (how series are drawn, state shared between a
// request's targets) and the helpers' Python semantics. The golden test of
// package api proves every function against graphite-web's answers.

// memEnv serves the series of data (10 s steps from 1000) to path patterns
// matched node by node.
func memEnv(data map[string][]float64) *Env {
	return &Env{
		From: time.Unix(990, 0), Until: time.Unix(1000+10*int64(maxLen(data)), 0), Now: time.Unix(2000, 0),
		Fetch: func(_ context.Context, pattern string, _, _ time.Time) ([]*series.Series, error) {
			var out []*series.Series
			for _, name := range slices.Sorted(func(yield func(string) bool) {
				for k := range data {
					if !yield(k) {
						return
					}
				}
			}) {
				if globMatch(pattern, name) {
					vals := slices.Clone(data[name])
					out = append(out, &series.Series{Name: name, PathExpr: pattern, Start: 1000, End: 1000 + 10*int64(len(vals)),
						Step: 10, Values: vals, Consolidate: "average", ValuesPerPoint: 1, Tags: TagsOf(name)})
				}
			}
			return out, nil
		},
	}
}

func maxLen(data map[string][]float64) int {
	n := 0
	for _, v := range data {
		n = max(n, len(v))
	}
	return n
}

func globMatch(pattern, name string) bool {
	ps, ns := strings.Split(pattern, "."), strings.Split(name, ".")
	if len(ps) != len(ns) {
		return false
	}
	for i := range ps {
		if ok, _ := path.Match(ps[i], ns[i]); !ok {
			return false
		}
	}
	return true
}

func eval(t *testing.T, lib *Library, env *Env, target string) []*series.Series {
	t.Helper()
	e, err := expr.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lib.Eval(context.Background(), env, e)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return out
}

func TestGraphFunctionsSetHowSeriesAreDrawn(t *testing.T) {
	lib := New()
	data := map[string][]float64{"a.x": {1, 2, 3}, "a.y": {4, nan(), 6}}
	for _, tc := range []struct {
		target string
		want   []series.Draw
	}{
		{`color(a.x,"red")`, []series.Draw{{Color: "red"}}},
		{`alpha(a.x,0.5)`, []series.Draw{{Alpha: 0.5}}},
		{`lineWidth(a.x,3)`, []series.Draw{{LineWidth: 3}}},
		{`dashed(a.x)`, []series.Draw{{Dashed: 5}}},
		{`secondYAxis(a.x)`, []series.Draw{{SecondYAxis: true}}},
		{`drawAsInfinite(a.x)`, []series.Draw{{DrawAsInfinite: true}}},
		{`stacked(a.*)`, []series.Draw{{Stacked: true}, {Stacked: true}}},
		{`areaBetween(a.*)`, []series.Draw{{Stacked: true, Invisible: true}, {Stacked: true}}},
		{`verticalLine("1010","v","blue")`, []series.Draw{{DrawAsInfinite: true, Color: "blue"}}},
		{`color(scale(a.x,2),"#00ff00")`, []series.Draw{{Color: "#00ff00"}}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			out := eval(t, lib, memEnv(data), tc.target)
			var got []series.Draw
			for _, s := range out {
				got = append(got, s.Draw)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("drawn %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`alpha(a.x,"x")`, `color(a.x,1)`, `lineWidth(a.x)`} {
		e, _ := expr.Parse(bad)
		if _, err := lib.Eval(context.Background(), memEnv(data), e); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestStackedAcrossTargets: the targets of one request stack on each
// other, by stack name, as graphite-web's request context keeps them; a
// null stays null and does not add.
func TestStackedAcrossTargets(t *testing.T) {
	lib := New()
	env := memEnv(map[string][]float64{"a.x": {1, 2, 3}, "a.y": {4, nan(), 6}, "b.z": {10, 10, 10}})
	first := eval(t, lib, env, `stacked(a.*)`)
	second := eval(t, lib, env, `stacked(b.z)`)
	other := eval(t, lib, env, `stacked(b.z,"other")`)
	for _, c := range []struct {
		s    *series.Series
		name string
		want []float64
	}{
		{first[0], "stacked(a.x)", []float64{1, 2, 3}},
		{first[1], "stacked(a.y)", []float64{5, nan(), 9}},
		{second[0], "stacked(b.z)", []float64{15, 12, 19}},
		{other[0], "b.z", []float64{10, 10, 10}},
	} {
		if c.s.Name != c.name || !slices.EqualFunc(c.s.Values, c.want, sameFloat) {
			t.Errorf("%s %v, want %s %v", c.s.Name, c.s.Values, c.name, c.want)
		}
	}
	// A new request starts from nothing.
	if again := eval(t, lib, memEnv(map[string][]float64{"b.z": {10, 10, 10}}), `stacked(b.z)`); again[0].Values[0] != 10 {
		t.Errorf("a new request's stack: %v", again[0].Values)
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestMapAndReduce: mapSeries alone answers its series in group order;
// reduceSeries needs a mapSeries and a series for every matcher.
func TestMapAndReduce(t *testing.T) {
	lib := New()
	data := map[string][]float64{"h1.cpu.used": {1}, "h2.cpu.used": {3}, "h1.cpu.total": {4}, "h2.cpu.total": {6}, "h3.cpu.used": {1}}
	var names []string
	for _, s := range eval(t, lib, memEnv(data), `mapSeries(*.cpu.*,0)`) {
		names = append(names, s.Name)
	}
	if want := []string{"h1.cpu.total", "h1.cpu.used", "h2.cpu.total", "h2.cpu.used", "h3.cpu.used"}; !slices.Equal(names, want) {
		t.Errorf("mapSeries: %v, want %v", names, want)
	}
	out := eval(t, lib, memEnv(map[string][]float64{"h1.cpu.used": {1}, "h1.cpu.total": {4}}),
		`reduceSeries(mapSeries(*.cpu.*,0),"divideSeries",2,"used","total")`)
	if len(out) != 1 || out[0].Name != "h1.cpu.reduce.divideSeries" || out[0].Values[0] != 0.25 {
		t.Errorf("reduceSeries: %+v", out)
	}
	for _, bad := range []string{
		`reduceSeries(*.cpu.*,"divideSeries",2,"used","total")`,              // not a mapSeries
		`reduceSeries(mapSeries(*.cpu.*,0),"divideSeries",2,"used","total")`, // h3 has no total
		`reduceSeries(mapSeries(*.cpu.*,0),"noSuchFunction",2,"used")`,
	} {
		e, _ := expr.Parse(bad)
		if _, err := lib.Eval(context.Background(), memEnv(data), e); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestPyFormat checks aliasQuery's formats against what Python's % gives.
func TestPyFormat(t *testing.T) {
	for _, c := range []struct {
		format string
		v      float64
		want   string
	}{
		{"%d", 12.7, "12"},
		{"%i items", -3.9, "-3 items"},
		{"%.2f", 1.005, "1.00"}, // 1.005 is 1.00499... in binary
		{"%s", 2, "2.0"},
		{"%s", 0.1, "0.1"},
		{"%5.1f%%", 3.14159, "  3.1%"},
		{"%-6d|", 42, "42    |"},
		{"%g", 1e-5, "1e-05"},
		{"%g", 123456789, "1.23457e+08"},
		{"%e", 12345.678, "1.234568e+04"},
	} {
		got, err := pyFormat(c.format, c.v)
		if err != nil || got != c.want {
			t.Errorf("%q %% %v: %q %v, want %q", c.format, c.v, got, err, c.want)
		}
	}
	for _, bad := range []string{"no verb", "%d %d", "%", "%q"} {
		if got, err := pyFormat(bad, 1); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
}

// FuzzPyFormat: any format either fails or formats the one value, keeping
// the text around its conversion.
func FuzzPyFormat(f *testing.F) {
	for _, s := range []string{"%d", "%.2f ms", "%s idle", "%5.1f%%", "%-6d|", "%g", "%e", "%%d", "%", "%q", "a%%b%d", "%0+10.3f"} {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, format string, v float64) {
		got, err := pyFormat(format, v)
		if err != nil {
			return
		}
		i := strings.IndexByte(format, '%')
		if i < 0 || !strings.HasPrefix(got, strings.ReplaceAll(format[:i], "%%", "%")) {
			t.Fatalf("%q %% %v = %q", format, v, got)
		}
	})
}

// TestKeywordNone: a keyword argument after a skipped optional string
// parameter gives that parameter None, as Python does.
func TestKeywordNone(t *testing.T) {
	lib := New()
	out := eval(t, lib, memEnv(map[string][]float64{"a.x": {1, 2}}), `cactiStyle(a.x,units="ms")`)
	if !strings.Contains(out[0].Name, "Current:2.00 ms") {
		t.Errorf("cactiStyle(units=): %q", out[0].Name)
	}
	// A skipped parameter without a declared default is Python's None, as
	// is a none argument: maxValue=None is no maximum.
	for _, target := range []string{`nonNegativeDerivative(a.x,minValue=0)`, `nonNegativeDerivative(a.x,None,0)`,
		`nonNegativeDerivative(a.x,NONE)`} {
		out := eval(t, lib, memEnv(map[string][]float64{"a.x": {1, 3}}), target)
		if len(out) != 1 || !math.IsNaN(out[0].Values[0]) || out[0].Values[1] != 2 {
			t.Errorf("%s: %v", target, out)
		}
	}
	// None is an argument, not a path, only inside a call.
	if e, err := expr.Parse("none"); err != nil || e.Kind != expr.Path {
		t.Errorf(`Parse("none") = %v, %v: want the path none`, e, err)
	}
}

// TestPythonTruthiness: graphite-web's boolean parameters take any value as
// Python's bool() reads it.
func TestPythonTruthiness(t *testing.T) {
	lib := New()
	env := memEnv(map[string][]float64{"a.b": {1, 2}, "a.c": {3, 4}})
	for target, first := range map[string]string{
		`sortByName(a.*,false,1)`:      "a.c",
		`sortByName(a.*,false,0)`:      "a.b",
		`sortByName(a.*,reverse="x")`:  "a.c",
		`sortByName(a.*,reverse=None)`: "a.b",
	} {
		if out := eval(t, lib, env, target); len(out) != 2 || out[0].Name != first {
			t.Errorf("%s: first %v, want %s", target, out, first)
		}
	}
}

// TestRandomWalk checks what graphite-web's randomWalk promises, since its
// values are random and no golden answer can hold them: a point every step
// from from to until, 0 first, each the previous plus [-0.5, 0.5).
func TestRandomWalk(t *testing.T) {
	lib := New()
	env := memEnv(map[string][]float64{"a": make([]float64, 60)}) // from 990 until 1600
	for _, target := range []string{`randomWalk("walk")`, `randomWalkFunction("walk", 10)`, `randomWalk(name="walk", step=7)`} {
		out := eval(t, lib, env, target)
		if len(out) != 1 || out[0].Name != "walk" {
			t.Fatalf("%s: %d series", target, len(out))
		}
		s := out[0]
		want := (1600 - 990 + s.Step - 1) / s.Step
		if s.Start != 990 || int64(len(s.Values)) != want || s.Values[0] != 0 {
			t.Fatalf("%s: start %d, %d values (want %d), first %v", target, s.Start, len(s.Values), want, s.Values[0])
		}
		moved := false
		for i := 1; i < len(s.Values); i++ {
			d := s.Values[i] - s.Values[i-1]
			if d < -0.5 || d >= 0.5 {
				t.Fatalf("%s: step %d moves %v", target, i, d)
			}
			moved = moved || d != 0
		}
		if !moved {
			t.Errorf("%s: the walk never moves", target)
		}
	}
	if s := eval(t, lib, env, `randomWalk("w", 7)`)[0]; s.Step != 7 {
		t.Errorf("step %d, want 7", s.Step)
	}
}

// TestEmptyOverSeriesEndingBeforeTheyStart: series whose end comes before
// their start (a forecast over data beyond the store's reach) span no
// steps, as Python's range does; emptyOver made a negative length and
// panicked.
func TestEmptyOverSeriesEndingBeforeTheyStart(t *testing.T) {
	s := &series.Series{Name: "a", PathExpr: "a", Start: 1000, End: 400, Step: 10, Values: nil}
	for _, list := range [][]*series.Series{{s}, {s, {Name: "b", PathExpr: "b", Start: 1000, End: 400, Step: 30}}} {
		out, _, err := emptyOver(context.Background(), "sumSeries(a)", list)
		if err != nil || len(out.Values) != 0 || out.End != out.Start {
			t.Errorf("%d series: %v, %v", len(list), out, err)
		}
	}
}

// TestPyRepr: Python's repr of a float, as graphite-web's names show it.
func TestPyRepr(t *testing.T) {
	for v, want := range map[float64]string{1e6: "1000000.0", 42: "42.0", 1e15: "1000000000000000.0", 1e16: "1e+16",
		1.5e-5: "1.5e-05", 0.0001: "0.0001", -2.5: "-2.5", 123456789.125: "123456789.125", 1e100: "1e+100", 0.1: "0.1"} {
		if got := pyRepr(v); got != want {
			t.Errorf("pyRepr(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestPyRegexp: Python's spellings Go's regexp writes otherwise.
func TestPyRegexp(t *testing.T) {
	for _, tt := range []struct {
		re, s string
		want  bool
	}{
		{"^a{,2}$", "aa", true}, {"^a{,2}$", "aaa", false}, {"^a{,2}$", "", true},
		{`^x\Z`, "x", true}, {`^x\Z`, "x\n", false},
		{`^[{,2}]+$`, "{,2}", true}, // in a class: characters
		{`^\{,2}$`, "{,2}", true},   // escaped: characters
		{"^a{,x}$", "a{,x}", true},  // no count: characters, as Python reads it
	} {
		re, err := PyRegexp(tt.re)
		if err != nil {
			t.Errorf("%q: %v", tt.re, err)
			continue
		}
		if got := re.MatchString(tt.s); got != tt.want {
			t.Errorf("%q on %q: %v", tt.re, tt.s, got)
		}
	}
}
