package fn

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Combine functions: pairing two lists, wildcards by any
// aggregation, templates by node, weighted averages, powers.

func combineMoreFuncs() []*Func {
	return []*Func{
		{
			Name: "aggregateSeriesLists", Group: "Combine",
			Description: "Aggregates the series of two lists pairwise, in order, with an aggregation and an optional xFilesFactor.",
			Params: []Param{
				{Name: "seriesListFirstPos", Type: SeriesList, Required: true},
				{Name: "seriesListSecondPos", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Required: true, Options: aggFuncOptions()},
				{Name: "xFilesFactor", Type: Float},
			},
			Call: seriesListsFn(""),
		},
		{
			Name: "sumSeriesLists", Group: "Combine",
			Description: "Sums the series of two lists pairwise, in order.",
			Params: []Param{
				{Name: "seriesListFirstPos", Type: SeriesList, Required: true},
				{Name: "seriesListSecondPos", Type: SeriesList, Required: true},
			},
			Call: seriesListsFn("sum"),
		},
		{
			Name: "diffSeriesLists", Group: "Combine",
			Description: "Subtracts the series of the second list from those of the first, pairwise, in order.",
			Params: []Param{
				{Name: "seriesListFirstPos", Type: SeriesList, Required: true},
				{Name: "seriesListSecondPos", Type: SeriesList, Required: true},
			},
			Call: seriesListsFn("diff"),
		},
		{
			Name: "multiplySeriesLists", Group: "Combine",
			Description: "Multiplies the series of two lists pairwise, in order.",
			Params: []Param{
				{Name: "seriesListFirstPos", Type: SeriesList, Required: true},
				{Name: "seriesListSecondPos", Type: SeriesList, Required: true},
			},
			Call: seriesListsFn("multiply"),
		},
		{
			Name: "aggregateWithWildcards", Group: "Combine",
			Signature:   "aggregateWithWildcards(seriesList, func, *positions)", // graphite-web's, which differs from its params
			Description: "Aggregates the series that differ only in the given node positions.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Required: true, Options: aggFuncOptions()},
				{Name: "position", Type: Node, Multiple: true},
			},
			Call: wildcardsFn(""),
		},
		{
			Name: "multiplySeriesWithWildcards", Group: "Combine",
			Description: "Multiplies the series that differ only in the given node positions.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "position", Type: Node, Multiple: true},
			},
			Call: wildcardsFn("multiply"),
		},
		{
			Name: "applyByNode", Group: "Combine",
			Description: "For each distinct path prefix up to nodeNum, evaluates a template target with % replaced by the prefix, optionally renamed by newName (% replaced too).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "nodeNum", Type: Node, Required: true},
				{Name: "templateFunction", Type: String, Required: true},
				{Name: "newName", Type: String},
			},
			Call: applyByNodeFn,
		},
		{
			Name: "weightedAverage", Group: "Combine",
			Description: "The average of the first list weighted by the second, the series paired by the given nodes.",
			Params: []Param{
				{Name: "seriesListAvg", Type: SeriesList, Required: true},
				{Name: "seriesListWeight", Type: SeriesList, Required: true},
				{Name: "nodes", Type: NodeOrTag, Multiple: true},
			},
			Call: weightedAverageFn,
		},
		{
			Name: "powSeries", Group: "Combine",
			Signature:   "powSeries(*seriesLists)", // graphite-web's, which differs from its params
			Description: "The first series raised to the power of the second, and so on, point by point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true, Multiple: true},
			},
			Call: powSeriesFn,
		},
		{
			Name: "pct", Group: "Combine",
			Description: "Short form of asPercent.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "total", Type: Any},
				{Name: "nodes", Type: NodeOrTag, Multiple: true},
			},
			Call: asPercentFn,
		},
	}
}

// seriesListsFn aggregates the series of two lists pairwise by fn, or
// when fn is "" by the aggregation argument 2 names with argument 3's
// xFilesFactor (aggregateSeriesLists).
func seriesListsFn(fn string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		hi := 2
		if fn == "" {
			hi = 4
		}
		a, err := ev.listArg(ctx, c, 2, hi)
		if err != nil {
			return nil, err
		}
		b, err := ev.seriesArg(ctx, c, 1)
		if err != nil {
			return nil, err
		}
		name, xff := fn, 0.0
		if fn == "" {
			if name, err = strArg(c, 2); err != nil {
				return nil, err
			}
			zero := 0.0
			if xff, err = numArg(c, 3, &zero); err != nil {
				return nil, err
			}
		}
		name = strings.TrimSuffix(name, "Series")
		agg, ok := series.AggregationName(name)
		if !ok {
			return nil, fmt.Errorf("%s(): unsupported aggregation function %q", c.Text, name)
		}
		if len(a) != len(b) {
			return nil, fmt.Errorf("%s(): seriesListFirstPos and seriesListSecondPos argument must have equal length (%d and %d)", c.Text, len(a), len(b))
		}
		out := make([]*series.Series, 0, len(a))
		for i := range a {
			pair := []*series.Series{a[i], b[i]}
			r, err := aggregateRowsXFF(ctx, agg, name+"Series("+formatPathExprs(pair)+")", pair, xff)
			if err != nil {
				return nil, err
			}
			r[0].Name = name + "Series(" + a[i].Name + "," + b[i].Name + ")"
			out = append(out, r[0])
		}
		return out, nil
	}
}

