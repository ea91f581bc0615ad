package api

import (
	"context"
	"fmt"
	"slices"
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
	// Errors leave found[i] nil: the pattern is read when it is evaluated.
	_ = par.For(ctx, len(patterns), a.cfg.ReadConcurrency, func(i int) error {
		leaves, err := a.leavesOf(ctx, patterns[i])
		if err == nil {
			found[i] = leaves
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
	for i, pattern := range patterns {
		if found[i] == nil {
			continue
		}
		list := make([]*series.Series, len(found[i]))
		for j, leaf := range found[i] {
			k, _ := slices.BinarySearch(all, leaf)
			list[j] = a.fit(pattern, leaf, pts[k], res, readFrom, readUntil)
		}
		p.series[pattern] = list
	}
	return p
}

// leavesOf returns the leaves pattern selects, at most max_series.
func (a *API) leavesOf(ctx context.Context, pattern string) ([]string, error) {
	nodes, err := find.Find(ctx, a.r, pattern, a.cfg.MaxSeries)
	if err != nil {
		return nil, err
	}
	leaves := []string{}
	for _, n := range nodes {
		if n.Leaf {
			leaves = append(leaves, n.Path)
		}
	}
	if a.cfg.MaxSeries > 0 && len(leaves) > a.cfg.MaxSeries {
		return nil, errMaxSeries{a.cfg.MaxSeries}
	}
	return leaves, nil
}

// charge charges n series' points over the range before they are read.
func (a *API) charge(ctx context.Context, n int, res rollup.Resolution, readFrom, readUntil time.Time) error {
	start, end := series.Span(res.Seconds(), readFrom.Unix(), readUntil.Unix())
	return budget.Charge(ctx, int64(n)*max(0, (end-start)/res.Seconds()))
}

// readLeaves reads the points of paths, side by side (the store's
// connections permitting), each in the column its name calls for, and then
// the points the writers have not stored yet, once for them all.
func (a *API) readLeaves(ctx context.Context, paths []string, res rollup.Resolution, readFrom, readUntil time.Time) ([][]rollup.Point, error) {
	r := a.r
	merger, ok := a.r.(recentMerger)
	if ok {
		r = merger.Stored()
	}
	from, until := readFrom.Unix(), readUntil.Unix()+res.Seconds()
	pts := make([][]rollup.Point, len(paths))
	err := par.For(ctx, len(paths), a.cfg.ReadConcurrency, func(i int) error {
		p := paths[i]
		col := series.ColumnFor(a.cfg.Rules, p, "")
		list, err := r.ReadColumn(ctx, p, res, from, until, string(col))
		if err != nil {
			return readError{fmt.Errorf("reading %s: %w", p, err)}
		}
		pts[i] = list
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ok {
		merger.MergeRecent(ctx, paths, res, from, until, pts)
	}
	return pts, nil
}

// fit makes the series of a leaf pattern selected from its points.
func (a *API) fit(pattern, leaf string, pts []rollup.Point, res rollup.Resolution, readFrom, readUntil time.Time) *series.Series {
	s := series.Fit(leaf, pts, res, readFrom.Unix(), readUntil.Unix(), series.ColumnFor(a.cfg.Rules, leaf, ""))
	s.PathExpr = pattern
	s.Tags = tagsOf(leaf)
	return s
}
