// Package recent adds to what query-api reads from storage the points the
// writers hold and have not stored yet (docs/query-api.md, "Recent points"):
// after reading a render's series from the store, it asks the writer holding
// each rollup shard the render touches, once, over NATS request/reply
// (bus.RecentSubject) for all of the render's paths of that shard, every
// shard at the same time under one timeout, and merges the answers, so a
// point is visible within a base interval of its flush rather than after the
// writer's next persist.
package recent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// Reader is a store.Reader whose reads of points also ask the writers.
// Listing paths is the store's alone. A caller reading many series at once
// reads them through Stored and then calls MergeRecent once.
type Reader struct {
	store.Reader
	nc      *nats.Conn
	shards  int
	timeout time.Duration
	warn    *ratelog.Limiter

	requests, timeouts, noResponders, failed, points, truncated, reasked, batches, batchTimeouts *metrics.Counter
}

// New wraps r: reads ask the holders of the paths' shards among shards
// (the writers' and aggregators' shards), waiting at most timeout for all
// of one read's answers together; a request that times out or fails is
// counted and its paths answer from storage alone.
func New(r store.Reader, nc *nats.Conn, shards int, timeout time.Duration, set *metrics.Set, log *slog.Logger) *Reader {
	c := func(n string) *metrics.Counter { return set.GetOrCreateCounter("consthash_query_api_recent_" + n) }
	return &Reader{Reader: r, nc: nc, shards: shards, timeout: timeout, warn: ratelog.New(log, 1, 10*time.Second),
		requests: c("requests_total"), timeouts: c("timeouts_total"), noResponders: c("no_responders_total"),
		failed: c("errors_total"), points: c("points_total"), truncated: c("truncated_total"),
		reasked: c("reasked_total"), batches: c("batches_total"), batchTimeouts: c("batch_timeouts_total")}
}

// Stored is the store alone: what a caller reads many series through
// before one MergeRecent.
func (r *Reader) Stored() store.Reader { return r.Reader }

// Read is the store's Read with the writers' recent points merged in.
func (r *Reader) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	pts, err := r.Reader.Read(ctx, path, res, from, until)
	if err != nil {
		return nil, err
	}
	list := [][]rollup.Point{pts}
	r.MergeRecent(ctx, []string{path}, res, from, until, list)
	return list[0], nil
}

// ReadColumn is the store's ReadColumn with the writers' recent points
// merged in (they carry every field; the caller reads the one it asked for).
func (r *Reader) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	pts, err := r.Reader.ReadColumn(ctx, path, res, from, until, col)
	if err != nil {
		return nil, err
	}
	list := [][]rollup.Point{pts}
	r.MergeRecent(ctx, []string{path}, res, from, until, list)
	return list[0], nil
}

// MergeRecent asks the writers for the recent points of paths at res with
// from <= time < until and merges them into pts (pts[i] holds paths[i]'s
// points read from storage, in time order, and stays so). It sends one
// request per shard the paths fall in (per bus.MaxRecentPaths of them), to
// every shard at once, and waits at most the Reader's timeout for all of
// them: a shard that does not answer in time costs the read that one wait,
// however many of its series it reads. Call it after the store reads: a
// writer leaves out the points it has stored, so asking first could count
// a point persisted in between twice.
func (r *Reader) MergeRecent(ctx context.Context, paths []string, res rollup.Resolution, from, until int64, pts [][]rollup.Point) {
	for i, fresh := range r.recent(ctx, paths, res, from, until) {
		for _, p := range fresh {
			pts[i] = insert(pts[i], p)
		}
	}
}

// recent asks the writers for the recent points of paths (MergeRecent) and
// returns each path's points with from <= time < until, in the replies'
// order (nil when there is nothing to ask).
func (r *Reader) recent(ctx context.Context, paths []string, res rollup.Resolution, from, until int64) [][]rollup.Point {
	if until <= from || res.Seconds() <= 0 || len(paths) == 0 {
		return nil
	}
	r.batches.Inc()
	// The paths of each shard, each once.
	byShard := map[int][]string{}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			sh := bus.PathShard(p, r.shards)
			byShard[sh] = append(byShard[sh], p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var (
		mu    sync.Mutex
		got   = map[string][]bus.RecentPoint{}
		wg    sync.WaitGroup
		timed bool
	)
	for sh, list := range byShard {
		for chunk := range slices.Chunk(list, bus.MaxRecentPaths) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, late := r.ask(ctx, sh, chunk, res.Seconds(), from, until)
				mu.Lock()
				defer mu.Unlock()
				timed = timed || late
				for p, ps := range rep {
					got[p] = append(got[p], ps...)
				}
			}()
		}
	}
	wg.Wait()
	if timed {
		r.batchTimeouts.Inc()
	}
	out := make([][]rollup.Point, len(paths))
	for i, p := range paths {
		for _, rp := range got[p] {
			if rp.Time < from || rp.Time >= until {
				continue
			}
			r.points.Inc()
			out[i] = append(out[i], rollup.Point{Path: p, Time: rp.Time, Sum: rp.Sum, Min: rp.Min, Max: rp.Max, Last: rp.Last, LastAt: rp.LastAt, Count: rp.Count})
		}
	}
	return out
}

