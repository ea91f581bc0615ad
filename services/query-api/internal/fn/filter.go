package fn

import (
	"context"
	"fmt"
	"math"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Filter Data and Filter Series functions.

func filterFuncs() []*Func {
	return []*Func{
		{
			Name: "averageAbove", Group: "Filter Series",
			Description: "The series whose average is above n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("average", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		},
		{
			Name: "averageBelow", Group: "Filter Series",
			Description: "The series whose average is at or below n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("average", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		},
		{
			Name: "currentAbove", Group: "Filter Series",
			Description: "The series whose last non-null value is above n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("last", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		},
		{
			Name: "currentBelow", Group: "Filter Series",
			Description: "The series whose last non-null value is at or below n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("last", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		},
		{
			Name: "exclude", Group: "Filter Series",
			Description: "The series whose name does not match a regular expression.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "pattern", Type: String, Required: true},
			},
			Call: grepFn(false),
		},
		{
			Name: "grep", Group: "Filter Series",
			Description: "The series whose name matches a regular expression.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "pattern", Type: String, Required: true},
			},
			Call: grepFn(true),
		},
		{
			Name: "highestAverage", Group: "Filter Series",
			Description: "The n series with the highest average.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: highestFn("average", true),
		},
		{
			Name: "highestCurrent", Group: "Filter Series",
			Description: "The n series with the highest last value.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: highestFn("last", true),
		},
		{
			Name: "highestMax", Group: "Filter Series",
			Description: "The n series with the highest maximum.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: highestFn("max", true),
		},
		{
			Name: "limit", Group: "Filter Series",
			Description: "The first n series.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: limitFn,
		},
		{
			Name: "lowestAverage", Group: "Filter Series",
			Description: "The n series with the lowest average.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: highestFn("average", false),
		},
		{
			Name: "lowestCurrent", Group: "Filter Series",
			Description: "The n series with the lowest last value.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Integer, Required: true},
			},
			Call: highestFn("last", false),
		},
		{
			Name: "maximumAbove", Group: "Filter Series",
			Description: "The series whose maximum is above n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("max", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		},
		{
			Name: "maximumBelow", Group: "Filter Series",
			Description: "The series whose maximum is at or below n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: filterFn("max", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		},
		{
			Name: "removeAboveValue", Group: "Filter Data",
			Description: "Nulls every point above n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: removeFn("removeAboveValue", func(v, n float64) bool { return v > n }),
		},
		{
			Name: "removeBelowValue", Group: "Filter Data",
			Description: "Nulls every point below n.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Call: removeFn("removeBelowValue", func(v, n float64) bool { return v < n }),
		},
		{
			Name: "removeEmptySeries", Group: "Filter Series",
			Description: "Drops the series that have no values.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "xFilesFactor", Type: Float},
			},
			Call: removeEmptySeriesFn,
		},
	}
}

func removeFn(name string, drop func(v, n float64) bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		n, err := numArg(c, 1, nil)
		if err != nil {
			return nil, err
		}
		return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
			vals := make([]float64, len(s.Values))
			for j, v := range s.Values {
				if math.IsNaN(v) || drop(v, n) {
					v = nan()
				}
				vals[j] = v
			}
			return with(s, name+"("+s.Name+", "+pyG(n)+")", vals)
		})
	}
}

func limitFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	return list[:max(0, min(int(n), len(list)))], nil
}

func grepFn(keep bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err != nil {
			return nil, err
		}
		pat, err := strArg(c, 1)
		if err != nil {
			return nil, err
		}
		re, err := PyRegexp(pat)
		if err != nil {
			return nil, fmt.Errorf("%s(): %v", c.Text, err)
		}
		var out []*series.Series
		for _, s := range list {
			if re.MatchString(s.Name) == keep {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

// seriesValue is graphite's aggregate of one series' non-null values; NaN
// when it has none.
func seriesValue(fn string, s *series.Series) float64 {
	return series.Aggregate(fn, s.Values)
}

func highestFn(fn string, highest bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 2)
		if err != nil {
			return nil, err
		}
		one := 1.0
		n, err := numArg(c, 1, &one)
		if err != nil {
			return nil, err
		}
		sortSeries(list, fn, highest)
		return list[:max(0, min(int(n), len(list)))], nil
	}
}

func filterFn(fn string, keep func(v, n float64) bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err != nil {
			return nil, err
		}
		n, err := numArg(c, 1, nil)
		if err != nil {
			return nil, err
		}
		var out []*series.Series
		for _, s := range list {
			if keep(seriesValue(fn, s), n) {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

func removeEmptySeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 2)
	if err != nil {
		return nil, err
	}
	zero := 0.0
	xff, err := numArg(c, 1, &zero)
	if err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		if n := nonNull(s.Values); n > 0 && float64(n)/float64(len(s.Values)) >= xff {
			out = append(out, s)
		}
	}
	return out, nil
}
