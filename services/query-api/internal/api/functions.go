package api

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// fetchFunc reads the series a path pattern selects over [from, until].
type fetchFunc func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error)

// evaluator evaluates render targets with the graphite functions
// implemented so far, each checked against graphite-web 1.1.8's answers.
type evaluator struct {
	lib   *library
	fetch fetchFunc
	// tagPaths returns the leaf paths tag matchers may select (every leaf, or
	// fewer when a matcher says which), for seriesByTag.
	tagPaths    func(ctx context.Context, ms []tagMatcher) ([]string, error)
	from, until time.Time // the request's range; functions such as timeShift evaluate their argument over another
}

// errUnsupported marks a function consthash does not implement yet.
type errUnsupported struct{ name string }

func (e errUnsupported) Error() string {
	return fmt.Sprintf("graphite function %s() is not implemented yet in consthash's query-api", e.name)
}

type fnImpl func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error)

// library is the graphite functions query-api implements, built once by
// newLibrary and kept by the API: fns maps a function's name to its
// evaluation, tags the graphite tags its result series get.
type library struct {
	fns  map[string]fnImpl
	tags map[string]func(c *expr.Expr) map[string]string
}

// newLibrary lists every function: each file adds its own group.
func newLibrary() *library {
	l := &library{fns: map[string]fnImpl{}, tags: transformTags()}
	addCoreFunctions(l.fns)
	addSelectFunctions(l.fns)
	addSummarizeFunctions(l.fns)
	addWindowFunctions(l.fns)
	addPercentFunctions(l.fns)
	addTagFunctions(l.fns)
	return l
}

func addCoreFunctions(fns map[string]fnImpl) {
	for name, fn := range map[string]fnImpl{
		"sumSeries":             combineFn("sum", "sumSeries"),
		"sum":                   combineFn("sum", "sumSeries"),
		"averageSeries":         combineFn("average", "averageSeries"),
		"avg":                   combineFn("average", "averageSeries"),
		"maxSeries":             combineFn("max", "maxSeries"),
		"minSeries":             combineFn("min", "minSeries"),
		"diffSeries":            combineFn("diff", "diffSeries"),
		"multiplySeries":        combineFn("multiply", "multiplySeries"),
		"countSeries":           countSeriesFn,
		"rangeOfSeries":         combineFn("range", "rangeOfSeries"),
		"stddevSeries":          combineFn("stddev", "stddevSeries"),
		"aggregate":             aggregateFn,
		"group":                 groupFn,
		"alias":                 aliasFn,
		"aliasByNode":           aliasByNodeFn,
		"aliasByMetric":         aliasByMetricFn,
		"aliasSub":              aliasSubFn,
		"scale":                 perValue("scale(%s,%s)", func(v, a float64) float64 { return v * a }),
		"offset":                perValue("offset(%s,%s)", func(v, a float64) float64 { return v + a }),
		"absolute":              absoluteFn,
		"derivative":            derivativeFn,
		"nonNegativeDerivative": deltaFn("nonNegativeDerivative", false),
		"perSecond":             deltaFn("perSecond", true),
		"integral":              integralFn,
		"transformNull":         transformNullFn,
		"keepLastValue":         keepLastValueFn,
		"consolidateBy":         consolidateByFn,
		"removeBelowValue":      removeFn("removeBelowValue", func(v, n float64) bool { return v < n }),
		"removeAboveValue":      removeFn("removeAboveValue", func(v, n float64) bool { return v > n }),
		"limit":                 limitFn,
		"exclude":               grepFn(false),
		"grep":                  grepFn(true),
		"sortByName":            sortByNameFn,
	} {
		fns[name] = fn
	}
}

func (ev *evaluator) eval(ctx context.Context, e *expr.Expr) ([]*series.Series, error) {
	switch e.Kind {
	case expr.Path:
		return ev.fetch(ctx, e.Text, ev.from, ev.until)
	case expr.Call:
		fn, ok := ev.lib.fns[e.Text]
		if !ok {
			return nil, errUnsupported{e.Text}
		}
		e, err := positional(e)
		if err != nil {
			return nil, err
		}
		list, err := fn(ev, ctx, e)
		if err == nil {
			if tag := ev.lib.tags[e.Text]; tag != nil {
				for _, s := range list {
					for k, v := range tag(e) {
						withTag(s, k, v)
					}
				}
			}
		}
		return list, err
	}
	return nil, fmt.Errorf("a %s is not a series list", kindName(e.Kind))
}

