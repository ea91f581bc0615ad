package fn

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Calculate functions.

func calculateFuncs() []*Func {
	return []*Func{
		{
			Name: "identity", Group: "Calculate",
			Description: "A series whose value is its timestamp, at a 60 s step.",
			Params: []Param{
				{Name: "name", Type: String, Required: true},
			},
			Call: identityFn,
		},
		{
			Name: "movingAverage", Group: "Calculate",
			Description: "The average over a window of points or of time before each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: tagRaw("movingAverage"),
			Call: movingFn("average", "movingAverage"),
		},
		{
			Name: "movingMax", Group: "Calculate",
			Description: "The maximum over a window of points or of time before each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: tagRaw("movingMax"),
			Call: movingFn("max", "movingMax"),
		},
		{
			Name: "movingMedian", Group: "Calculate",
			Description: "The median over a window of points or of time before each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: tagRaw("movingMedian"),
			Call: movingFn("median", "movingMedian"),
		},
		{
			Name: "movingMin", Group: "Calculate",
			Description: "The minimum over a window of points or of time before each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: tagRaw("movingMin"),
			Call: movingFn("min", "movingMin"),
		},
		{
			Name: "movingSum", Group: "Calculate",
			Description: "The sum over a window of points or of time before each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: tagRaw("movingSum"),
			Call: movingFn("sum", "movingSum"),
		},
		{
			Name: "nPercentile", Group: "Calculate",
			Description: "A line at the nth percentile of each series' values.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "n", Type: Float, Required: true},
			},
			Tags: tagFloat("nPercentile"),
			Call: nPercentileFn,
		},
	}
}

func nPercentileFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("nPercentile(): the percent must be greater than 0")
	}
	var charge int64
	for _, s := range list {
		charge += (s.End - s.Start) / s.Step
	}
	if err := budget.Charge(ctx, charge); err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		p := percentile(s.Values, n, false)
		if math.IsNaN(p) {
			continue
		}
		vals := make([]float64, int((s.End-s.Start)/s.Step))
		for i := range vals {
			vals[i] = p
		}
		out = append(out, with(s, fmt.Sprintf("nPercentile(%s, %s)", s.Name, pyG(n)), vals))
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

// movingFn is graphite-web's movingWindow: the window is the windowSize
// points before each point (or the duration windowSize gives), read from
// before the request's start; a window needs one non-null value.
//
// With fn "", it is movingWindow(seriesList, windowSize, func, xFilesFactor):
// the aggregation is argument 2 and names the result movingFunc; else
// xFilesFactor is argument 2. Without it, each series' own applies.
func movingFn(fn, tag string) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		fn, tag, xffAt := fn, tag, 2
		if fn == "" {
			name := "average"
			if len(c.Args) > 2 {
				var err error
				if name, err = strArg(c, 2); err != nil {
					return nil, err
				}
			}
			var ok bool
			if fn, ok = series.AggregationName(name); !ok {
				return nil, fmt.Errorf("%s(): unsupported aggregation function %q", c.Text, name)
			}
			tag, xffAt = "moving"+pyCapitalize(name), 3
		}
		list, err := ev.listArg(ctx, c, 2, xffAt+1)
		if err != nil || len(list) == 0 {
			return nil, err
		}
		xff := math.NaN()
		if len(c.Args) > xffAt {
			if xff, err = numArg(c, xffAt, nil); err != nil {
				return nil, err
			}
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
			effectiveXFF := s.XFilesFactor
			if !math.IsNaN(xff) {
				effectiveXFF = xff
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
				case len(window) == 0 || float64(len(window))/float64(points) < effectiveXFF:
					vals = append(vals, math.NaN())
				default:
					vals = append(vals, series.Aggregate(fn, window))
				}
			}
			m := with(s, name, vals)
			m.Start = s.Start + preview
			out = append(out, m)
		}
		return out, nil
	}
}

// pyCapitalize is Python's str.capitalize: the first letter upper case,
// the rest lower.
func pyCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}
