package fn

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// The Transform functions that compute each value from the value alone (or
// the series' own minimum and maximum), and the shifts of a series in time.

func transformMathFuncs() []*Func {
	return []*Func{
		{
			Name: "add", Group: "Transform",
			Description: "Adds a constant to each point (nulls stay null).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "constant", Type: Float, Required: true},
			},
			Tags: tagFloat("add"),
			Call: valueFn(2, func(s *series.Series, c *expr.Expr) string {
				return fmt.Sprintf("add(%s,%d)", s.Name, int64(argNumber(c, 1)))
			}, func(v, a float64) float64 { return v + a }),
		},
		{
			Name: "exp", Group: "Transform",
			Description: "e raised to each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagConst("exp", "e"),
			Call: valueFn(1, named("exp"), func(v, _ float64) float64 { return math.Exp(v) }),
		},
		{
			Name: "invert", Group: "Transform",
			Description: "1 divided by each point (null for 0).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("invert"),
			Call: valueFn(1, named("invert"), func(v, _ float64) float64 { return safePow(v, -1) }),
		},
		{
			Name: "pow", Group: "Transform",
			Description: "Each point raised to a power (null where that is not a real number).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "factor", Type: Float, Required: true},
			},
			Tags: tagFloat("pow"),
			Call: valueFn(2, func(s *series.Series, c *expr.Expr) string {
				return fmt.Sprintf("pow(%s,%s)", s.Name, pyG(argNumber(c, 1)))
			}, safePow),
		},
		{
			Name: "squareRoot", Group: "Transform",
			Description: "The square root of each point (null for negative points).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagOne("squareRoot"),
			Call: valueFn(1, named("squareRoot"), func(v, _ float64) float64 { return safePow(v, 0.5) }),
		},
		{
			Name: "sigmoid", Group: "Transform",
			Description: "The logistic function 1 / (1 + exp(-x)) of each point.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagConst("sigmoid", "sigmoid"),
			Call: valueFn(1, named("sigmoid"), func(v, _ float64) float64 { return 1 / (1 + math.Exp(-v)) }),
		},
		{
			Name: "logit", Group: "Transform",
			Description: "The logit function log(x / (1 - x)) of each point (null outside (0, 1)).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Tags: tagConst("logit", "logit"),
			Call: valueFn(1, named("logit"), func(v, _ float64) float64 {
				if v == 1 || v/(1-v) <= 0 {
					return math.NaN()
				}
				return math.Log(v / (1 - v))
			}),
		},
		{
			Name: "log", Group: "Transform",
			Description: "The logarithm of each point in a base (10 by default; null for points at or below 0).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "base", Type: Integer, Default: 10},
			},
			Tags: func(c *expr.Expr) map[string]string { return map[string]string{"log": argText(c, 1, "10")} },
			Call: logFn,
		},
		{
			Name: "round", Group: "Transform",
			Description: "Rounds each point to a number of decimal places (0 by default), halves to even as Python does.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "precision", Type: Integer, Default: 0},
			},
			Signature: "round(seriesList, precision=None)", // graphite-web's, which differs from its params
			Tags:      func(c *expr.Expr) map[string]string { return map[string]string{"round": argText(c, 1, "0")} },
			Call:      roundFn,
		},
		{
			Name: "offsetToZero", Group: "Transform",
			Description: "Subtracts the series' minimum from each point, so that it starts at zero.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: offsetToZeroFn,
		},
		{
			Name: "minMax", Group: "Transform",
			Description: "Scales each series to [0, 1] by its minimum and maximum (0 when they are equal).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
			},
			Call: minMaxFn,
		},
		{
			Name: "delay", Group: "Transform",
			Description: "Shifts each series by a number of steps: later for a positive number, earlier for a negative one, nulls filling in.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "steps", Type: Integer, Required: true},
			},
			Tags: func(c *expr.Expr) map[string]string { return map[string]string{"delay": argText(c, 1, "")} },
			Call: delayFn,
		},
		{
			Name: "integralByInterval", Group: "Transform",
			Description: "The running sum of each series, starting again from 0 at each interval from the request's start.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "intervalUnit", Type: String, Required: true},
			},
			Tags: tagRaw("integralByInterval"),
			Call: integralByIntervalFn,
		},
		{
			Name: "interpolate", Group: "Transform",
			Description: "Fills runs of at most limit nulls between two values on the straight line between them.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "limit", Type: IntOrInf, Default: math.Inf(1)},
			},
			Call: interpolateFn,
		},
	}
}

// tagConst is a tag of a fixed value.
func tagConst(tag, value string) func(*expr.Expr) map[string]string {
	return func(*expr.Expr) map[string]string { return map[string]string{tag: value} }
}

// named names a series fn(name).
func named(fn string) func(s *series.Series, c *expr.Expr) string {
	return func(s *series.Series, _ *expr.Expr) string { return fn + "(" + s.Name + ")" }
}

// valueFn maps each non-null value with f(v, the second argument when the
// function takes args arguments); a NaN or infinite result is null, as
// graphite-web's errors turn into None.
func valueFn(args int, name func(s *series.Series, c *expr.Expr) string, f func(v, a float64) float64) fnImpl {
	return func(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
		a := 0.0
		if args > 1 {
			var err error
			if a, err = numArg(c, 1, nil); err != nil {
				return nil, err
			}
		}
		return mapSeries(ev, ctx, c, args, args, func(s *series.Series) *series.Series {
			vals := make([]float64, len(s.Values))
			for j, v := range s.Values {
				vals[j] = math.NaN()
				if !math.IsNaN(v) {
					if r := f(v, a); !math.IsInf(r, 0) {
						vals[j] = r
					}
				}
			}
			return with(s, name(s, c), vals)
		})
	}
}

