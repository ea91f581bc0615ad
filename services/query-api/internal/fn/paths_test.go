package fn

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// TestPaths: the patterns Paths reads ahead are exactly those evaluation
// then fetches over the request's own range, each once.
func TestPaths(t *testing.T) {
	from, until := time.Unix(1700000000, 0), time.Unix(1700003600, 0)
	for _, tc := range []struct{ target, want string }{
		{"a.b", "[a.b]"},
		{"sumSeries(a.*, b.c, a.*)", "[a.* b.c]"},
		{"alias(scale(a.b, 2), 'x')", "[a.b]"},
		{"sumSeries(a.b, movingAverage(c.d, 5))", "[a.b]"},
		{"asPercent(a.b, timeShift(a.b, '1h'))", "[a.b]"},
		{"divideSeries(a.b, hitcount(c.d, '1min'))", "[a.b]"},
		{"scale(seriesList=a.b, factor=2)", "[a.b]"},
		{"nosuchFunction(a.b)", "[]"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			e, err := expr.Parse(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			l := New()
			got := l.Paths(e, []string{})
			if fmt.Sprint(got) != tc.want {
				t.Errorf("Paths = %v, want %s", got, tc.want)
			}
			// Everything read ahead is fetched over the request's range.
			var own []string
			env := Env{From: from, Until: until, Now: until, Fetch: func(_ context.Context, pattern string, f, u time.Time) ([]*series.Series, error) {
				if f.Equal(from) && u.Equal(until) && !slices.Contains(own, pattern) {
					own = append(own, pattern)
				}
				n := int64(u.Sub(f) / time.Minute)
				return []*series.Series{{Name: pattern, PathExpr: pattern, Start: f.Unix() + 60, End: f.Unix() + 60 + 60*n, Step: 60,
					Values: make([]float64, n), Consolidate: "average", ValuesPerPoint: 1, Tags: TagsOf(pattern)}}, nil
			}}
			if _, err := l.Eval(context.Background(), &env, e); err != nil && len(got) > 0 {
				t.Fatalf("Eval: %v", err)
			}
			for _, p := range got {
				if !slices.Contains(own, p) {
					t.Errorf("%s read ahead, fetched over the request's range only %v", p, own)
				}
			}
		})
	}
}
