package fn

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Alias functions.

func aliasFuncs() []*Func {
	return []*Func{
		{
			Name: "alias", Group: "Alias",
			Description: "Renames every series to the given name.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "newName", Type: String, Required: true},
			},
			Call: aliasFn,
		},
		{
			Name: "aliasByMetric", Group: "Alias",
			Description: "Renames each series to the last node of its path.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: aliasByMetricFn,
		},
		{
			Name: "aliasByNode", Group: "Alias",
			Description: "Renames each series to the given nodes of its path (negative counts from the end) or values of its tags, joined by dots.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "nodes", Type: NodeOrTag, Required: true, Multiple: true},
			},
			Call: aliasByNodeFn,
		},
		{
			Name: "aliasByTags", Group: "Alias",
			Description: "Renames each series to the values of the given tags or nodes, joined by dots.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "tags", Type: NodeOrTag, Required: true, Multiple: true},
			},
			Call: aliasByTagsFn,
		},
		{
			Name: "aliasSub", Group: "Alias",
			Description: "Renames each series by a regular expression substitution on its name (\\1 refers to groups).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "search", Type: String, Required: true},
				{Name: "replace", Type: String, Required: true},
			},
			Call: aliasSubFn,
		},
	}
}

func aliasFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	name, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		s.Name = name
	}
	return list, nil
}

func aliasByNodeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 1<<10)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeArgs(c, 1)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		s.Name = nodeKey(s, nodes)
	}
	return list, nil
}

func aliasByMetricFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 1)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		left := strings.LastIndex(s.Name, "(") + 1
		right := strings.Index(s.Name, ")")
		if right < 0 {
			right = len(s.Name)
		}
		clean := ""
		if left <= right {
			clean = s.Name[left:right]
		}
		parts := strings.Split(clean, ".")
		name := parts[len(parts)-1]
		if i := strings.Index(name, ","); i >= 0 {
			name = name[:i]
		}
		s.Name = name
	}
	return list, nil
}

func aliasSubFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 3, 3)
	if err != nil {
		return nil, err
	}
	search, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	replace, err := strArg(c, 2)
	if err != nil {
		return nil, err
	}
	re, err := PyRegexp(search)
	if err != nil {
		return nil, fmt.Errorf("aliasSub(): %v", err)
	}
	replace = pySub(replace)
	for _, s := range list {
		s.Name = re.ReplaceAllString(s.Name, replace)
	}
	return list, nil
}

// aliasByTagsFn is aliasByNode under another name, as in graphite-web: each
// argument is a node number or a tag name.
func aliasByTagsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return aliasByNodeFn(ev, ctx, c)
}

// pySub turns a Python re.sub replacement (\1 for a group) into Go's.
func pySub(replace string) string {
	return regexp.MustCompile(`\\(\d+)`).ReplaceAllString(strings.ReplaceAll(replace, "$", "$$"), "${$1}")
}
