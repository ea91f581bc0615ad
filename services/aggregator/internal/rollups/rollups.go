// Package rollups turns each base flush of an aggregator into the rollup
// batches of every resolution of `times`.
package rollups

import (
	"math"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
)

// Set holds the open coarse bins of one producer. They are most of an
// aggregator's memory and of its flush's work, so every coarse resolution
// shares one index from path to row: a base point costs one map lookup, and
// a path about 24 bytes of index, 16 of path and 48 per coarse resolution.
type Set struct {
	res    []rollup.Resolution
	source string
	index  map[string]int32 // path -> row, over the open bins of every coarse resolution
	paths  []string         // by row
	aggs   [][]agg          // per coarse resolution (i for res[i+1]), by row; count 0: no point in the open bin
	starts []int64          // bin start of each coarse resolution's open bin, -1 for none
	seq    uint64
}

// agg is a coarse bin's aggregate of one path: a rollup.Point without the
// path and time, which the Set holds once.
type agg struct {
	sum, min, max, last float64
	lastAt              int64
	count               uint64
}

// merge is rollup.Point.Merge.
func (g *agg) merge(p *rollup.Point) {
	switch {
	case p.Count == 0:
	case g.count == 0:
		*g = agg{p.Sum, p.Min, p.Max, p.Last, p.LastAt, p.Count}
	default:
		g.sum += p.Sum
		g.count += p.Count
		g.min, g.max = math.Min(g.min, p.Min), math.Max(g.max, p.Max)
		if p.LastAt > g.lastAt {
			g.last, g.lastAt = p.Last, p.LastAt
		}
	}
}

// New returns a Set for resolutions (res[0] is the base) and a producer id,
// unique per process start so that a restarted aggregator never overwrites
// its predecessor's bins.
func New(res []rollup.Resolution, source string) *Set {
	s := &Set{res: res, source: source, index: map[string]int32{}, aggs: make([][]agg, len(res)-1),
		starts: make([]int64, len(res)-1)}
	for i := range s.starts {
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
		if start := r.BinStart(time.Unix(baseStart, 0)); s.starts[i] != start {
			// A new coarse bin without a flush on the old one's boundary (a
			// flush at stop): the old one is closed now.
			out = s.close(out, i, flush)
			s.starts[i] = start
		}
	}
	if len(s.aggs) > 0 {
		for j := range base {
			p := &base[j]
			row, ok := s.index[p.Path]
			if !ok {
				row = int32(len(s.paths))
				s.index[p.Path] = row
				s.paths = append(s.paths, p.Path)
				for i := range s.aggs {
					s.aggs[i] = append(s.aggs[i], agg{})
				}
			}
			for i := range s.aggs {
				s.aggs[i][row].merge(p)
			}
		}
	}
	for i, r := range s.res[1:] {
		if flush%r.Seconds() == 0 {
			out = s.close(out, i, flush)
		}
	}
	return out
}

// close appends coarse resolution i's open bin to out as a final batch (if
// it has points) and empties it; once no resolution has an open bin, the
// index starts afresh.
func (s *Set) close(out []*rollup.Batch, i int, flush int64) []*rollup.Batch {
	if s.starts[i] < 0 {
		return out
	}
	if pts := s.points(i); len(pts) > 0 {
		out = append(out, s.batch(s.res[i+1], flush, pts))
	}
	clear(s.aggs[i])
	s.starts[i] = -1
	for _, st := range s.starts {
		if st >= 0 {
			return out
		}
	}
	clear(s.index)
	s.paths = s.paths[:0]
	for i := range s.aggs {
		s.aggs[i] = s.aggs[i][:0]
	}
	return out
}

// Close returns the open coarse bins as final batches and empties them: at
// a stop, this producer adds nothing more to them.
func (s *Set) Close(flush int64) []*rollup.Batch {
	var out []*rollup.Batch
	for i := range s.aggs {
		out = s.close(out, i, flush)
	}
	return out
}

// points returns coarse resolution i's open bin as points.
func (s *Set) points(i int) []rollup.Point {
	var pts []rollup.Point
	for row, g := range s.aggs[i] {
		if g.count > 0 {
			pts = append(pts, rollup.Point{Path: s.paths[row], Time: s.starts[i], Sum: g.sum, Min: g.min, Max: g.max,
				Last: g.last, LastAt: g.lastAt, Count: g.count})
		}
	}
	return pts
}

func (s *Set) batch(r rollup.Resolution, flush int64, pts []rollup.Point) *rollup.Batch {
	s.seq++
	return &rollup.Batch{Source: s.source, Resolution: r, Flush: flush, Seq: s.seq, Final: true, Points: pts}
}

// OpenPaths returns how many paths each coarse resolution's open bin holds.
func (s *Set) OpenPaths() []int {
	out := make([]int, len(s.aggs))
	for i, aggs := range s.aggs {
		for _, g := range aggs {
			if g.count > 0 {
				out[i]++
			}
		}
	}
	return out
}

// Recovery rebuilds the open coarse bins of a producer that stopped without
// closing them (a crash) from the base batches it published: fed every base
// point of that producer from a little before its open coarsest bin began,
// it keeps, per coarse resolution, the bin holding the last base point it
// was given: the bin that producer never published.
type Recovery struct {
	res    []rollup.Resolution
	source string
	bins   []map[int64]map[string]agg // per coarse resolution, by bin start
	last   int64                      // the latest base bin start given
}

// NewRecovery returns a Recovery for producer source's resolutions.
func NewRecovery(res []rollup.Resolution, source string) *Recovery {
	r := &Recovery{res: res, source: source, bins: make([]map[int64]map[string]agg, len(res)-1), last: -1}
	for i := range r.bins {
		r.bins[i] = map[int64]map[string]agg{}
	}
	return r
}

// Add folds one base point (its Time is its base bin's start).
func (r *Recovery) Add(p *rollup.Point) {
	r.last = max(r.last, p.Time)
	for i, res := range r.res[1:] {
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
	var out []*rollup.Batch
	for i, res := range r.res[1:] {
		start := res.BinStart(time.Unix(r.last, 0))
		var pts []rollup.Point
		for path, g := range r.bins[i][start] {
			pts = append(pts, rollup.Point{Path: path, Time: start, Sum: g.sum, Min: g.min, Max: g.max, Last: g.last,
				LastAt: g.lastAt, Count: g.count})
		}
		if len(pts) > 0 {
			seq++
			out = append(out, &rollup.Batch{Source: r.source, Resolution: res, Flush: flush, Seq: seq, Final: true, Points: pts})
		}
	}
	return out
}
