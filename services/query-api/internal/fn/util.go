package fn

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

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
	return nameTags(s.Name)
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
		// graphite-web zips the values (izip_longest): a series holding
		// a value at its end (exponentialMovingAverage's) makes one more.
		for _, s := range list {
			n = max(n, int((s.Start-start)/step)+len(s.Values))
		}
	}
	if end < start { // every series ends before the first starts: Python's range is empty
		end = start
	}
	n = max(n, 0)
	// The series may lie far apart (timeShift): n is what they span.
	if err := budget.Charge(ctx, int64(n)); err != nil {
		return nil, nil, err
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = nan()
	}
	return &series.Series{Name: name, PathExpr: name, Start: start, End: end, Step: step, Values: values,
		Consolidate: "average", ValuesPerPoint: 1, Tags: nameTags(name)}, list, nil
}

func lcm(a, b int64) int64 {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
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

// pyRound6 rounds as Python's round(x, 6) does for the values it can
// represent: to the nearest, ties to even, on the decimal representation.
func pyRound6(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 6, 64), 64)
	if err != nil {
		return x
	}
	return v
}

func sortedByName(list []*series.Series) []*series.Series {
	s := slices.Clone(list)
	slices.SortStableFunc(s, func(a, b *series.Series) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// nodeKey is graphite-web's aggKey: the given nodes of a series' path (the
// first path inside a name that carries functions) or its tags' values,
// joined by dots. A node past either end of the path is read as a tag named
// by the number, as graphite-web does, which is normally empty.
func nodeKey(s *series.Series, nodes []nodeOrTag) string {
	path := s.Name
	if strings.HasSuffix(path, ")") {
		if e, err := expr.Parse(path); err == nil {
			if p, ok := e.FirstPath(); ok {
				path = p
			}
		}
	}
	parts := strings.Split(strings.SplitN(path, ";", 2)[0], ".")
	picked := make([]string, 0, len(nodes))
	for _, nt := range nodes {
		if nt.isTag {
			picked = append(picked, seriesTags(s)[nt.tag])
			continue
		}
		n := nt.n
		if n < 0 {
			n += len(parts)
		}
		if n >= 0 && n < len(parts) {
			picked = append(picked, parts[n])
		} else {
			picked = append(picked, seriesTags(s)[strconv.Itoa(nt.n)])
		}
	}
	return strings.Join(picked, ".")
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

func at(s *series.Series, start, step int64, i int) float64 {
	j := int((start-s.Start)/step) + i
	if j < 0 || j >= len(s.Values) {
		return math.NaN()
	}
	return s.Values[j]
}

func floorDiv(a, b int64) (int64, int64) {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q, a - q*b
}

// pyRepr formats a float as Python's repr does for the usual range.
func pyRepr(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	// Python writes the shortest digits in positional notation when the
	// decimal exponent is in [-4, 16), else as d.ddde±XX (as Go's 'e').
	s := strconv.FormatFloat(v, 'e', -1, 64)
	if exp, _ := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:]); exp < -4 || exp >= 16 {
		return s
	}
	s = strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
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
