package blast

import "maps"

// Expected is the exact aggregate of everything a run sent, per key, as the
// JSON that --expect-out writes.
type Expected struct {
	Type     Type                    `json:"type"`
	Lines    uint64                  `json:"lines"`
	Counters map[string]float64      `json:"counters,omitempty"` // sum of value/sample_rate
	Timers   map[string]*TimerAgg    `json:"timers,omitempty"`
	Gauges   map[string]float64      `json:"gauges,omitempty"` // last value after deltas
	Sets     map[string]int          `json:"sets,omitempty"`   // distinct members
	Graphite map[string]*GraphiteAgg `json:"graphite,omitempty"`
}

// TimerAgg is what was sent to one timer.
type TimerAgg struct {
	Samples uint64  `json:"samples"` // lines sent
	Count   float64 `json:"count"`   // sum of 1/sample_rate, statsd's count
	Sum     float64 `json:"sum"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// GraphiteAgg is what was sent to one graphite key.
type GraphiteAgg struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Last  float64 `json:"last"`
}

func newExpected(t Type) *Expected {
	return &Expected{Type: t, Counters: map[string]float64{}, Timers: map[string]*TimerAgg{},
		Gauges: map[string]float64{}, Sets: map[string]int{}, Graphite: map[string]*GraphiteAgg{}}
}

// merge adds another fork's expectations; forks own disjoint keys.
func (e *Expected) merge(o *Expected) {
	for k, v := range o.Counters {
		e.Counters[k] += v
	}
	maps.Copy(e.Timers, o.Timers)
	maps.Copy(e.Gauges, o.Gauges)
	maps.Copy(e.Sets, o.Sets)
	maps.Copy(e.Graphite, o.Graphite)
}
