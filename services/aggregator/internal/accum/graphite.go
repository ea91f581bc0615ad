// Package accum holds the aggregator's graphite accumulator and its flush
// schedule. (The statsd accumulator is package statsd.)
package accum

import (
	"fmt"
	"regexp"
	"time"

	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/rollup"
)

// Reducer picks which aggregate of a bin a graphite line re-emits.
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

// ParseRules reads [[regex, reducer], ...] from configuration.
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
	return rs, nil
}

// ReducerFor returns the reducer of a metric name.
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

// Graphite accumulates graphite lines into the current base bin, by arrival
// time: the line's own timestamp does not move it to another bin.
type Graphite struct {
	points map[string]*rollup.Point
	now    func() time.Time
	// Admit, when set, is asked before a line creates a key; false refuses
	// the line (the caller counts it; Line returns nil).
	Admit func(key string) bool
}

// NewGraphite returns an empty accumulator; now is the clock (time.Now).
func NewGraphite(now func() time.Time) *Graphite {
	return &Graphite{points: map[string]*rollup.Point{}, now: now}
}

// Line adds one graphite line. NaN and infinite values are rejected by the
// parser and returned as errors (counted by the caller).
func (g *Graphite) Line(b []byte) error {
	var l line.Graphite
	if err := line.ParseGraphite(b, &l); err != nil {
		return err
	}
	p := g.points[string(l.Key)]
	if p == nil {
		if g.Admit != nil && !g.Admit(string(l.Key)) {
			return nil
		}
		p = &rollup.Point{Path: string(l.Key)}
		g.points[p.Path] = p
	}
	p.Add(l.Value, g.now().UnixNano())
	return nil
}

// Flush hands every point of the bin to emit and starts a new bin.
func (g *Graphite) Flush(emit func(rollup.Point)) {
	for _, p := range g.points {
		emit(*p)
	}
	clear(g.points)
}

// Take moves the bin's points into a new accumulator (to flush outside the
// caller's lock) and leaves g empty.
func (g *Graphite) Take() *Graphite {
	s := &Graphite{points: g.points, now: g.now}
	g.points = map[string]*rollup.Point{}
	return s
}

// Len returns the number of keys in the current bin.
func (g *Graphite) Len() int { return len(g.points) }
