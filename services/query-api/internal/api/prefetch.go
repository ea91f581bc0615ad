package api

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/find"
	"github.com/consthash/consthash/services/query-api/internal/par"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// recentMerger is a store reader that adds the points the writers have not
// stored yet to many series at once (recent.Reader): the API reads a
// render's series from Stored() and then calls MergeRecent once, which asks
// each writer shard once instead of once per series.
type recentMerger interface {
	Stored() store.Reader
	MergeRecent(ctx context.Context, paths []string, res rollup.Resolution, from, until int64, pts [][]rollup.Point)
	// MergeRecentValues is MergeRecent for series read with
	// store.Reader.ReadMany.
	MergeRecentValues(ctx context.Context, res rollup.Resolution, start int64, reads []store.SeriesRead) error
}

// prefetched holds the series of a request's path patterns read ahead of
// evaluating its targets, by pattern and range; each is taken once (the
// functions may change the series they get).
type prefetched struct {
	from, until int64 // unix nanoseconds of the range they were read over
	series      map[string][]*series.Series
}

// take returns pattern's series read ahead over [from, until], once.
func (p *prefetched) take(pattern string, from, until time.Time) ([]*series.Series, bool) {
	if p == nil || from.UnixNano() != p.from || until.UnixNano() != p.until {
		return nil, false
	}
	list, ok := p.series[pattern]
	delete(p.series, pattern)
	return list, ok
}

