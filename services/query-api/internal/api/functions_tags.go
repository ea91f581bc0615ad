package api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// tagMatcher is one seriesByTag expression: tag=value, tag!=value,
// tag=~regex or tag!=~regex (regexes anchored at the start, as Python's
// re.match).
type tagMatcher struct {
	tag   string
	op    string
	value string
	re    *regexp.Regexp
}

// tagSpec is graphite-web's grammar of a tag expression.
var tagSpec = regexp.MustCompile(`^([^;!=]+)(!?=~?)([^;]*)$`)

func parseTagExpr(s string) (tagMatcher, error) {
	p := tagSpec.FindStringSubmatch(s)
	if p == nil {
		return tagMatcher{}, fmt.Errorf("invalid tag expression %q: want tag=value, tag!=value, tag=~regex or tag!=~regex", s)
	}
	m := tagMatcher{tag: p[1], op: p[2], value: p[3]}
	if strings.HasSuffix(m.op, "~") {
		re, err := regexp.Compile("^(?:" + m.value + ")")
		if err != nil {
			return m, fmt.Errorf("tag expression %q: %v", s, err)
		}
		m.re = re
	}
	return m, nil
}

func (m tagMatcher) match(tags map[string]string) bool {
	v := tags[m.tag]
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	}
	return !m.re.MatchString(v)
}

// seriesByTagFn selects the series whose tags (and name) match every
// expression, in path order; their path expression is the call itself, as
// graphite-web names them in combined series.
func seriesByTagFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if len(c.Args) == 0 || len(c.Kwargs) > 0 {
		return nil, fmt.Errorf("seriesByTag(): give one or more quoted tag expressions")
	}
	var matchers []tagMatcher
	var quoted []string
	allMatchEmpty := true
	for i := range c.Args {
		s, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		m, err := parseTagExpr(s)
		if err != nil {
			return nil, err
		}
		matchers = append(matchers, m)
		quoted = append(quoted, `"`+s+`"`)
		allMatchEmpty = allMatchEmpty && m.match(map[string]string{})
	}
	if allMatchEmpty {
		return nil, fmt.Errorf("seriesByTag(): at least one tag expression must not match the empty string")
	}
	if ev.tagPaths == nil {
		return nil, errUnsupported{"seriesByTag without a path index"}
	}
	paths, err := ev.tagPaths(ctx, matchers)
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	pathExpr := "seriesByTag(" + strings.Join(quoted, ",") + ")"
	var out []*series.Series
	for _, p := range paths {
		tags := tagsOf(p)
		if !slices.ContainsFunc(matchers, func(m tagMatcher) bool { return !m.match(tags) }) {
			list, err := ev.fetch(ctx, p, ev.from, ev.until)
			if err != nil {
				return nil, err
			}
			for _, s := range list {
				if s.Name == p {
					s.PathExpr = pathExpr
					out = append(out, s)
				}
			}
		}
	}
	return out, nil
}

func addTagFunctions(fns map[string]fnImpl) {
	fns["seriesByTag"] = seriesByTagFn
	fns["aliasByTags"] = aliasByTagsFn
	fns["groupByTags"] = groupByTagsFn
}

// aliasByTagsFn is aliasByNode under another name, as in graphite-web: each
// argument is a node number or a tag name.
func aliasByTagsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return aliasByNodeFn(ev, ctx, c)
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
	out, err := groupBy(ctx, list, cb, fn, func(s *series.Series) string {
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
		s.Tags = tagsOf(s.Name)
	}
	return out, err
}
