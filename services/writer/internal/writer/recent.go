package writer

import (
	"cmp"
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/store"
)

// recentHandler answers bus.RecentRequests on a held shard's
// bus.RecentSubject: the points of its open blocks not stored yet, in the
// requested paths, resolution and range, leaving out any whose block holds a
// stored point at that time (the reader has that one from storage already),
// and the points of blocks not read from storage yet (the same reason). At
// most recent_max_points points and about recentMaxBytes (or half the
// server's max_payload); past them the reply says truncated.
func (w *Writer) recentHandler(sh *shard) nats.MsgHandler {
	return func(m *nats.Msg) {
		var req bus.RecentRequest
		if err := req.Decode(m.Data); err != nil {
			w.recentBad.Inc()
			w.refused.Warn("a recent-points request that does not decode", "subject", m.Subject, "err", err)
			return
		}
		w.recentRequests.Inc()
		rep := w.recent(sh, &req)
		w.recentPoints.Add(len(rep.Points))
		if rep.Truncated {
			w.recentTruncated.Inc()
		}
		data, err := rep.Encode()
		if err == nil {
			err = m.Respond(data)
		}
		if err != nil {
			w.log.Warn("answering a recent-points request", "err", err)
		}
	}
}

// recentMaxBytes bounds a reply's size.
const recentMaxBytes = 512 << 10

// recentLockPaths bounds the paths looked up per holding of the shard's mu.
const recentLockPaths = 256

// recentBlock is what recent copies of one open block under the shard's mu:
// its pending points in the range (pts[from:to]) and its encoding (replaced
// by a persist, never changed in place, so it is read after the lock).
type recentBlock struct {
	path, source string
	data         []byte
	from, to     int
}

// recent answers req. Under the shard's mu it only copies the pending
// points in range (a few hundred paths at a time); the stored points that
// leave some out are decoded after.
func (w *Writer) recent(sh *shard, req *bus.RecentRequest) *bus.RecentReply {
	rep := &bus.RecentReply{Points: []bus.RecentPoint{}}
	max := w.cfg.RecentMaxPoints
	// JSON of a point is its path and source and at most 230 bytes more.
	maxBytes, size := min(recentMaxBytes, int(w.nc.MaxPayload())/2), 64
	var blocks []recentBlock
	var pts []pending
	copied := false // stopped copying: more points than a reply takes
	for chunk := range slices.Chunk(req.Paths, recentLockPaths) {
		sh.mu.Lock()
		for _, path := range chunk {
			for _, b := range sh.paths[path] {
				k := b.key
				if k.Res.Seconds() != req.Step || k.Span >= req.Until || k.Span+store.SpanSeconds(k.Res) <= req.From ||
					!b.loaded || len(b.pending) == 0 {
					continue
				}
				lo, _ := slices.BinarySearchFunc(b.pending, req.From, pendingAt)
				hi, _ := slices.BinarySearchFunc(b.pending, req.Until, pendingAt)
				if lo >= hi {
					continue
				}
				from := len(pts)
				pts = append(pts, b.pending[lo:hi]...)
				blocks = append(blocks, recentBlock{path: k.Path, source: k.Source, data: b.data, from: from, to: len(pts)})
			}
			if len(pts) > 2*max {
				copied = true
				break
			}
		}
		sh.mu.Unlock()
		if copied {
			break
		}
	}
	var it block.Iter
	for _, rb := range blocks {
		// Leave out the points whose block holds a stored one at their time
		// (both are in time order).
		more := len(rb.data) > 0 && it.Reset(rb.data) == nil && it.Next()
		for i := rb.from; i < rb.to && !rep.Truncated; i++ {
			p := &pts[i]
			for more && it.Point().Time < p.time {
				more = it.Next()
			}
			if more && it.Point().Time == p.time {
				continue
			}
			size += len(rb.path) + len(rb.source) + 230
			if len(rep.Points) >= max || size > maxBytes {
				rep.Truncated = true
				break
			}
			rep.Points = append(rep.Points, bus.RecentPoint{Path: rb.path, Source: rb.source, Time: p.time, Sum: p.sum,
				Min: p.min, Max: p.max, Last: p.last, LastAt: p.lastAt, Count: p.count})
		}
		if rep.Truncated {
			break
		}
	}
	if copied {
		rep.Truncated = true
	}
	slices.SortFunc(rep.Points, func(a, b bus.RecentPoint) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Time, b.Time))
	})
	return rep
}
