package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/fn"
	"github.com/consthash/consthash/services/query-api/internal/gtime"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// What bounds a render's memory (docs/query-api.md, "Limits"):
//   - before anything is read, a lower bound of the points the targets
//     compute (each path pattern taken to select one series) is checked
//     against max_request_points;
//   - every read charges its series' points to the request's allowance once
//     the index has said how many series there are, before reading them, and
//     every function charges the values it creates before allocating them;
//   - the request's charges are drawn from one pool of max_points_in_flight
//     shared by all requests: a charge that does not fit waits, in order,
//     until the request's query_timeout, then the request is answered 503.

// errBodyMax is the most an error body says: a few hundred bytes, however
// long the request.
const errBodyMax = 512

// quoteMax is the most of a target or query an error quotes.
const quoteMax = 100

// clipQuote quotes s as %q does, cut to quoteMax bytes.
func clipQuote(s string) string {
	if len(s) > quoteMax {
		return fmt.Sprintf("%q... (%d bytes)", s[:quoteMax], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// clip cuts an error message to errBodyMax bytes.
func clip(s string) string {
	if len(s) > errBodyMax {
		return s[:errBodyMax-3] + "..."
	}
	return s
}

// limitStats counts the requests refused by the limits.
type limitStats struct {
	points, busy, depth, maxSeries, maxPoints *metrics.Counter
}

func newLimitStats(set *metrics.Set, pool *budget.Pool) *limitStats {
	c := func(reason string) *metrics.Counter {
		return set.NewCounter(fmt.Sprintf(`consthash_query_api_refused_total{reason=%q}`, reason))
	}
	set.NewGauge("consthash_query_api_points_in_flight", func() float64 { return float64(pool.InFlight()) })
	set.NewGauge("consthash_query_api_points_in_flight_max", func() float64 { return float64(pool.Max()) })
	set.NewGauge("consthash_query_api_points_waits_total", func() float64 { return float64(pool.Waits()) })
	return &limitStats{points: c("points"), busy: c("busy"), depth: c("depth"), maxSeries: c("max_series"), maxPoints: c("max_points")}
}

// LimitStats is the limits' part of /stats: points in flight, charges that
// waited, and requests refused by reason.
func (a *API) LimitStats() any {
	l := a.limits
	return map[string]any{
		"points_in_flight": a.pool.InFlight(), "points_in_flight_max": a.pool.Max(), "points_waits": a.pool.Waits(), "points_refused": a.pool.Refused(),
		"refused": map[string]uint64{"points": l.points.Get(), "busy": l.busy.Get(), "depth": l.depth.Get(),
			"max_series": l.maxSeries.Get(), "max_points": l.maxPoints.Get()},
	}
}

// withBudget returns ctx carrying a new allowance of max_request_points
// drawn from the shared pool, and the func that gives its points back.
func (a *API) withBudget(ctx context.Context) (context.Context, func()) {
	b := budget.NewRequest(a.pool, a.cfg.MaxRequestPoints)
	return budget.NewContext(ctx, b), b.Release
}

// limitError answers err if a limit refused the request, and says so.
func (a *API) limitError(w http.ResponseWriter, r *http.Request, what string, err error, asJSON bool) bool {
	var ex *budget.ExceededError
	var code int
	var msg string
	switch {
	case errors.As(err, &ex):
		a.limits.points.Inc()
		code = http.StatusUnprocessableEntity
		msg = fmt.Sprintf("%s: %v (max_request_points %d): narrow the time range, select fewer series or use a coarser interval",
			what, ex, a.cfg.MaxRequestPoints)
	case errors.Is(err, budget.ErrBusy):
		a.limits.busy.Inc()
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
		msg = fmt.Sprintf("%s: query-api is busy: %d points are in flight (max_points_in_flight %d): %v",
			what, a.pool.InFlight(), a.pool.Max(), err)
	case errors.Is(err, expr.ErrTooDeep):
		a.limits.depth.Inc()
		code = http.StatusBadRequest
		msg = fmt.Sprintf("%s: %v (max_depth)", what, err)
	default:
		return false
	}
	if asJSON {
		jsonError(w, r, code, "%s", msg)
	} else {
		textError(w, code, "%s", msg)
	}
	return true
}

// span is the resolution and the range read returns for [from, until]:
// no later than now, no earlier than the longest retention.
func (a *API) span(from, until, now time.Time) (res rollup.Resolution, readFrom, readUntil time.Time) {
	res = series.Choose(a.cfg.Resolutions, from, now)
	readFrom, readUntil = from, until
	if readUntil.After(now) {
		readUntil = now
	}
	if n := len(a.cfg.Resolutions); n > 0 {
		if oldest := now.Add(-a.cfg.Resolutions[n-1].TTL); readFrom.Before(oldest) {
			readFrom = oldest
		}
	}
	return res, readFrom, readUntil
}

// seriesSpan is [start, end) and the step of a series read over [from, until].
func (a *API) seriesSpan(from, until, now time.Time) (start, end, step int64) {
	res, rf, ru := a.span(from, until, now)
	step = res.Seconds()
	start, end = series.Span(step, rf.Unix(), ru.Unix())
	return start, max(start, end), step
}

// lowerBound is the fewest points evaluating e over [from, until] charges
// if each of its path patterns selects one series: what can be refused
// before anything is read. Saturates rather than overflowing.
func (a *API) lowerBound(e *expr.Expr, from, until, now time.Time) int64 {
	switch e.Kind {
	case expr.Path:
		start, end, step := a.seriesSpan(from, until, now)
		return (end - start) / step
	case expr.Call:
	default:
		return 0
	}
	sum := func(xs ...int64) int64 {
		var t int64
		for _, x := range xs {
			if t += x; t < 0 || t > math.MaxInt64/4 {
				return math.MaxInt64 / 4
			}
		}
		return t
	}
	var total int64
	for _, arg := range e.Args {
		total = sum(total, a.lowerBound(arg, from, until, now))
	}
	interval := func(i int) (int64, bool) {
		if i >= len(e.Args) || e.Args[i].Kind != expr.String {
			return 0, false
		}
		d, err := gtime.Offset(e.Args[i].Text)
		if err != nil || d < time.Second {
			return 0, false
		}
		return int64(d / time.Second), true
	}
	start, end, _ := a.seriesSpan(from, until, now)
	switch e.Text {
	case "summarize":
		if iv, ok := interval(1); ok {
			align := !fn.Truthy(e, 3, false) // alignToFrom
			total = sum(total, fn.Buckets(start, end, iv, align))
		}
	case "hitcount":
		if iv, ok := interval(1); ok {
			total = sum(total, fn.Buckets(start, end, iv, false))
		}
	case "identity", "time", "timeFunction", "sin", "sinFunction":
		// a point each step (60 s unless given) over the request's range
		step, at := int64(60), 1
		if e.Text == "sin" || e.Text == "sinFunction" {
			at = 2
		}
		if at < len(e.Args) && e.Args[at].Kind == expr.Number && e.Args[at].Number >= 1 {
			step = int64(e.Args[at].Number)
		}
		total = sum(total, (until.Unix()-from.Unix())/step)
	case "timeShift":
		// the series are read over the request's range and the shifted one
		if len(e.Args) > 1 && e.Args[1].Kind == expr.String {
			shift := e.Args[1].Text
			if shift != "" && shift[0] >= '0' && shift[0] <= '9' {
				shift = "-" + shift
			}
			if d, err := gtime.Offset(shift); err == nil {
				total = sum(total, a.lowerBound(e.Args[0], from.Add(d), until.Add(d), now))
			}
		}
	case "movingAverage", "movingSum", "movingMin", "movingMax", "movingMedian":
		// read again from the window before the request's start
		if len(e.Args) > 1 && e.Args[1].Kind == expr.String {
			if d, err := gtime.Offset(e.Args[1].Text); err == nil {
				total = sum(total, a.lowerBound(e.Args[0], from.Add(-d.Abs()), until, now))
			}
		}
	}
	return total
}

// What the cyanite and seed answers hold a value, in points (8 bytes): an
// any and its boxed number (24 bytes) or a [2]any and two (48 bytes), then
// their JSON, encoded whole (about 20 and 35 bytes, twice while it grows).
const (
	cyaniteWeight = 8
	seedWeight    = 15
)

// chargeWeighted charges weight points for each value list holds.
func chargeWeighted(ctx context.Context, list []*series.Series, weight int64) error {
	var n int64
	for _, s := range list {
		n += int64(len(s.Values))
	}
	return budget.Charge(ctx, weight*n)
}
