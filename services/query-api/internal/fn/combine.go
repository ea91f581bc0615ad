package fn

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

// The Combine functions.

func combineFuncs() []*Func {
	return []*Func{
		{
			Name: "aggregate", Group: "Combine",
			Description: "Combines the series point by point with an aggregation (average, sum, min, max, diff, stddev, count, range, multiply, last, median, avg_zero), keeping a point only where the share of non-null values reaches xFilesFactor.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Required: true, Options: aggFuncOptions()},
				{Name: "xFilesFactor", Type: Float},
			},
			Call: aggregateFn,
		},
		{
			Name: "asPercent", Group: "Combine",
			Description: "Each series as a percentage of a total: a number, one series, as many series as the first list, or the sum of the list when missing.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "total", Type: Any},
				{Name: "nodes", Type: NodeOrTag, Multiple: true},
			},
			Call: asPercentFn,
		},
		{
			Name: "averageSeries", Group: "Combine",
			Description: "The average of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("average", "averageSeries"),
		},
		{
			Name: "averageSeriesWithWildcards", Group: "Combine",
			Description: "Averages the series that differ only in the given node positions.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "position", Type: Node, Multiple: true},
			},
			Call: wildcardsFn("average"),
		},
		{
			Name: "avg", Group: "Combine",
			Description: "Short form of averageSeries.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("average", "averageSeries"),
		},
		{
			Name: "countSeries", Group: "Combine",
			Description: "The number of series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Multiple: true},
			},
			Call: countSeriesFn,
		},
		{
			Name: "diffSeries", Group: "Combine",
			Description: "The first series minus the others, point by point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("diff", "diffSeries"),
		},
		{
			Name: "divideSeries", Group: "Combine",
			Description: "Each series divided by a single divisor series, point by point (null where the divisor is 0 or null).",
			Params: []Param{
				{Name: "dividendSeriesList", Type: SeriesList, Required: true},
				{Name: "divisorSeries", Type: SeriesList, Required: true},
			},
			Call: divideSeriesFn,
		},
		{
			Name: "divideSeriesLists", Group: "Combine",
			Description: "Divides the series of two lists pairwise, in order.",
			Params: []Param{
				{Name: "dividendSeriesList", Type: SeriesList, Required: true},
				{Name: "divisorSeriesList", Type: SeriesList, Required: true},
			},
			Call: divideSeriesListsFn,
		},
		{
			Name: "group", Group: "Combine",
			Description: "Joins several series lists into one.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Multiple: true},
			},
			Call: groupFn,
		},
		{
			Name: "groupByNode", Group: "Combine",
			Description: "Groups the series by one node (or tag) of their path and combines each group with a callback (sum, average, ... or a series function name).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "nodeNum", Type: NodeOrTag, Required: true},
				{Name: "callback", Type: AggOrSeriesFunc, Default: "average", Options: aggOrSeriesFuncOptions()},
			},
			Call: groupByNodeFn,
		},
		{
			Name: "groupByNodes", Group: "Combine",
			Description: "Groups the series by several nodes (or tags) of their path and combines each group with a callback.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "callback", Type: AggOrSeriesFunc, Required: true, Options: aggOrSeriesFuncOptions()},
				{Name: "nodes", Type: NodeOrTag, Multiple: true},
			},
			Call: groupByNodesFn,
		},
		{
			Name: "groupByTags", Group: "Combine",
			Description: "Groups the series by the values of the given tags and combines each group with a callback; groups are named name;tag=value.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "callback", Type: AggOrSeriesFunc, Required: true, Options: aggOrSeriesFuncOptions()},
				{Name: "tags", Type: Tag, Required: true, Multiple: true},
			},
			Call: groupByTagsFn,
		},
		{
			Name: "maxSeries", Group: "Combine",
			Description: "The maximum of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("max", "maxSeries"),
		},
		{
			Name: "minSeries", Group: "Combine",
			Description: "The minimum of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("min", "minSeries"),
		},
		{
			Name: "multiplySeries", Group: "Combine",
			Description: "The product of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("multiply", "multiplySeries"),
		},
		{
			Name: "percentileOfSeries", Group: "Combine",
			Description: "The nth percentile of the series' values at each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
				{Name: "interpolate", Type: Boolean, Default: false},
			},
			Call: percentileOfSeriesFn,
		},
		{
			Name: "rangeOfSeries", Group: "Combine",
			Description: "The maximum minus the minimum of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("range", "rangeOfSeries"),
		},
		{
			Name: "stddevSeries", Group: "Combine",
			Description: "The standard deviation of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("stddev", "stddevSeries"),
		},
		{
			Name: "sum", Group: "Combine",
			Description: "Short form of sumSeries.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("sum", "sumSeries"),
		},
		{
			Name: "sumSeries", Group: "Combine",
			Description: "The sum of the series at each point.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: combineFn("sum", "sumSeries"),
		},
		{
			Name: "sumSeriesWithWildcards", Group: "Combine",
			Description: "Sums the series that differ only in the given node positions.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "position", Type: Node, Multiple: true},
			},
			Call: wildcardsFn("sum"),
		},
	}
}

