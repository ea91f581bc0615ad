package fn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/expr"
)

// ParamType is a parameter's type as graphite-web's /functions names it
// (Grafana's editor reads it).
type ParamType string

// The parameter types of graphite-web 1.1.8.
const (
	SeriesList      ParamType = "seriesList"
	SeriesLists     ParamType = "seriesLists"
	Integer         ParamType = "integer"
	Float           ParamType = "float"
	String          ParamType = "string"
	Boolean         ParamType = "boolean"
	AggFunc         ParamType = "aggFunc"
	AggOrSeriesFunc ParamType = "aggOrSeriesFunc"
	Interval        ParamType = "interval"
	IntOrInterval   ParamType = "intOrInterval"
	IntOrInf        ParamType = "intOrInf"
	Node            ParamType = "node"
	NodeOrTag       ParamType = "nodeOrTag"
	Tag             ParamType = "tag"
	Any             ParamType = "any"
	Date            ParamType = "date"
)

// Param is one parameter of a function, as graphite-web declares it.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	Multiple bool // *name: any number of values, by position only
	// Default is the value when the parameter is not given (nil: None):
	// a bool, int, float64 or string.
	Default     any
	Options     []any // the values it takes
	Suggestions []any // values an editor may offer
}

// aggFuncOptions is graphite-web's aggFuncs' names.
func aggFuncOptions() []any {
	return []any{"average", "avg", "avg_zero", "count", "current", "diff", "last", "max", "median", "min", "multiply",
		"range", "rangeOf", "stddev", "sum", "total"}
}

// aggOrSeriesFuncOptions is aggFuncOptions and the series functions a
// callback may name.
func aggOrSeriesFuncOptions() []any {
	return []any{"asPercent", "average", "averageSeries", "averageSeriesWithWildcards", "avg", "avg_zero", "count",
		"countSeries", "current", "diff", "diffSeries", "diffSeriesLists", "last", "max", "maxSeries", "median", "min",
		"minSeries", "multiply", "multiplySeries", "multiplySeriesLists", "multiplySeriesWithWildcards", "pct", "powSeries",
		"range", "rangeOf", "rangeOfSeries", "stddev", "stddevSeries", "sum", "sumSeries", "sumSeriesLists",
		"sumSeriesWithWildcards", "total"}
}

// signature is the function's Python signature as graphite-web shows it:
// name(required, optional=default, *multiple).
func (f *Func) signature() string {
	if f.Signature != "" {
		return f.Signature
	}
	parts := make([]string, len(f.Params))
	for i, p := range f.Params {
		switch {
		case p.Multiple:
			parts[i] = "*" + p.Name
		case p.Default != nil:
			parts[i] = p.Name + "=" + pyLiteral(p.Default)
		case p.Required:
			parts[i] = p.Name
		default:
			parts[i] = p.Name + "=None"
		}
	}
	return f.Name + "(" + strings.Join(parts, ", ") + ")"
}

// pyLiteral is a default as Python's repr shows it.
func pyLiteral(v any) string {
	switch d := v.(type) {
	case bool:
		if d {
			return "True"
		}
		return "False"
	case string:
		return "'" + d + "'"
	case int:
		return strconv.Itoa(d)
	case float64:
		if math.IsInf(d, 1) {
			return "inf"
		}
		return pyRepr(d)
	}
	return fmt.Sprint(v)
}

// jsonValue writes a default, option or suggestion as graphite-web's JSON
// does (an infinity as 1e9999, as Grafana reads it).
func jsonValue(b *bytes.Buffer, v any) error {
	if f, ok := v.(float64); ok && math.IsInf(f, 0) {
		if f < 0 {
			b.WriteByte('-')
		}
		b.WriteString("1e9999")
		return nil
	}
	j, err := json.Marshal(v)
	b.Write(j)
	return err
}

