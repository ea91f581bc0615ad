package fn

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Special functions.

func specialFuncs() []*Func {
	return []*Func{
		{
			Name: "consolidateBy", Group: "Special",
			Description: "Sets how points are combined when a series has more points than maxDataPoints: average, sum, min, max, first or last.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "consolidationFunc", Type: String, Required: true, Options: []any{"average", "avg", "avg_zero", "first", "last", "max", "min", "sum"}},
			},
			Tags: tagRaw("consolidateBy"),
			Call: consolidateByFn,
		},
		{
			Name: "constantLine", Group: "Special",
			Description: "A horizontal line at a value over the requested range.",
			Params: []Param{
				{Name: "value", Type: Float, Required: true},
			},
			Call: constantLineFn,
		},
		{
			Name: "cumulative", Group: "Special",
			Description: "Consolidates by sum when points are combined for maxDataPoints (consolidateBy(series, \"sum\")).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: cumulativeTags,
			Call: cumulativeFn,
		},
		{
			Name: "fallbackSeries", Group: "Special",
			Description: "The series list, or the fallback list when the first is empty.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "fallback", Type: SeriesList, Required: true},
			},
			Call: fallbackSeriesFn,
		},
		{
			Name: "seriesByTag", Group: "Special",
			Description: "The series whose tags match every expression: tag=value, tag!=value, tag=~regex, tag!=~regex.",
			Params: []Param{
				{Name: "tagExpressions", Type: String, Required: true, Multiple: true},
			},
			Call: seriesByTagFn,
		},
		{
			Name: "changed", Group: "Special",
			Description: "1 where a series' value differs from the last non-null one before it, else 0.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: changedFn,
		},
	}
}

func consolidateByFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	fn, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	switch fn {
	case "average", "avg", "avg_zero", "sum", "min", "max", "first", "last":
	default:
		return nil, fmt.Errorf("consolidateBy(): invalid consolidation function %q", fn)
	}
	return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
		out := with(s, `consolidateBy(`+s.Name+`,"`+fn+`")`, s.Values)
		out.Consolidate = fn
		if fn == "avg" {
			out.Consolidate = "average"
		}
		return out
	})
}

func fallbackSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil || len(list) > 0 {
		return list, err
	}
	return ev.seriesArg(ctx, c, 1)
}

func cumulativeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		out := with(s, `consolidateBy(`+s.Name+`,"sum")`, s.Values)
		out.Consolidate = "sum"
		return out
	})
}

// seriesByTagFn selects the series whose tags (and name) match every
// expression, in path order; their path expression is the call itself, as
// graphite-web names them in combined series.
func seriesByTagFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if len(c.Args) == 0 || len(c.Kwargs) > 0 {
		return nil, fmt.Errorf("seriesByTag(): give one or more quoted tag expressions")
	}
	var matchers []TagMatcher
	var quoted []string
	allMatchEmpty := true
	for i := range c.Args {
		s, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		m, err := ParseTagExpr(s)
		if err != nil {
			return nil, err
		}
		matchers = append(matchers, m)
		quoted = append(quoted, `"`+s+`"`)
		allMatchEmpty = allMatchEmpty && m.Match(map[string]string{})
	}
	if allMatchEmpty {
		return nil, fmt.Errorf("seriesByTag(): at least one tag expression must not match the empty string")
	}
	if ev.tagPaths == nil {
		return nil, ErrUnsupported{"seriesByTag without a path index"}
	}
	paths, err := ev.tagPaths(ctx, matchers)
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	pathExpr := "seriesByTag(" + strings.Join(quoted, ",") + ")"
	if c.Raw != "" {
		pathExpr = c.Raw // graphite-web names the series' path expression by the call as written
	}
	var out []*series.Series
	for _, p := range paths {
		tags := TagsOf(p)
		if !slices.ContainsFunc(matchers, func(m TagMatcher) bool { return !m.Match(tags) }) {
			list, err := ev.fetch(ctx, p, ev.from, ev.until)
			if err != nil {
				return nil, err
			}
			for _, s := range list {
				if s.Name == p {
					s.PathExpr = pathExpr
					out = append(out, s)
				}
			}
		}
	}
	return out, nil
}

func constantLineFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 1); err != nil {
		return nil, err
	}
	v, err := numArg(c, 0, nil)
	if err != nil {
		return nil, err
	}
	return []*series.Series{constantLine(ev, v)}, nil
}

// constantLine is graphite-web's constantLine(value): three points over
// the request's range, named by the value.
func constantLine(ev *evaluator, v float64) *series.Series {
	start, end := ev.from.Unix(), ev.until.Unix()
	step := max(1, (end-start)/2)
	name := pyRepr(v)
	return &series.Series{Name: name, PathExpr: "constantLine(" + name + ")", Start: start, End: start + 3*step, Step: step,
		Values: []float64{v, v, v}, Consolidate: "average", ValuesPerPoint: 1, Tags: nameTags(name)}
}

// cumulativeTags: cumulative is consolidateBy(seriesList, "sum").
func cumulativeTags(*expr.Expr) map[string]string { return map[string]string{"consolidateBy": "sum"} }

func changedFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		prev := math.NaN()
		for j, v := range s.Values {
			switch {
			case math.IsNaN(prev):
				prev = v
			case !math.IsNaN(v) && v != prev:
				vals[j] = 1
				prev = v
			}
		}
		return with(s, "changed("+s.Name+")", vals)
	})
}