// aggregateRows combines series step by step as graphite-web's aggregate()
// does after normalising them to one step (xFilesFactor 0: one non-null
// value is enough).
func aggregateRows(ctx context.Context, fn, name string, list []*series.Series) ([]*series.Series, error) {
	return aggregateRowsXFF(ctx, fn, name, list, 0)
}

// aggregateRowsXFF is aggregateRows where a step needs the share xff of
// its values non-null. The result's tags are those all the series share,
// its name and aggregatedBy, as graphite-web's aggregate() sets them.
func aggregateRowsXFF(ctx context.Context, fn, name string, list []*series.Series, xff float64) ([]*series.Series, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out, list, err := emptyOver(ctx, name, list)
	if err != nil {
		return nil, err
	}
	start, step, values := out.Start, out.Step, out.Values
	row := make([]float64, 0, len(list))
	for i := range values {
		row = row[:0]
		for _, s := range list {
			row = append(row, at(s, start, step, i))
		}
		if n := nonNull(row); n == 0 || float64(n)/float64(len(row)) < xff {
			values[i] = nan()
		} else {
			values[i] = series.Aggregate(fn, row)
		}
	}
	out.Tags = commonTags(list, name)
	if by, _, ok := strings.Cut(name, "Series("); ok && !strings.ContainsAny(by, "(,") {
		out.Tags["aggregatedBy"] = by
	}
	return []*series.Series{out}, nil
}

func combineFn(fn, prefix string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		if err := argCount(c, 1, 1<<20); err != nil {
			return nil, err
		}
		all, err := ev.allSeriesArgs(ctx, c)
		if err != nil {
			return nil, err
		}
		if prefix == "multiplySeries" && len(c.Args) == 1 && len(all) == 1 {
			return all, nil // graphite-web's multiplySeries returns a lone series as it is
		}
		return aggregateRows(ctx, fn, prefix+"("+formatPathExprs(all)+")", all)
	}
}

// countSeriesFn answers the number of series at every step, null or not.
func countSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if len(c.Args) == 0 {
		// graphite-web: constantLine(0), an int, so named "0".
		s := constantLine(ev, 0)
		s.Name, s.PathExpr = "0", "countSeries()"
		s.Tags = nameTags(s.Name)
		return []*series.Series{s}, nil
	}
	all, err := ev.allSeriesArgs(ctx, c)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return countSeriesOf(ctx, all)
}

// countSeriesOf is graphite-web's countSeries of a non-empty list: how many
// series there are, at every step.
func countSeriesOf(ctx context.Context, all []*series.Series) ([]*series.Series, error) {
	out, err := aggregateRows(ctx, "count", "countSeries("+formatPathExprs(all)+")", all)
	if err != nil {
		return nil, err
	}
	out[0].Tags = nameTags(out[0].Name) // graphite-web's countSeries is not an aggregate()
	for i := range out[0].Values {
		out[0].Values[i] = float64(len(all))
	}
	return out, nil
}

func aggregateFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 3)
	if err != nil {
		return nil, err
	}
	zero := 0.0
	xff, err := numArg(c, 2, &zero)
	if err != nil {
		return nil, err
	}
	name, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSuffix(name, "Series")
	fn, ok := series.AggregationName(name)
	if !ok {
		return nil, fmt.Errorf("aggregate(): unsupported aggregation function %q", name)
	}
	return aggregateRowsXFF(ctx, fn, name+"Series("+formatPathExprs(list)+")", list, xff)
}

func groupFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return ev.allSeriesArgs(ctx, c)
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
	if len(c.Args) > 2 {
		return asPercentByNodes(ev, ctx, c)
	}
	list, err := ev.seriesArg(ctx, c, 0)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	for _, s := range list[1:] {
		if s.Step != list[0].Step {
			return nil, ErrUnsupported{"combining series of different steps (asPercent)"}
		}
	}
	var totalValues []float64
	var totalText string
	switch {
	case len(c.Args) == 1 || c.Args[1].Kind == expr.None:
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
				q.PathExpr, q.Tags = q.Name, nameTags(q.Name)
				out[i] = q
			}
			return out, nil
		}
		if total[0].Step != list[0].Step {
			return nil, ErrUnsupported{"combining series of different steps (asPercent)"}
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
		out[i].Tags = nameTags(out[i].Name) // a new series in graphite-web, tagged by its name
	}
	return out, nil
}

// callbackFunc maps groupByNode's callback (a series function name or an
// aggregate name) to an aggregation.
func callbackFunc(cb string) (string, error) {
	switch cb {
	case "sumSeries":
		return "sum", nil
	case "averageSeries":
		return "average", nil
	case "maxSeries":
		return "max", nil
	case "minSeries":
		return "min", nil
	case "diffSeries":
		return "diff", nil
	case "multiplySeries":
		return "multiply", nil
	case "rangeOfSeries":
		return "range", nil
	}
	if fn, ok := series.AggregationName(strings.TrimSuffix(cb, "Series")); ok {
		return fn, nil
	}
	return "", ErrUnsupported{"the callback " + cb}
}

// callbackBy is what groupBy names a group's series by: aggregatedBy's
// name, or "countSeries", which graphite-web calls as the series function
// it is (counting series, not values).
func callbackBy(cb string) string {
	if cb == "countSeries" {
		return cb
	}
	return aggregatedBy(cb)
}

// aggregatedBy is the function graphite-web's aggregate() runs for a
// callback, as its series' name and aggregatedBy tag show it: the callback
// without "Series", with graphite's sum and avg aliases resolved.
func aggregatedBy(cb string) string {
	switch cb {
	case "avg":
		return "average"
	}
	return strings.TrimSuffix(cb, "Series")
}

// groupBy aggregates the series sharing a key, in order of first appearance;
// by names the aggregate (by+"Series(...)") in the tags.
func groupBy(ctx context.Context, list []*series.Series, by, fn string, key func(*series.Series) string) ([]*series.Series, error) {
	groups := map[string][]*series.Series{}
	var keys []string
	for _, s := range list {
		k := key(s)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	out := make([]*series.Series, 0, len(keys))
	for _, k := range keys {
		var agg []*series.Series
		var err error
		if by == "countSeries" { // the series function, called by name as graphite-web's callbacks are
			agg, err = countSeriesOf(ctx, groups[k])
		} else {
			agg, err = aggregateRows(ctx, fn, by+"Series("+formatPathExprs(groups[k])+")", groups[k])
		}
		if err != nil {
			return nil, err
		}
		agg[0].Name = k // graphite-web renames it; its path expression stays the aggregate's
		out = append(out, agg[0])
	}
	return out, nil
}

func groupByNodeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 3)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(&expr.Expr{Text: c.Text, Args: c.Args[1:2]}, 0)
	if err != nil {
		return nil, err
	}
	cb := "average"
	if len(c.Args) > 2 {
		if cb, err = strArg(c, 2); err != nil {
			return nil, err
		}
	}
	fn, err := callbackFunc(cb)
	if err != nil {
		return nil, err
	}
	return groupBy(ctx, list, callbackBy(cb), fn, func(s *series.Series) string { return nodeKey(s, nodes) })
}

// listAndCallback reads a (seriesList, callback, ...) call of at least lo
// arguments: the series, the callback as given and its aggregation.
func listAndCallback(ev *evaluator, ctx context.Context, c *expr.Expr, lo int) (list []*series.Series, cb, fn string, err error) {
	if list, err = ev.listArg(ctx, c, lo, 1<<10); err != nil {
		return nil, "", "", err
	}
	if cb, err = strArg(c, 1); err != nil {
		return nil, "", "", err
	}
	fn, err = callbackFunc(cb)
	return list, cb, fn, err
}

func groupByNodesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, cb, fn, err := listAndCallback(ev, ctx, c, 2)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(c, 2)
	if err != nil {
		return nil, err
	}
	return groupBy(ctx, list, callbackBy(cb), fn, func(s *series.Series) string { return nodeKey(s, nodes) })
}