// applyByNodeFn evaluates the template for each path prefix (nodes 0 to
// nodeNum), in sorted order. As in graphite-web, each result takes the
// start and end of the last series given.
func applyByNodeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 3, 4)
	if err != nil {
		return nil, err
	}
	nodes, err := positionArgs(&expr.Expr{Text: c.Text, Args: c.Args[1:2]}, 0)
	if err != nil {
		return nil, err
	}
	template, err := strArg(c, 2)
	if err != nil {
		return nil, err
	}
	newName := ""
	if len(c.Args) > 3 {
		if newName, err = strArg(c, 3); err != nil {
			return nil, err
		}
	}
	if len(list) == 0 {
		return nil, nil
	}
	set := map[string]bool{}
	for _, s := range list {
		parts := strings.Split(s.Name, ".")
		set[strings.Join(parts[:max(0, min(nodes[0]+1, len(parts)))], ".")] = true
	}
	last := list[len(list)-1]
	var out []*series.Series
	for _, prefix := range slices.Sorted(maps.Keys(set)) {
		e, err := expr.Parse(strings.ReplaceAll(template, "%", prefix))
		if err != nil {
			return nil, fmt.Errorf("applyByNode(): template for %s: %v", prefix, err)
		}
		results, err := ev.eval(ctx, e)
		if err != nil {
			return nil, err
		}
		for _, r := range results {
			if newName != "" {
				r.Name = strings.ReplaceAll(newName, "%", prefix)
			}
			r.PathExpr, r.Start, r.End = prefix, last.Start, last.End
			out = append(out, r)
		}
	}
	return out, nil
}

// weightedAverageFn pairs the series of the two lists by their nodes,
// multiplies each pair value by value (by position, as graphite-web does),
// and divides the sum of the products by the sum of the weights.
func weightedAverageFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	avgs, err := ev.listArg(ctx, c, 2, 1<<10)
	if err != nil {
		return nil, err
	}
	weights, err := ev.seriesArg(ctx, c, 1)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(c, 2)
	if err != nil {
		return nil, err
	}
	if len(avgs) != len(weights) {
		return nil, fmt.Errorf("weightedAverage(): must receive the same number of series for seriesListAvg and seriesListWeight but received respectively %d and %d", len(avgs), len(weights))
	}
	type pair struct{ avg, weight *series.Series }
	pairs := map[string]*pair{}
	var keys []string
	get := func(k string) *pair {
		if pairs[k] == nil {
			pairs[k] = &pair{}
			keys = append(keys, k)
		}
		return pairs[k]
	}
	for i := range avgs {
		get(nodeKey(avgs[i], nodes)).avg = avgs[i]
		get(nodeKey(weights[i], nodes)).weight = weights[i]
	}
	var products []*series.Series
	for _, k := range keys {
		p := pairs[k]
		if p.avg == nil || p.weight == nil {
			continue
		}
		n := max(len(p.avg.Values), len(p.weight.Values))
		vals := make([]float64, n)
		for j := range vals {
			vals[j] = valueAt(p.avg.Values, j) * valueAt(p.weight.Values, j) // NaN when either is
		}
		name := "product(" + p.weight.Name + "," + p.avg.Name + ")"
		products = append(products, &series.Series{Name: name, PathExpr: name, Start: p.avg.Start, End: p.avg.End,
			Step: p.avg.Step, Values: vals, Consolidate: "average", ValuesPerPoint: 1, XFilesFactor: p.avg.XFilesFactor})
	}
	if len(products) == 0 {
		return nil, nil
	}
	sumProducts, err := aggregateRows(ctx, "sum", "sumSeries("+formatPathExprs(products)+")", products)
	if err != nil {
		return nil, err
	}
	sumWeights, err := aggregateRows(ctx, "sum", "sumSeries("+formatPathExprs(weights)+")", weights)
	if err != nil {
		return nil, err
	}
	sp, sw := sumProducts[0], sumWeights[0]
	vals := make([]float64, max(len(sp.Values), len(sw.Values)))
	for j := range vals {
		w := valueAt(sw.Values, j)
		vals[j] = math.NaN()
		if w != 0 && !math.IsNaN(w) {
			vals[j] = valueAt(sp.Values, j) / w
		}
	}
	var nodeTexts []string
	for _, nt := range nodes {
		if nt.isTag {
			nodeTexts = append(nodeTexts, nt.tag)
		} else {
			nodeTexts = append(nodeTexts, strconv.Itoa(nt.n))
		}
	}
	name := fmt.Sprintf("weightedAverage(%s, %s, %s)", sortedPathExprs(avgs), sortedPathExprs(weights), strings.Join(nodeTexts, ","))
	return []*series.Series{{Name: name, PathExpr: name, Start: sp.Start, End: sp.End, Step: sp.Step, Values: vals,
		Consolidate: "average", ValuesPerPoint: 1, Tags: nameTags(name)}}, nil
}

