package fn

import (
	"context"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Sorting functions.

func sortingFuncs() []*Func {
	return []*Func{
		{
			Name: "sortByMaxima", Group: "Sorting",
			Description: "Sorts the series by their maximum, highest first.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: sortByFn("max", true),
		},
		{
			Name: "sortByMinima", Group: "Sorting",
			Description: "Sorts the series by their minimum, lowest first.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: sortByMinimaFn,
		},
		{
			Name: "sortByName", Group: "Sorting",
			Description: "Sorts the series by name (natural order optional), optionally reversed.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "natural", Type: Boolean, Default: false},
				{Name: "reverse", Type: Boolean, Default: false},
			},
			Call: sortByNameFn,
		},
		{
			Name: "sortByTotal", Group: "Sorting",
			Description: "Sorts the series by the sum of their values, highest first.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: sortByFn("sum", true),
		},
		{
			Name: "sortBy", Group: "Sorting",
			Description: "Sorts the series by an aggregation of their values (average by default), optionally reversed.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Default: "average", Options: aggFuncOptions()},
				{Name: "reverse", Type: Boolean, Default: false},
			},
			Call: sortByAggFn,
		},
	}
}

func sortByNameFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	boolAt := func(i int) bool { return Truthy(c, i, false) }
	natural, reverse := boolAt(1), boolAt(2)
	key := func(s *series.Series) string { return s.Name }
	if natural {
		digits := regexp.MustCompile(`\d+`)
		key = func(s *series.Series) string {
			return digits.ReplaceAllStringFunc(s.Name, func(d string) string {
				return strings.Repeat("0", max(0, 10-len(d))) + d
			})
		}
	}
	slices.SortStableFunc(list, func(a, b *series.Series) int {
		r := strings.Compare(key(a), key(b))
		if reverse {
			r = -r
		}
		return r
	})
	return list, nil
}

// sortKey is graphite-web's keyFunc: a series without values sorts as -inf.
func sortKey(fn string, s *series.Series) float64 {
	if v := seriesValue(fn, s); !math.IsNaN(v) {
		return v
	}
	return math.Inf(-1)
}

func sortSeries(list []*series.Series, fn string, reverse bool) {
	slices.SortStableFunc(list, func(a, b *series.Series) int {
		ka, kb := sortKey(fn, a), sortKey(fn, b)
		r := 0
		if ka < kb {
			r = -1
		} else if ka > kb {
			r = 1
		}
		if reverse {
			r = -r
		}
		return r
	})
}

func sortByFn(fn string, reverse bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 1)
		if err != nil {
			return nil, err
		}
		sortSeries(list, fn, reverse)
		return list, nil
	}
}

func sortByMinimaFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 1)
	if err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		if m := seriesValue("max", s); !math.IsNaN(m) && m > 0 {
			out = append(out, s)
		}
	}
	sortSeries(out, "min", false)
	return out, nil
}

// sortByAggFn sorts by an aggregation of each series (graphite-web's sortBy).
func sortByAggFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	fn, err := aggregationArg(c, 1, "average")
	if err != nil {
		return nil, err
	}
	reverse := Truthy(c, 2, false)
	sortSeries(list, fn, reverse)
	return list, nil
}
