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

func (w *Writer) recent(sh *shard, req *bus.RecentRequest) *bus.RecentReply {
	rep := &bus.RecentReply{Points: []bus.RecentPoint{}}
	max := w.cfg.RecentMaxPoints
	// JSON of a point is its path and source and at most 230 bytes more.
	maxBytes, size := min(recentMaxBytes, int(w.nc.MaxPayload())/2), 64
	var it block.Iter
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, path := range req.Paths {
		for _, k := range sh.byPath[path] {
			if k.Res.Seconds() != req.Step || k.Span >= req.Until || k.Span+store.SpanSeconds(k.Res) <= req.From {
				continue
			}
			b := sh.blocks[k]
			if b == nil || !b.loaded || len(b.dirty) == 0 {
				continue
			}
			var stored map[int64]bool
			for t := range b.dirty {
				if t < req.From || t >= req.Until {
					continue
				}
				if stored == nil {
					stored = map[int64]bool{}
					if len(b.data) > 0 && it.Reset(b.data) == nil {
						for it.Next() {
							stored[it.Point().Time] = true
						}
					}
				}
				if stored[t] {
					continue
				}
				size += len(path) + len(k.Source) + 230
				if len(rep.Points) >= max || size > maxBytes {
					rep.Truncated = true
					break
				}
				p := b.dirty[t].p
				rep.Points = append(rep.Points, bus.RecentPoint{Path: path, Source: k.Source, Time: t, Sum: p.Sum, Min: p.Min,
					Max: p.Max, Last: p.Last, LastAt: p.LastAt, Count: p.Count})
			}
		}
	}
	slices.SortFunc(rep.Points, func(a, b bus.RecentPoint) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Time, b.Time))
	})
	return rep
}
