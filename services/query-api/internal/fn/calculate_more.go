package fn

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Calculate functions: Holt-Winters, linear regression,
// aggregate lines, moving deviation, exponential and general moving windows.

func calculateMoreFuncs() []*Func {
	return []*Func{
		{
			Name: "holtWintersForecast", Group: "Calculate",
			Description: "The Holt-Winters forecast of each series, bootstrapped from bootstrapInterval before the request, with a season of seasonality.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "bootstrapInterval", Type: Interval, Default: "7d", Suggestions: []any{"7d", "30d"}},
				{Name: "seasonality", Type: Interval, Default: "1d", Suggestions: []any{"1d", "7d"}},
			},
			Call: holtWintersForecastFn,
		},
		{
			Name: "holtWintersConfidenceBands", Group: "Calculate",
			Description: "The lower and upper Holt-Winters confidence bands of each series: the forecast minus and plus delta deviations.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "delta", Type: Integer, Default: 3},
				{Name: "bootstrapInterval", Type: Interval, Default: "7d", Suggestions: []any{"7d", "30d"}},
				{Name: "seasonality", Type: Interval, Default: "1d", Suggestions: []any{"1d", "7d"}},
			},
			Call: holtWintersBandsFn(false),
		},
		{
			Name: "holtWintersConfidenceArea", Group: "Calculate",
			Description: "The area between the Holt-Winters confidence bands of one series, as two series to stack.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "delta", Type: Integer, Default: 3},
				{Name: "bootstrapInterval", Type: Interval, Default: "7d", Suggestions: []any{"7d", "30d"}},
				{Name: "seasonality", Type: Interval, Default: "1d", Suggestions: []any{"1d", "7d"}},
			},
			Call: holtWintersBandsFn(true),
		},
		{
			Name: "holtWintersAberration", Group: "Calculate",
			Description: "How far each point lies outside its Holt-Winters confidence bands (0 inside them).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "delta", Type: Integer, Default: 3},
				{Name: "bootstrapInterval", Type: Interval, Default: "7d", Suggestions: []any{"7d", "30d"}},
				{Name: "seasonality", Type: Interval, Default: "1d", Suggestions: []any{"1d", "7d"}},
			},
			Call: holtWintersAberrationFn,
		},
		{
			Name: "linearRegression", Group: "Calculate",
			Description: "The least-squares line of each series, fitted over [startSourceAt, endSourceAt] (the request's range by default).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "startSourceAt", Type: Date},
				{Name: "endSourceAt", Type: Date},
			},
			Call: linearRegressionFn,
		},
		{
			Name: "aggregateLine", Group: "Calculate",
			Description: "A horizontal line at an aggregation of each series (average by default), over the request or at the series' own steps with keepStep.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "func", Type: AggFunc, Default: "average", Options: aggFuncOptions()},
				{Name: "keepStep", Type: Boolean, Default: false},
			},
			Call: aggregateLineFn,
		},
		{
			Name: "stdev", Group: "Calculate",
			Description: "The standard deviation over a moving window of points, where at least windowTolerance of them are non-null.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "points", Type: Integer, Required: true},
				{Name: "windowTolerance", Type: Float, Default: 0.1},
			},
			Tags: tagRaw("stdev"),
			Call: stdevFn,
		},
		{
			Name: "exponentialMovingAverage", Group: "Calculate",
			Description: "The exponential moving average over a window of points or of time, read from before the request.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
			},
			Tags: tagRaw("exponentialMovingAverage"),
			Call: exponentialMovingAverageFn,
		},
		{
			Name: "movingWindow", Group: "Calculate",
			Description: "An aggregation (average by default) over a window of points or of time before each point, with an optional xFilesFactor.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "windowSize", Type: IntOrInterval, Required: true, Suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{Name: "func", Type: AggFunc, Default: "average", Options: aggFuncOptions()},
				{Name: "xFilesFactor", Type: Float},
			},
			Tags: func(c *expr.Expr) map[string]string {
				return map[string]string{"moving" + pyCapitalize(argText(c, 2, "average")): argText(c, 1, "")}
			},
			Call: movingFn("", ""),
		},
	}
}

// previewArg is a bootstrap interval or window in seconds, graphite-web's
// timedelta seconds + days * 86400 (of its absolute value for windows).
func previewArg(c *expr.Expr, i int, def string) (int64, string, error) {
	text := def
	if i < len(c.Args) {
		var err error
		if text, err = strArg(c, i); err != nil {
			return 0, "", err
		}
	}
	d, err := gtime.Offset(text)
	if err != nil {
		return 0, "", fmt.Errorf("%s(): %v", c.Text, err)
	}
	return int64(d / time.Second), text, nil
}