// valueAt is vs[i], NaN (None) past its end, as izip_longest pads.
func valueAt(vs []float64, i int) float64 {
	if i < len(vs) {
		return vs[i]
	}
	return math.NaN()
}

// sortedPathExprs is the series' distinct path expressions, sorted, joined
// by commas.
func sortedPathExprs(list []*series.Series) string {
	set := map[string]bool{}
	for _, s := range list {
		set[s.PathExpr] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ",")
}

// powSeriesFn raises the first series to the power of the second, and so
// on, point by point after graphite-web's normalize.
func powSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	all, err := ev.allSeriesArgs(ctx, c)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	out, list, err := emptyOver(ctx, "powSeries("+strings.Join(names, ",")+")", all)
	if err != nil {
		return nil, err
	}
	for i := range out.Values {
		v := at(list[0], out.Start, out.Step, i)
		for _, s := range list[1:] {
			if math.IsNaN(v) {
				break
			}
			v = safePow(v, at(s, out.Start, out.Step, i))
		}
		out.Values[i] = v
	}
	return []*series.Series{out}, nil
}

// asPercentByNodes is asPercent(seriesList, total, *nodes): the series
// and the total series are grouped by the nodes; each series is a
// percentage of its group's total (the sum when the group has several).
// A group without total, or a total without series, gives nulls named
// MISSING, over the range of the pair last computed, as graphite-web does
// (which fails when there is none yet).
func asPercentByNodes(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.seriesArg(ctx, c, 0)
	if err != nil {
		return nil, err
	}
	if a := c.Args[1]; a.Kind != expr.Path && a.Kind != expr.Call {
		return nil, fmt.Errorf("asPercent(): with nodes, total must be a series list")
	}
	totals, err := ev.seriesArg(ctx, c, 1)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(c, 2)
	if err != nil {
		return nil, err
	}
	var keys []string
	group := func(l []*series.Series) map[string][]*series.Series {
		m := map[string][]*series.Series{}
		for _, s := range l {
			k := nodeKey(s, nodes)
			if _, ok := m[k]; !ok && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
			m[k] = append(m[k], s)
		}
		return m
	}
	metaSeries, totalGroups := group(list), group(totals)
	totalOf := map[string]*series.Series{}
	for k, g := range totalGroups {
		if len(g) == 1 {
			totalOf[k] = g[0]
			continue
		}
		sum, err := aggregateRows(ctx, "sum", "sumSeries("+formatPathExprs(g)+")", g)
		if err != nil {
			return nil, err
		}
		totalOf[k] = sum[0]
	}
	var last *series.Series // the range of the pair last computed
	missing := func(name string, n int) (*series.Series, error) {
		if last == nil {
			return nil, fmt.Errorf("asPercent(): %s comes before any pair to take its range from (graphite-web fails too)", name)
		}
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.NaN()
		}
		return &series.Series{Name: name, PathExpr: name, Start: last.Start, End: last.End, Step: last.Step, Values: vals,
			Consolidate: "average", ValuesPerPoint: 1, Tags: nameTags(name)}, nil
	}
	var out []*series.Series
	for _, k := range keys {
		total := totalOf[k]
		g, ok := metaSeries[k]
		if !ok {
			m, err := missing("asPercent(MISSING,"+total.Name+")", len(total.Values))
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			continue
		}
		for _, s := range g {
			if total == nil {
				m, err := missing("asPercent("+s.Name+",MISSING)", len(s.Values))
				if err != nil {
					return nil, err
				}
				out = append(out, m)
				continue
			}
			q, err := divide(ctx, s, total)
			if err != nil {
				return nil, err
			}
			for j, v := range q.Values {
				q.Values[j] = v * 100 // NaN stays NaN
			}
			q.Name = "asPercent(" + s.Name + "," + total.Name + ")"
			q.PathExpr, q.Tags = q.Name, nameTags(q.Name)
			last = q
			out = append(out, q)
		}
	}
	return out, nil
}
