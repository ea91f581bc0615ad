// Package fn is the graphite-web 1.1.8 render functions query-api
// implements: each defined once (name, group, parameters with graphite-web's
// names, types and defaults, description, evaluation), in files by
// graphite-web's groups, and each checked against graphite-web's answers.
// The library is built explicitly by New; the HTTP API (package api) uses
// it, never the reverse.
package fn

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// Func is one graphite function: its interface as graphite-web's
// /functions describes it, and its evaluation.
type Func struct {
	Name, Group string
	// Signature is graphite-web's, when it differs from what Params give
	// (derived from them otherwise).
	Signature   string
	Description string // in our words
	Params      []Param
	// Tags gives the tags graphite-web adds to each series the call
	// returns (nil: none).
	Tags func(c *expr.Expr) map[string]string
	Call fnImpl
}

// fnImpl evaluates a call, its keyword arguments already made positional.
type fnImpl func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error)

// Library is the functions query-api implements, by name.
type Library struct {
	fns map[string]*Func
}

// New builds the library of every function, group by group.
func New() *Library {
	l := &Library{fns: map[string]*Func{}}
	for _, group := range [][]*Func{combineFuncs(), combineMoreFuncs(), combineMapFuncs(), transformFuncs(), transformMathFuncs(), calculateFuncs(), calculateMoreFuncs(), filterFuncs(), filterMoreFuncs(), sortingFuncs(),
		aliasFuncs(), graphMoreFuncs(), specialMoreFuncs(), aliasMoreFuncs(), transformTimeFuncs(), specialFuncs(), eventFuncs(), graphFuncs()} {
		for _, f := range group {
			l.fns[f.Name] = f
		}
	}
	return l
}

// Names lists the functions, sorted.
func (l *Library) Names() []string {
	names := make([]string, 0, len(l.fns))
	for n := range l.fns {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Func returns a function's definition, nil when it is not implemented.
func (l *Library) Func(name string) *Func { return l.fns[name] }

// Env is what evaluating a request's targets needs from the API.
type Env struct {
	// Fetch reads the series a path pattern selects over [from, until].
	Fetch func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error)
	// TagPaths returns the leaf paths tag matchers may select (every leaf,
	// or fewer when a matcher says which), for seriesByTag.
	TagPaths func(ctx context.Context, ms []TagMatcher) ([]string, error)
	// From and Until are the request's range; functions such as timeShift
	// evaluate their argument over another.
	From, Until time.Time
	// Events returns when the events holding every tag (all events for
	// none) happened in [from, until], for events(); nil: the storage
	// keeps no events.
	Events func(ctx context.Context, from, until time.Time, tags []string) ([]time.Time, error)
	// Now and Location read the times functions take (linearRegression's),
	// as the request's from and until are read.
	Now      time.Time
	Location *time.Location
	// stacks are stacked()'s running totals by stack name.
	stacks map[string][]float64
}

// Eval evaluates a target (a path pattern or a call) to its series.
// The targets of one request share env: stacked() stacks on the series
// the targets before stacked.
func (l *Library) Eval(ctx context.Context, env *Env, e *expr.Expr) ([]*series.Series, error) {
	if env.stacks == nil {
		env.stacks = map[string][]float64{}
	}
	ev := &evaluator{lib: l, fetch: env.Fetch, tagPaths: env.TagPaths, from: env.From, until: env.Until, now: env.Now, loc: env.Location, stacks: env.stacks, events: env.Events}
	if ev.loc == nil {
		ev.loc = time.UTC
	}
	return ev.eval(ctx, e)
}

// evaluator evaluates the targets of one request.
type evaluator struct {
	lib         *Library
	fetch       func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error)
	tagPaths    func(ctx context.Context, ms []TagMatcher) ([]string, error)
	from, until time.Time
	events      func(ctx context.Context, from, until time.Time, tags []string) ([]time.Time, error)
	now         time.Time
	loc         *time.Location
	stacks      map[string][]float64
}

// ErrUnsupported marks a function query-api does not implement yet.
type ErrUnsupported struct{ Name string }

func (e ErrUnsupported) Error() string {
	return fmt.Sprintf("graphite function %s() is not implemented yet in consthash's query-api", e.Name)
}

func (ev *evaluator) eval(ctx context.Context, e *expr.Expr) ([]*series.Series, error) {
	switch e.Kind {
	case expr.Path:
		return ev.fetch(ctx, e.Text, ev.from, ev.until)
	case expr.Call:
		f := ev.lib.fns[e.Text]
		if f == nil {
			return nil, ErrUnsupported{e.Text}
		}
		e, err := f.positional(e)
		if err != nil {
			return nil, err
		}
		list, err := f.Call(ev, ctx, e)
		if err == nil && f.Tags != nil {
			for _, s := range list {
				for k, v := range f.Tags(e) {
					withTag(s, k, v)
				}
			}
		}
		return list, err
	}
	return nil, fmt.Errorf("a %s is not a series list", kindName(e.Kind))
}

// tagOne, tagFloat and tagRaw are the tags graphite-web's transforms add:
// tag=1, tag=the second argument as a Python float, or as given.
func tagOne(tag string) func(*expr.Expr) map[string]string {
	return func(*expr.Expr) map[string]string { return map[string]string{tag: "1"} }
}

func tagFloat(tag string) func(*expr.Expr) map[string]string {
	return func(c *expr.Expr) map[string]string { return map[string]string{tag: pyRepr(argNumber(c, 1))} }
}

func tagRaw(tag string) func(*expr.Expr) map[string]string {
	return func(c *expr.Expr) map[string]string { return map[string]string{tag: argText(c, 1, "")} }
}

