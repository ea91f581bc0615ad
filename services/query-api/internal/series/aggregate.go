package series

import (
	"math"
	"slices"
)

// The one table of graphite's aggregations: the functions that combine
// series (aggregate, sumSeries, groupByNode's callbacks...), summarize a
// series or a window of it, and consolidate points for maxDataPoints.

// AggregationName maps a name graphite-web's aggregating functions accept
// (its aggFuncs: average, avg, avg_zero, median, sum, total, min, max, diff,
// stddev, count, range, rangeOf, multiply, last, current) to Aggregate's.
func AggregationName(name string) (string, bool) {
	switch name {
	case "sum", "total":
		return "sum", true
	case "average", "avg":
		return "average", true
	case "range", "rangeOf":
		return "range", true
	case "last", "current":
		return "last", true
	case "max", "min", "diff", "multiply", "count", "median", "stddev", "avg_zero":
		return name, true
	}
	return "", false
}

// Aggregate reduces values (NaN is null) with one of graphite's
// aggregations, by AggregationName's names and consolidateBy's first: NaN
// when no value is non-null (but count is 0, and avg_zero of nulls 0) or
// the name is unknown. avg_zero counts nulls as zeros; multiply is null if
// any value is.
func Aggregate(fn string, vs []float64) float64 {
	n := nonNull(vs)
	switch {
	case fn == "count":
		return float64(n) // graphite's safeLen: 0 without values
	case fn == "avg_zero" && len(vs) > 0 && n == 0:
		return 0 // graphite's safeAvgZero counts nulls as 0
	case n == 0:
		return math.NaN()
	}
	switch fn {
	case "sum", "average", "avg_zero":
		s := 0.0
		for _, v := range vs {
			if !math.IsNaN(v) {
				s += v
			}
		}
		switch fn {
		case "average":
			return s / float64(n)
		case "avg_zero":
			return s / float64(len(vs))
		}
		return s
	case "min", "max", "range":
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range vs {
			if !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		switch fn {
		case "min":
			return lo
		case "max":
			return hi
		}
		return hi - lo
	case "first", "last", "diff":
		first, last, diff, seen := 0.0, 0.0, 0.0, false
		for _, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			if !seen {
				first, diff, seen = v, v, true
			} else {
				diff -= v
			}
			last = v
		}
		switch fn {
		case "first":
			return first
		case "last":
			return last
		}
		return diff
	case "multiply":
		if n != len(vs) {
			return math.NaN()
		}
		p := vs[0]
		for _, v := range vs[1:] {
			p *= v
		}
		return p
	case "count":
		return float64(n)
	case "median":
		ok := make([]float64, 0, n)
		for _, v := range vs {
			if !math.IsNaN(v) {
				ok = append(ok, v)
			}
		}
		return Median(ok)
	case "stddev":
		mean := 0.0
		for _, v := range vs {
			if !math.IsNaN(v) {
				mean += v
			}
		}
		mean /= float64(n)
		ss := 0.0
		for _, v := range vs {
			if !math.IsNaN(v) {
				ss += (v - mean) * (v - mean)
			}
		}
		return math.Sqrt(ss / float64(n))
	}
	return math.NaN()
}

// Median is the median of values without nulls (sorted in a copy).
func Median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 0 {
		return (s[mid-1] + s[mid]) / 2
	}
	return s[mid]
}

func nonNull(vs []float64) int {
	n := 0
	for _, v := range vs {
		if !math.IsNaN(v) {
			n++
		}
	}
	return n
}