// transformTags are the tags graphite-web's transforms add to each series
// they return, from the call's arguments.
func transformTags() map[string]func(c *expr.Expr) map[string]string {
	seriesTagsSet := map[string]func(c *expr.Expr) map[string]string{}
	one := func(tag string) func(*expr.Expr) map[string]string {
		return func(*expr.Expr) map[string]string { return map[string]string{tag: "1"} }
	}
	float := func(tag string) func(*expr.Expr) map[string]string {
		return func(c *expr.Expr) map[string]string {
			return map[string]string{tag: pyRepr(argNumber(c, 1))}
		}
	}
	raw := func(tag string, def string) func(*expr.Expr) map[string]string {
		return func(c *expr.Expr) map[string]string { return map[string]string{tag: argText(c, 1, def)} }
	}
	for _, t := range []string{"absolute", "derivative", "integral", "isNonNull", "perSecond", "nonNegativeDerivative"} {
		seriesTagsSet[t] = one(t)
	}
	for _, t := range []string{"scale", "offset", "scaleToSeconds", "nPercentile"} {
		seriesTagsSet[t] = float(t)
	}
	for _, t := range []string{"movingAverage", "movingSum", "movingMin", "movingMax", "movingMedian", "consolidateBy", "hitcount"} {
		seriesTagsSet[t] = raw(t, "")
	}
	seriesTagsSet["cumulative"] = func(*expr.Expr) map[string]string { return map[string]string{"consolidateBy": "sum"} }
	seriesTagsSet["transformNull"] = func(c *expr.Expr) map[string]string {
		tags := map[string]string{"transformNull": "0"} // graphite's default is the int 0; a given one is read as a float
		if len(c.Args) > 1 {
			tags["transformNull"] = pyRepr(argNumber(c, 1))
		}
		if len(c.Args) > 2 {
			tags["referenceSeries"] = "1"
		}
		return tags
	}
	seriesTagsSet["summarize"] = func(c *expr.Expr) map[string]string {
		return map[string]string{"summarize": argText(c, 1, ""), "summarizeFunction": argText(c, 2, "sum")}
	}
	return seriesTagsSet
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
	default:
		return a.Text
	}
}

