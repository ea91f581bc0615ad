package api

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

func addPercentFunctions(fns map[string]fnImpl) {
	fns["asPercent"] = asPercentFn
}

func percentOf(v, total float64) float64 {
	if math.IsNaN(v) || math.IsNaN(total) || total == 0 {
		return math.NaN()
	}
	return v / total * 100
}

// asPercentFn is graphite-web's asPercent without node grouping: each
// series as a percentage of the sum of all, of a number, of one total
// series, or of the total series matched to it by sorted name.
func asPercentFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 2); err != nil {
		return nil, errUnsupported{"asPercent with nodes"}
	}
	list, err := ev.seriesArg(ctx, c, 0)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	for _, s := range list[1:] {
		if s.Step != list[0].Step {
			return nil, errUnsupported{"combining series of different steps (asPercent)"}
		}
	}
	var totalValues []float64
	var totalText string
	switch {
	case len(c.Args) == 1:
		agg, err := aggregateRows(ctx, "sum", "", list)
		if err != nil {
			return nil, err
		}
		totalValues = agg[0].Values
		totalText = "sumSeries(" + formatPathExprs(list) + ")"
	case c.Args[1].Kind == expr.Number:
		n := c.Args[1].Number
		if err := budget.Charge(ctx, int64(len(list[0].Values))); err != nil {
			return nil, err
		}
		totalValues = make([]float64, len(list[0].Values))
		for i := range totalValues {
			totalValues[i] = n
		}
		totalText = c.Args[1].Text
		if strings.ContainsAny(totalText, ".eE") {
			totalText = pyRepr(n)
		}
	default:
		total, err := ev.seriesArg(ctx, c, 1)
		if err != nil {
			return nil, err
		}
		if len(total) != 1 && len(total) != len(list) {
			return nil, fmt.Errorf("asPercent(): the second argument must be missing, a number, exactly 1 series or as many series as the first (got %d and %d)", len(list), len(total))
		}
		if len(total) == len(list) {
			a, b := sortedByName(list), sortedByName(total)
			out := make([]*series.Series, len(a))
			for i := range a {
				q, err := divide(ctx, a[i], b[i])
				if err != nil {
					return nil, err
				}
				for j, v := range q.Values {
					if !math.IsNaN(v) {
						q.Values[j] = v * 100
					}
				}
				q.Name = "asPercent(" + a[i].Name + "," + b[i].Name + ")"
				q.PathExpr, q.Tags = q.Name, tagsOf(q.Name)
				out[i] = q
			}
			return out, nil
		}
		if total[0].Step != list[0].Step {
			return nil, errUnsupported{"combining series of different steps (asPercent)"}
		}
		totalValues, totalText = total[0].Values, total[0].Name
	}
	if err := chargeValues(ctx, list); err != nil {
		return nil, err
	}
	out := make([]*series.Series, len(list))
	for i, s := range list {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			t := math.NaN()
			if j < len(totalValues) {
				t = totalValues[j]
			}
			vals[j] = percentOf(v, t)
		}
		text := totalText
		if text == "" {
			text = s.PathExpr
		}
		out[i] = with(s, "asPercent("+s.Name+","+text+")", vals)
		out[i].Tags = tagsOf(out[i].Name) // a new series in graphite-web, tagged by its name
	}
	return out, nil
}

func sortedByName(list []*series.Series) []*series.Series {
	s := slices.Clone(list)
	slices.SortStableFunc(s, func(a, b *series.Series) int { return strings.Compare(a.Name, b.Name) })
	return s
}
