package fn

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Combine functions of series lists of lists: mapSeries groups a list,
// reduceSeries calls a function on each group.

func combineMapFuncs() []*Func {
	return []*Func{
		{
			Name: "mapSeries", Group: "Combine",
			Description: "Groups the series by the given nodes (or tags), for reduceSeries; alone, the series in group order.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "mapNodes", Type: NodeOrTag, Required: true, Multiple: true},
			},
			Call: mapSeriesFn,
		},
		{
			Name: "map", Group: "Combine",
			Description: "Short form of mapSeries.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "mapNodes", Type: NodeOrTag, Required: true, Multiple: true},
			},
			Call: mapSeriesFn,
		},
		{
			Name: "reduceSeries", Group: "Combine",
			Description: "For each group of a mapSeries, calls a function (asPercent, divideSeries, diffSeries...) with the series whose reduceNode is each of the matchers, in order, named <nodes before reduceNode>.reduce.<function>.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesLists, Required: true},
				{Name: "reduceFunction", Type: String, Required: true},
				{Name: "reduceNode", Type: Node, Required: true},
				{Name: "reduceMatchers", Type: String, Required: true, Multiple: true},
			},
			Call: reduceSeriesFn,
		},
		{
			Name: "reduce", Group: "Combine",
			Description: "Short form of reduceSeries.",
			Params: []Param{
				{Name: "seriesLists", Type: SeriesLists, Required: true},
				{Name: "reduceFunction", Type: String, Required: true},
				{Name: "reduceNode", Type: Node, Required: true},
				{Name: "reduceMatchers", Type: String, Required: true, Multiple: true},
			},
			Call: reduceSeriesFn,
		},
	}
}

// mapGroups evaluates a mapSeries call: its series grouped by the nodes,
// in order of first appearance.
func (ev *evaluator) mapGroups(ctx context.Context, c *expr.Expr) ([][]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 1<<10)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(c, 1)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	var groups [][]*series.Series
	for _, s := range list {
		k := nodeKey(s, nodes)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	}
	return groups, nil
}

func mapSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	groups, err := ev.mapGroups(ctx, c)
	var out []*series.Series
	for _, g := range groups {
		out = append(out, g...)
	}
	return out, err
}

// reduceSeriesFn calls reduceFunction for each reduce key with one series
// list per matcher, as graphite-web's reduceSeries does; its series lists
// are those of a mapSeries (or map) call.
func reduceSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 4, 1<<10); err != nil {
		return nil, err
	}
	m := c.Args[0]
	if m.Kind != expr.Call || (m.Text != "mapSeries" && m.Text != "map") {
		return nil, fmt.Errorf("%s(): the series lists must be a mapSeries(...) call", c.Text)
	}
	m, err := ev.lib.fns[m.Text].positional(m)
	if err != nil {
		return nil, err
	}
	groups, err := ev.mapGroups(ctx, m)
	if err != nil {
		return nil, err
	}
	fn, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	f := ev.lib.fns[fn]
	if f == nil {
		return nil, ErrUnsupported{fn}
	}
	at, err := numArg(c, 2, nil)
	if err != nil {
		return nil, err
	}
	var matchers []string
	for i := 3; i < len(c.Args); i++ {
		s, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		matchers = append(matchers, s)
	}
	slots := map[string][]*series.Series{}
	var keys []string
	for _, g := range groups {
		for _, s := range g {
			nodes := strings.Split(s.Name, ".")
			i := int(at)
			if i < 0 {
				i += len(nodes)
			}
			if i < 0 || i >= len(nodes) {
				return nil, fmt.Errorf("%s(): %s has no node %d", c.Text, s.Name, int(at))
			}
			k := strings.Join(nodes[:i], ".") + ".reduce." + fn
			j := slices.Index(matchers, nodes[i])
			if j < 0 {
				continue
			}
			if slots[k] == nil {
				slots[k] = make([]*series.Series, len(matchers))
				keys = append(keys, k)
			}
			slots[k][j] = s
		}
	}
	var out []*series.Series
	for _, k := range keys {
		call := &expr.Expr{Kind: expr.Call, Text: fn}
		for j, s := range slots[k] {
			if s == nil {
				return nil, fmt.Errorf("%s(): %s has no series for %s", c.Text, k, matchers[j])
			}
			call.Args = append(call.Args, &expr.Expr{Kind: expr.Path, Text: "\x00" + strconv.Itoa(j)})
		}
		sub := *ev
		slot := slots[k]
		sub.fetch = func(_ context.Context, pattern string, _, _ time.Time) ([]*series.Series, error) {
			j, _ := strconv.Atoi(strings.TrimPrefix(pattern, "\x00"))
			return []*series.Series{slot[j]}, nil
		}
		res, err := sub.eval(ctx, call)
		if err != nil {
			return nil, err
		}
		if len(res) == 0 {
			return nil, fmt.Errorf("%s(): %s(...) of %s gave no series", c.Text, fn, k)
		}
		res[0].Name = k
		out = append(out, res[0])
	}
	return out, nil
}