// MergeRecentValues is MergeRecent for series read onto steps
// (store.Reader.ReadMany from start): the bins the writers' points fall in
// are read again from the store as points (ReadColumn, over those bins
// only), the writers' points merged into them as MergeRecent merges, and
// those bins' values replaced.
func (r *Reader) MergeRecentValues(ctx context.Context, res rollup.Resolution, start int64, reads []store.SeriesRead) error {
	step := res.Seconds()
	if len(reads) == 0 || step <= 0 {
		return nil
	}
	paths := make([]string, len(reads))
	until := start
	for i, rd := range reads {
		paths[i] = rd.Path
		until = max(until, start+int64(len(rd.Vals))*step)
	}
	for i, fresh := range r.recent(ctx, paths, res, start, until) {
		rd := reads[i]
		end := start + int64(len(rd.Vals))*step
		fresh = slices.DeleteFunc(fresh, func(p rollup.Point) bool { return p.Time >= end })
		if len(fresh) == 0 {
			continue
		}
		lo, hi := fresh[0].Time, fresh[0].Time
		for _, p := range fresh {
			lo, hi = min(lo, p.Time), max(hi, p.Time)
		}
		pts, err := r.Reader.ReadColumn(ctx, rd.Path, res, lo, hi+step, rd.Col)
		if err != nil {
			return err
		}
		for _, p := range fresh {
			pts = insert(pts, p)
		}
		for _, p := range fresh {
			if k, ok := slices.BinarySearchFunc(pts, p.Time, byTime); ok {
				rd.Vals[(p.Time-start)/step] = bus.Value(bus.Reducer(rd.Col), pts[k])
			}
		}
	}
	return nil
}

// ask requests the recent points of paths (all of shard sh) and returns
// them by path; late says the request ran out of time. A truncated reply
// holds every point of the paths before the last one it has points of
// (bus.RecentReply): the rest are asked again, as long as each round
// answers at least one path in full and time is left; a reply truncated
// in its first path is kept as it is and counted.
func (r *Reader) ask(ctx context.Context, sh int, paths []string, step, from, until int64) (out map[string][]bus.RecentPoint, late bool) {
	out = map[string][]bus.RecentPoint{}
	for len(paths) > 0 {
		req := bus.RecentRequest{Paths: paths, Step: step, From: from, Until: until}
		r.requests.Inc()
		msg, err := r.nc.RequestWithContext(ctx, bus.RecentSubject(sh), req.Encode())
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			// No writer holds the shard now (a hand-over, or no writer keeps blocks).
			r.noResponders.Inc()
			return out, false
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			r.timeouts.Inc()
			r.warn.Warn("a writer did not answer for recent points in time; its series answer from storage", "shard", sh, "paths", len(paths), "timeout", r.timeout)
			return out, true
		case err != nil:
			r.failed.Inc()
			r.warn.Warn("asking a writer for recent points; its series answer from storage", "shard", sh, "err", err)
			return out, false
		}
		var rep bus.RecentReply
		if err := rep.Decode(msg.Data); err != nil {
			r.failed.Inc()
			r.warn.Warn("a writer's recent points do not decode", "shard", sh, "err", err)
			return out, false
		}
		index := make(map[string]int, len(paths))
		for i, p := range paths {
			index[p] = i
		}
		last := -1 // the last path, in the request's order, the reply has points of
		for _, rp := range rep.Points {
			if i, ok := index[rp.Path]; ok {
				last = max(last, i)
			}
		}
		if !rep.Truncated || last <= 0 {
			if rep.Truncated {
				r.truncated.Inc()
			}
			for _, rp := range rep.Points {
				if _, ok := index[rp.Path]; ok {
					out[rp.Path] = append(out[rp.Path], rp)
				}
			}
			return out, false
		}
		// Keep the paths before last, ask again from last on.
		r.reasked.Inc()
		for _, rp := range rep.Points {
			if i, ok := index[rp.Path]; ok && i < last {
				out[rp.Path] = append(out[rp.Path], rp)
			}
		}
		paths = paths[last:]
	}
	return out, false
}

// insert merges p into pts, in time order: a writer sends only points whose
// producer has none stored at that time, so p adds as another producer's
// point would.
func insert(pts []rollup.Point, p rollup.Point) []rollup.Point {
	i, found := slices.BinarySearchFunc(pts, p.Time, func(q rollup.Point, t int64) int {
		switch {
		case q.Time < t:
			return -1
		case q.Time > t:
			return 1
		}
		return 0
	})
	if found {
		pts[i].Merge(p)
		return pts
	}
	return slices.Insert(pts, i, p)
}

// Stats is the "recent" section of /stats.
func (r *Reader) Stats() any {
	return map[string]any{"batches": r.batches.Get(), "requests": r.requests.Get(), "timeouts": r.timeouts.Get(),
		"batch_timeouts": r.batchTimeouts.Get(), "no_responders": r.noResponders.Get(), "errors": r.failed.Get(),
		"points": r.points.Get(), "truncated": r.truncated.Get(), "reasked": r.reasked.Get(), "timeout_seconds": r.timeout.Seconds()}
}

func byTime(q rollup.Point, t int64) int {
	switch {
	case q.Time < t:
		return -1
	case q.Time > t:
		return 1
	}
	return 0
}
