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
// resolution and returns what to publish: the base batch (final), and per
// coarse resolution either its finished bin (final, when binEnd is on its
// boundary) or its open bin so far (not final: storage overwrites it with the
// next one). Batches without points are left out.
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
		out = append(out, s.batch(s.res[0], flush, true, pts))
	}
	for i, r := range s.res[1:] {
		start := r.BinStart(time.Unix(baseStart, 0))
		if s.starts[i] != start {
			// A new coarse bin (after start-up, or after a gap with no flush
			// on the boundary): whatever the old one held went out as partials.
			clear(s.bins[i])
			s.starts[i] = start
		}
		bin := s.bins[i]
		for j := range base {
			g := bin[base[j].Path]
			g.merge(&base[j])
			bin[base[j].Path] = g
		}
		final := flush%r.Seconds() == 0
		if len(s.bins[i]) > 0 && (final || len(base) > 0) {
			pts := make([]rollup.Point, 0, len(s.bins[i]))
			for path, g := range s.bins[i] {
				pts = append(pts, rollup.Point{Path: path, Time: start, Sum: g.sum, Min: g.min, Max: g.max, Last: g.last, LastAt: g.lastAt, Count: g.count})
			}
			out = append(out, s.batch(r, flush, final, pts))
		}
		if final {
			clear(s.bins[i])
			s.starts[i] = -1
		}
	}
	return out
}

func (s *Set) batch(r rollup.Resolution, flush int64, final bool, pts []rollup.Point) *rollup.Batch {
	s.seq++
	return &rollup.Batch{Source: s.source, Resolution: r, Flush: flush, Seq: s.seq, Final: final, Points: pts}
}

// Open returns how many paths each coarse resolution's open bin holds.
func (s *Set) Open() []int {
	out := make([]int, len(s.bins))
	for i, b := range s.bins {
		out[i] = len(b)
	}
	return out
}
