package fn

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Filter Series and Filter Data functions: by aggregation,
// by percentile, by deviation.

func filterMoreFuncs() []*Func {
	return []*Func{
		{
			Name: "highest", Group: "Filter Series",
			Signature:   "highest(seriesList, n=1, func='average')", // graphite-web's, which differs from its params
			Description: "The n series with the highest value of an aggregation (average by default).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
				{Name: "func", Type: AggFunc, Default: "average", Options: aggFuncOptions()},
			},
			Call: highestAggFn(true),
		},
		{
			Name: "lowest", Group: "Filter Series",
			Signature:   "lowest(seriesList, n=1, func='average')", // graphite-web's, which differs from its params
			Description: "The n series with the lowest value of an aggregation (average by default).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
				{Name: "func", Type: AggFunc, Default: "average", Options: aggFuncOptions()},
			},
			Call: highestAggFn(false),
		},
		{
			Name: "minimumAbove", Group: "Filter Series",
			Description: "The series whose minimum is above n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("min", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		},
		{
			Name: "minimumBelow", Group: "Filter Series",
			Description: "The series whose minimum is at or below n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("min", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		},
		{
			Name: "unique", Group: "Filter Series",
			Description: "The series of the lists, each name once (the first series of a name).",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: uniqueFn,
		},
		{
			Name: "removeAbovePercentile", Group: "Filter Data",
			Description: "Nulls every point above the nth percentile of its series.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: removePercentileFn("removeAbovePercentile", func(v, p float64) bool { return v > p }),
		},
		{
			Name: "removeBelowPercentile", Group: "Filter Data",
			Description: "Nulls every point below the nth percentile of its series.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: removePercentileFn("removeBelowPercentile", func(v, p float64) bool { return v < p }),
		},
		{
			Name: "removeBetweenPercentile", Group: "Filter Series",
			Description: "The series with at least one point outside the nth and (100-n)th percentiles of the points at its time.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: removeBetweenPercentileFn,
		},
		{
			Name: "averageOutsidePercentile", Group: "Filter Series",
			Description: "The series whose average is outside the nth and (100-n)th percentiles of the averages.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: averageOutsidePercentileFn,
		},
		{
			Name: "mostDeviant", Group: "Filter Series",
			Description: "The n series with the largest standard deviation.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: mostDeviantFn,
		},
		{
			Name: "filterSeries", Group: "Filter Series",
			Description: "The series whose aggregation (average, max, last...) compares to a threshold by an operator (=, !=, >, >=, <, <=).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Required: true, Options: aggFuncOptions()},
				{Name: "operator", Type: String, Required: true, Options: []any{"!=", "<", "<=", "=", ">", ">="}},
				{Name: "threshold", Type: Float, Required: true},
			},
			Call: filterSeriesFn,
		},
		{
			Name: "useSeriesAbove", Group: "Filter Series",
			Description: "For each series whose maximum is above value, the series named by a regular expression substitution on its name.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "value", Type: Float, Required: true},
				{Name: "search", Type: String, Required: true},
				{Name: "replace", Type: String, Required: true},
			},
			Call: useSeriesAboveFn,
		},
	}
}

// aggregationArg is argument i, an aggregation's name (def when absent), as
// Aggregate knows it.
func aggregationArg(c *expr.Expr, i int, def string) (string, error) {
	name := def
	if i < len(c.Args) {
		var err error
		if name, err = strArg(c, i); err != nil {
			return "", err
		}
	}
	fn, ok := series.AggregationName(name)
	if !ok {
		return "", fmt.Errorf("%s(): unsupported aggregation function %q", c.Text, name)
	}
	return fn, nil
}

func highestAggFn(highest bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 3)
		if err != nil {
			return nil, err
		}
		one := 1.0
		n, err := numArg(c, 1, &one)
		if err != nil {
			return nil, err
		}
		fn, err := aggregationArg(c, 2, "average")
		if err != nil {
			return nil, err
		}
		sortSeries(list, fn, highest)
		return list[:max(0, min(int(n), len(list)))], nil
	}
}

func uniqueFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	all, err := ev.allSeriesArgs(ctx, c)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*series.Series
	for _, s := range all {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// removePercentileFn nulls the points drop selects against the series' nth
// percentile (a series without values is left as it is).
func removePercentileFn(name string, drop func(v, p float64) bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		n, err := numArg(c, 1, nil)
		if err != nil {
			return nil, err
		}
		return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
			vals := append([]float64(nil), s.Values...)
			if p := percentile(s.Values, n, false); !math.IsNaN(p) {
				for j, v := range vals {
					if !math.IsNaN(v) && drop(v, p) {
						vals[j] = math.NaN()
					}
				}
			}
			out := with(s, fmt.Sprintf("%s(%s, %s)", name, s.Name, pyG(n)), vals)
			if !math.IsNaN(percentile(s.Values, n, false)) {
				// graphite-web computes it with nPercentile(), which tags the
				// series it is given
				withTag(out, "nPercentile", pyRepr(n))
			}
			return out
		})
	}
}

func removeBetweenPercentileFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n < 50 {
		n = 100 - n
	}
	cols := len(list[0].Values)
	for _, s := range list {
		cols = min(cols, len(s.Values))
	}
	lo, hi := make([]float64, cols), make([]float64, cols)
	col := make([]float64, len(list))
	for i := range cols {
		for k, s := range list {
			col[k] = s.Values[i]
		}
		lo[i], hi[i] = percentile(col, 100-n, false), percentile(col, n, false)
	}
	var out []*series.Series
	for _, s := range list {
		for i, v := range s.Values {
			if i < cols && !(lo[i] < v && v < hi[i]) {
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}

func averageOutsidePercentileFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n < 50 {
		n = 100 - n
	}
	avgs := make([]float64, len(list))
	for i, s := range list {
		avgs[i] = series.Aggregate("average", s.Values)
	}
	lo, hi := percentile(avgs, 100-n, false), percentile(avgs, n, false)
	var out []*series.Series
	for i, s := range list {
		if !(lo < avgs[i] && avgs[i] < hi) {
			out = append(out, s)
		}
	}
	return out, nil
}

func mostDeviantFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	type deviant struct {
		sigma float64
		s     *series.Series
	}
	var ds []deviant
	for _, s := range list {
		mean := series.Aggregate("average", s.Values)
		if math.IsNaN(mean) {
			continue
		}
		sq := 0.0
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				sq += (v - mean) * (v - mean)
			}
		}
		ds = append(ds, deviant{sq / float64(nonNull(s.Values)), s})
	}
	slices.SortStableFunc(ds, func(a, b deviant) int { return cmp.Compare(b.sigma, a.sigma) })
	var out []*series.Series
	for _, d := range ds[:max(0, min(int(n), len(ds)))] {
		out = append(out, d.s)
	}
	return out, nil
}

func filterSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 4, 4)
	if err != nil {
		return nil, err
	}
	fn, err := aggregationArg(c, 1, "")
	if err != nil {
		return nil, err
	}
	op, err := strArg(c, 2)
	if err != nil {
		return nil, err
	}
	threshold, err := numArg(c, 3, nil)
	if err != nil {
		return nil, err
	}
	var keep func(v float64) bool
	switch op {
	case "=":
		keep = func(v float64) bool { return !math.IsNaN(v) && v == threshold }
	case "!=":
		keep = func(v float64) bool { return math.IsNaN(v) || v != threshold }
	case ">":
		keep = func(v float64) bool { return !math.IsNaN(v) && v > threshold }
	case ">=":
		keep = func(v float64) bool { return !math.IsNaN(v) && v >= threshold }
	case "<":
		keep = func(v float64) bool { return math.IsNaN(v) || v < threshold }
	case "<=":
		keep = func(v float64) bool { return math.IsNaN(v) || v <= threshold }
	default:
		return nil, fmt.Errorf("filterSeries(): unsupported operator %q", op)
	}
	var out []*series.Series
	for _, s := range list {
		if keep(series.Aggregate(fn, s.Values)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// useSeriesAboveFn renames each series whose maximum is above value by a
// regular expression substitution and answers the series those names
// select, read again, as graphite-web's group() of them.
func useSeriesAboveFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 4, 4)
	if err != nil {
		return nil, err
	}
	value, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	search, err := strArg(c, 2)
	if err != nil {
		return nil, err
	}
	replace, err := strArg(c, 3)
	if err != nil {
		return nil, err
	}
	re, err := PyRegexp(search)
	if err != nil {
		return nil, fmt.Errorf("useSeriesAbove(): %v", err)
	}
	replace = pySub(replace)
	var out []*series.Series
	for _, s := range list {
		if m := series.Aggregate("max", s.Values); math.IsNaN(m) || m <= value {
			continue
		}
		found, err := ev.fetch(ctx, re.ReplaceAllString(s.Name, replace), ev.from, ev.until)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			if len(f.Values) > 0 {
				out = append(out, f)
			}
		}
	}
	return out, nil
}
