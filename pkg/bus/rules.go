package bus

import (
	"fmt"
	"regexp"

	"github.com/consthash/consthash/pkg/rollup"
)

// Reducer names which aggregate of a bin answers a series: the value an
// aggregator re-emits for a graphite line, and the stored column query-api
// reads.
type Reducer string

// The reducers.
const (
	Sum  Reducer = "sum"
	Max  Reducer = "max"
	Min  Reducer = "min"
	Last Reducer = "last"
	Mean Reducer = "mean"
)

// Rule maps metric names matching a regex to a reducer; the first match wins.
type Rule struct {
	Match   *regexp.Regexp
	Reducer Reducer
}

// DefaultRules are the name rules of docs/aggregator.md: count/sum → sum,
// upper/max → max, lower/min → min, gauge → last, anything else → mean.
func DefaultRules() []Rule {
	return []Rule{
		{regexp.MustCompile(`(^|\.)(count|sum|counts?)(\.|$|;)|^stats_counts\.`), Sum},
		{regexp.MustCompile(`(^|\.)(upper|max)(_[0-9a-z_]+)?(\.|$|;)`), Max},
		{regexp.MustCompile(`(^|\.)(lower|min)(_[0-9a-z_]+)?(\.|$|;)`), Min},
		{regexp.MustCompile(`(^|\.)gauges?(\.|$|;)`), Last},
	}
}

// ParseRules reads the `[graphite] rules` option, [[regex, reducer], ...],
// and returns them followed by DefaultRules: what aggregators and query-api
// both use.
func ParseRules(pairs [][2]string) ([]Rule, error) {
	var rs []Rule
	for i, p := range pairs {
		re, err := regexp.Compile(p[0])
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		switch Reducer(p[1]) {
		case Sum, Max, Min, Last, Mean:
		default:
			return nil, fmt.Errorf("rules[%d]: reducer %q is not one of sum, max, min, last, mean", i, p[1])
		}
		rs = append(rs, Rule{re, Reducer(p[1])})
	}
	return append(rs, DefaultRules()...), nil
}

// ReducerFor returns the reducer of a metric name: the first rule's that
// matches it, else Mean.
func ReducerFor(rules []Rule, name string) Reducer {
	for _, r := range rules {
		if r.Match.MatchString(name) {
			return r.Reducer
		}
	}
	return Mean
}

// Value applies a reducer to a point.
func Value(r Reducer, p rollup.Point) float64 {
	switch r {
	case Sum:
		return p.Sum
	case Max:
		return p.Max
	case Min:
		return p.Min
	case Last:
		return p.Last
	}
	return p.Mean()
}
