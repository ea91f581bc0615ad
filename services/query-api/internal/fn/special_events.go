package fn

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// events(), of the Special group: it reads graphite's events store, which
// the API gives through Env.Events.

func eventFuncs() []*Func {
	return []*Func{
		{
			Name: "events", Group: "Special",
			Description: "How many of graphite's events (the /events API) happened in each second, null where none; \"*\" counts them all, other tags select events holding all of them.",
			Params: []Param{
				{Name: "tags", Type: String, Required: true, Multiple: true},
			},
			Call: eventsFn,
		},
	}
}

// eventsFn is graphite-web's events(*tags): a series of one-second steps
// over the request's range holding, at each second, how many events
// happened then (null where none), consolidated by sum; events("*") counts
// every event, other tags select as /events/get_data's default set does.
// Unlike graphite-web 1.1.8, which fails with an IndexError on an event at
// exactly until, such an event is left out.
func eventsFn(ev *evaluator, ctx context.Context, c *expr.Expr) ([]*series.Series, error) {
	if len(c.Kwargs) > 0 {
		return nil, fmt.Errorf("events(): give tags as quoted strings")
	}
	tags := make([]string, len(c.Args))
	for i := range c.Args {
		s, err := strArg(c, i)
		if err != nil {
			return nil, err
		}
		tags[i] = s
	}
	name := `events("` + strings.Join(tags, `", "`) + `")`
	if len(tags) == 1 && tags[0] == "*" {
		tags = nil
	}
	if ev.events == nil {
		return nil, fmt.Errorf("events(): this storage keeps no events")
	}
	start, end := ev.from.Unix(), ev.until.Unix()
	n := end - start
	if err := budget.Charge(ctx, n); err != nil {
		return nil, err
	}
	times, err := ev.events(ctx, ev.from.Truncate(1e9), ev.until.Truncate(1e9), tags)
	if err != nil {
		return nil, err
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = math.NaN()
	}
	for _, t := range times {
		i := t.Unix() - start
		if i < 0 || i >= n {
			continue
		}
		if math.IsNaN(values[i]) {
			values[i] = 0
		}
		values[i]++
	}
	return []*series.Series{{Name: name, PathExpr: name, Start: start, End: end, Step: 1, Values: values,
		Consolidate: "sum", Tags: map[string]string{"name": name}}}, nil
}