func kindName(k expr.Kind) string {
	switch k {
	case expr.Number:
		return "number"
	case expr.String:
		return "string"
	case expr.Bool:
		return "boolean"
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
	if c.Args[i].Kind != expr.Number {
		return 0, fmt.Errorf("%s(): argument %d: want a number", c.Text, i+1)
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

// pyG formats a number as Python's "%g" does.
func pyG(v float64) string {
	s := strconv.FormatFloat(v, 'g', 6, 64)
	if i := strings.Index(s, "e"); i >= 0 {
		mant, exp := s[:i], s[i+1:]
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		for len(exp) < 2 {
			exp = "0" + exp
		}
		return mant + "e" + string(sign) + exp
	}
	return s
}

func nan() float64 { return math.NaN() }

func with(s *series.Series, name string, values []float64) *series.Series {
	c := *s
	c.Name, c.PathExpr, c.Values = name, name, values
	return &c
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
			values[i] = aggFunc(fn, row)
		}
	}
	out.Tags = commonTags(list, name)
	if by, _, ok := strings.Cut(name, "Series("); ok && !strings.ContainsAny(by, "(,") {
		out.Tags["aggregatedBy"] = by
	}
	return []*series.Series{out}, nil
}

// commonTags are the tags every series of list has with one value, and name
// as the name tag unless they all share one.
func commonTags(list []*series.Series, name string) map[string]string {
	tags := map[string]string{}
	for k, v := range seriesTags(list[0]) {
		tags[k] = v
	}
	for _, s := range list[1:] {
		st := seriesTags(s)
		for k, v := range tags {
			if st[k] != v {
				delete(tags, k)
			}
		}
	}
	if _, ok := tags["name"]; !ok {
		tags["name"] = name
	}
	return tags
}

// seriesTags returns a series' tags, parsed from its name if it has none.
func seriesTags(s *series.Series) map[string]string {
	if s.Tags != nil {
		return s.Tags
	}
	return tagsOf(s.Name)
}

// withTag returns a copy of s whose tags also hold k=v (the map is copied,
// as copies of a series share it).
func withTag(s *series.Series, k, v string) {
	tags := make(map[string]string, len(s.Tags)+1)
	for tk, tv := range seriesTags(s) {
		tags[tk] = tv
	}
	tags[k] = v
	s.Tags = tags
}

// emptyOver returns a series named name over the steps the series of list
// span together, with NaN values to fill, and the list normalised as
// graphite-web's normalize() does: series of different steps are
// consolidated (each by its own function and xFilesFactor) to the least
// common multiple of the steps and, as graphite-web then pairs values by
// position, read from the common start. The list given is not modified.
// The values it makes are charged to the request's budget first.
func emptyOver(ctx context.Context, name string, list []*series.Series) (*series.Series, []*series.Series, error) {
	step, start, end := list[0].Step, list[0].Start, list[0].End
	mixed := false
	for _, s := range list[1:] {
		if s.Step != step {
			mixed = true
			step = lcm(step, s.Step)
		}
		start, end = min(start, s.Start), max(end, s.End)
	}
	n := 0
	if mixed {
		// graphite-web pairs the values of the longest series with the
		// timestamps from start to end, both ends included.
		last := end - (end-start)%step
		var charge int64
		for _, s := range list {
			k := step / s.Step
			charge += (int64(len(s.Values)) + k - 1) / k
		}
		if err := budget.Charge(ctx, charge); err != nil {
			return nil, nil, err
		}
		norm := make([]*series.Series, len(list))
		longest := 0
		for i, s := range list {
			c := *s
			c.Values = series.Consolidate(s.Values, int(step/s.Step), s.Consolidate, s.XFilesFactor)
			c.Start, c.Step, c.End = start, step, start+int64(len(c.Values))*step
			norm[i] = &c
			longest = max(longest, len(c.Values))
		}
		list = norm
		n = min(longest, int((last-start)/step)+1)
		end = start + int64(n)*step
	} else {
		end -= (end - start) % step
		n = int((end - start) / step)
	}
	// The series may lie far apart (timeShift): n is what they span.
	if err := budget.Charge(ctx, int64(n)); err != nil {
		return nil, nil, err
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = nan()
	}
	return &series.Series{Name: name, PathExpr: name, Start: start, End: end, Step: step, Values: values,
		Consolidate: "average", ValuesPerPoint: 1, Tags: tagsOf(name)}, list, nil
}

func lcm(a, b int64) int64 {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

func aggFunc(fn string, row []float64) float64 {
	var ok []float64
	for _, v := range row {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return nan()
	}
	switch fn {
	case "avg_zero":
		s := 0.0
		for _, v := range ok {
			s += v
		}
		return s / float64(len(row))
	case "median":
		return median(ok)
	case "stddev":
		mean := 0.0
		for _, v := range ok {
			mean += v
		}
		mean /= float64(len(ok))
		ss := 0.0
		for _, v := range ok {
			ss += (v - mean) * (v - mean)
		}
		return math.Sqrt(ss / float64(len(ok)))
	case "sum":
		s := 0.0
		for _, v := range ok {
			s += v
		}
		return s
	case "average":
		s := 0.0
		for _, v := range ok {
			s += v
		}
		return s / float64(len(ok))
	case "max":
		return slices.Max(ok)
	case "min":
		return slices.Min(ok)
	case "diff":
		s := ok[0]
		for _, v := range ok[1:] {
			s -= v
		}
		return s
	case "multiply":
		if len(ok) != len(row) {
			return nan()
		}
		p := ok[0]
		for _, v := range ok[1:] {
			p *= v
		}
		return p
	case "count":
		return float64(len(ok))
	case "range":
		return slices.Max(ok) - slices.Min(ok)
	case "last":
		return ok[len(ok)-1]
	}
	return nan()
}

func formatPathExprs(list []*series.Series) string {
	var seen []string
	for _, s := range list {
		if !slices.Contains(seen, s.PathExpr) {
			seen = append(seen, s.PathExpr)
		}
	}
	return strings.Join(seen, ",")
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

func combineFn(fn, prefix string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		if err := argCount(c, 1, 1<<20); err != nil {
			return nil, err
		}
		all, err := ev.allSeriesArgs(ctx, c)
		if err != nil {
			return nil, err
		}
		return aggregateRows(ctx, fn, prefix+"("+formatPathExprs(all)+")", all)
	}
}

// countSeriesFn answers the number of series at every step, null or not.
func countSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	all, err := ev.allSeriesArgs(ctx, c)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	out, err := aggregateRows(ctx, "count", "countSeries("+formatPathExprs(all)+")", all)
	for _, s := range out {
		s.Tags = tagsOf(s.Name) // graphite-web's countSeries is not an aggregate()
	}
	if err != nil {
		return nil, err
	}
	for i := range out[0].Values {
		out[0].Values[i] = float64(len(all))
	}
	return out, nil
}

var aggregateNames = map[string]string{
	"sum": "sum", "total": "sum", "average": "average", "avg": "average", "max": "max", "min": "min",
	"diff": "diff", "multiply": "multiply", "count": "count", "range": "range", "rangeOf": "range",
	"last": "last", "current": "last", "median": "median", "stddev": "stddev", "avg_zero": "avg_zero",
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
	fn, ok := aggregateNames[name]
	if !ok {
		return nil, fmt.Errorf("aggregate(): unsupported aggregation function %q", name)
	}
	return aggregateRowsXFF(ctx, fn, name+"Series("+formatPathExprs(list)+")", list, xff)
}

func groupFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return ev.allSeriesArgs(ctx, c)
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

var pyBackref = regexp.MustCompile(`\\(\d+)`)

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
	re, err := regexp.Compile(search)
	if err != nil {
		return nil, fmt.Errorf("aliasSub(): %v", err)
	}
	replace = pyBackref.ReplaceAllString(strings.ReplaceAll(replace, "$", "$$"), "${$1}")
	for _, s := range list {
		s.Name = re.ReplaceAllString(s.Name, replace)
	}
	return list, nil
}

