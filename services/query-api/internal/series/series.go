// Package series holds query-api's time series and the parts of
// graphite-web's rendering that do not depend on functions: choosing the
// resolution, fitting stored points to steps, and maxDataPoints consolidation
// exactly as graphite-web 1.1 does it.
package series

import (
	"math"
	"time"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
)

// Series is one rendered series. Values are NaN where there is no data
// (JSON null).
type Series struct {
	Name           string
	PathExpr       string // the pattern or expression that produced it, for combined names
	Start, End     int64  // seconds; End is exclusive
	Step           int64
	Values         []float64
	Consolidate    string  // average, sum, min, max, first, last
	XFilesFactor   float64 // share of non-null values a consolidated point needs
	ValuesPerPoint int
	// Tags are graphite's series tags: the path's (at least name) when
	// read, then as functions set them. Shared between copies: replace the
	// map, never write to it.
	Tags map[string]string
	// Draw is how graphite's Graph functions ask for the series to be
	// drawn in a graph image; JSON does not show it.
	Draw Draw
}

// Draw is graphite-web's series.color and series.options: zero values
// are graphite's defaults.
type Draw struct {
	Color          string  // color(): a color name or hex
	Alpha          float64 // alpha(): opacity in (0, 1]; 0 is unset
	LineWidth      float64 // lineWidth(); 0 is unset
	Dashed         float64 // dashed(): the dash length; 0 is a solid line
	Stacked        bool    // stacked(), areaBetween()
	Invisible      bool    // areaBetween()'s lower bound
	SecondYAxis    bool    // secondYAxis()
	DrawAsInfinite bool    // drawAsInfinite(), verticalLine()
}

// Choose returns the resolution graphite's whisper would read: the finest
// whose TTL covers from (relative to now), else the coarsest.
func Choose(res []rollup.Resolution, from, now time.Time) rollup.Resolution {
	if len(res) == 0 {
		return rollup.Resolution{Step: time.Minute, TTL: time.Hour}
	}
	age := now.Sub(from)
	for _, r := range res {
		if r.TTL >= age {
			return r
		}
	}
	return res[len(res)-1]
}

// Column names which aggregate of a stored point answers a series: the
// reducer the aggregators' name rules give it (pkg/bus).
type Column = bus.Reducer

// The columns.
const (
	Sum  = bus.Sum
	Max  = bus.Max
	Min  = bus.Min
	Last = bus.Last
	Mean = bus.Mean
)

// ColumnFor returns the column a path is read from: consolidateBy (sum,
// max, min, last, average) when given, else the name rules' reducer, the
// aggregators' rules (bus.ParseRules).
func ColumnFor(rules []bus.Rule, path, consolidateBy string) Column {
	switch consolidateBy {
	case "sum":
		return Sum
	case "max":
		return Max
	case "min":
		return Min
	case "last":
		return Last
	case "average", "avg":
		return Mean
	}
	return bus.ReducerFor(rules, path)
}

func value(p rollup.Point, c Column) float64 { return bus.Value(c, p) }

// Fit places points on whisper's steps for [from, until): the series starts
// at the step after from's and ends at the step after until's, as whisper's
// fetch does; steps without a point are NaN.
func Fit(name string, pts []rollup.Point, res rollup.Resolution, from, until int64, col Column) *Series {
	step := res.Seconds()
	start, end := Span(step, from, until)
	vals := make([]float64, max(0, (end-start)/step))
	for i := range vals {
		vals[i] = math.NaN()
	}
	s := OnSteps(name, vals, res, from, until)
	for _, p := range pts {
		if p.Time < start || p.Time >= end {
			continue
		}
		s.Values[(p.Time-start)/step] = value(p, col)
	}
	return s
}

// OnSteps is the series of values already on Fit's steps for [from, until)
// (Span: vals[i] is the step start + i×step's value, NaN for none; there
// are (end-start)/step of them). The series keeps vals.
func OnSteps(name string, vals []float64, res rollup.Resolution, from, until int64) *Series {
	step := res.Seconds()
	start, end := Span(step, from, until)
	return &Series{Name: name, PathExpr: name, Start: start, End: end, Step: step, Values: vals, Consolidate: "average", ValuesPerPoint: 1}
}

// Span is where Fit places a series read over [from, until] at step:
// [start, end), (end-start)/step values.
func Span(step, from, until int64) (start, end int64) {
	return from - Mod(from, step) + step, until - Mod(until, step) + step
}

// Mod is a modulo that is never negative for a positive b.
func Mod(a, b int64) int64 { return ((a % b) + b) % b }

// Point is one rendered datapoint; Value is NaN for null.
type Point struct {
	Value float64
	Time  int64
}

// Datapoints returns the series as graphite-web's render view emits it,
// consolidating to at most maxDataPoints over timeRange (0: no limit; the
// JSON render passes the span of the series answered, as graphite-web), with graphite-web 1.1's algorithm and its quirks: the start
// is nudged so consolidation bands align between calls, and a number of
// leading values one fewer than the nudge covers is dropped.
func (s *Series) Datapoints(maxDataPoints int, timeRange int64) []Point {
	values, start, step := s.Consolidated(maxDataPoints, timeRange)
	out := make([]Point, len(values))
	for i, v := range values {
		out[i] = Point{v, start + int64(i)*step}
	}
	return out
}

// Consolidated returns what Datapoints pairs with times without making the
// points: values[i] is the datapoint at start + i×step. values may be the
// series' own (read them, do not change them).
func (s *Series) Consolidated(maxDataPoints int, timeRange int64) (values []float64, start, step int64) {
	values, start, step = s.Values, s.Start, s.Step
	end := s.End
	if maxDataPoints == 1 && len(values) > 0 {
		// graphite-web's render view consolidates every value of the series
		// into one point, at its start, whatever the time range.
		vpp := len(values)
		return Consolidate(values, vpp, s.Consolidate, s.XFilesFactor), start, step * int64(vpp)
	}
	if n := float64(timeRange) / float64(step); maxDataPoints > 0 && float64(maxDataPoints) < n {
		vpp := int(math.Ceil(n / float64(maxDataPoints)))
		spp := int64(vpp) * step
		nudge := spp + Mod(start, step) - Mod(start, spp)
		start += nudge
		lose := int(nudge / step)
		for r := 1; r < lose && len(values) > 0; r++ {
			values = values[1:]
		}
		values = Consolidate(values, vpp, s.Consolidate, s.XFilesFactor)
		step, end = spp, s.End+1
	}
	// The points graphite-web pairs with range(start, end+1, step): those
	// at start + i×step ≤ end (a series holds one value past its end only
	// where graphite-web's does, as exponentialMovingAverage's).
	if n := int64(len(values)); n > 0 && start+(n-1)*step > end {
		values = values[:max(0, (end-start)/step+1)]
	}
	return values, start, step
}

// Consolidate groups values by vpp with graphite's consolidation functions
// (Aggregate's: average, sum, min, max, first, last; "" is average) and
// xFilesFactor (a last, shorter group is judged against vpp too).
func Consolidate(values []float64, vpp int, fn string, xff float64) []float64 {
	if fn == "" {
		fn = "average"
	}
	var out []float64
	for i := 0; i < len(values); i += vpp {
		group := values[i:min(i+vpp, len(values))]
		if n := nonNull(group); n == 0 || float64(n)/float64(vpp) < xff {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, Aggregate(fn, group))
	}
	return out
}
