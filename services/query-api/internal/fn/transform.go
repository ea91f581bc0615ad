package fn

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Transform functions.

func transformFuncs() []*Func {
	return []*Func{
		{
			Name: "absolute", Group: "Transform",
			Description: "The absolute value of each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("absolute"),
			Call: absoluteFn,
		},
		{
			Name: "derivative", Group: "Transform",
			Description: "The difference between each point and the one before it.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("derivative"),
			Call: derivativeFn,
		},
		{
			Name: "hitcount", Group: "Transform",
			Description: "Turns a rate into counts per interval: each bucket holds the sum of value × step seconds.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "intervalString", Type: Interval, Required: true, Suggestions: []any{"10min", "1h", "1d"}},
				{Name: "alignToInterval", Type: Boolean, Default: false},
			},
			Tags: tagRaw("hitcount"),
			Call: hitcountFn,
		},
		{
			Name: "integral", Group: "Transform",
			Description: "The running sum of the series over time (nulls keep the sum).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("integral"),
			Call: integralFn,
		},
		{
			Name: "isNonNull", Group: "Transform",
			Description: "1 where the series has a value, 0 where it is null.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("isNonNull"),
			Call: isNonNullFn,
		},
		{
			Name: "keepLastValue", Group: "Transform",
			Description: "Fills nulls with the last value seen, for runs of at most limit nulls.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "limit", Type: IntOrInf, Default: math.Inf(1)},
			},
			Call: keepLastValueFn,
		},
		{
			Name: "nonNegativeDerivative", Group: "Transform",
			Description: "The difference between each point and the one before, for counters: a decrease is a wrap (with maxValue) or a reset (null).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "maxValue", Type: Float},
				{Name: "minValue", Type: Float},
			},
			Tags: tagOne("nonNegativeDerivative"),
			Call: deltaFn("nonNegativeDerivative", false),
		},
		{
			Name: "offset", Group: "Transform",
			Description: "Adds a constant to each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "factor", Type: Float, Required: true},
			},
			Tags: tagFloat("offset"),
			Call: perValue("offset(%s,%s)", func(v, a float64) float64 { return v + a }),
		},
		{
			Name: "perSecond", Group: "Transform",
			Description: "The per-second rate of a counter: nonNegativeDerivative divided by the step.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "maxValue", Type: Float},
				{Name: "minValue", Type: Float},
			},
			Tags: tagOne("perSecond"),
			Call: deltaFn("perSecond", true),
		},
		{
			Name: "scale", Group: "Transform",
			Description: "Multiplies each point by a factor.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "factor", Type: Float, Required: true},
			},
			Tags: tagFloat("scale"),
			Call: perValue("scale(%s,%s)", func(v, a float64) float64 { return v * a }),
		},
		{
			Name: "scaleToSeconds", Group: "Transform",
			Description: "Scales each point from a per-step value to a per-seconds value.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "seconds", Type: Float, Required: true},
			},
			Tags: tagFloat("scaleToSeconds"),
			Call: scaleToSecondsFn,
		},
		{
			Name: "summarize", Group: "Transform",
			Description: "Combines the points of each interval into one (sum by default), with buckets aligned to the interval or to from.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "intervalString", Type: Interval, Required: true, Suggestions: []any{"10min", "1h", "1d"}},
				{Name: "func", Type: AggFunc, Default: "sum", Options: aggFuncOptions()},
				{Name: "alignToFrom", Type: Boolean, Default: false},
			},
			Tags: summarizeTags,
			Call: summarizeFn,
		},
		{
			Name: "time", Group: "Transform",
			Description: "Short form of timeFunction.",
			Params: []Param{
				{Name: "name", Type: String, Required: true},
				{Name: "step", Type: Integer, Default: 60},
			},
			Call: timeFunctionFn,
		},
		{
			Name: "timeShift", Group: "Transform",
			Signature:   "timeShift(seriesList, timeShift, resetEnd=True, alignDST=False)", // graphite-web's, which differs from its params
			Description: "The series as it was a time ago (\"1d\" or \"-1d\"; \"+1d\" looks ahead), drawn at the current time.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "timeShift", Type: Interval, Required: true, Suggestions: []any{"1h", "6h", "12h", "1d", "2d", "7d", "14d", "30d"}},
				{Name: "resetEnd", Type: Boolean, Default: true},
				{Name: "alignDst", Type: Boolean, Default: false},
			},
			Call: timeShiftFn,
		},
		{
			Name: "transformNull", Group: "Transform",
			Description: "Replaces nulls with a value (0 by default), only where a reference series has a value when one is given.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "default", Type: Float, Default: 0},
				{Name: "referenceSeries", Type: SeriesList},
			},
			Tags: transformNullTags,
			Call: transformNullFn,
		},
	}
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

