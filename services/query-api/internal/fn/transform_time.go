package fn

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Transform functions of time: series made of timestamps, slices,
// stacks of shifts and summaries aligned to the request.

func transformTimeFuncs() []*Func {
	return []*Func{
		{
			Name: "sin", Group: "Transform",
			Description: "Short form of sinFunction.",
			Params: []Param{
				{Name: "name", Type: String, Required: true},
				{Name: "amplitude", Type: Integer, Default: 1},
				{Name: "step", Type: Integer, Default: 60},
			},
			Call: sinFunctionFn,
		},
		{
			Name: "sinFunction", Group: "Transform",
			Description: "A sine wave of the timestamps over the request, times amplitude, every step seconds.",
			Params: []Param{
				{Name: "name", Type: String, Required: true},
				{Name: "amplitude", Type: Integer, Default: 1},
				{Name: "step", Type: Integer, Default: 60},
			},
			Call: sinFunctionFn,
		},
		{
			Name: "smartSummarize", Group: "Transform",
			Description: "summarize with buckets starting at the request's from, optionally aligned to the start of its year, month, week, day, hour, minute or second.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "intervalString", Type: Interval, Required: true, Suggestions: []any{"10min", "1h", "1d"}},
				{Name: "func", Type: AggFunc, Default: "sum", Options: aggFuncOptions()},
				{Name: "alignTo", Type: String, Options: []any{false, nil, true, "days", "hours", "minutes", "months", "seconds", "weeks", "years"}},
			},
			Tags: func(c *expr.Expr) map[string]string {
				return map[string]string{"smartSummarize": argText(c, 1, ""), "smartSummarizeFunction": argText(c, 2, "sum")}
			},
			Call: smartSummarizeFn,
		},
		{
			Name: "timeFunction", Group: "Transform",
			Description: "A series whose value is its timestamp, every step seconds (60 by default).",
			Params: []Param{
				{Name: "name", Type: String, Required: true},
				{Name: "step", Type: Integer, Default: 60},
			},
			Call: timeFunctionFn,
		},
		{
			Name: "timeSlice", Group: "Transform",
			Description: "Nulls the points outside [startSliceAt, endSliceAt].",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "startSliceAt", Type: Date, Required: true},
				{Name: "endSliceAt", Type: Date, Default: "now"},
			},
			Call: timeSliceFn,
		},
		{
			Name: "timeStack", Group: "Transform",
			Description: "The series shifted by timeShiftUnit times each of timeShiftStart to timeShiftEnd - 1, each drawn at the request's range.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "timeShiftUnit", Type: Interval, Default: "1d", Suggestions: []any{"1h", "6h", "12h", "1d", "2d", "7d", "14d", "30d"}},
				{Name: "timeShiftStart", Type: Integer, Default: 0},
				{Name: "timeShiftEnd", Type: Integer, Default: 7},
			},
			Call: timeStackFn,
		},
	}
}

// timeSeriesOf makes a series of f(t) at each step from the request's
// from up to its until, named name.
func (ev *evaluator) timeSeriesOf(ctx context.Context, name string, step int64, f func(t int64) float64) ([]*series.Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("the step must be positive")
	}
	start, end := ev.from.Unix(), ev.until.Unix()
	if err := budget.Charge(ctx, (end-start+step-1)/step); err != nil {
		return nil, err
	}
	vals := make([]float64, 0, (end-start+step-1)/step)
	for t := start; t < end; t += step {
		vals = append(vals, f(t))
	}
	return []*series.Series{{Name: name, PathExpr: name, Start: start, End: end, Step: step, Values: vals,
		Consolidate: "average", ValuesPerPoint: 1}}, nil
}

func timeFunctionFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 2); err != nil {
		return nil, err
	}
	name, err := strArg(c, 0)
	if err != nil {
		return nil, err
	}
	sixty := 60.0
	step, err := numArg(c, 1, &sixty)
	if err != nil {
		return nil, err
	}
	return ev.timeSeriesOf(ctx, name, int64(step), func(t int64) float64 { return float64(t) })
}

func sinFunctionFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 3); err != nil {
		return nil, err
	}
	name, err := strArg(c, 0)
	if err != nil {
		return nil, err
	}
	one, sixty := 1.0, 60.0
	amplitude, err := numArg(c, 1, &one)
	if err != nil {
		return nil, err
	}
	step, err := numArg(c, 2, &sixty)
	if err != nil {
		return nil, err
	}
	return ev.timeSeriesOf(ctx, name, int64(step), func(t int64) float64 { return math.Sin(float64(t)) * amplitude })
}