// safePow is graphite-web's safe.safePow: null where Python's math.pow
// fails (a negative base to a fractional power, 0 to a negative one,
// overflow).
func safePow(v, p float64) float64 {
	r := math.Pow(v, p)
	if math.IsInf(r, 0) && !math.IsInf(v, 0) {
		return math.NaN()
	}
	return r
}

func logFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	ten := 10.0
	base, err := numArg(c, 1, &ten)
	if err != nil {
		return nil, err
	}
	return mapSeries(ev, ctx, c, 1, 2, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			vals[j] = math.NaN()
			if v > 0 {
				vals[j] = math.Log(v) / math.Log(base)
			}
		}
		return with(s, fmt.Sprintf("log(%s, %s)", s.Name, argText(c, 1, "10")), vals)
	})
}

// pyRound rounds as Python's round(x, n) does: to the nearest
// representable decimal of n places, ties to even.
func pyRound(x float64, n int) float64 {
	if n < 0 {
		p := math.Pow(10, float64(-n))
		return math.RoundToEven(x/p) * p
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', n, 64), 64)
	if err != nil {
		return x
	}
	return v
}

func roundFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	zero := 0.0
	precision, err := numArg(c, 1, &zero)
	if err != nil {
		return nil, err
	}
	return mapSeries(ev, ctx, c, 1, 2, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			vals[j] = v
			if !math.IsNaN(v) {
				vals[j] = pyRound(v, int(precision))
			}
		}
		name := "round(" + s.Name + ")"
		if len(c.Args) > 1 {
			name = fmt.Sprintf("round(%s,%d)", s.Name, int(precision))
		}
		return with(s, name, vals)
	})
}

func offsetToZeroFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		lo := series.Aggregate("min", s.Values)
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			vals[j] = v - lo
		}
		out := with(s, "offsetToZero("+s.Name+")", vals)
		tag := "None"
		if !math.IsNaN(lo) {
			tag = pyRepr(lo)
		}
		withTag(out, "offsetToZero", tag)
		return out
	})
}

func minMaxFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	return mapSeries(ev, ctx, c, 1, 1, func(s *series.Series) *series.Series {
		lo, hi := series.Aggregate("min", s.Values), series.Aggregate("max", s.Values)
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			switch {
			case math.IsNaN(v):
				vals[j] = v
			case hi == lo:
				vals[j] = 0
			default:
				vals[j] = (v - lo) / (hi - lo)
			}
		}
		return with(s, "minMax("+s.Name+")", vals)
	})
}

func delayFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	n, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	steps := int(n)
	return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		if steps == 0 {
			vals = vals[:0] // graphite-web's series[:-0]: no value at all
		}
		for j := range vals {
			vals[j] = math.NaN()
			if k := j - steps; k >= 0 && k < len(s.Values) {
				vals[j] = s.Values[k]
			}
		}
		return with(s, fmt.Sprintf("delay(%s,%d)", s.Name, steps), vals)
	})
}

// floorDivInt is Python's // on integers.
func floorDivInt(a, b int64) int64 {
	q, _ := floorDiv(a, b)
	return q
}

func integralByIntervalFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	unit, err := strArg(c, 1)
	if err != nil {
		return nil, err
	}
	d, err := gtime.Offset(unit)
	if err != nil {
		return nil, fmt.Errorf("integralByInterval(): %v", err)
	}
	interval := int64(math.Abs(d.Seconds()))
	if interval <= 0 {
		return nil, fmt.Errorf("integralByInterval(): the interval %q must not be 0", unit)
	}
	start := ev.from.Unix()
	return mapSeries(ev, ctx, c, 2, 2, func(s *series.Series) *series.Series {
		vals := make([]float64, len(s.Values))
		t, cur := s.Start, 0.0
		for j, v := range s.Values {
			if floorDivInt(t-start, interval) != floorDivInt(t-start-s.Step, interval) {
				cur = 0
			}
			if !math.IsNaN(v) {
				cur += v
			}
			vals[j] = cur
			t += s.Step
		}
		return with(s, fmt.Sprintf("integralByInterval(%s,'%s')", s.Name, unit), vals)
	})
}

func interpolateFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	inf := math.Inf(1)
	limit, err := numArg(c, 1, &inf)
	if err != nil {
		return nil, err
	}
	return mapSeries(ev, ctx, c, 1, 2, func(s *series.Series) *series.Series {
		vals := append([]float64(nil), s.Values...)
		nones := 0
		for i, v := range vals {
			switch {
			case i == 0:
			case math.IsNaN(v):
				nones++
			case nones == 0:
			case math.IsNaN(vals[i-nones-1]):
				nones = 0
			default:
				if float64(nones) <= limit {
					prev := vals[i-nones-1]
					for k := i - nones; k < i; k++ {
						vals[k] = prev + float64(k-(i-nones-1))*(v-prev)/float64(nones+1)
					}
				}
				nones = 0
			}
		}
		return with(s, "interpolate("+s.Name+")", vals)
	})
}
