package blast

import (
	"math"
	"math/rand/v2"
	"strconv"
)

type kind uint8

const (
	kCounter kind = iota
	kTimer
	kGauge
	kSet
	kGraphite
)

// keySet assigns every key a name and a kind. Key i belongs to fork
// i % forks, so one key's lines all travel over one connection, in order.
type keySet struct {
	names []string
	kinds []kind
}

func newKeySet(cfg Config) *keySet {
	ks := &keySet{names: make([]string, cfg.Keys), kinds: make([]kind, cfg.Keys)}
	var wheel []kind
	if cfg.Type == Graphite {
		wheel = []kind{kGraphite}
	} else {
		for k, w := range []int{cfg.Mix.Counter, cfg.Mix.Timer, cfg.Mix.Gauge, cfg.Mix.Set} {
			for range w {
				wheel = append(wheel, kind(k))
			}
		}
	}
	for i := range ks.names {
		k := wheel[i%len(wheel)]
		ks.kinds[i] = k
		ks.names[i] = cfg.Prefix + "." + [...]string{"counter", "timer", "gauge", "set", "graphite"}[k] + ".k" + strconv.Itoa(i)
	}
	return ks
}

// keyState is what one fork has sent for one key.
type keyState struct {
	sum, count, min, max, last float64 // counters: sum; timers: all; gauges: last; graphite: all
	samples                    uint64
	set                        map[string]struct{}
	seen                       bool
}

// pending is the effect of the last generated line on the expectations.
type pending struct {
	s      *keyState
	k      kind
	v      float64
	rate   float64
	delta  bool
	member string
}

// generator makes one fork's lines.
type generator struct {
	cfg     Config
	keys    *keySet
	owned   []int // key indexes of this fork
	rng     *rand.Rand
	state   map[int]*keyState
	pending pending
	now     int64
	n       uint64
	cursor  int // Cycle: index in owned of the next key
}

var sampleRates = [...]float64{0.5, 0.25, 0.1}

func newGenerator(cfg Config, keys *keySet, fork int) *generator {
	g := &generator{cfg: cfg, keys: keys, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(fork))), state: map[int]*keyState{}}
	for i := fork; i < len(keys.names); i += cfg.Forks {
		g.owned = append(g.owned, i)
	}
	return g
}

func (g *generator) st(i int) *keyState {
	s := g.state[i]
	if s == nil {
		s = &keyState{min: math.Inf(1), max: math.Inf(-1)}
		g.state[i] = s
	}
	return s
}

// next appends the next line (with its newline) to b. Its effect on the
// expected aggregates is applied by commit, once the line is surely sent.
func (g *generator) next(b []byte) []byte {
	var i int
	if g.cfg.Cycle {
		i = g.owned[g.cursor]
		g.cursor = (g.cursor + 1) % len(g.owned)
	} else {
		i = g.owned[g.rng.IntN(len(g.owned))]
	}
	name := g.keys.names[i]
	s := g.st(i)
	b = append(b, name...)
	switch g.keys.kinds[i] {
	case kGraphite:
		if g.n%1024 == 0 {
			g.now = g.cfg.Now().Unix()
		}
		g.n++
		v := float64(g.rng.IntN(4000)) / 4 // quarters: sums stay exact
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, ' ')
		b = strconv.AppendInt(b, g.now, 10)
		g.pending = pending{s: s, k: kGraphite, v: v}
	case kCounter:
		v := float64(1 + g.rng.IntN(10))
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, "|c"...)
		rate := g.rate()
		b = appendRate(b, rate)
		g.pending = pending{s: s, k: kCounter, v: v, rate: rate}
	case kTimer:
		v := float64(g.rng.IntN(1000))
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, "|ms"...)
		rate := g.rate()
		b = appendRate(b, rate)
		g.pending = pending{s: s, k: kTimer, v: v, rate: rate}
	case kGauge:
		b = append(b, ':')
		if s.seen && g.rng.IntN(2) == 0 {
			d := float64(1 + g.rng.IntN(10))
			if g.rng.IntN(2) == 0 {
				d = -d
				b = strconv.AppendFloat(b, d, 'f', -1, 64)
			} else {
				b = append(b, '+')
				b = strconv.AppendFloat(b, d, 'f', -1, 64)
			}
			g.pending = pending{s: s, k: kGauge, v: d, delta: true}
		} else {
			v := float64(g.rng.IntN(1000))
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			g.pending = pending{s: s, k: kGauge, v: v}
		}
		b = append(b, "|g"...)
		// seen must be true for the next line's choice even before commit.
		s.seen = true
	case kSet:
		v := "u" + strconv.Itoa(g.rng.IntN(50))
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, "|s"...)
		g.pending = pending{s: s, k: kSet, member: v}
	}
	return append(b, '\n')
}

func (g *generator) rate() float64 {
	if !g.cfg.SampleRates || g.rng.IntN(4) != 0 {
		return 1
	}
	return sampleRates[g.rng.IntN(len(sampleRates))]
}

func appendRate(b []byte, rate float64) []byte {
	if rate == 1 {
		return b
	}
	b = append(b, "|@"...)
	return strconv.AppendFloat(b, rate, 'f', -1, 64)
}

// commit applies the last line's effect on the expectations.
func (g *generator) commit() {
	p := g.pending
	s := p.s
	s.samples++
	switch p.k {
	case kGraphite:
		s.count++
		s.sum += p.v
		s.min, s.max, s.last = math.Min(s.min, p.v), math.Max(s.max, p.v), p.v
	case kCounter:
		s.sum += p.v * (1 / p.rate) // exactly as statsd computes it
	case kTimer:
		s.count += 1 / p.rate
		s.sum += p.v
		s.min, s.max = math.Min(s.min, p.v), math.Max(s.max, p.v)
	case kGauge:
		if p.delta {
			s.last += p.v
		} else {
			s.last = p.v
		}
	case kSet:
		if s.set == nil {
			s.set = map[string]struct{}{}
		}
		s.set[p.member] = struct{}{}
	}
}

func (g *generator) export(e *Expected) {
	for i, s := range g.state {
		if s.samples == 0 {
			continue
		}
		name := g.keys.names[i]
		switch g.keys.kinds[i] {
		case kCounter:
			e.Counters[name] += s.sum
		case kTimer:
			e.Timers[name] = &TimerAgg{Samples: s.samples, Count: s.count, Sum: s.sum, Min: s.min, Max: s.max}
		case kGauge:
			e.Gauges[name] = s.last
		case kSet:
			e.Sets[name] = len(s.set)
		case kGraphite:
			e.Graphite[name] = &GraphiteAgg{Count: s.samples, Sum: s.sum, Min: s.min, Max: s.max, Last: s.last}
		}
	}
}