// chargeValues charges as many points as list holds, before a function
// makes a value for each.
func chargeValues(ctx context.Context, list []*series.Series) error {
	var n int64
	for _, s := range list {
		n += int64(len(s.Values))
	}
	return budget.Charge(ctx, n)
}

// Buckets is how many intervals of interval seconds summarize and hitcount
// make of a series over [start, end): its aligned span when align, else
// from start.
func Buckets(start, end, interval int64, alignToInterval bool) int64 {
	if alignToInterval {
		start = start - series.Mod(start, interval)
		end = end - series.Mod(end, interval) + interval
	}
	return (end - start + interval - 1) / interval
}

// argNumber is argument i as a number, 0 if it is not one.
func argNumber(c *expr.Expr, i int) float64 {
	if i < len(c.Args) && c.Args[i].Kind == expr.Number {
		return c.Args[i].Number
	}
	return 0
}

// argText is argument i as Python's str() shows it, def when it is absent.
func argText(c *expr.Expr, i int, def string) string {
	if i >= len(c.Args) {
		return def
	}
	switch a := c.Args[i]; a.Kind {
	case expr.Number:
		if a.Number == math.Trunc(a.Number) && math.Abs(a.Number) < 1e15 {
			return strconv.FormatInt(int64(a.Number), 10)
		}
		return pyRepr(a.Number)
	case expr.Bool:
		if a.Bool {
			return "True"
		}
		return "False"
	case expr.None:
		return "None"
	default:
		return a.Text
	}
}

// Truthy is argument i as Python's bool() reads it, def when it is absent:
// graphite-web's boolean parameters take any value (1, "x", None).
func Truthy(c *expr.Expr, i int, def bool) bool {
	if i >= len(c.Args) {
		return def
	}
	switch a := c.Args[i]; a.Kind {
	case expr.Bool:
		return a.Bool
	case expr.Number:
		return a.Number != 0
	case expr.String:
		return a.Text != ""
	case expr.None:
		return false
	}
	return true // a series list
}

func kindName(k expr.Kind) string {
	switch k {
	case expr.Number:
		return "number"
	case expr.String:
		return "string"
	case expr.Bool:
		return "boolean"
	case expr.None:
		return "None"
	}
	return "expression"
}

// listArg checks the call has lo to hi arguments and evaluates the first,
// which must be a series list.
func (ev *evaluator) listArg(ctx context.Context, c *expr.Expr, lo, hi int) ([]*series.Series, error) {
	if err := argCount(c, lo, hi); err != nil {
		return nil, err
	}
	return ev.seriesArg(ctx, c, 0)
}

// seriesArg evaluates argument i, which must be a series list.
func (ev *evaluator) seriesArg(ctx context.Context, c *expr.Expr, i int) ([]*series.Series, error) {
	if i >= len(c.Args) {
		return nil, fmt.Errorf("%s(): missing series list argument %d", c.Text, i+1)
	}
	a := c.Args[i]
	if a.Kind != expr.Path && a.Kind != expr.Call {
		return nil, fmt.Errorf("%s(): argument %d: want a series list, got a %s", c.Text, i+1, kindName(a.Kind))
	}
	return ev.eval(ctx, a)
}

func numArg(c *expr.Expr, i int, def *float64) (float64, error) {
	if i >= len(c.Args) {
		if def != nil {
			return *def, nil
		}
		return 0, fmt.Errorf("%s(): missing numeric argument %d", c.Text, i+1)
	}
	if c.Args[i].Kind == expr.None && def != nil {
		return *def, nil // None where the function's default is None
	}
	if c.Args[i].Kind != expr.Number {
		return 0, fmt.Errorf("%s(): argument %d: want a number, got a %s", c.Text, i+1, kindName(c.Args[i].Kind))
	}
	return c.Args[i].Number, nil
}

func strArg(c *expr.Expr, i int) (string, error) {
	if i >= len(c.Args) || c.Args[i].Kind != expr.String {
		return "", fmt.Errorf("%s(): argument %d: want a quoted string", c.Text, i+1)
	}
	return c.Args[i].Text, nil
}

func argCount(c *expr.Expr, lo, hi int) error {
	if len(c.Args) < lo || len(c.Args) > hi {
		return fmt.Errorf("%s(): takes %d to %d arguments, got %d", c.Text, lo, hi, len(c.Args))
	}
	return nil
}

func (ev *evaluator) allSeriesArgs(ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	var all []*series.Series
	for i := range c.Args {
		l, err := ev.seriesArg(ctx, c, i)
		if err != nil {
			return nil, err
		}
		all = append(all, l...)
	}
	return all, nil
}

// nodeOrTag is an argument of aliasByNode, groupByNode(s), aliasByTags:
// a node index, or else a tag name.
type nodeOrTag struct {
	n     int
	tag   string
	isTag bool
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

func intervalArg(c *expr.Expr, i int) (string, int64, error) {
	s, err := strArg(c, i)
	if err != nil {
		return "", 0, err
	}
	d, err := gtime.Offset(s)
	if err != nil {
		return "", 0, fmt.Errorf("%s(): %v", c.Text, err)
	}
	secs := int64(d.Seconds())
	if secs <= 0 {
		return "", 0, fmt.Errorf("%s(): the interval %q must be positive", c.Text, s)
	}
	return s, secs, nil
}

// over evaluates argument i over [from, until] instead of the request's range.
func (ev *evaluator) over(ctx context.Context, c *expr.Expr, i int, from, until time.Time) ([]*series.Series, error) {
	sub := *ev
	sub.from, sub.until = from, until
	return sub.seriesArg(ctx, c, i)
}
