package api

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The second slice of graphite functions: grouping, selecting, sorting,
// dividing.

func addSelectFunctions(fns map[string]fnImpl) {
	for name, fn := range map[string]fnImpl{
		"groupByNode":                groupByNodeFn,
		"groupByNodes":               groupByNodesFn,
		"sumSeriesWithWildcards":     wildcardsFn("sum"),
		"averageSeriesWithWildcards": wildcardsFn("average"),
		"highestCurrent":             highestFn("last", true),
		"highestMax":                 highestFn("max", true),
		"highestAverage":             highestFn("average", true),
		"lowestCurrent":              highestFn("last", false),
		"lowestAverage":              highestFn("average", false),
		"currentAbove":               filterFn("last", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		"currentBelow":               filterFn("last", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		"averageAbove":               filterFn("average", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		"averageBelow":               filterFn("average", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		"maximumAbove":               filterFn("max", func(v, n float64) bool { return !math.IsNaN(v) && v > n }),
		"maximumBelow":               filterFn("max", func(v, n float64) bool { return math.IsNaN(v) || v <= n }),
		"removeEmptySeries":          removeEmptySeriesFn,
		"isNonNull":                  isNonNullFn,
		"nPercentile":                nPercentileFn,
		"sortByTotal":                sortByFn("sum", true),
		"sortByMaxima":               sortByFn("max", true),
		"sortByMinima":               sortByMinimaFn,
		"divideSeries":               divideSeriesFn,
		"divideSeriesLists":          divideSeriesListsFn,
		"fallbackSeries":             fallbackSeriesFn,
	} {
		fns[name] = fn
	}
}

// nodeOrTag is an argument of aliasByNode, groupByNode(s), aliasByTags:
// a node index, or else a tag name.
type nodeOrTag struct {
	n     int
	tag   string
	isTag bool
}

// nodeKey is graphite-web's aggKey: the given nodes of a series' path (the
// first path inside a name that carries functions) or its tags' values,
// joined by dots. A node past either end of the path is read as a tag named
// by the number, as graphite-web does, which is normally empty.
func nodeKey(s *series.Series, nodes []nodeOrTag) string {
	path := s.Name
	if strings.HasSuffix(path, ")") {
		if e, err := expr.Parse(path); err == nil {
			if p, ok := e.FirstPath(); ok {
				path = p
			}
		}
	}
	parts := strings.Split(strings.SplitN(path, ";", 2)[0], ".")
	picked := make([]string, 0, len(nodes))
	for _, nt := range nodes {
		if nt.isTag {
			picked = append(picked, seriesTags(s)[nt.tag])
			continue
		}
		n := nt.n
		if n < 0 {
			n += len(parts)
		}
		if n >= 0 && n < len(parts) {
			picked = append(picked, parts[n])
		} else {
			picked = append(picked, seriesTags(s)[strconv.Itoa(nt.n)])
		}
	}
	return strings.Join(picked, ".")
}

// nodeArgs reads the arguments from index from on as nodes or tags.
func nodeArgs(c *expr.Expr, from int) ([]nodeOrTag, error) {
	var nodes []nodeOrTag
	for i := from; i < len(c.Args); i++ {
		switch a := c.Args[i]; {
		case a.Kind == expr.String:
			nodes = append(nodes, nodeOrTag{tag: a.Text, isTag: true})
		case a.Kind == expr.Number && a.Number == math.Trunc(a.Number):
			nodes = append(nodes, nodeOrTag{n: int(a.Number)})
		default:
			return nil, fmt.Errorf("%s: argument %d must be a node number or a quoted tag name", c.Text, i+1)
		}
	}
	return nodes, nil
}

// positionArgs reads the arguments from index from on as node numbers.
func positionArgs(c *expr.Expr, from int) ([]int, error) {
	var nodes []int
	for i := from; i < len(c.Args); i++ {
		n, err := numArg(c, i, nil)
		if err != nil || n != math.Trunc(n) {
			return nil, fmt.Errorf("%s: argument %d must be a node number", c.Text, i+1)
		}
		nodes = append(nodes, int(n))
	}
	return nodes, nil
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
	if fn, ok := aggregateNames[strings.TrimSuffix(cb, "Series")]; ok {
		return fn, nil
	}
	return "", errUnsupported{"the callback " + cb}
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
// cb is the callback as given (it names the aggregate in the tags).
func groupBy(ctx context.Context, list []*series.Series, cb, fn string, key func(*series.Series) string) ([]*series.Series, error) {
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
		agg, err := aggregateRows(ctx, fn, aggregatedBy(cb)+"Series("+formatPathExprs(groups[k])+")", groups[k])
		if err != nil {
			return nil, err
		}
		agg[0].Name, agg[0].PathExpr = k, k
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
	return groupBy(ctx, list, cb, fn, func(s *series.Series) string { return nodeKey(s, nodes) })
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
	return groupBy(ctx, list, cb, fn, func(s *series.Series) string { return nodeKey(s, nodes) })
}

func wildcardsFn(fn string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 1, 1<<10)
		if err != nil {
			return nil, err
		}
		positions, err := positionArgs(c, 1)
		if err != nil {
			return nil, err
		}
		return groupBy(ctx, list, fn, fn, func(s *series.Series) string {
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

// seriesValue is graphite's aggregate of one series' non-null values; NaN
// when it has none.
func seriesValue(fn string, s *series.Series) float64 {
	return aggFunc(fn, s.Values)
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

func nonNull(vs []float64) int {
	n := 0
	for _, v := range vs {
		if !math.IsNaN(v) {
			n++
		}
	}
	return n
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

func isNonNullFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			if !math.IsNaN(v) {
				vals[j] = 1
			}
		}
		return with(s, "isNonNull("+s.Name+")", vals)
	})
}

func nPercentileFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("nPercentile(): the percent must be greater than 0")
	}
	var charge int64
	for _, s := range list {
		charge += (s.End - s.Start) / s.Step
	}
	if err := budget.Charge(ctx, charge); err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		p := percentile(s.Values, n, false)
		if math.IsNaN(p) {
			continue
		}
		vals := make([]float64, int((s.End-s.Start)/s.Step))
		for i := range vals {
			vals[i] = p
		}
		out = append(out, with(s, fmt.Sprintf("nPercentile(%s, %s)", s.Name, pyG(n)), vals))
	}
	return out, nil
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

func at(s *series.Series, start, step int64, i int) float64 {
	j := int((start-s.Start)/step) + i
	if j < 0 || j >= len(s.Values) {
		return math.NaN()
	}
	return s.Values[j]
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

func fallbackSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil || len(list) > 0 {
		return list, err
	}
	return ev.seriesArg(ctx, c, 1)
}