// holtWinters is graphite-web's holtWintersAnalysis: the predictions and
// deviations of a series (NaN is None), alpha = gamma = 0.1, beta = 0.0035.
func holtWinters(vs []float64, seasonLength int) (predictions, deviations []float64) {
	const alpha, gamma, beta = 0.1, 0.1, 0.0035
	n := len(vs)
	intercepts, slopes, seasonals := make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n)
	predictions, deviations = make([]float64, 0, n), make([]float64, 0, n)
	last := func(list []float64, i int) float64 {
		if j := i - seasonLength; j >= 0 && j < len(list) {
			return list[j]
		}
		return 0
	}
	nextPred := math.NaN()
	for i, actual := range vs {
		if math.IsNaN(actual) {
			intercepts = append(intercepts, math.NaN())
			slopes = append(slopes, 0)
			seasonals = append(seasonals, 0)
			predictions = append(predictions, nextPred)
			deviations = append(deviations, 0)
			nextPred = math.NaN()
			continue
		}
		var lastIntercept, lastSlope, prediction float64
		if i == 0 {
			lastIntercept, lastSlope, prediction = actual, 0, actual
		} else {
			lastIntercept, lastSlope = intercepts[len(intercepts)-1], slopes[len(slopes)-1]
			if math.IsNaN(lastIntercept) {
				lastIntercept = actual
			}
			prediction = nextPred
		}
		lastSeasonal := last(seasonals, i)
		nextLastSeasonal := last(seasonals, i+1)
		lastSeasonalDev := last(deviations, i)
		intercept := alpha*(actual-lastSeasonal) + (1-alpha)*(lastIntercept+lastSlope)
		slope := beta*(intercept-lastIntercept) + (1-beta)*lastSlope
		seasonal := gamma*(actual-intercept) + (1-gamma)*lastSeasonal
		nextPred = intercept + slope + nextLastSeasonal
		p := prediction
		if math.IsNaN(p) {
			p = 0
		}
		deviation := gamma*math.Abs(actual-p) + (1-gamma)*lastSeasonalDev
		intercepts = append(intercepts, intercept)
		slopes = append(slopes, slope)
		seasonals = append(seasonals, seasonal)
		predictions = append(predictions, prediction)
		deviations = append(deviations, deviation)
	}
	return predictions, deviations
}

// holtWintersArgs reads (seriesList, [delta,] bootstrapInterval,
// seasonality) from argument first on, and evaluates the series list again
// from bootstrapInterval before the request.
func (ev *evaluator) holtWintersArgs(ctx context.Context, c *expr.Expr, first int) (list []*series.Series, preview, season int64, err error) {
	if err = argCount(c, 1, first+2); err != nil {
		return nil, 0, 0, err
	}
	if preview, _, err = previewArg(c, first, "7d"); err != nil {
		return nil, 0, 0, err
	}
	if season, _, err = previewArg(c, first+1, "1d"); err != nil {
		return nil, 0, 0, err
	}
	list, err = ev.over(ctx, c, 0, ev.from.Add(-time.Duration(preview)*time.Second), ev.until)
	if err == nil {
		err = chargeValues(ctx, list)
	}
	return list, preview, season, err
}

// tagged is a copy of s named name, with values, over [start, end), and
// tags: s's and each of ones set to 1.
func tagged(s *series.Series, name string, start int64, values []float64, ones ...string) *series.Series {
	out := with(s, name, values)
	out.Start = start
	for _, t := range ones {
		withTag(out, t, "1")
	}
	return out
}

func holtWintersForecastFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, preview, season, err := ev.holtWintersArgs(ctx, c, 1)
	if err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		predictions, _ := holtWinters(s.Values, int(season/s.Step))
		window := min(int(preview/s.Step), len(predictions))
		out = append(out, tagged(s, "holtWintersForecast("+s.Name+")", s.Start+preview, predictions[window:],
			"holtWintersForecast", "holtWintersDeviation"))
	}
	return out, nil
}

