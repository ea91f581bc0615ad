// Package accum holds the aggregator's graphite accumulator and its flush
// schedule. (The statsd accumulator is package statsd.)
package accum

import (
	"time"

	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/rollup"
)

// Graphite accumulates graphite lines into the current base bin, by arrival
// time: the line's own timestamp does not move it to another bin.
type Graphite struct {
	points map[string]*rollup.Point
	now    func() time.Time
	// Admit, when set, is asked before a line creates a key; false refuses
	// the line (the caller counts it; Line returns nil).
	Admit func(key string) bool
}

// NewGraphite returns an empty accumulator; now is the clock (time.Now).
func NewGraphite(now func() time.Time) *Graphite {
	return &Graphite{points: map[string]*rollup.Point{}, now: now}
}

// Line adds one graphite line. NaN and infinite values are rejected by the
// parser and returned as errors (counted by the caller).
func (g *Graphite) Line(b []byte) error {
	var l line.Graphite
	if err := line.ParseGraphite(b, &l); err != nil {
		return err
	}
	p := g.points[string(l.Key)]
	if p == nil {
		if g.Admit != nil && !g.Admit(string(l.Key)) {
			return nil
		}
		p = &rollup.Point{Path: string(l.Key)}
		g.points[p.Path] = p
	}
	p.Add(l.Value, g.now().UnixNano())
	return nil
}

// Flush hands every point of the bin to emit and starts a new bin.
func (g *Graphite) Flush(emit func(rollup.Point)) {
	for _, p := range g.points {
		emit(*p)
	}
	clear(g.points)
}

// Take moves the bin's points into a new accumulator (to flush outside the
// caller's lock) and leaves g empty.
func (g *Graphite) Take() *Graphite {
	s := &Graphite{points: g.points, now: g.now}
	g.points = map[string]*rollup.Point{}
	return s
}

// Len returns the number of keys in the current bin.
func (g *Graphite) Len() int { return len(g.points) }
