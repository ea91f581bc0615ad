// Package recent adds to what query-api reads from storage the points the
// writers hold and have not stored yet (docs/query-api.md, "Recent points"):
// after reading a series from the store, it asks the writer holding the
// series' rollup shard over NATS request/reply (bus.RecentSubject) and
// merges the answer, so a point is visible within a base interval of its
// flush rather than after the writer's next persist.
package recent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// Reader is a store.Reader whose reads of points also ask the writers.
// Listing paths is the store's alone.
type Reader struct {
	store.Reader
	nc      *nats.Conn
	shards  int
	timeout time.Duration
	warn    *ratelog.Limiter

	requests, timeouts, noResponders, failed, points, truncated *metrics.Counter
}

// New wraps r: every read asks the holder of the path's shard among shards
// (the writers' and aggregators' shards), waiting at most timeout; a
// request that times out or fails is counted and the read answers from
// storage alone.
func New(r store.Reader, nc *nats.Conn, shards int, timeout time.Duration, set *metrics.Set, log *slog.Logger) *Reader {
	c := func(n string) *metrics.Counter { return set.GetOrCreateCounter("consthash_query_api_recent_" + n) }
	return &Reader{Reader: r, nc: nc, shards: shards, timeout: timeout, warn: ratelog.New(log, 1, 10*time.Second),
		requests: c("requests_total"), timeouts: c("timeouts_total"), noResponders: c("no_responders_total"),
		failed: c("errors_total"), points: c("points_total"), truncated: c("truncated_total")}
}

// Read is the store's Read with the writers' recent points merged in.
func (r *Reader) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	pts, err := r.Reader.Read(ctx, path, res, from, until)
	if err != nil {
		return nil, err
	}
	return r.merge(ctx, path, res, from, until, pts), nil
}

// ReadColumn is the store's ReadColumn with the writers' recent points
// merged in (they carry every field; the caller reads the one it asked for).
func (r *Reader) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	pts, err := r.Reader.ReadColumn(ctx, path, res, from, until, col)
	if err != nil {
		return nil, err
	}
	return r.merge(ctx, path, res, from, until, pts), nil
}

// merge asks for path's recent points and merges them into pts (in time
// order): a writer sends only points whose producer has none stored at that
// time, so they are added as another producer's would be.
func (r *Reader) merge(ctx context.Context, path string, res rollup.Resolution, from, until int64, pts []rollup.Point) []rollup.Point {
	if until <= from || res.Seconds() <= 0 {
		return pts
	}
	req := bus.RecentRequest{Paths: []string{path}, Step: res.Seconds(), From: from, Until: until}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.requests.Inc()
	msg, err := r.nc.RequestWithContext(ctx, bus.RecentSubject(bus.PathShard(path, r.shards)), req.Encode())
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// No writer holds the shard now (a hand-over, or no writer keeps blocks).
		r.noResponders.Inc()
		return pts
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		r.timeouts.Inc()
		r.warn.Warn("a writer did not answer for recent points in time; the render answers from storage", "path", path, "timeout", r.timeout)
		return pts
	case err != nil:
		r.failed.Inc()
		r.warn.Warn("asking a writer for recent points; the render answers from storage", "path", path, "err", err)
		return pts
	}
	var rep bus.RecentReply
	if err := rep.Decode(msg.Data); err != nil {
		r.failed.Inc()
		r.warn.Warn("a writer's recent points do not decode", "path", path, "err", err)
		return pts
	}
	if rep.Truncated {
		r.truncated.Inc()
	}
	for _, rp := range rep.Points {
		if rp.Path != path || rp.Time < from || rp.Time >= until {
			continue
		}
		r.points.Inc()
		p := rollup.Point{Path: path, Time: rp.Time, Sum: rp.Sum, Min: rp.Min, Max: rp.Max, Last: rp.Last, LastAt: rp.LastAt, Count: rp.Count}
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
		} else {
			pts = slices.Insert(pts, i, p)
		}
	}
	return pts
}

// Stats is the "recent" section of /stats.
func (r *Reader) Stats() any {
	return map[string]any{"requests": r.requests.Get(), "timeouts": r.timeouts.Get(), "no_responders": r.noResponders.Get(),
		"errors": r.failed.Get(), "points": r.points.Get(), "truncated": r.truncated.Get(), "timeout_seconds": r.timeout.Seconds()}
}
