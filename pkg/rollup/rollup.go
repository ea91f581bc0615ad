// Package rollup holds consthash's rollup points: what aggregators publish on
// JetStream, writers store and query-api reads. One package owns the point,
// its resolutions (`times`), its wire encoding (docs/wire.md) and the merge of
// points from several producers.
package rollup

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/config"
)

// Point is the aggregate of one path over one bin of one resolution, from
// one producer (aggregator). Storage keeps one row per (Path, Resolution,
// Time, Source); reads merge the sources.
type Point struct {
	Path   string
	Time   int64 // bin start, unix seconds, a multiple of the resolution
	Sum    float64
	Min    float64
	Max    float64
	Last   float64
	LastAt int64 // unix nanoseconds of the sample that set Last
	Count  uint64
}

// Mean returns Sum/Count, or NaN for an empty point.
func (p Point) Mean() float64 {
	if p.Count == 0 {
		return math.NaN()
	}
	return p.Sum / float64(p.Count)
}

// Add folds one sample into the point.
func (p *Point) Add(v float64, at int64) {
	if p.Count == 0 {
		p.Min, p.Max = v, v
	} else {
		p.Min, p.Max = math.Min(p.Min, v), math.Max(p.Max, v)
	}
	p.Sum += v
	p.Count++
	if at >= p.LastAt {
		p.Last, p.LastAt = v, at
	}
}

// Merge folds another point of the same path and bin into p: sums and counts
// add, minimum and maximum take the extremes, last takes the newest.
func (p *Point) Merge(o Point) {
	if o.Count == 0 {
		return
	}
	if p.Count == 0 {
		path, t := p.Path, p.Time
		*p = o
		if path != "" {
			p.Path, p.Time = path, t
		}
		return
	}
	p.Sum += o.Sum
	p.Count += o.Count
	p.Min, p.Max = math.Min(p.Min, o.Min), math.Max(p.Max, o.Max)
	if o.LastAt > p.LastAt {
		p.Last, p.LastAt = o.Last, o.LastAt
	}
}

// Resolution is one entry of `times`: points every Step, kept for TTL.
type Resolution struct {
	Step time.Duration
	TTL  time.Duration
}

// String writes the resolution as `times` spells it, e.g. "10s:168h".
func (r Resolution) String() string { return shortDuration(r.Step) + ":" + shortDuration(r.TTL) }

// Seconds is the step in whole seconds (the subject suffix and table suffix).
func (r Resolution) Seconds() int64 { return int64(r.Step / time.Second) }

// BinStart returns the start of the bin holding t.
func (r Resolution) BinStart(t time.Time) int64 {
	s := r.Seconds()
	u := t.Unix()
	return u - ((u%s)+s)%s
}

// shortDuration writes "1m" and "168h" where Duration.String writes "1m0s"
// and "168h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseTimes reads `times` such as ["10s:168h", "1m:720h", "10m:17520h"]:
// each "step:ttl", steps ascending and each a whole number of seconds and a
// multiple of the one before, TTLs at least the step. The first is the base
// flush interval.
func ParseTimes(ss []string) ([]Resolution, error) {
	if len(ss) == 0 {
		return nil, fmt.Errorf("times is empty: give at least one \"step:ttl\", e.g. \"10s:168h\"")
	}
	out := make([]Resolution, 0, len(ss))
	for i, s := range ss {
		step, ttl, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("times[%d] %q: want \"step:ttl\", e.g. \"10s:168h\"", i, s)
		}
		st, err := config.ParseDuration(step)
		if err != nil || st <= 0 || st%time.Second != 0 {
			return nil, fmt.Errorf("times[%d] %q: step %q is not a positive whole number of seconds", i, s, step)
		}
		tt, err := config.ParseDuration(ttl)
		if err != nil || tt < st {
			return nil, fmt.Errorf("times[%d] %q: ttl %q is not a duration of at least the step", i, s, ttl)
		}
		if i > 0 {
			prev := out[i-1].Step
			if st <= prev || st%prev != 0 {
				return nil, fmt.Errorf("times[%d] %q: step %s must be greater than and a multiple of the previous step %s", i, s, st, prev)
			}
		}
		out = append(out, Resolution{Step: st, TTL: tt})
	}
	return out, nil
}
