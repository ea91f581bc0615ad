package fn

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// More of the Alias functions: names made of values.

func aliasMoreFuncs() []*Func {
	return []*Func{
		{
			Name: "aliasQuery", Group: "Alias",
			Description: "Renames each series by a format (newName with %d, %f, %s...) of the last value of the target a regular expression substitution on its name gives.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "search", Type: String, Required: true},
				{Name: "replace", Type: String, Required: true},
				{Name: "newName", Type: String, Required: true},
			},
			Call: aliasQueryFn,
		},
		{
			Name: "legendValue", Group: "Alias",
			Signature:   "legendValue(seriesList, *valueTypes)", // graphite-web's, which differs from its params
			Description: "Appends aggregations (avg, total, min, max, last...) of each series to its name, formatted in si or binary units when the last argument says so.",
			Params: []Param{
				{Name: "seriesList", Type: SeriesList, Required: true},
				{Name: "valuesTypes", Type: String, Multiple: true, Options: []any{"average", "averageSeries", "avg", "avgSeries", "avg_zero", "avg_zeroSeries", "binary", "count", "countSeries", "current", "currentSeries", "diff", "diffSeries", "last", "lastSeries", "max", "maxSeries", "median", "medianSeries", "min", "minSeries", "multiply", "multiplySeries", "range", "rangeOf", "rangeOfSeries", "rangeSeries", "si", "stddev", "stddevSeries", "sum", "sumSeries", "total", "totalSeries"}},
			},
			Call: legendValueFn,
		},
	}
}

// aliasQueryFn renames each series by newName formatted with the last
// value of the target its name gives (search replaced by replace).
func aliasQueryFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 4, 4)
	if err != nil {
		return nil, err
	}
	var texts [3]string
	for i := range texts {
		if texts[i], err = strArg(c, i+1); err != nil {
			return nil, err
		}
	}
	re, err := PyRegexp(texts[0])
	if err != nil {
		return nil, fmt.Errorf("aliasQuery(): %v", err)
	}
	replace := pySub(texts[1])
	for _, s := range list {
		query := re.ReplaceAllString(s.Name, replace)
		e, err := expr.Parse(query)
		if err != nil {
			return nil, fmt.Errorf("aliasQuery(): query %q: %v", query, err)
		}
		found, err := ev.eval(ctx, e)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("aliasQuery(): no series found with query: %s", query)
		}
		current := series.Aggregate("last", found[0].Values)
		if math.IsNaN(current) {
			return nil, fmt.Errorf("aliasQuery(): cannot get last value of series: %s", found[0].Name)
		}
		if s.Name, err = pyFormat(texts[2], current); err != nil {
			return nil, fmt.Errorf("aliasQuery(): %v", err)
		}
	}
	return list, nil
}

// pyFormat is Python's format % v for one float: %s, %r, %d, %i, %f, %e,
// %g (with flags, width and precision) and %%.
func pyFormat(format string, v float64) (string, error) {
	var b strings.Builder
	used := false
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ #0123456789.", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			return "", fmt.Errorf("incomplete format %q", format)
		}
		spec, verb := format[i+1:j], format[j]
		i = j
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if used {
			return "", fmt.Errorf("not enough arguments for format string %q", format)
		}
		used = true
		switch verb {
		case 's', 'r':
			fmt.Fprintf(&b, "%"+spec+"s", pyRepr(v))
		case 'd', 'i':
			fmt.Fprintf(&b, "%"+spec+"d", int64(v))
		case 'f', 'F', 'e', 'E':
			fmt.Fprintf(&b, "%"+spec+string(verb), v)
		case 'g':
			if spec == "" {
				b.WriteString(pyG(v))
			} else {
				fmt.Fprintf(&b, "%"+spec+"g", v)
			}
		default:
			return "", fmt.Errorf("unsupported format character %q", verb)
		}
	}
	if !used {
		return "", fmt.Errorf("not all arguments converted during string formatting of %q", format)
	}
	return b.String(), nil
}

// legendValueFn appends " (type: value)" for each value type to each
// name, or with a unit system last, the name, type and value in columns.
func legendValueFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	list, err := ev.listArg(ctx, c, 1, 1<<10)
	if err != nil {
		return nil, err
	}
	var types []string
	for i := 1; i < len(c.Args); i++ {
		t, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		types = append(types, t)
	}
	system := ""
	if n := len(types); n > 0 && (types[n-1] == "si" || types[n-1] == "binary") {
		system, types = types[n-1], types[:n-1]
	}
	for _, t := range types {
		fn, ok := series.AggregationName(t) // graphite-web's getAggFunc: "avgSeries" is "(?)"
		for _, s := range list {
			text := "(?)"
			if ok {
				v := series.Aggregate(fn, s.Values)
				switch {
				case math.IsNaN(v):
					text = "None"
				case system != "":
					u, p := formatUnits(v, system, "")
					text = fmt.Sprintf("%.2f%s", u, p)
				case fn == "count":
					text = strconv.Itoa(int(v))
				default:
					text = pyRepr(v)
				}
			}
			if system == "" {
				s.Name += " (" + t + ": " + text + ")"
			} else {
				s.Name = fmt.Sprintf("%-20s%-5s%-10s", s.Name, t, text)
			}
		}
	}
	return list, nil
}
