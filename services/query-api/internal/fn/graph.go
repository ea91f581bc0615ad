package fn

import (
	"context"
	"fmt"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Graph functions.

func graphFuncs() []*Func {
	return []*Func{
		{
			Name: "threshold", Group: "Graph",
			Description: "A horizontal line at a value, with an optional name and color.",
			Params: []Param{
				{Name: "value", Type: Float, Required: true},
				{Name: "label", Type: String},
				{Name: "color", Type: String},
			},
			Call: thresholdFn,
		},
		{
			Name: "areaBetween", Group: "Graph",
			Description: "Marks two series as the bounds of an area to fill, both named areaBetween(<upper>).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: areaBetweenFn,
		},
	}
}

func thresholdFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 3); err != nil {
		return nil, err
	}
	out, err := constantLineFn(ev, ctx, &expr.Expr{Kind: expr.Call, Text: "threshold", Args: c.Args[:1]})
	if err != nil {
		return nil, err
	}
	if len(c.Args) > 1 {
		label, err := strArg(c, 1)
		if err != nil {
			return nil, err
		}
		if label != "" {
			out[0].Name = label
		}
	}
	return out, nil
}

// areaBetweenFn marks the two series of the list as an area's bounds:
// both named areaBetween(<the upper's path expression>) with the upper's
// tags and areaBetween=1, their values as they are.
func areaBetweenFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 1)
	if err != nil {
		return nil, err
	}
	if len(list) != 2 {
		return nil, fmt.Errorf("areaBetween(): the series list must reference exactly 2 series (got %d)", len(list))
	}
	lower, upper := list[0], list[1]
	name := "areaBetween(" + upper.PathExpr + ")"
	withTag(upper, "areaBetween", "1")
	lower.Tags = upper.Tags
	lower.Name, upper.Name = name, name
	lower.Draw.Stacked, lower.Draw.Invisible, upper.Draw.Stacked = true, true, true
	return list, nil
}
