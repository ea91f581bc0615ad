package api

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The third slice: functions that read over another range than the
// request's (moving windows, timeShift) or need none (constantLine), and
// percentileOfSeries.

func addWindowFunctions(fns map[string]fnImpl) {
	for name, fn := range map[string]fnImpl{
		"movingAverage":      movingFn("average", "movingAverage"),
		"movingSum":          movingFn("sum", "movingSum"),
		"movingMin":          movingFn("min", "movingMin"),
		"movingMax":          movingFn("max", "movingMax"),
		"movingMedian":       movingFn("median", "movingMedian"),
		"timeShift":          timeShiftFn,
		"constantLine":       constantLineFn,
		"percentileOfSeries": percentileOfSeriesFn,
	} {
		fns[name] = fn
	}
}

// over evaluates argument i over [from, until] instead of the request's range.
func (ev *evaluator) over(ctx context.Context, c *expr.Expr, i int, from, until time.Time) ([]*series.Series, error) {
	sub := *ev
	sub.from, sub.until = from, until
	return sub.seriesArg(ctx, c, i)
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 0 {
		return (s[mid-1] + s[mid]) / 2
	}
	return s[mid]
}

// movingFn is graphite-web's movingWindow: the window is the windowSize
// points before each point (or the duration windowSize gives), read from
// before the request's start; a window needs one non-null value.
func movingFn(fn, tag string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		list, err := ev.listArg(ctx, c, 2, 2)
		if err != nil || len(list) == 0 {
			return nil, err
		}
		w := c.Args[1]
		var preview int64
		switch w.Kind {
		case expr.String:
			d, err := gtime.Offset(w.Text)
			if err != nil {
				return nil, fmt.Errorf("%s(): %v", c.Text, err)
			}
			preview = int64(math.Abs(d.Seconds()))
		case expr.Number:
			var step int64
			for _, s := range list {
				step = max(step, s.Step)
			}
			preview = step * int64(w.Number)
		default:
			return nil, fmt.Errorf("%s(): the window is a number of points or a quoted duration", c.Text)
		}
		previewList, err := ev.over(ctx, c, 0, ev.from.Add(-time.Duration(preview)*time.Second), ev.until)
		if err != nil {
			return nil, err
		}
		// A value for each point past the window (the preview read was
		// charged as it was read).
		if err := chargeValues(ctx, previewList); err != nil {
			return nil, err
		}
		out := make([]*series.Series, 0, len(previewList))
		for _, s := range previewList {
			var name string
			var points int
			if w.Kind == expr.String {
				name = fmt.Sprintf(`%s(%s,"%s")`, tag, s.Name, w.Text)
				points = int(preview / s.Step)
			} else {
				name = fmt.Sprintf("%s(%s,%s)", tag, s.Name, w.Text)
				points = int(w.Number)
			}
			vals := make([]float64, 0, max(0, len(s.Values)-points))
			for i := points; i < len(s.Values); i++ {
				var window []float64
				for _, v := range s.Values[i-points : i] {
					if !math.IsNaN(v) {
						window = append(window, v)
					}
				}
				switch {
				case len(window) == 0 || float64(len(window))/float64(points) < s.XFilesFactor:
					vals = append(vals, math.NaN())
				default:
					vals = append(vals, aggFunc(fn, window))
				}
			}
			m := with(s, name, vals)
			m.Start = s.Start + preview
			out = append(out, m)
		}
		return out, nil
	}
}

func timeShiftFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 2, 3); err != nil {
		return nil, err
	}
	shift, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	if len(c.Args) > 2 && !(c.Args[2].Kind == expr.Bool && c.Args[2].Bool) {
		return nil, errUnsupported{"timeShift with resetEnd=false"}
	}
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
	shifted, err := ev.over(ctx, c, 0, ev.from.Add(d), ev.until.Add(d))
	if err != nil {
		return nil, err
	}
	out := make([]*series.Series, len(shifted))
	for i, s := range shifted {
		m := with(s, fmt.Sprintf(`timeShift(%s, "%s")`, s.Name, shift), s.Values)
		withTag(m, "timeShift", shift)
		m.Start, m.End = list[0].Start, list[0].End
		out[i] = m
	}
	return out, nil
}

// pyRepr formats a float as Python's repr does for the usual range.
func pyRepr(v float64) string {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	return s
}

func constantLineFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if err := argCount(c, 1, 1); err != nil {
		return nil, err
	}
	v, err := numArg(c, 0, nil)
	if err != nil {
		return nil, err
	}
	start, end := ev.from.Unix(), ev.until.Unix()
	step := max(1, (end-start)/2)
	name := pyRepr(v)
	return []*series.Series{{Name: name, PathExpr: "constantLine(" + name + ")", Start: start, End: start + 3*step, Step: step,
		Values: []float64{v, v, v}, Consolidate: "average", ValuesPerPoint: 1}}, nil
}

// percentile is graphite-web's _getPercentile over the non-null values;
// NaN when there are none.
func percentile(vs []float64, n float64, interpolate bool) float64 {
	var sorted []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			sorted = append(sorted, v)
		}
	}
	if len(sorted) == 0 {
		return math.NaN()
	}
	slices.Sort(sorted)
	frac := n / 100 * float64(len(sorted)+1)
	rank := int(frac)
	rankFrac := frac - float64(rank)
	if !interpolate {
		rank += int(math.Ceil(rankFrac))
	}
	var p float64
	switch {
	case rank == 0:
		p = sorted[0]
	case rank >= len(sorted):
		p = sorted[len(sorted)-1] // graphite-web fails past 100%; the largest value
	default:
		p = sorted[rank-1]
	}
	if interpolate && rank < len(sorted) {
		p += rankFrac * (sorted[rank] - p)
	}
	return p
}

func percentileOfSeriesFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 3)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("percentileOfSeries(): the percent must be greater than 0")
	}
	interpolate := len(c.Args) > 2 && c.Args[2].Kind == expr.Bool && c.Args[2].Bool
	name := fmt.Sprintf("percentileOfSeries(%s,%s)", list[0].PathExpr, pyG(n))
	s, list, err := emptyOver(ctx, name, list)
	if err != nil {
		return nil, err
	}
	out := []*series.Series{s}
	row := make([]float64, len(list))
	for i := range out[0].Values {
		for k, s := range list {
			row[k] = at(s, out[0].Start, out[0].Step, i)
		}
		out[0].Values[i] = percentile(row, n, interpolate)
	}
	return out, nil
}