// prefetch reads the series of patterns over [from, until] at once, before
// a request's targets are evaluated one after another: their leaves found
// pattern by pattern side by side, every series read from the store
// read_concurrency at a time, then the writers' recent points asked once per
// shard for all of them. Anything that goes wrong (a pattern that selects
// too much, the budget, the store) leaves the pattern to be read when it is
// evaluated, which reports it; fewer than two patterns are left to it too.
func (a *API) prefetch(ctx context.Context, patterns []string, from, until, now time.Time) *prefetched {
	if len(patterns) < 2 {
		return nil
	}
	found := make([][]string, len(patterns))
	unindexed := make([]bool, len(patterns))
	// Errors leave found[i] nil: the pattern is read when it is evaluated.
	_ = par.For(ctx, len(patterns), a.cfg.ReadConcurrency, func(i int) error {
		leaves, maybe, err := a.leavesOf(ctx, patterns[i])
		if err == nil {
			found[i], unindexed[i] = leaves, maybe
		}
		return nil
	})
	res, readFrom, readUntil := a.span(from, until, now)
	var all []string
	var n int
	for _, l := range found {
		n += len(l)
		all = append(all, l...)
	}
	if n == 0 || a.cfg.MaxSeries > 0 && n > a.cfg.MaxSeries {
		return nil
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if a.charge(ctx, n, res, readFrom, readUntil) != nil {
		return nil
	}
	pts, err := a.readLeaves(ctx, all, res, readFrom, readUntil)
	if err != nil {
		return nil
	}
	p := &prefetched{from: from.UnixNano(), until: until.UnixNano(), series: make(map[string][]*series.Series, len(patterns))}
	used := make([]bool, len(all))
	for i, pattern := range patterns {
		if found[i] == nil {
			continue
		}
		list := make([]*series.Series, len(found[i]))
		for j, leaf := range found[i] {
			k, _ := slices.BinarySearch(all, leaf)
			vals := pts[k]
			if used[k] { // a leaf of several patterns: each series its own values
				vals = slices.Clone(vals)
			}
			used[k] = true
			list[j] = a.fit(pattern, leaf, vals, res, readFrom, readUntil)
		}
		p.series[pattern] = keepIndexed(list, unindexed[i])
	}
	return p
}

// leavesOf returns the leaves pattern selects, at most max_series. With
// the writers asked for recent points, a plain path (no glob) the path
// index has no leaf of is returned as its own leaf with unindexed set: a
// series so new that its writer has not persisted it yet (nor announced
// it) can still have points; keepIndexed drops it once read if it has
// none, as graphite-web renders nothing of an unknown path.
func (a *API) leavesOf(ctx context.Context, pattern string) (leaves []string, unindexed bool, err error) {
	nodes, err := find.Find(ctx, a.r, pattern, a.cfg.MaxSeries)
	if err != nil {
		return nil, false, err
	}
	leaves = []string{}
	for _, n := range nodes {
		if n.Leaf {
			leaves = append(leaves, n.Path)
		}
	}
	if a.cfg.MaxSeries > 0 && len(leaves) > a.cfg.MaxSeries {
		return nil, false, errMaxSeries{a.cfg.MaxSeries}
	}
	if _, recent := a.r.(recentMerger); recent && len(leaves) == 0 && isPlainPath(pattern) {
		return []string{pattern}, true, nil
	}
	return leaves, false, nil
}

// isPlainPath says whether pattern names one path: no glob characters.
func isPlainPath(pattern string) bool {
	return pattern != "" && !strings.ContainsAny(pattern, "*?[]{}")
}

// keepIndexed returns list, the series read of leaves; of an unindexed
// leaf (leavesOf) it keeps the series only if it has a value: points the
// writers hold or, read before the index heard of it, stored ones.
func keepIndexed(list []*series.Series, unindexed bool) []*series.Series {
	if !unindexed || len(list) != 1 || slices.ContainsFunc(list[0].Values, func(v float64) bool { return !math.IsNaN(v) }) {
		return list
	}
	return list[:0]
}

// charge charges n series' points over the range before they are read.
func (a *API) charge(ctx context.Context, n int, res rollup.Resolution, readFrom, readUntil time.Time) error {
	start, end := series.Span(res.Seconds(), readFrom.Unix(), readUntil.Unix())
	return budget.Charge(ctx, int64(n)*max(0, (end-start)/res.Seconds()))
}

// readLeaves reads the values of paths on the steps of [readFrom,
// readUntil] (series.Span), each in the column its name calls for, in groups
// the store reads in one query each (as many groups as read_concurrency,
// readGroup paths at most), read_concurrency groups side by side, decoded
// straight onto the steps; then the points the writers have not stored yet,
// once for them all.
func (a *API) readLeaves(ctx context.Context, paths []string, res rollup.Resolution, readFrom, readUntil time.Time) ([][]float64, error) {
	r := a.r
	merger, ok := a.r.(recentMerger)
	if ok {
		r = merger.Stored()
	}
	start, end := series.Span(res.Seconds(), readFrom.Unix(), readUntil.Unix())
	n := max(0, (end-start)/res.Seconds())
	reads := make([]store.SeriesRead, len(paths))
	group := min(readGroup, max(1, (len(paths)+a.cfg.ReadConcurrency-1)/a.cfg.ReadConcurrency))
	err := par.For(ctx, (len(paths)+group-1)/group, a.cfg.ReadConcurrency, func(g int) error {
		rs := reads[g*group : min(len(reads), (g+1)*group)]
		// Each group finds its columns (the name rules' regexps), side by side.
		for i := range rs {
			p := paths[g*group+i]
			rs[i] = store.SeriesRead{Path: p, Col: string(series.ColumnFor(a.cfg.Rules, p, "")), Vals: make([]float64, n)}
		}
		if err := r.ReadMany(ctx, res, start, rs); err != nil {
			return readError{fmt.Errorf("reading %d series (%s ...): %w", len(rs), rs[0].Path, err)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ok {
		if err := merger.MergeRecentValues(ctx, res, start, reads); err != nil {
			return nil, readError{fmt.Errorf("reading points the writers hold: %w", err)}
		}
	}
	out := make([][]float64, len(reads))
	for i := range reads {
		out[i] = reads[i].Vals
	}
	return out, nil
}

// readGroup is the most series one store query reads.
const readGroup = 50

// fit makes the series of a leaf pattern selected from its values (the
// series keeps vals).
func (a *API) fit(pattern, leaf string, vals []float64, res rollup.Resolution, readFrom, readUntil time.Time) *series.Series {
	s := series.OnSteps(leaf, vals, res, readFrom.Unix(), readUntil.Unix())
	s.PathExpr = pattern
	s.Tags = tagsOf(leaf)
	return s
}