func perValue(format string, f func(v, a float64) float64) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err != nil {
			return nil, err
		}
		a, err := numArg(c, 1, nil)
		if err != nil {
			return nil, err
		}
		if err := chargeValues(ctx, list); err != nil {
			return nil, err
		}
		out := make([]*series.Series, len(list))
		for i, s := range list {
			vals := make([]float64, len(s.Values))
			for j, v := range s.Values {
				vals[j] = f(v, a) // NaN stays NaN
			}
			out[i] = with(s, fmt.Sprintf(format, s.Name, pyG(a)), vals)
		}
		return out, nil
	}
}

func mapSeries(ev *evaluator, ctx context.Context, c *expr.Expr, lo, hi int, f func(s *series.Series) *series.Series) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, lo, hi)
	if err != nil {
		return nil, err
	}
	// f makes (at most) a value for each of the series' values.
	if err := chargeValues(ctx, list); err != nil {
		return nil, err
	}
	out := make([]*series.Series, len(list))
	for i, s := range list {
		out[i] = f(s)
	}
	return out, nil
}

func absoluteFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			vals[j] = math.Abs(v)
		}
		return with(s, "absolute("+s.Name+")", vals)
	})
}

func derivativeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		prev := nan()
		for j, v := range s.Values {
			vals[j] = v - prev // NaN when either is missing
			prev = v
		}
		return with(s, "derivative("+s.Name+")", vals)
	})
}

// nonNegativeDelta is graphite-web's _nonNegativeDelta: values outside
// [minValue, maxValue] are dropped; a decrease wraps around maxValue (and
// minValue) when given, else gives null. NaN is "none".
func nonNegativeDelta(v, prev, maxValue, minValue float64) (delta, next float64) {
	if !math.IsNaN(maxValue) && v > maxValue || !math.IsNaN(minValue) && v < minValue {
		return nan(), nan()
	}
	switch {
	case math.IsNaN(prev) || math.IsNaN(v):
		return nan(), v
	case v >= prev:
		return v - prev, v
	case !math.IsNaN(maxValue):
		lo := 0.0
		if !math.IsNaN(minValue) {
			lo = minValue
		}
		return maxValue + 1 + v - prev - lo, v
	case !math.IsNaN(minValue):
		return v - minValue, v
	}
	return nan(), v
}

// deltaFn is nonNegativeDerivative and perSecond, with optional maxValue
// and minValue.
func deltaFn(name string, perSecond bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		none := nan()
		maxValue, err := numArg(c, 1, &none)
		if err != nil {
			return nil, err
		}
		minValue, err := numArg(c, 2, &none)
		if err != nil {
			return nil, err
		}
		return mapSeries(ev, ctx, c, 1, 3, func(s *series.Series) *series.Series {
			vals := make([]float64, len(s.Values))
			prev := nan()
			for j, v := range s.Values {
				var d float64
				d, prev = nonNegativeDelta(v, prev, maxValue, minValue)
				if perSecond && !math.IsNaN(d) {
					d = pyRound6(d / float64(s.Step))
				}
				vals[j] = d
			}
			return with(s, name+"("+s.Name+")", vals)
		})
	}
}

