// Package rollups turns each base flush of an aggregator into the rollup
// batches of every resolution of `times`.
package rollups

import (
	"time"

	"github.com/consthash/consthash/pkg/rollup"
)

// Set holds the in-progress coarse bins of one producer.
type Set struct {
	res    []rollup.Resolution
	source string
	bins   []map[string]agg // per coarse resolution (index i-1 for res[i])
	starts []int64          // bin start of each coarse resolution's open bin
	seq    uint64
}

// agg is a coarse bin's aggregate of one path: a rollup.Point without the
// path and time the map and the bin hold (48 bytes instead of 72 and a
// pointer: coarse bins are most of an aggregator's memory).
type agg struct {
	sum, min, max, last float64
	lastAt              int64
	count               uint64
}

func (g *agg) merge(p *rollup.Point) {
	q := rollup.Point{Sum: g.sum, Min: g.min, Max: g.max, Last: g.last, LastAt: g.lastAt, Count: g.count}
	q.Merge(*p)
	*g = agg{q.Sum, q.Min, q.Max, q.Last, q.LastAt, q.Count}
}

// New returns a Set for resolutions (res[0] is the base) and a producer id,
// unique per process start so that a restarted aggregator never overwrites
// its predecessor's partial bins.
func New(res []rollup.Resolution, source string) *Set {
	s := &Set{res: res, source: source, bins: make([]map[string]agg, len(res)-1),
		starts: make([]int64, len(res)-1)}
	for i := range s.bins {
		s.bins[i] = map[string]agg{}
		s.starts[i] = -1
	}
	return s
}

// Add folds the points of the base bin that ends at binEnd into every coarse
// resolution and returns what to publish: the base batch, and each coarse
// bin that binEnd closes. Coarse bins are published once, when they close
// (every batch is final); until then they live here, and a crash's open
// bins are rebuilt from the base batches (Recovery). Batches without points
// are left out.
func (s *Set) Add(binEnd time.Time, base []rollup.Point) []*rollup.Batch {
	baseStart := binEnd.Unix() - s.res[0].Seconds()
	flush := binEnd.Unix()
	var out []*rollup.Batch
	if len(base) > 0 {
		pts := make([]rollup.Point, len(base))
		for i, p := range base {
			p.Time = baseStart
			pts[i] = p
		}
		out = append(out, s.batch(s.res[0], flush, pts))
	}
	for i, r := range s.res[1:] {
		start := r.BinStart(time.Unix(baseStart, 0))
		if s.starts[i] != start {
			// A new coarse bin without a flush on the old one's boundary
			// (a flush at stop): the old one is closed now.
			if s.starts[i] >= 0 && len(s.bins[i]) > 0 {
				out = append(out, s.batch(r, flush, s.points(i)))
			}
			clear(s.bins[i])
			s.starts[i] = start
		}
		bin := s.bins[i]
		for j := range base {
			g := bin[base[j].Path]
			g.merge(&base[j])
			bin[base[j].Path] = g
		}
		if flush%r.Seconds() == 0 {
			if len(bin) > 0 {
				out = append(out, s.batch(r, flush, s.points(i)))
			}
			clear(bin)
			s.starts[i] = -1
		}
	}
	return out
}

// Close returns the open coarse bins as final batches and empties them: at
// a stop, this producer adds nothing more to them.
func (s *Set) Close(flush int64) []*rollup.Batch {
	var out []*rollup.Batch
	for i, r := range s.res[1:] {
		if s.starts[i] >= 0 && len(s.bins[i]) > 0 {
			out = append(out, s.batch(r, flush, s.points(i)))
		}
		clear(s.bins[i])
		s.starts[i] = -1
	}
	return out
}

// points returns coarse resolution i's open bin as points.
func (s *Set) points(i int) []rollup.Point {
	pts := make([]rollup.Point, 0, len(s.bins[i]))
	for path, g := range s.bins[i] {
		pts = append(pts, rollup.Point{Path: path, Time: s.starts[i], Sum: g.sum, Min: g.min, Max: g.max, Last: g.last, LastAt: g.lastAt, Count: g.count})
	}
	return pts
}

func (s *Set) batch(r rollup.Resolution, flush int64, pts []rollup.Point) *rollup.Batch {
	s.seq++
	return &rollup.Batch{Source: s.source, Resolution: r, Flush: flush, Seq: s.seq, Final: true, Points: pts}
}

// OpenPaths returns how many paths each coarse resolution's open bin holds.
func (s *Set) OpenPaths() []int {
	out := make([]int, len(s.bins))
	for i, b := range s.bins {
		out[i] = len(b)
	}
	return out
}

// Recovery rebuilds the open coarse bins of a producer that stopped without
// closing them (a crash) from the base batches it published: fed every base
// point of that producer from a little before its open coarsest bin began,
// it keeps, per coarse resolution, the bin holding the last base point it
// was given: the bin that producer never published.
type Recovery struct {
	set  *Set
	bins []map[int64]map[string]agg // per coarse resolution, by bin start
	last int64                      // the latest base bin start given
}

// NewRecovery returns a Recovery for producer source's resolutions.
func NewRecovery(res []rollup.Resolution, source string) *Recovery {
	r := &Recovery{set: New(res, source), bins: make([]map[int64]map[string]agg, len(res)-1), last: -1}
	for i := range r.bins {
		r.bins[i] = map[int64]map[string]agg{}
	}
	return r
}

// Add folds one base point (its Time is its base bin's start).
func (r *Recovery) Add(p *rollup.Point) {
	r.last = max(r.last, p.Time)
	for i, res := range r.set.res[1:] {
		start := res.BinStart(time.Unix(p.Time, 0))
		m := r.bins[i][start]
		if m == nil {
			m = map[string]agg{}
			r.bins[i][start] = m
		}
		g := m[p.Path]
		g.merge(p)
		m[p.Path] = g
	}
}

// Batches returns the open bins (final: their producer is gone), with
// sequence numbers above seq. Bins before the open ones were published by
// their producer and are left out.
func (r *Recovery) Batches(flush int64, seq uint64) []*rollup.Batch {
	if r.last < 0 {
		return nil
	}
	r.set.seq = seq
	for i, res := range r.set.res[1:] {
		start := res.BinStart(time.Unix(r.last, 0))
		r.set.starts[i] = start
		if m := r.bins[i][start]; m != nil {
			r.set.bins[i] = m
		}
	}
	return r.set.Close(flush)
}