// summarizeFn re-buckets each series into intervals, as graphite-web's
// summarize and _summarizeValues do, including which points a bucket takes.
func summarizeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
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
		return nil, fmt.Errorf("summarize(): unsupported aggregation function %q", fnName)
	}
	alignToFrom := Truthy(c, 3, false)
	suffix := ""
	if alignToFrom {
		suffix = ", true"
	}
	// Charge the buckets before making them: a short interval over a long
	// range makes many more values than were read.
	var charge int64
	for _, s := range list {
		charge += Buckets(s.Start, s.End, interval, !alignToFrom)
	}
	if err := budget.Charge(ctx, charge); err != nil {
		return nil, err
	}
	out := make([]*series.Series, 0, len(list))
	for _, s := range list {
		newStart, newEnd := s.Start, s.End
		if !alignToFrom {
			newStart = s.Start - series.Mod(s.Start, interval)
			newEnd = s.End - series.Mod(s.End, interval) + interval
		}
		vals, alignedEnd := summarizeValues(s, fn, interval, newStart, newEnd)
		if alignToFrom {
			newEnd = alignedEnd
		}
		m := with(s, fmt.Sprintf(`summarize(%s, "%s", "%s"%s)`, s.Name, text, fnName, suffix), vals)
		m.Start, m.End, m.Step = newStart, newEnd, interval
		out = append(out, m)
	}
	return out, nil
}

// hitcountFn spreads each value times its step over the intervals it
// covers, as graphite-web's hitcount does (without alignToInterval).
func hitcountFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 2, 3); err != nil {
		return nil, err
	}
	align := Truthy(c, 2, false)
	text, interval, err := intervalArg(c, 1)
	if err != nil {
		return nil, err
	}
	var list []*series.Series
	if align {
		// graphite-web reads the series again from the start of the
		// request's day, hour or minute (by the interval), in its time zone,
		// and ends them on a whole number of intervals.
		f := ev.from
		switch {
		case interval >= 86400:
			f = time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, f.Location())
		case interval >= 3600:
			f = time.Date(f.Year(), f.Month(), f.Day(), f.Hour(), 0, 0, 0, f.Location())
		case interval >= 60:
			f = time.Date(f.Year(), f.Month(), f.Day(), f.Hour(), f.Minute(), 0, 0, f.Location())
		}
		if list, err = ev.over(ctx, c, 0, f, ev.until); err != nil {
			return nil, err
		}
		for _, s := range list {
			s.End = s.Start + (s.End-s.Start)/interval*interval + interval
		}
	} else if list, err = ev.seriesArg(ctx, c, 0); err != nil {
		return nil, err
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
		count := int(math.Ceil(float64(s.End-s.Start) / float64(interval)))
		buckets := make([]float64, count)
		used := make([]bool, count)
		add := func(b int, v float64) {
			buckets[b] += v
			used[b] = true
		}
		newStart := s.End - int64(count)*interval
		for i, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			start := s.Start + int64(i)*s.Step
			sb, sm := floorDiv(start-newStart, interval)
			eb, em := floorDiv(start+s.Step-newStart, interval)
			if eb >= int64(count) {
				eb, em = int64(count)-1, interval
			}
			if sb == eb {
				if sb >= 0 {
					add(int(sb), v*float64(em-sm))
				}
				continue
			}
			if sb >= 0 {
				add(int(sb), v*float64(interval-sm))
			}
			for j := sb + 1; j < eb; j++ {
				add(int(j), v*float64(interval))
			}
			if em > 0 {
				add(int(eb), v*float64(em))
			}
		}
		for b := range buckets {
			if !used[b] {
				buckets[b] = math.NaN()
			}
		}
		name := fmt.Sprintf(`hitcount(%s, "%s")`, s.Name, text)
		if align {
			name = fmt.Sprintf(`hitcount(%s, "%s", true)`, s.Name, text)
		}
		m := with(s, name, buckets)
		m.Start, m.Step = newStart, interval
		out = append(out, m)
	}
	return out, nil
}

func scaleToSecondsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	secs, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
		factor := secs / float64(s.Step)
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			vals[j] = v
			if !math.IsNaN(v) {
				vals[j] = pyRound6(v * factor)
			}
		}
		return with(s, fmt.Sprintf("scaleToSeconds(%s,%d)", s.Name, int64(secs)), vals)
	})
}

func timeShiftFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 2, 4); err != nil {
		return nil, err
	}
	shift, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	resetEnd := Truthy(c, 2, true)
	alignDST := Truthy(c, 3, false)
	if shift != "" && shift[0] >= '0' && shift[0] <= '9' {
		shift = "-" + shift
	}
	d, err := gtime.Offset(shift)
	if err != nil {
		return nil, fmt.Errorf("timeShift(): %v", err)
	}
	list, err := ev.seriesArg(ctx, c, 0)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	from, until := ev.from.Add(d), ev.until.Add(d)
	if alignDST {
		// graphite-web moves the shifted range by an hour when the
		// request's lies wholly in daylight saving time and the shifted
		// one wholly outside it, or the reverse.
		dst := func(t time.Time) bool { return t.In(ev.loc).IsDST() }
		switch req, shifted := [2]bool{dst(ev.from), dst(ev.until)}, [2]bool{dst(from), dst(until)}; {
		case req == [2]bool{true, true} && shifted == [2]bool{false, false}:
			from, until = from.Add(time.Hour), until.Add(time.Hour)
		case req == [2]bool{false, false} && shifted == [2]bool{true, true}:
			from, until = from.Add(-time.Hour), until.Add(-time.Hour)
		}
	}
	shifted, err := ev.over(ctx, c, 0, from, until)
	if err != nil {
		return nil, err
	}
	out := make([]*series.Series, len(shifted))
	for i, s := range shifted {
		m := with(s, fmt.Sprintf(`timeShift(%s, "%s")`, s.Name, shift), s.Values)
		m.PathExpr = s.PathExpr // graphite-web renames the series; its path expression stays
		withTag(m, "timeShift", shift)
		m.Start, m.End = list[0].Start, list[0].End
		if !resetEnd {
			m.End = s.End - s.Start + list[0].Start
		}
		out[i] = m
	}
	return out, nil
}

// transformNullTags: graphite's default is the int 0; a given one is read
// as a float; referenceSeries=1 when there is one.
func transformNullTags(c *expr.Expr) map[string]string {
	tags := map[string]string{"transformNull": "0"}
	if len(c.Args) > 1 {
		tags["transformNull"] = pyRepr(argNumber(c, 1))
	}
	if len(c.Args) > 2 {
		tags["referenceSeries"] = "1"
	}
	return tags
}

func summarizeTags(c *expr.Expr) map[string]string {
	return map[string]string{"summarize": argText(c, 1, ""), "summarizeFunction": argText(c, 2, "sum")}
}

// summarizeValues is graphite-web's _summarizeValues: the series' points
// in buckets of interval from newStart to newEnd, each aggregated by fn
// where its share of non-null points reaches the series' xFilesFactor, and
// where the last bucket ends.
func summarizeValues(s *series.Series, fn string, interval, newStart, newEnd int64) ([]float64, int64) {
	n := int((s.End - s.Start + s.Step - 1) / s.Step)
	n = min(n, len(s.Values))
	intervalPoints := float64(interval) / float64(s.Step)
	vals := make([]float64, 0, max(0, (newEnd-newStart+interval-1)/interval))
	i := 0
	ts := newStart
	for ; ts < newEnd; ts += interval {
		first, nonNullN := i, 0
		for i < n && s.Start+int64(i)*s.Step < ts+interval {
			t := s.Start + int64(i)*s.Step
			if t <= ts {
				first = i
			}
			if t >= ts && !math.IsNaN(s.Values[i]) {
				nonNullN++
			}
			i++
		}
		if nonNullN > 0 && float64(nonNullN)/intervalPoints >= s.XFilesFactor {
			vals = append(vals, series.Aggregate(fn, s.Values[first:i]))
		} else {
			vals = append(vals, math.NaN())
		}
	}
	return vals, ts
}