// MarshalJSON writes the parameter as graphite-web's /functions does, its
// keys sorted.
func (p Param) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if p.Default != nil {
		b.WriteString(`"default":`)
		if err := jsonValue(&b, p.Default); err != nil {
			return nil, err
		}
		b.WriteByte(',')
	}
	if p.Multiple {
		b.WriteString(`"multiple":true,`)
	}
	name, _ := json.Marshal(p.Name)
	b.WriteString(`"name":`)
	b.Write(name)
	list := func(key string, vs []any) error {
		if vs == nil {
			return nil
		}
		b.WriteString(`,"` + key + `":[`)
		for i, v := range vs {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jsonValue(&b, v); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	if err := list("options", p.Options); err != nil {
		return nil, err
	}
	if p.Required {
		b.WriteString(`,"required":true`)
	}
	if err := list("suggestions", p.Suggestions); err != nil {
		return nil, err
	}
	b.WriteString(`,"type":"` + string(p.Type) + `"}`)
	return b.Bytes(), nil
}

// Definition is a function as graphite-web's /functions describes it, with
// our description and module.
type Definition struct {
	Description string  `json:"description"`
	Function    string  `json:"function"`
	Group       string  `json:"group"`
	Module      string  `json:"module"`
	Name        string  `json:"name"`
	Params      []Param `json:"params"`
}

// Definitions describes every function of the library, by name, for
// /functions.
func (l *Library) Definitions() map[string]Definition {
	out := make(map[string]Definition, len(l.fns))
	for name, f := range l.fns {
		params := f.Params
		if params == nil {
			params = []Param{}
		}
		out[name] = Definition{Description: f.Description, Function: f.signature(), Group: f.Group,
			Module: "consthash.query-api", Name: name, Params: params}
	}
	return out
}

// positional turns a call's keyword arguments into positional ones by
// graphite-web's parameter names, filling parameters skipped on the way with
// their defaults, as Python's call would.
func (f *Func) positional(c *expr.Expr) (*expr.Expr, error) {
	if len(c.Kwargs) == 0 {
		return c, nil
	}
	ps := f.Params
	out := *c
	out.Args = slices.Clone(c.Args)
	out.Kwargs = nil
	for _, key := range slices.Sorted(maps.Keys(c.Kwargs)) {
		i := slices.IndexFunc(ps, func(p Param) bool { return p.Name == key })
		if i < 0 { // Python's own name where graphite-web's params spell it otherwise (timeShift's alignDST)
			i = slices.IndexFunc(ps, func(p Param) bool { return strings.EqualFold(p.Name, key) })
		}
		switch {
		case i < 0:
			return nil, fmt.Errorf("%s(): unknown keyword argument %s", c.Text, key)
		case ps[i].Multiple:
			return nil, fmt.Errorf("%s(): %s takes any number of values and cannot be given by keyword", c.Text, key)
		case i < len(c.Args):
			return nil, fmt.Errorf("%s(): %s given twice", c.Text, key)
		}
		for len(out.Args) <= i {
			out.Args = append(out.Args, nil)
		}
		out.Args[i] = c.Kwargs[key]
	}
	for i, a := range out.Args {
		if a != nil {
			continue
		}
		if ps[i].Default == nil && !ps[i].Required && (ps[i].Type == String || ps[i].Type == Date) {
			out.Args[i] = &expr.Expr{Kind: expr.String} // None: the functions read "" as it
			continue
		}
		d, err := defaultArg(ps[i].Default)
		if err != nil {
			d = &expr.Expr{Kind: expr.None} // Python's default for the parameter: None
		}
		out.Args[i] = d
	}
	return &out, nil
}

// defaultArg is a parameter's default as an argument.
func defaultArg(v any) (*expr.Expr, error) {
	switch d := v.(type) {
	case int:
		return &expr.Expr{Kind: expr.Number, Number: float64(d), Text: strconv.Itoa(d)}, nil
	case float64:
		return &expr.Expr{Kind: expr.Number, Number: d, Text: pyLiteral(d)}, nil
	case string:
		return &expr.Expr{Kind: expr.String, Text: d}, nil
	case bool:
		return &expr.Expr{Kind: expr.Bool, Bool: d}, nil
	}
	return nil, fmt.Errorf("it has no default")
}
