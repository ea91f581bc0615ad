package fn

import (
	"context"
	"fmt"
	"math"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Graph functions: they set how a series is drawn, which
// JSON does not show, and some rename it.

func graphMoreFuncs() []*Func {
	return []*Func{
		{
			Name: "alpha", Group: "Graph",
			Description: "Sets the series' opacity in graphs; the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "alpha", Type: Float, Required: true},
			},
			Call: drawFn(expr.Number, func(d *series.Draw, a *expr.Expr) { d.Alpha = a.Number }),
		},
		{
			Name: "color", Group: "Graph",
			Description: "Sets the series' color in graphs; the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "theColor", Type: String, Required: true},
			},
			Call: drawFn(expr.String, func(d *series.Draw, a *expr.Expr) { d.Color = a.Text }),
		},
		{
			Name: "dashed", Group: "Graph",
			Description: "Draws the series dashed in graphs (dash length 5 by default); the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "dashLength", Type: Integer, Default: 5},
			},
			Tags: func(c *expr.Expr) map[string]string { return map[string]string{"dashed": argText(c, 1, "5")} },
			Call: dashedFn,
		},
		{
			Name: "drawAsInfinite", Group: "Graph",
			Description: "Draws each non-zero point as a vertical line in graphs; the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("drawAsInfinite"),
			Call: renameFn("drawAsInfinite", func(d *series.Draw) { d.DrawAsInfinite = true }),
		},
		{
			Name: "lineWidth", Group: "Graph",
			Description: "Sets the series' line width in graphs; the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "width", Type: Float, Required: true},
			},
			Call: drawFn(expr.Number, func(d *series.Draw, a *expr.Expr) { d.LineWidth = a.Number }),
		},
		{
			Name: "secondYAxis", Group: "Graph",
			Description: "Draws the series on the second Y axis in graphs; the values are unchanged.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("secondYAxis"),
			Call: renameFn("secondYAxis", func(d *series.Draw) { d.SecondYAxis = true }),
		},
		{
			Name: "stacked", Group: "Graph",
			Signature:   "stacked(seriesLists, stackName='__DEFAULT__')", // graphite-web's, which differs from its params
			Description: "Stacks the series: each point plus the same point of the series stacked before it in the request (under the same stack name).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "stack", Type: String},
			},
			Call: stackedFn,
		},
		{
			Name: "verticalLine", Group: "Graph",
			Description: "A vertical line at a time within the request's range, with an optional label and color.",
			Params: []Param{
				{Name: "ts", Type: Date, Required: true},
				{Name: "label", Type: String},
				{Name: "color", Type: String},
			},
			Call: verticalLineFn,
		},
	}
}

// drawFn is a function that only sets how series are drawn, from its
// second argument (of kind k): the series as they are.
func drawFn(k expr.Kind, set func(d *series.Draw, arg *expr.Expr)) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err == nil && c.Args[1].Kind != k {
			return nil, fmt.Errorf("%s(): argument 2: want a %s, got a %s", c.Text, kindName(k), kindName(c.Args[1].Kind))
		}
		for _, s := range list {
			set(&s.Draw, c.Args[1])
		}
		return list, err
	}
}

// renameFn names each series fn(name) and sets how it is drawn, its values
// as they are.
func renameFn(fn string, set func(d *series.Draw)) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 1)
		for _, s := range list {
			s.Name = fn + "(" + s.Name + ")"
			set(&s.Draw)
		}
		return list, err
	}
}

func dashedFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 2)
	if err != nil {
		return nil, err
	}
	five := 5.0
	n, err := numArg(c, 1, &five)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		s.Name = fmt.Sprintf("dashed(%s, %s)", s.Name, pyG(n))
		s.Draw.Dashed = n
	}
	return list, nil
}

// stackedFn adds each series to the running total of its stack, which the
// targets of a request share; a null stays null. Under the default stack
// the series are named stacked(name).
func stackedFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 2)
	if err != nil {
		return nil, err
	}
	stack := "__DEFAULT__"
	if len(c.Args) > 1 {
		if stack, err = strArg(c, 1); err != nil {
			return nil, err
		}
	}
	if err := chargeValues(ctx, list); err != nil {
		return nil, err
	}
	total := ev.stacks[stack]
	out := make([]*series.Series, 0, len(list))
	for _, s := range list {
		vals := make([]float64, len(s.Values))
		for i, v := range s.Values {
			if len(total) <= i {
				total = append(total, 0)
			}
			vals[i] = v
			if !math.IsNaN(v) {
				total[i] += v
				vals[i] = total[i]
			}
		}
		if stack == "__DEFAULT__" {
			m := with(s, "stacked("+s.Name+")", vals)
			withTag(m, "stacked", stack)
			out = append(out, m)
		} else {
			m := with(s, s.Name, vals)
			m.PathExpr = s.PathExpr
			out = append(out, m)
		}
	}
	for _, m := range out {
		m.Draw.Stacked = true
	}
	ev.stacks[stack] = total
	return out, nil
}

// verticalLineFn is one point of 1 at ts, which must be within the
// request's range.
func verticalLineFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 3); err != nil {
		return nil, err
	}
	text, err := strArg(c, 0)
	if err != nil {
		return nil, err
	}
	t, err := gtime.Parse(text, ev.now, ev.loc)
	if err != nil {
		return nil, fmt.Errorf("verticalLine(): %v", err)
	}
	ts := t.Unix()
	switch {
	case ts < ev.from.Unix():
		return nil, fmt.Errorf("verticalLine(): timestamp %d exists before start of range", ts)
	case ts > ev.until.Unix():
		return nil, fmt.Errorf("verticalLine(): timestamp %d exists after end of range", ts)
	}
	label := "None"
	if len(c.Args) > 1 && c.Args[1].Text != "" {
		if label, err = strArg(c, 1); err != nil {
			return nil, err
		}
	}
	line := &series.Series{Name: label, PathExpr: label, Start: ts, End: ts, Step: 1, Values: []float64{1, 1},
		Consolidate: "average", ValuesPerPoint: 1, Draw: series.Draw{DrawAsInfinite: true}}
	if len(c.Args) > 2 {
		if line.Draw.Color, err = strArg(c, 2); err != nil {
			return nil, err
		}
	}
	return []*series.Series{line}, nil
}
