package fn

import "github.com/consthash/consthash/services/query-api/internal/expr"

// Paths appends to out the path patterns evaluating e reads over the
// request's own range, each once: its path arguments, at any depth, except
// below functions that read their series over a range of their own (a
// window before the request's, a shift; readsOwnRange). The API reads them
// all at once before evaluating (docs/query-api.md, "Recent points"); a
// pattern read otherwise is only read twice, never wrong.
func (l *Library) Paths(e *expr.Expr, out []string) []string {
	switch e.Kind {
	case expr.Path:
		for _, p := range out {
			if p == e.Text {
				return out
			}
		}
		return append(out, e.Text)
	case expr.Call:
		if readsOwnRange(e.Text) || l.fns[e.Text] == nil {
			return out
		}
		for _, a := range e.Args {
			out = l.Paths(a, out)
		}
		for _, a := range e.Kwargs {
			out = l.Paths(a, out)
		}
	}
	return out
}

// readsOwnRange says whether function name evaluates its series arguments
// over a range other than the request's (evaluator.over).
func readsOwnRange(name string) bool {
	switch name {
	case "movingAverage", "movingMax", "movingMedian", "movingMin", "movingSum", "movingWindow", "exponentialMovingAverage",
		"holtWintersForecast", "holtWintersConfidenceBands", "holtWintersConfidenceArea", "holtWintersAberration",
		"linearRegression", "hitcount", "timeShift", "timeStack", "smartSummarize":
		return true
	}
	return false
}
