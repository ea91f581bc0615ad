package fn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Special functions.

func specialMoreFuncs() []*Func {
	walk := []Param{{Name: "name", Type: String, Required: true}, {Name: "step", Type: Integer, Default: 60}}
	return []*Func{
		{
			Name: "randomWalk", Group: "Special",
			Description: "Short form of randomWalkFunction.",
			Params:      walk,
			Call:        randomWalkFn,
		},
		{
			Name: "randomWalkFunction", Group: "Special",
			Description: "A random walk over the request, every step seconds: 0 at from, then each value the previous plus a uniform random number in [-0.5, 0.5).",
			Params:      walk,
			Call:        randomWalkFn,
		},
		{
			Name: "cactiStyle", Group: "Special",
			Description: "Appends the current, maximum and minimum of each series to its name, aligned as Cacti does (units in si or binary when given).",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "system", Type: String, Options: []any{"binary", "si"}},
				{Name: "units", Type: String},
			},
			Call: cactiStyleFn,
		},
		{
			Name: "setXFilesFactor", Group: "Special",
			Description: "Sets the share of non-null points a consolidated point needs (xFilesFactor) on each series.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "xFilesFactor", Type: Float, Required: true},
			},
			Tags: tagFloat("xFilesFactor"),
			Call: setXFilesFactorFn,
		},
		{
			Name: "xFilesFactor", Group: "Special",
			Description: "Short form of setXFilesFactor.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "xFilesFactor", Type: Float, Required: true},
			},
			Tags: tagFloat("xFilesFactor"),
			Call: setXFilesFactorFn,
		},
		{
			Name: "substr", Group: "Special",
			Description: "Renames each series to the nodes from start to stop (0: the end) of its path.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "start", Type: Node, Default: 0},
				{Name: "stop", Type: Node, Default: 0},
			},
			Call: substrFn,
		},
	}
}

func setXFilesFactorFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 2, 2)
	if err != nil {
		return nil, err
	}
	xff, err := numArg(c, 1, nil)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		s.XFilesFactor = xff
	}
	return list, nil
}

func substrFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil {
		return nil, err
	}
	zero := 0.0
	start, err := numArg(c, 1, &zero)
	if err != nil {
		return nil, err
	}
	stop, err := numArg(c, 2, &zero)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		left := strings.LastIndex(s.Name, "(") + 1
		right := strings.Index(s.Name, ")")
		if right < 0 {
			right = len(s.Name) + 1
		}
		clean := pySlice(s.Name, left, right)
		parts := strings.Split(clean, ".")
		if int(stop) == 0 {
			parts = pySliceList(parts, int(start), len(parts))
		} else {
			parts = pySliceList(parts, int(start), int(stop))
		}
		name := strings.Join(parts, ".")
		if i := strings.Index(name, ","); i >= 0 {
			name = name[:i]
		}
		s.Name = name
	}
	return list, nil
}

// pyIndex is a Python slice bound: negative counts from the end, clamped
// to [0, n].
func pyIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// pySlice is s[lo:hi] in Python.
func pySlice(s string, lo, hi int) string {
	lo, hi = pyIndex(lo, len(s)), pyIndex(hi, len(s))
	if lo >= hi {
		return ""
	}
	return s[lo:hi]
}

// pySliceList is list[lo:hi] in Python.
func pySliceList(list []string, lo, hi int) []string {
	lo, hi = pyIndex(lo, len(list)), pyIndex(hi, len(list))
	if lo >= hi {
		return nil
	}
	return list[lo:hi]
}

// unitSystems are graphite's prefixes, largest first.
func unitSystem(system string) ([]string, []float64, bool) {
	switch system {
	case "si":
		return []string{"P", "T", "G", "M", "k"}, []float64{1e15, 1e12, 1e9, 1e6, 1e3}, true
	case "binary":
		return []string{"Pi", "Ti", "Gi", "Mi", "Ki"}, []float64{1 << 50, 1 << 40, 1 << 30, 1 << 20, 1 << 10}, true
	}
	return nil, nil, false
}

// formatUnits is graphite's format_units: v in the largest unit of the
// system it reaches, and that unit's prefix (and units).
func formatUnits(v float64, system, units string) (float64, string) {
	prefixes, sizes, _ := unitSystem(system)
	for i, size := range sizes {
		if math.Abs(v) >= size {
			v2 := v / size
			if v2-math.Floor(v2) < 1e-11 && v > 1 {
				v2 = math.Floor(v2)
			}
			return v2, prefixes[i] + units
		}
	}
	if v-math.Floor(v) < 1e-11 && v > 1 {
		v = math.Floor(v)
	}
	return v, units
}

// cactiStyleFn appends Current, Max and Min to each name, padded as
// graphite-web pads them (widths from the values truncated to integers, 3
// for a null or 0).
func cactiStyleFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 3)
	if err != nil || len(list) == 0 {
		return list, err
	}
	var system, units string
	if len(c.Args) > 1 && c.Args[1].Kind == expr.String {
		system = c.Args[1].Text
	}
	if len(c.Args) > 2 && c.Args[2].Kind == expr.String {
		units = c.Args[2].Text
	}
	if _, _, ok := unitSystem(system); system != "" && !ok {
		return nil, fmt.Errorf("cactiStyle(): unknown unit system %q: si or binary", system)
	}
	format := func(x float64) string {
		switch {
		case system != "" && units != "":
			v, p := formatUnits(x, system, units)
			return fmt.Sprintf("%.2f %s", v, p)
		case system != "":
			v, p := formatUnits(x, system, "")
			return fmt.Sprintf("%.2f%s", v, p)
		case units != "":
			return fmt.Sprintf("%.2f %s", x, units)
		}
		return fmt.Sprintf("%.2f", x)
	}
	// the width of a value: truncated to an integer, 3 when null or 0
	width := func(v float64) int {
		if math.IsNaN(v) || math.Trunc(v) == 0 {
			return len(format(3))
		}
		return len(format(math.Trunc(v)))
	}
	text := func(v float64) string {
		if math.IsNaN(v) {
			return "nan"
		}
		return format(v)
	}
	nameLen, lastLen, maxLen, minLen := 0, 0, 0, 0
	for _, s := range list {
		nameLen = max(nameLen, len(s.Name))
		lastLen = max(lastLen, width(series.Aggregate("last", s.Values))+3)
		maxLen = max(maxLen, width(series.Aggregate("max", s.Values))+3)
		minLen = max(minLen, width(series.Aggregate("min", s.Values))+3)
	}
	for _, s := range list {
		s.Name = fmt.Sprintf("%-*s Current:%-*s Max:%-*s Min:%-*s ", nameLen, s.Name,
			lastLen, text(series.Aggregate("last", s.Values)),
			maxLen, text(series.Aggregate("max", s.Values)),
			minLen, text(series.Aggregate("min", s.Values)))
	}
	return list, nil
}

// randomWalkFn is graphite-web's randomWalkFunction: x(from) = 0, then
// x(t) = x(t-step) + random() - 0.5.
func randomWalkFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
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
	current := 0.0
	return ev.timeSeriesOf(ctx, name, int64(step), func(int64) float64 {
		v := current
		current += rand.Float64() - 0.5
		return v
	})
}