// timeSliceFn nulls the points outside [startSliceAt, endSliceAt]; as in
// graphite-web, the points are timed from the request's from, not from
// the series' own start.
func timeSliceFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	bounds := [2]int64{}
	for i, def := range []string{"", "now"} {
		text := def
		if i+1 < len(c.Args) || def == "" {
			var err error
			if text, err = strArg(c, i+1); err != nil {
				return nil, err
			}
		}
		t, err := gtime.Parse(text, ev.now, ev.loc)
		if err != nil {
			return nil, fmt.Errorf("timeSlice(): %v", err)
		}
		bounds[i] = t.Unix()
	}
	start, end := bounds[0], bounds[1]
	return mapSeries(ev, ctx, c, 2, 3, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		cur := ev.from.Unix()
		for i, v := range s.Values {
			vals[i] = v
			if cur < start || cur > end {
				vals[i] = math.NaN()
			}
			cur += s.Step
		}
		m := with(s, fmt.Sprintf("timeSlice(%s, %d, %d)", s.Name, start, end), vals)
		m.PathExpr = s.PathExpr
		withTag(m, "timeSliceStart", strconv.FormatInt(start, 10))
		withTag(m, "timeSliceEnd", strconv.FormatInt(end, 10))
		return m
	})
}

// timeStackFn evaluates the series list shifted by unit × n for n from
// start to end - 1, each drawn over the first series' range.
func timeStackFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 4)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	unit := "1d"
	if len(c.Args) > 1 {
		if unit, err = strArg(c, 1); err != nil {
			return nil, err
		}
	}
	if unit != "" && unit[0] >= '0' && unit[0] <= '9' {
		unit = "-" + unit
	}
	d, err := gtime.Offset(unit)
	if err != nil {
		return nil, fmt.Errorf("timeStack(): %v", err)
	}
	zero, seven := 0.0, 7.0
	first, err := numArg(c, 2, &zero)
	if err != nil {
		return nil, err
	}
	last, err := numArg(c, 3, &seven)
	if err != nil {
		return nil, err
	}
	var out []*series.Series
	for n := int64(first); n < int64(last); n++ {
		shift := time.Duration(n) * d
		shifted, err := ev.over(ctx, c, 0, ev.from.Add(shift), ev.until.Add(shift))
		if err != nil {
			return nil, err
		}
		for _, s := range shifted {
			s.Name = fmt.Sprintf("timeShift(%s, %s, %d)", s.Name, unit, n)
			s.PathExpr = s.Name
			s.Start, s.End = list[0].Start, list[0].End
			withTag(s, "timeShiftUnit", unit)
			withTag(s, "timeShift", strconv.FormatInt(n, 10))
			out = append(out, s)
		}
	}
	return out, nil
}

// smartSummarizeFn is summarize with buckets from each series' start (the
// request's from, or with alignTo the start of its year, month, week, day,
// hour, minute or second, the series then read again from there).
func smartSummarizeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 4)
	if err != nil {
		return nil, err
	}
	text, interval, err := intervalArg(c, 1)
	if err != nil {
		return nil, err
	}
	fnName := "sum"
	if len(c.Args) > 2 {
		if fnName, err = strArg(c, 2); err != nil {
			return nil, err
		}
	}
	fn, ok := series.AggregationName(fnName)
	if !ok {
		return nil, fmt.Errorf("smartSummarize(): unsupported aggregation function %q", fnName)
	}
	if len(c.Args) > 3 && c.Args[3].Kind == expr.String && c.Args[3].Text != "" {
		from, err := alignTo(ev.from, c.Args[3].Text)
		if err != nil {
			return nil, fmt.Errorf("smartSummarize(): %v", err)
		}
		if list, err = ev.over(ctx, c, 0, from, ev.until); err != nil {
			return nil, err
		}
	}
	var charge int64
	for _, s := range list {
		charge += Buckets(s.Start, s.End, interval, false)
	}
	if err := budget.Charge(ctx, charge); err != nil {
		return nil, err
	}
	out := make([]*series.Series, 0, len(list))
	for _, s := range list {
		vals, end := summarizeValues(s, fn, interval, s.Start, s.End)
		m := with(s, fmt.Sprintf(`smartSummarize(%s, "%s", "%s")`, s.Name, text, fnName), vals)
		m.End, m.Step = end, interval
		out = append(out, m)
	}
	return out, nil
}

// alignTo is graphite-web's smartSummarize alignment of t to the start of
// its year, month, week (to ISO weekday n with "weeksN", Monday
// otherwise), day, hour, minute or second, by the unit's first letters.
func alignTo(t time.Time, unit string) (time.Time, error) {
	y, mo, d := t.Date()
	loc := t.Location()
	switch {
	case strings.HasPrefix(unit, "s"):
		return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), 0, loc), nil
	case strings.HasPrefix(unit, "min"):
		return time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, loc), nil
	case strings.HasPrefix(unit, "h"):
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, loc), nil
	case strings.HasPrefix(unit, "d"):
		return time.Date(y, mo, d, 0, 0, 0, 0, loc), nil
	case strings.HasPrefix(unit, "w"):
		weekday := 1
		if last := unit[len(unit)-1]; last >= '0' && last <= '9' {
			weekday = int(last - '0')
		}
		iso := int(t.Weekday())
		if iso == 0 {
			iso = 7
		}
		back := iso - weekday
		if back < 0 {
			back += 7
		}
		return time.Date(y, mo, d-back, 0, 0, 0, 0, loc), nil
	case strings.HasPrefix(unit, "mon"):
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc), nil
	case strings.HasPrefix(unit, "y"):
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc), nil
	}
	return t, fmt.Errorf("invalid offset unit %q", unit)
}