// bands are a series' lower and upper Holt-Winters confidence bands past
// the bootstrap, tagged as graphite-web's share one tags object.
func bands(s *series.Series, delta float64, preview, season int64) (lower, upper *series.Series) {
	predictions, deviations := holtWinters(s.Values, int(season/s.Step))
	window := min(int(preview/s.Step), len(predictions))
	predictions, deviations = predictions[window:], deviations[window:]
	lo, hi := make([]float64, len(predictions)), make([]float64, len(predictions))
	for i, f := range predictions {
		lo[i], hi[i] = f-delta*deviations[i], f+delta*deviations[i] // NaN when the forecast is
	}
	ones := []string{"holtWintersForecast", "holtWintersDeviation", "holtWintersConfidenceUpper", "holtWintersConfidenceLower"}
	lower = tagged(s, "holtWintersConfidenceLower("+s.Name+")", s.Start+preview, lo, ones...)
	upper = tagged(s, "holtWintersConfidenceUpper("+s.Name+")", s.Start+preview, hi, ones...)
	lower.PathExpr, upper.PathExpr = s.PathExpr, s.PathExpr
	return lower, upper
}

// holtWintersBandsFn is holtWintersConfidenceBands (lower, upper for each
// series) or, with area, holtWintersConfidenceArea: graphite-web's
// areaBetween of the bands, which takes exactly one series.
func holtWintersBandsFn(area bool) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		three := 3.0
		delta, err := numArg(c, 1, &three)
		if err != nil {
			return nil, err
		}
		list, preview, season, err := ev.holtWintersArgs(ctx, c, 2)
		if err != nil {
			return nil, err
		}
		if area && len(list) != 1 {
			return nil, fmt.Errorf("%s(): the series list must reference exactly 1 series (got %d): areaBetween takes exactly 2", c.Text, len(list))
		}
		var out []*series.Series
		for _, s := range list {
			lower, upper := bands(s, delta, preview, season)
			out = append(out, lower, upper)
		}
		if area {
			name := "holtWintersConfidenceArea(" + out[1].PathExpr + ")"
			for _, s := range out {
				s.Name, s.PathExpr = name, name
				withTag(s, "holtWintersConfidenceArea", "1")
				s.Draw.Stacked = true
			}
			out[0].Draw.Invisible = true // areaBetween's lower bound
		}
		return out, nil
	}
}

func holtWintersAberrationFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	three := 3.0
	delta, err := numArg(c, 1, &three)
	if err != nil {
		return nil, err
	}
	list, err := ev.seriesArg(ctx, c, 0)
	if err != nil {
		return nil, err
	}
	previewList, preview, season, err := ev.holtWintersArgs(ctx, c, 2)
	if err != nil {
		return nil, err
	}
	byName := map[string][2]*series.Series{}
	for _, s := range previewList {
		lower, upper := bands(s, delta, preview, season)
		byName[s.Name] = [2]*series.Series{lower, upper}
	}
	out := make([]*series.Series, 0, len(list))
	for _, s := range list {
		b, ok := byName[s.Name]
		if !ok {
			return nil, fmt.Errorf("holtWintersAberration(): no confidence bands for %s", s.Name)
		}
		vals := make([]float64, len(s.Values))
		for i, v := range s.Values {
			lo, hi := valueAt(b[0].Values, i), valueAt(b[1].Values, i)
			switch {
			case math.IsNaN(v):
			case !math.IsNaN(hi) && v > hi:
				vals[i] = v - hi
			case !math.IsNaN(lo) && v < lo:
				vals[i] = v - lo
			}
		}
		out = append(out, tagged(s, "holtWintersAberration("+s.Name+")", s.Start, vals, "holtWintersAberration"))
	}
	return out, nil
}

// linearRegressionFn fits each series read over [startSourceAt,
// endSourceAt] and draws the line over the request's range.
func linearRegressionFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	from, until := ev.from, ev.until
	for i, t := range []*time.Time{&from, &until} {
		if len(c.Args) > i+1 {
			text, err := strArg(c, i+1)
			if err != nil {
				return nil, err
			}
			if text == "" { // None: the request's
				continue
			}
			if *t, err = gtime.Parse(text, ev.now, ev.loc); err != nil {
				return nil, fmt.Errorf("linearRegression(): %v", err)
			}
		}
	}
	sources, err := ev.over(ctx, c, 0, from, until)
	if err != nil {
		return nil, err
	}
	if err := chargeValues(ctx, list); err != nil {
		return nil, err
	}
	span := fmt.Sprintf("%d, %d", from.Unix(), until.Unix())
	var out []*series.Series
	for i := range min(len(sources), len(list)) {
		src, s := sources[i], list[i]
		var n, sumI, sumV, sumII, sumIV float64
		for j, v := range src.Values {
			if !math.IsNaN(v) {
				n, sumI, sumV, sumII, sumIV = n+1, sumI+float64(j), sumV+v, sumII+float64(j*j), sumIV+float64(j)*v
			}
		}
		den := n*sumII - sumI*sumI
		if den == 0 {
			continue
		}
		factor := (n*sumIV - sumI*sumV) / den / float64(src.Step)
		offset := (sumII*sumV-sumIV*sumI)/den - factor*float64(src.Start)
		vals := make([]float64, len(s.Values))
		for j := range vals {
			vals[j] = offset + float64(s.Start+int64(j)*s.Step)*factor
		}
		m := with(s, fmt.Sprintf("linearRegression(%s, %d, %d)", s.Name, from.Unix(), until.Unix()), vals)
		withTag(m, "linearRegressions", span)
		out = append(out, m)
	}
	return out, nil
}

func aggregateLineFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	fn, err := aggregationArg(c, 1, "average")
	if err != nil {
		return nil, err
	}
	keepStep := Truthy(c, 2, false)
	if err := chargeValues(ctx, list); err != nil {
		return nil, err
	}
	var out []*series.Series
	for _, s := range list {
		v := series.Aggregate(fn, s.Values)
		name, text := "aggregateLine("+s.Name+", None)", "None"
		if !math.IsNaN(v) {
			name, text = "aggregateLine("+s.Name+", "+pyG(v)+")", pyRepr(v)
		}
		if keepStep {
			vals := make([]float64, len(s.Values))
			for i := range vals {
				vals[i] = v
			}
			out = append(out, with(s, name, vals))
			continue
		}
		line := constantLine(ev, v)
		line.Name, line.PathExpr, line.Tags = name, name, TagsOf(text)
		out = append(out, line)
	}
	return out, nil
}

func stdevFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	pts, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	tenth := 0.1
	tolerance, err := numArg(c, 2, &tenth)
	if err != nil {
		return nil, err
	}
	points := int(pts)
	if points <= 0 {
		return nil, fmt.Errorf("stdev(): points must be positive")
	}
	return mapSeries(ev, ctx, c, 2, 3, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		valid, sum, sumSq := 0, 0.0, 0.0
		for i, v := range s.Values {
			if i >= points {
				if d := s.Values[i-points]; !math.IsNaN(d) {
					valid--
					sum -= d
					sumSq -= d * d
				}
			}
			if !math.IsNaN(v) {
				valid++
				sum += v
				sumSq += v * v
			}
			vals[i] = math.NaN()
			if valid > 0 && float64(valid)/float64(points) >= tolerance {
				vals[i] = math.Sqrt(float64(valid)*sumSq-sum*sum) / float64(valid) // NaN where Python's sqrt fails
			}
		}
		return with(s, fmt.Sprintf("stdev(%s,%d)", s.Name, points), vals)
	})
}

// exponentialMovingAverageFn reads the series from the window before the
// request on; its first value is the window's average, then each point
// moves it by 2/(window+1). As in graphite-web, that is one value more
// than the request's steps: the last falls on the request's end.
func exponentialMovingAverageFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	w := c.Args[1]
	var preview int64
	var constant float64
	switch w.Kind {
	case expr.String:
		if preview, _, err = previewArg(c, 1, ""); err != nil {
			return nil, err
		}
		preview = max(preview, -preview)
		constant = 2 / float64(preview+1)
	case expr.Number:
		var step int64
		for _, s := range list {
			step = max(step, s.Step)
		}
		preview = step * int64(w.Number)
		constant = 2 / float64(int64(w.Number)+1)
	default:
		return nil, fmt.Errorf("exponentialMovingAverage(): the window is a number of points or a quoted duration")
	}
	previewList, err := ev.over(ctx, c, 0, ev.from.Add(-time.Duration(preview)*time.Second), ev.until)
	if err != nil {
		return nil, err
	}
	if err := chargeValues(ctx, previewList); err != nil {
		return nil, err
	}
	out := make([]*series.Series, 0, len(previewList))
	for _, s := range previewList {
		name := fmt.Sprintf("exponentialMovingAverage(%s,%s)", s.Name, w.Text)
		points := int(w.Number)
		if w.Kind == expr.String {
			name = fmt.Sprintf(`exponentialMovingAverage(%s,"%s")`, s.Name, w.Text)
			points = int(preview / s.Step)
		}
		points = min(points, len(s.Values))
		ema := series.Aggregate("average", s.Values[:points])
		if math.IsNaN(ema) || ema == 0 {
			ema = 0
		}
		vals := []float64{pyRound6(ema)}
		for _, v := range s.Values[points:] {
			if math.IsNaN(v) {
				vals = append(vals, v)
				continue
			}
			ema = constant*v + (1-constant)*ema
			vals = append(vals, pyRound6(ema))
		}
		m := with(s, name, vals)
		m.Start = s.Start + preview // graphite-web's copy keeps the end: the last value is at it
		out = append(out, m)
	}
	return out, nil
}