// wildcardsFn aggregates by fn, or when fn is "" by the aggregation
// argument 1 names (aggregateWithWildcards), the series whose names differ
// only in the positions given by the arguments after.
func wildcardsFn(fn string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 1<<10)
		if err != nil {
			return nil, err
		}
		cb, first := fn, 1
		if fn == "" {
			if cb, err = strArg(c, 1); err != nil {
				return nil, err
			}
			first = 2
		}
		agg, ok := series.AggregationName(strings.TrimSuffix(cb, "Series"))
		if !ok {
			return nil, fmt.Errorf("%s(): unsupported aggregation function %q", c.Text, cb)
		}
		positions, err := positionArgs(c, first)
		if err != nil {
			return nil, err
		}
		return groupBy(ctx, list, strings.TrimSuffix(cb, "Series"), agg, func(s *series.Series) string {
			var kept []string
			for i, part := range strings.Split(s.Name, ".") {
				if !slices.Contains(positions, i) {
					kept = append(kept, part)
				}
			}
			return strings.Join(kept, ".")
		})
	}
}

func divide(ctx context.Context, a, b *series.Series) (*series.Series, error) {
	name := "divideSeries(" + a.Name + "," + b.Name + ")"
	out, both, err := emptyOver(ctx, name, []*series.Series{a, b})
	if err != nil {
		return nil, err
	}
	a, b = both[0], both[1]
	for i := range out.Values {
		va, vb := at(a, out.Start, out.Step, i), at(b, out.Start, out.Step, i)
		if math.IsNaN(va) || math.IsNaN(vb) || vb == 0 {
			out.Values[i] = math.NaN()
		} else {
			out.Values[i] = va / vb
		}
	}
	return out, nil
}

func divideSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	divisor, err := ev.seriesArg(ctx, c, 1)
	if err != nil {
		return nil, err
	}
	switch len(divisor) {
	case 0:
		if err := chargeValues(ctx, list); err != nil {
			return nil, err
		}
		out := make([]*series.Series, len(list))
		for i, s := range list {
			vals := make([]float64, len(s.Values))
			for j := range vals {
				vals[j] = math.NaN()
			}
			out[i] = with(s, "divideSeries("+s.Name+",MISSING)", vals)
		}
		return out, nil
	case 1:
	default:
		return nil, fmt.Errorf("divideSeries(): the second argument must reference exactly 1 series (got %d)", len(divisor))
	}
	out := make([]*series.Series, 0, len(list))
	for _, s := range list {
		q, err := divide(ctx, s, divisor[0])
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

func divideSeriesListsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	a, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	b, err := ev.seriesArg(ctx, c, 1)
	if err != nil {
		return nil, err
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("divideSeriesLists(): the lists must have equal length (%d and %d)", len(a), len(b))
	}
	out := make([]*series.Series, 0, len(a))
	for i := range a {
		q, err := divide(ctx, a[i], b[i])
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// groupByTagsFn groups series by the values of the given tags and
// aggregates each group; the group's name is the series' common name tag
// (or the callback's name when they differ, unless name is among the tags)
// with the tags sorted after it, and its tags are parsed from that name.
func groupByTagsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, cb, fn, err := listAndCallback(ev, ctx, c, 3)
	if err != nil {
		return nil, err
	}
	var tags []string
	for i := 2; i < len(c.Args); i++ {
		t, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	byName := slices.Contains(tags, "name")
	name := cb
	if !byName {
		names := map[string]bool{}
		for _, s := range list {
			names[seriesTags(s)["name"]] = true
		}
		if len(names) == 1 {
			for n := range names {
				name = n
			}
		}
	}
	out, err := groupBy(ctx, list, callbackBy(cb), fn, func(s *series.Series) string {
		st := seriesTags(s)
		var kv []string
		for _, t := range tags {
			if t != "name" {
				kv = append(kv, t+"="+st[t])
			}
		}
		slices.Sort(kv)
		head := name
		if byName {
			head = st["name"]
		}
		return strings.Join(append([]string{head}, kv...), ";")
	})
	for _, s := range out {
		s.PathExpr = s.Name
		s.Tags = nameTags(s.Name)
	}
	return out, err
}

func percentileOfSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 3)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("percentileOfSeries(): the percent must be greater than 0")
	}
	interpolate := Truthy(c, 2, false)
	name := fmt.Sprintf("percentileOfSeries(%s,%s)", list[0].PathExpr, pyG(n))
	s, list, err := emptyOver(ctx, name, list)
	if err != nil {
		return nil, err
	}
	out := []*series.Series{s}
	row := make([]float64, len(list))
	for i := range out[0].Values {
		for k, s := range list {
			row[k] = at(s, out[0].Start, out[0].Step, i)
		}
		out[0].Values[i] = percentile(row, n, interpolate)
	}
	return out, nil
}
