package statsd

import (
	"bytes"
	"unicode/utf8"

	"github.com/consthash/consthash/pkg/line"
)

// Partial accumulates the lines of one input (a udp reader, a group of tcp
// connections, a NATS shard subscription) between two flushes, so that
// inputs on every core never share a lock per line. Merge adds it into the
// Accumulator the flush takes; the result is what the Accumulator would hold
// had it read the same lines itself, in the same order, as long as one input
// brought them: counters are summed from zero as statsd sums them, timer
// samples and counts are appended and summed, sets are unions. Gauges depend
// on the order of values across inputs (the last one wins, a delta adds to
// whatever came before), so a Partial does not hold them: it records each
// gauge value in arrival order (Gauges) for the caller to apply to the shared
// Accumulator (ApplyGauges) after each batch of lines.
//
// A key the Partial holds costs no allocation per line: entries are found
// with the line's []byte key and kept (zeroed) across merges while they are
// used; one unused for a whole interval is deleted. A Partial is not safe for
// concurrent use.
type Partial struct {
	parser   line.StatsdParser
	counters map[string]*pCounter
	timers   map[string]*pTimer
	sets     map[string]*pSet
	gaugeKey map[string]*pGauge // interned gauge keys
	gauges   []GaugeValue
	utf8buf  []byte

	// MaxKeys bounds the keys the Partial holds (0: no bound): past it a
	// value for a new key is refused and counted in Refused.
	MaxKeys int
	keys    int

	// Since the last Merge: statsd's own counters, and values refused.
	packets, metrics, bad float64
	Refused               int
}

type pCounter struct {
	v    float64
	used bool
}

type pTimer struct {
	vs    []float64
	count float64
	used  bool
}

type pGauge struct {
	key  string
	used bool
}

type pSet struct {
	m    map[string]struct{}
	used bool
}

// GaugeValue is one gauge value, in arrival order; Key is interned (it costs
// nothing to use as a map key).
type GaugeValue struct {
	Key   string
	Value float64
	Delta bool
}

// NewPartial returns an empty Partial parsing lines as cfg says.
func NewPartial(cfg Config) *Partial {
	p := &Partial{counters: map[string]*pCounter{}, timers: map[string]*pTimer{}, sets: map[string]*pSet{},
		gaugeKey: map[string]*pGauge{}}
	p.parser.NoSanitize = !cfg.KeyNameSanitize
	p.parser.AllowNonFinite = cfg.AllowNonFinite
	return p
}

// Packet handles one statsd packet as Accumulator.Packet does (split on '\n'
// only, empty lines skipped): lines longer than maxLine bytes (0: no bound)
// are dropped and counted in tooLong, as a listener drops them. It returns
// how many values were bad.
func (p *Partial) Packet(b []byte, maxLine int) (lines, bad, tooLong int) {
	p.packets++
	for len(b) > 0 {
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		switch {
		case len(l) == 0:
		case maxLine > 0 && len(l) > maxLine:
			tooLong++
		default:
			lines++
			bad += p.Line(l)
		}
	}
	return lines, bad, tooLong
}

// AddPackets counts packets that brought lines handed to Line (a stream's
// reads, as statsd counts them).
func (p *Partial) AddPackets(n int) { p.packets += float64(n) }

// Line handles one non-empty line as Accumulator.Line does and returns how
// many of its values were bad.
func (p *Partial) Line(l []byte) int {
	p.metrics++
	if !utf8.Valid(l) {
		p.utf8buf = jsUTF8(p.utf8buf[:0], l)
		l = p.utf8buf
	}
	key, values, bad := p.parser.Parse(l)
	p.bad += float64(len(bad))
	for _, v := range values {
		switch v.Type {
		case line.StatsdTimer:
			t := p.timers[string(key)]
			if t == nil {
				if !p.admit() {
					continue
				}
				t = &pTimer{}
				p.timers[string(key)] = t
			}
			t.vs = append(t.vs, v.Value)
			t.count += 1 / v.SampleRate
			t.used = true
		case line.StatsdGauge:
			g := p.gaugeKey[string(key)]
			if g == nil {
				if !p.admit() {
					continue
				}
				g = &pGauge{key: string(key)}
				p.gaugeKey[g.key] = g
			}
			g.used = true
			p.gauges = append(p.gauges, GaugeValue{Key: g.key, Value: v.Value, Delta: v.Delta})
		case line.StatsdSet:
			s := p.sets[string(key)]
			if s == nil {
				if !p.admit() {
					continue
				}
				s = &pSet{m: map[string]struct{}{}}
				p.sets[string(key)] = s
			}
			if _, ok := s.m[string(v.Raw)]; !ok {
				s.m[string(v.Raw)] = struct{}{}
			}
			s.used = true
		default:
			c := p.counters[string(key)]
			if c == nil {
				if !p.admit() {
					continue
				}
				c = &pCounter{}
				p.counters[string(key)] = c
			}
			if !truthy(c.v) {
				c.v = 0 // statsd resets a falsy counter (absent, 0, NaN) first
			}
			c.v += v.Value * (1 / v.SampleRate)
			c.used = true
		}
	}
	return len(bad)
}