// pyRound6 rounds as Python's round(x, 6) does for the values it can
// represent: to the nearest, ties to even, on the decimal representation.
func pyRound6(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 6, 64), 64)
	if err != nil {
		return x
	}
	return v
}

func integralFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		cur := 0.0
		for j, v := range s.Values {
			if math.IsNaN(v) {
				vals[j] = v
				continue
			}
			cur += v
			vals[j] = cur
		}
		return with(s, "integral("+s.Name+")", vals)
	})
}

func transformNullFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	zero := 0.0
	def, err := numArg(c, 1, &zero)
	if err != nil {
		return nil, err
	}
	// With referenceSeries, a null becomes the default only where one of
	// the reference series has a value.
	var ref []*series.Series
	if len(c.Args) > 2 {
		if ref, err = ev.seriesArg(ctx, c, 2); err != nil {
			return nil, err
		}
	}
	return mapSeries(ev, ctx, c, 1, 3, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			if math.IsNaN(v) {
				v = def
				if len(c.Args) > 2 && !slices.ContainsFunc(ref, func(r *series.Series) bool {
					return j < len(r.Values) && !math.IsNaN(r.Values[j])
				}) {
					v = nan()
				}
			}
			vals[j] = v
		}
		if len(c.Args) > 2 {
			return with(s, "transformNull("+s.Name+","+pyG(def)+",referenceSeries)", vals)
		}
		return with(s, "transformNull("+s.Name+","+pyG(def)+")", vals)
	})
}

func keepLastValueFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	inf := math.Inf(1)
	limit, err := numArg(c, 1, &inf)
	if err != nil {
		return nil, err
	}
	return mapSeries(ev, ctx, c, 1, 2, func(s *series.Series) *series.Series {
		vals := slices.Clone(s.Values)
		nones, last := 0, nan()
		fill := func(to int) {
			if nones > 0 && float64(nones) <= limit && !math.IsNaN(last) {
				for k := to - nones; k < to; k++ {
					vals[k] = last
				}
			}
		}
		for j, v := range vals {
			if math.IsNaN(v) {
				nones++
				continue
			}
			fill(j)
			nones, last = 0, v
		}
		fill(len(vals))
		return with(s, "keepLastValue("+s.Name+")", vals)
	})
}

func consolidateByFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	fn, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	switch fn {
	case "average", "avg", "sum", "min", "max", "first", "last":
	default:
		return nil, fmt.Errorf("consolidateBy(): invalid consolidation function %q", fn)
	}
	return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
		out := with(s, `consolidateBy(`+s.Name+`,"`+fn+`")`, s.Values)
		out.Consolidate = fn
		if fn == "avg" {
			out.Consolidate = "average"
		}
		return out
	})
}

func removeFn(name string, drop func(v, n float64) bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		n, err := numArg(c, 1, nil)
		if err != nil {
			return nil, err
		}
		return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
			vals := make([]float64, len(s.Values))
			for j, v := range s.Values {
				if math.IsNaN(v) || drop(v, n) {
					v = nan()
				}
				vals[j] = v
			}
			return with(s, name+"("+s.Name+", "+pyG(n)+")", vals)
		})
	}
}

func limitFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	return list[:max(0, min(int(n), len(list)))], nil
}

func grepFn(keep bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err != nil {
			return nil, err
		}
		pat, err := strArg(c, 1)
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("%s(): %v", c.Text, err)
		}
		var out []*series.Series
		for _, s := range list {
			if re.MatchString(s.Name) == keep {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

func sortByNameFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	boolAt := func(i int) bool { return i < len(c.Args) && c.Args[i].Kind == expr.Bool && c.Args[i].Bool }
	natural, reverse := boolAt(1), boolAt(2)
	key := func(s *series.Series) string { return s.Name }
	if natural {
		digits := regexp.MustCompile(`\d+`)
		key = func(s *series.Series) string {
			return digits.ReplaceAllStringFunc(s.Name, func(d string) string {
				return strings.Repeat("0", max(0, 10-len(d))) + d
			})
		}
	}
	slices.SortStableFunc(list, func(a, b *series.Series) int {
		r := strings.Compare(key(a), key(b))
		if reverse {
			r = -r
		}
		return r
	})
	return list, nil
}
