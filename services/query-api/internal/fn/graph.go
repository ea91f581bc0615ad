package fn

import (
	"context"

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