func (p *Partial) admit() bool {
	if p.MaxKeys > 0 && p.keys >= p.MaxKeys {
		p.Refused++
		return false
	}
	p.keys++
	return true
}

// Gauges returns the gauge values since the last ResetGauges, in arrival
// order.
func (p *Partial) Gauges() []GaugeValue { return p.gauges }

// ResetGauges forgets the gauge values Gauges returned (they were applied).
func (p *Partial) ResetGauges() { p.gauges = p.gauges[:0] }

// Received returns statsd's own counters since the last Merge: packets,
// metrics (non-empty lines) and bad values.
func (p *Partial) Received() (packets, metrics, bad float64) { return p.packets, p.metrics, p.bad }

// ApplyGauges applies gauge values, in order, as Line would have: a value
// for a key a does not hold asks Admit first.
func (a *Accumulator) ApplyGauges(gs []GaugeValue) {
	for _, g := range gs {
		if a.Admit != nil && !a.holds(line.StatsdGauge, g.Key) && !a.Admit(g.Key) {
			continue
		}
		if a.cfg.DeleteGauges {
			a.gaugeTTL[g.Key] = a.cfg.GaugesMaxTTL
		}
		if cur := a.gauge(g.Key); truthy(cur) && g.Delta {
			a.gauges[g.Key] = cur + g.Value
		} else {
			a.gauges[g.Key] = g.Value
		}
	}
}

// Merge adds what p holds (but its gauges, see ApplyGauges) into a, as if a
// had read p's lines after its own, and leaves p empty. A key a does not hold
// asks Admit first; a refused key's values are dropped. p's statsd counters
// (packets, metrics, bad lines) are not added: internal (usually an
// aggregator's main accumulator, as a shard's has none) gets them.
func (a *Accumulator) Merge(p *Partial, internal *Accumulator) {
	a.ApplyGauges(p.gauges) // normally applied already, after each batch
	p.ResetGauges()
	if internal != nil {
		internal.AddInternal(p.packets, p.metrics, p.bad)
	}
	p.packets, p.metrics, p.bad, p.Refused = 0, 0, 0, 0
	p.keys = 0
	for k, c := range p.counters {
		if !c.used {
			delete(p.counters, k)
			continue
		}
		p.keys++
		c.used = false
		v := c.v
		c.v = 0
		if a.Admit != nil && !a.holds(line.StatsdCounter, k) && !a.Admit(k) {
			continue
		}
		cur := a.counters[k]
		if !truthy(cur) {
			cur = 0
		}
		a.counters[k] = cur + v
	}
	for k, t := range p.timers {
		if !t.used {
			delete(p.timers, k)
			continue
		}
		p.keys++
		t.used = false
		vs, count := t.vs, t.count
		t.vs, t.count = t.vs[:0], 0
		if a.Admit != nil && !a.holds(line.StatsdTimer, k) && !a.Admit(k) {
			continue
		}
		a.timers[k] = append(a.timers[k], vs...)
		a.timerCounts[k] += count
	}
	for k, s := range p.sets {
		if !s.used {
			delete(p.sets, k)
			continue
		}
		p.keys++
		s.used = false
		if a.Admit != nil && !a.holds(line.StatsdSet, k) && !a.Admit(k) {
			clear(s.m)
			continue
		}
		dst := a.sets[k]
		if dst == nil {
			// Hand over p's set and start p on a new one.
			a.sets[k] = s.m
			s.m = make(map[string]struct{}, len(s.m))
			continue
		}
		for m := range s.m {
			dst[m] = struct{}{}
		}
		clear(s.m)
	}
	// Gauge keys stay interned while they are used; their values were
	// applied (ApplyGauges) as they came.
	for k, g := range p.gaugeKey {
		if !g.used {
			delete(p.gaugeKey, k)
			continue
		}
		p.keys++
		g.used = false
	}
}
