package api

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The fourth slice: re-bucketing (summarize, hitcount), scaleToSeconds,
// cumulative, threshold and identity.

func addSummarizeFunctions(fns map[string]fnImpl) {
	for name, fn := range map[string]fnImpl{
		"summarize":      summarizeFn,
		"hitcount":       hitcountFn,
		"scaleToSeconds": scaleToSecondsFn,
		"cumulative":     cumulativeFn,
		"threshold":      thresholdFn,
		"identity":       identityFn,
		"time":           identityFn,
	} {
		fns[name] = fn
	}
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
	fn, ok := aggregateNames[fnName]
	if !ok {
		return nil, fmt.Errorf("summarize(): unsupported aggregation function %q", fnName)
	}
	alignToFrom := len(c.Args) > 3 && c.Args[3].Kind == expr.Bool && c.Args[3].Bool
	suffix := ""
	if alignToFrom {
		suffix = ", true"
	}
	// Charge the buckets before making them: a short interval over a long
	// range makes many more values than were read.
	var charge int64
	for _, s := range list {
		charge += buckets(s.Start, s.End, interval, !alignToFrom)
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
		n := int((s.End - s.Start + s.Step - 1) / s.Step)
		n = min(n, len(s.Values))
		intervalPoints := float64(interval) / float64(s.Step)
		vals := make([]float64, 0, buckets(s.Start, s.End, interval, !alignToFrom))
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
				vals = append(vals, aggFunc(fn, s.Values[first:i]))
			} else {
				vals = append(vals, math.NaN())
			}
		}
		if alignToFrom {
			newEnd = ts
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
	align := len(c.Args) > 2 && c.Args[2].Kind == expr.Bool && c.Args[2].Bool
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
		charge += buckets(s.Start, s.End, interval, false)
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

func floorDiv(a, b int64) (int64, int64) {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q, a - q*b
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

func cumulativeFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		out := with(s, `consolidateBy(`+s.Name+`,"sum")`, s.Values)
		out.Consolidate = "sum"
		return out
	})
}

func thresholdFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 3); err != nil {
		return nil, err
	}
	out, err := constantLineFn(ev, ctx, &expr.Expr{Kind: expr.Call, Text: "threshold", Args: c.Args[:1]})
	if err != nil {
		return nil, err
	}
	if len(c.Args) > 1 {
		label, err := strArg(c, 1)
		if err != nil {
			return nil, err
		}
		if label != "" {
			out[0].Name = label
		}
	}
	return out, nil
}

func identityFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 1); err != nil {
		return nil, err
	}
	name, err := strArg(c, 0)
	if err != nil {
		return nil, err
	}
	start, end := ev.from.Unix(), ev.until.Unix()
	if err := budget.Charge(ctx, (end-start+59)/60); err != nil {
		return nil, err
	}
	vals := make([]float64, 0, (end-start+59)/60)
	for t := start; t < end; t += 60 {
		vals = append(vals, float64(t))
	}
	return []*series.Series{{Name: name, PathExpr: `identity("` + name + `")`, Start: start, End: end, Step: 60,
		Values: vals, Consolidate: "average", ValuesPerPoint: 1}}, nil
}
