// Package statsd is the aggregator's statsd accumulator: Etsy statsd 0.9.0's
// semantics and output names (docs/aggregator.md), proven against golden
// vectors produced by running npm statsd on the same packets.
package statsd

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consthash/consthash/pkg/line"
)

// Bin is a histogram bin's upper bound; Inf is the catch-all "inf" bin.
type Bin struct {
	Bound float64
	Inf   bool
}

// Histogram configures bins for timers whose key contains Metric.
type Histogram struct {
	Metric string
	Bins   []Bin
}

// Config is statsd's configuration, with its option names.
type Config struct {
	FlushInterval          time.Duration
	LegacyNamespace        bool    // graphite.legacyNamespace (default true)
	GlobalPrefix           string  // graphite.globalPrefix (default "stats")
	GlobalSuffix           *string // graphite.globalSuffix: nil when unset; set, even to "", it adds "." and itself
	PrefixCounter          string  // graphite.prefixCounter (default "counters")
	PrefixTimer            string  // graphite.prefixTimer (default "timers")
	PrefixGauge            string  // graphite.prefixGauge (default "gauges")
	PrefixSet              string  // graphite.prefixSet (default "sets")
	PrefixStats            string  // prefixStats (default "statsd")
	PercentThreshold       []float64
	FlushCounts            bool // flush_counts (default true)
	DeleteCounters         bool
	DeleteTimers           bool
	DeleteGauges           bool
	DeleteSets             bool
	GaugesMaxTTL           int
	Histograms             []Histogram
	CalculatedTimerMetrics []string
	KeyNameSanitize        bool // default true
	// AllowNonFinite keeps statsd's handling of Infinity values and 0 sample
	// rates (infinite or NaN results). Off by default: they are rejected as bad
	// lines.
	AllowNonFinite bool
	// NoInternal leaves out statsd's own metrics (bad_lines_seen,
	// packets_received, metrics_received, numStats, timestamp_lag, ...): for
	// the per-shard accumulators of an aggregator, whose own metrics come from
	// one place.
	NoInternal bool
}

// Default returns statsd's defaults.
func Default() Config {
	return Config{FlushInterval: 10 * time.Second, LegacyNamespace: true, GlobalPrefix: "stats",
		PrefixCounter: "counters", PrefixTimer: "timers", PrefixGauge: "gauges", PrefixSet: "sets",
		PrefixStats: "statsd", PercentThreshold: []float64{90}, FlushCounts: true, GaugesMaxTTL: 1,
		KeyNameSanitize: true}
}

// Accumulator holds what arrived since the last flush. It is not safe for
// concurrent use; the aggregator gives each shard its own.
type Accumulator struct {
	cfg         Config
	parser      line.StatsdParser
	counters    map[string]float64
	timers      map[string][]float64
	timerCounts map[string]float64
	gauges      map[string]float64
	gaugeTTL    map[string]int
	sets        map[string]map[string]struct{}
	badLines    string // internal counter names
	packets     string
	metrics     string
	flushes     int
	prevTS      int64
	extraKeys   int
	// graphiteStats of the previous flush's payload, as statsd's graphite
	// backend reports them in the next flush.
	lastFlush   int64 // when it was handed over, unix seconds (rounded); the start time before
	flushLength int   // its length in characters (UTF-16 code units, as JavaScript counts)
	flushTime   time.Duration

	// Admit, when set, is asked before a line creates a key the accumulator
	// does not hold yet; false refuses the value (the caller counts it).
	Admit   func(key string) bool
	carry   *Accumulator // taken by Take, until Restore: its keys still count as held
	utf8buf []byte       // a line with invalid UTF-8, as statsd decodes it
	taken   bool         // a snapshot of Take: Flush leaves its maps as they are

	scratch    []uint64  // sortFloats' buffers, kept between timers
	cum, cumsq []float64 // timerMetrics' running sums
}

// New returns an empty accumulator.
func New(cfg Config) *Accumulator {
	if cfg.GaugesMaxTTL <= 1 {
		cfg.GaugesMaxTTL = 1
	}
	a := &Accumulator{cfg: cfg, counters: map[string]float64{}, timers: map[string][]float64{},
		timerCounts: map[string]float64{}, gauges: map[string]float64{}, gaugeTTL: map[string]int{},
		sets: map[string]map[string]struct{}{}, lastFlush: roundSeconds(time.Now())}
	a.parser.NoSanitize = !cfg.KeyNameSanitize
	a.parser.AllowNonFinite = cfg.AllowNonFinite
	a.badLines = cfg.PrefixStats + ".bad_lines_seen"
	a.packets = cfg.PrefixStats + ".packets_received"
	a.metrics = cfg.PrefixStats + ".metrics_received"
	if !cfg.NoInternal {
		for _, k := range []string{a.badLines, a.packets, a.metrics} {
			a.counters[k] = 0
		}
	}
	return a
}

// Packet handles one datagram: statsd splits it on '\n' only and skips empty
// lines.
func (a *Accumulator) Packet(b []byte) (bad int) {
	if !a.cfg.NoInternal {
		a.counters[a.packets]++
	}
	for len(b) > 0 {
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		if len(l) > 0 {
			bad += a.Line(l)
		}
	}
	return bad
}

// Line handles one non-empty line and returns how many of its values were
// bad.
func (a *Accumulator) Line(l []byte) int {
	if !a.cfg.NoInternal {
		a.counters[a.metrics]++
	}
	if !utf8.Valid(l) {
		// statsd reads a datagram as a JavaScript string (a line's invalid
		// UTF-8 decodes as it does within the datagram: '\n' ends any
		// sequence).
		a.utf8buf = jsUTF8(a.utf8buf[:0], l)
		l = a.utf8buf
	}
	key, values, bad := a.parser.Parse(l)
	if !a.cfg.NoInternal {
		a.counters[a.badLines] += float64(len(bad))
	}
	if len(values) == 0 {
		return len(bad)
	}
	k := string(key)
	for _, v := range values {
		if a.Admit != nil && !a.holds(v.Type, k) && !a.Admit(k) {
			continue
		}
		switch v.Type {
		case line.StatsdTimer:
			a.timers[k] = append(a.timers[k], v.Value)
			a.timerCounts[k] += 1 / v.SampleRate
		case line.StatsdGauge:
			if a.cfg.DeleteGauges {
				a.gaugeTTL[k] = a.cfg.GaugesMaxTTL
			}
			if g := a.gauge(k); truthy(g) && v.Delta {
				a.gauges[k] = g + v.Value
			} else {
				a.gauges[k] = v.Value
			}
		case line.StatsdSet:
			s := a.sets[k]
			if s == nil {
				s = map[string]struct{}{}
				a.sets[k] = s
			}
			s[string(v.Raw)] = struct{}{}
		default:
			c := a.counters[k]
			if !truthy(c) {
				c = 0 // statsd resets a falsy counter (absent, 0, NaN) first
			}
			a.counters[k] = c + v.Value*(1/v.SampleRate)
		}
	}
	if _, ok := a.timers[k]; ok {
		if _, ok := a.timerCounts[k]; !ok {
			a.timerCounts[k] = 0
		}
	}
	return len(bad)
}

func truthy(f float64) bool { return f != 0 && !math.IsNaN(f) }

// AddInternal adds to the internal counters: an aggregator reports the
// lines of its per-shard accumulators through its main one.
func (a *Accumulator) AddInternal(packets, metrics, bad float64) {
	if a.cfg.NoInternal {
		return
	}
	a.counters[a.packets] += packets
	a.counters[a.metrics] += metrics
	a.counters[a.badLines] += bad
}

// Keys returns how many keys (counters, timers, gauges, sets) the next
// flush emits: statsd's numStats.
func (a *Accumulator) Keys() int {
	return len(a.counters) + len(a.timers) + len(a.gauges) + len(a.sets)
}

// AddKeys adds n to the next flush's numStats: an aggregator reports the
// keys of its per-shard accumulators through its main one.
func (a *Accumulator) AddKeys(n int) { a.extraKeys += n }

// Sent records how the payload of the flush just made was handed over: its
// length in characters (UTF-16 code units, see PayloadChars), how long
// handing it over took, and when. The next flush reports them as statsd's
// graphite backend does (graphiteStats.flush_length, flush_time, last_flush).
// Without a call, a flush's own lines are its payload, handed over in no time.
func (a *Accumulator) Sent(chars int, took time.Duration, at time.Time) {
	a.flushLength, a.flushTime, a.lastFlush = chars, took, roundSeconds(at)
}

// PayloadChars is the length of a graphite text payload as JavaScript
// counts a string's length (UTF-16 code units): statsd's flush_length.
func PayloadChars(b []byte) int {
	n := 0
	for _, c := range b {
		switch {
		case c&0xC0 == 0x80: // continuation byte
		case c >= 0xF0: // a 4-byte sequence is a surrogate pair
			n += 2
		default:
			n++
		}
	}
	return n
}

func roundSeconds(t time.Time) int64 { return int64(jsRound(float64(t.UnixMilli()) / 1000)) }

// jsRound is JavaScript's Math.round: the nearest integer, halves toward
// +∞, computed exactly (floor(x+0.5) rounds 0.49999999999999994 up, as the
// sum rounds to 1).
func jsRound(x float64) float64 {
	r := math.Floor(x)
	if x-r >= 0.5 {
		r++
	}
	return r
}

// Received returns statsd's own counters since the last flush: packets,
// metrics (non-empty lines) and bad lines. They are zero with NoInternal.
func (a *Accumulator) Received() (packets, metrics, bad float64) {
	if a.cfg.NoInternal {
		return 0, 0, 0
	}
	return a.counters[a.packets], a.counters[a.metrics], a.counters[a.badLines]
}

// Emit receives one output line: its graphite name and value.
type Emit func(name string, value float64)

// Flush emits everything as statsd's graphite backend names it, at now, and
// then clears or deletes what statsd clears or deletes.
func (a *Accumulator) Flush(now time.Time, emit Emit) {
	procStart := time.Now()
	ts := roundSeconds(now)
	if !a.taken {
		a.setLag(ts)
	}
	interval := a.cfg.FlushInterval.Seconds()
	// statsd's process_metrics computes every timer's metrics first
	// (processing_time), then the graphite backend formats the lines
	// (calculationtime).
	timerKeys := keysOf(a.timers, !a.taken)
	timerData := make([][]metric, len(timerKeys))
	for i, k := range timerKeys {
		timerData[i] = a.timerMetrics(k, interval)
	}
	processing := float64(time.Since(procStart).Milliseconds())
	start := time.Now()
	n := &namer{cfg: a.cfg}
	chars := 0
	tsLen := len(strconv.FormatInt(ts, 10))
	var num []byte
	out := func(name string, v float64) {
		if !a.cfg.NoInternal { // "name value ts\n"
			num = line.AppendJSNumber(num[:0], v)
			chars += PayloadChars([]byte(name)) + len(num) + tsLen + 3
		}
		emit(name, v)
	}
	for _, k := range keysOf(a.counters, !a.taken) {
		v := a.counters[k]
		if a.cfg.LegacyNamespace {
			out(n.format([]string{"stats"}, k), v/interval)
			if a.cfg.FlushCounts {
				out(n.format([]string{"stats_counts"}, k), v)
			}
		} else {
			out(n.format(n.ns(a.cfg.PrefixCounter), k, "rate"), v/interval)
			if a.cfg.FlushCounts {
				out(n.format(n.ns(a.cfg.PrefixCounter), k, "count"), v)
			}
		}
	}
	timerNS := []string{"stats", "timers"}
	if !a.cfg.LegacyNamespace {
		timerNS = n.ns(a.cfg.PrefixTimer)
	}
	for i, k := range timerKeys {
		for _, m := range timerData[i] {
			out(n.format(timerNS, k, m.name), m.value)
		}
	}
	gaugeNS := []string{"stats", "gauges"}
	setNS := []string{"stats", "sets"}
	if !a.cfg.LegacyNamespace {
		gaugeNS, setNS = n.ns(a.cfg.PrefixGauge), n.ns(a.cfg.PrefixSet)
	}
	for _, k := range keysOf(a.gauges, !a.taken) {
		out(n.format(gaugeNS, k), a.gauges[k])
	}
	for _, k := range keysOf(a.sets, !a.taken) {
		out(n.format(setNS, k, "count"), float64(len(a.sets[k])))
	}
	numStats := float64(a.Keys() + a.extraKeys)
	a.extraKeys = 0
	calculation := float64(time.Since(start).Milliseconds())
	if a.cfg.NoInternal {
		// nothing: the aggregator reports for all its accumulators
	} else if a.cfg.LegacyNamespace {
		sfx := n.suffix()
		ps := a.cfg.PrefixStats
		out(ps+".numStats"+sfx, numStats)
		out("stats."+ps+".graphiteStats.calculationtime"+sfx, calculation)
		out("stats."+ps+".processing_time"+sfx, processing)
		out("stats."+ps+".graphiteStats.last_exception"+sfx, 0)
		out("stats."+ps+".graphiteStats.last_flush"+sfx, float64(a.lastFlush))
		out("stats."+ps+".graphiteStats.flush_time"+sfx, float64(a.flushTime.Milliseconds()))
		out("stats."+ps+".graphiteStats.flush_length"+sfx, float64(a.flushLength))
	} else {
		ns := n.ns("")
		out(n.format(ns, a.cfg.PrefixStats, "numStats"), numStats)
		out(n.format(ns, a.cfg.PrefixStats, "graphiteStats", "calculationtime"), calculation)
		out(n.format(ns, a.cfg.PrefixStats, "processing_time"), processing)
		out(n.format(ns, a.cfg.PrefixStats, "graphiteStats", "last_exception"), 0)
		out(n.format(ns, a.cfg.PrefixStats, "graphiteStats", "last_flush"), float64(a.lastFlush))
		out(n.format(ns, a.cfg.PrefixStats, "graphiteStats", "flush_time"), float64(a.flushTime.Milliseconds()))
		out(n.format(ns, a.cfg.PrefixStats, "graphiteStats", "flush_length"), float64(a.flushLength))
	}
	a.prevTS = ts
	a.Sent(chars, 0, now)
	a.flushes++
	if !a.taken {
		a.clear()
	}
}

// setLag sets statsd's timestamp_lag gauge for a flush at ts.
func (a *Accumulator) setLag(ts int64) {
	if a.flushes > 0 && !a.cfg.NoInternal {
		a.gauges[a.cfg.PrefixStats+".timestamp_lag"] = float64(ts-a.prevTS) - a.cfg.FlushInterval.Seconds()
	}
}

// Take moves everything accumulated so far into a snapshot and leaves a
// empty but still holding (through the snapshot) the keys statsd keeps
// between flushes, so that lines keep arriving while the snapshot is
// flushed. The caller flushes the snapshot (Flush) without holding a's lock,
// and then gives it back to a with Restore under that lock, which puts the
// kept keys back as statsd's clearing rules keep them. Until then a's gauge
// deltas apply to the snapshot's values. Flushing a directly (Flush) remains
// the same as Take, Flush, Restore.
func (a *Accumulator) Take(now time.Time) *Accumulator {
	a.setLag(roundSeconds(now))
	s := *a
	s.taken, s.carry, s.Admit = true, nil, nil
	a.extraKeys = 0 // the snapshot reports them
	a.counters, a.timers, a.timerCounts = map[string]float64{}, map[string][]float64{}, map[string]float64{}
	a.gauges, a.gaugeTTL, a.sets = map[string]float64{}, map[string]int{}, map[string]map[string]struct{}{}
	a.carry = &s
	return &s
}

// Restore puts back into a what statsd keeps of the flushed snapshot s:
// counters at zero, empty timers and sets, gauges until their TTL ends
// (values that arrived since Take win). It calls yield every few thousand
// keys, where the caller may let go of its lock for a moment (a's and s's
// maps are only touched under it).
func (a *Accumulator) Restore(s *Accumulator, yield func()) {
	n := 0
	step := func() {
		if n++; n%4096 == 0 && yield != nil {
			yield()
		}
	}
	for k := range s.counters {
		step()
		if a.cfg.DeleteCounters && !strings.Contains(k, "packets_received") &&
			!strings.Contains(k, "metrics_received") && !strings.Contains(k, "bad_lines_seen") {
			continue
		}
		if _, ok := a.counters[k]; !ok {
			a.counters[k] = 0
		}
	}
	for k, vs := range s.timers {
		step()
		if a.cfg.DeleteTimers {
			continue
		}
		if _, ok := a.timers[k]; !ok {
			a.timers[k] = vs[:0]
		}
		if _, ok := a.timerCounts[k]; !ok {
			a.timerCounts[k] = 0
		}
	}
	for k, m := range s.sets {
		step()
		if a.cfg.DeleteSets {
			continue
		}
		if _, ok := a.sets[k]; !ok {
			clear(m)
			a.sets[k] = m
		}
	}
	for k, v := range s.gauges {
		step()
		ttl, has := s.gaugeTTL[k]
		if a.cfg.DeleteGauges && has {
			if ttl--; ttl < 1 {
				continue
			}
		}
		if _, ok := a.gauges[k]; !ok {
			a.gauges[k] = v
			if has {
				a.gaugeTTL[k] = ttl
			}
		}
	}
	a.flushes, a.prevTS = s.flushes, s.prevTS
	a.lastFlush, a.flushLength, a.flushTime = s.lastFlush, s.flushLength, s.flushTime
	a.carry = nil
}

// gauge is a gauge's current value: a's, or while a snapshot is out, the
// snapshot's as its flush keeps it.
func (a *Accumulator) gauge(k string) float64 {
	if g, ok := a.gauges[k]; ok || a.carry == nil {
		return g
	}
	c := a.carry
	if ttl, has := c.gaugeTTL[k]; c.cfg.DeleteGauges && has && ttl <= 1 {
		return 0
	}
	return c.gauges[k]
}

// holds reports whether a (or the snapshot out for flushing) holds key k of
// a value type: a line for it creates no key.
func (a *Accumulator) holds(t line.StatsdType, k string) bool {
	for c := a; c != nil; c = c.carry {
		var ok bool
		switch t {
		case line.StatsdTimer:
			_, ok = c.timers[k]
		case line.StatsdGauge:
			_, ok = c.gauges[k]
		case line.StatsdSet:
			_, ok = c.sets[k]
		default:
			_, ok = c.counters[k]
		}
		if ok {
			return true
		}
	}
	return false
}

// clear resets or deletes what a flush consumed (statsd's clearing rules).
func (a *Accumulator) clear() {
	for k := range a.counters {
		if a.cfg.DeleteCounters && !strings.Contains(k, "packets_received") &&
			!strings.Contains(k, "metrics_received") && !strings.Contains(k, "bad_lines_seen") {
			delete(a.counters, k)
		} else {
			a.counters[k] = 0
		}
	}
	for k := range a.timers {
		if a.cfg.DeleteTimers {
			delete(a.timers, k)
			delete(a.timerCounts, k)
		} else {
			a.timers[k] = a.timers[k][:0]
			a.timerCounts[k] = 0
		}
	}
	for k := range a.sets {
		if a.cfg.DeleteSets {
			delete(a.sets, k)
		} else {
			clear(a.sets[k])
		}
	}
	if a.cfg.DeleteGauges {
		for k, ttl := range a.gaugeTTL {
			ttl--
			if ttl < 1 {
				delete(a.gauges, k)
				delete(a.gaugeTTL, k)
			} else {
				a.gaugeTTL[k] = ttl
			}
		}
	}
}

type metric struct {
	name  string
	value float64
}

// timerMetrics computes one timer's metrics as statsd's process_metrics does.
func (a *Accumulator) timerMetrics(k string, interval float64) []metric {
	values := a.timers[k]
	cnt := a.timerCounts[k]
	if len(values) == 0 {
		return a.filter([]metric{{"count_ps", 0}, {"count", 0}})
	}
	// Sorted in place: the samples are flushed and then dropped. Every
	// statistic below is statsd's, summed in ascending order as statsd sums
	// (so floating-point results are the same bits).
	vs := values
	a.scratch = sortFloats(vs, a.scratch)
	n := len(vs)
	a.cum, a.cumsq = slices.Grow(a.cum[:0], n)[:n], slices.Grow(a.cumsq[:0], n)[:n]
	cum, cumsq := a.cum, a.cumsq
	for i, v := range vs {
		if i == 0 {
			cum[i], cumsq[i] = v, v*v
		} else {
			cum[i], cumsq[i] = cum[i-1]+v, cumsq[i-1]+v*v
		}
	}
	var ms []metric
	for _, pct := range a.cfg.PercentThreshold {
		// statsd's numInThreshold is a JavaScript number: it may be far
		// beyond n (a threshold of 1e21), and is printed as it is.
		var kf float64
		var bound, sum, sumsq float64
		haveBound := true
		if n > 1 {
			kf = jsRound(math.Abs(pct) / 100 * float64(n))
			if kf == 0 {
				continue
			}
			k := int(min(kf, float64(n)))
			switch {
			case kf > float64(n):
				haveBound = false
				sum = math.NaN()
			case pct > 0:
				bound, sum, sumsq = vs[k-1], cum[k-1], cumsq[k-1]
			default:
				bound = vs[n-k]
				if n-k-1 < 0 {
					sum, sumsq = math.NaN(), math.NaN()
				} else {
					sum, sumsq = cum[n-1]-cum[n-k-1], cumsq[n-1]-cumsq[n-k-1]
				}
			}
		} else {
			kf, bound, sum, sumsq = 1, vs[0], vs[0], vs[0]*vs[0]
		}
		c := strings.Replace(strings.Replace(string(line.AppendJSNumber(nil, pct)), ".", "_", 1), "-", "top", 1)
		ms = append(ms, metric{"count_" + c, kf}, metric{"mean_" + c, sum / kf})
		if haveBound {
			which := "upper_"
			if pct <= 0 {
				which = "lower_"
			}
			ms = append(ms, metric{which + c, bound}, metric{"sum_" + c, sum}, metric{"sum_squares_" + c, sumsq})
		}
	}
	mean := cum[n-1] / float64(n)
	var dev float64
	for _, v := range vs {
		dev += (v - mean) * (v - mean)
	}
	median := vs[n/2]
	if n%2 == 0 {
		median = (vs[n/2-1] + vs[n/2]) / 2
	}
	ms = append(ms, metric{"std", math.Sqrt(dev / float64(n))}, metric{"upper", vs[n-1]}, metric{"lower", vs[0]},
		metric{"count", cnt}, metric{"count_ps", cnt / interval}, metric{"sum", cum[n-1]},
		metric{"sum_squares", cumsq[n-1]}, metric{"mean", mean}, metric{"median", median})
	for _, h := range a.cfg.Histograms {
		if !strings.Contains(k, h.Metric) {
			continue
		}
		i := 0
		for _, bin := range h.Bins {
			freq := 0
			for i < n && (bin.Inf || vs[i] < bin.Bound) {
				freq++
				i++
			}
			name := "bin_inf"
			if !bin.Inf {
				name = "bin_" + strings.Replace(string(line.AppendJSNumber(nil, bin.Bound)), ".", "_", 1)
			}
			ms = append(ms, metric{"histogram." + name, float64(freq)})
		}
		break
	}
	return a.filter(ms)
}

var percentSuffix = regexp.MustCompile(`_(top)?\d+$`)

// filter applies calculatedTimerMetrics.
func (a *Accumulator) filter(ms []metric) []metric {
	if len(a.cfg.CalculatedTimerMetrics) == 0 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		name := m.name
		if strings.HasPrefix(name, "histogram.") {
			name = "histogram"
		}
		if slices.Contains(a.cfg.CalculatedTimerMetrics, percentSuffix.ReplaceAllString(name, "_percent")) {
			out = append(out, m)
		}
	}
	return out
}

// namer builds statsd's graphite names.
type namer struct {
	cfg Config
	sfx *string // suffix's answer, made once
}

// suffix is what statsd appends to every name: "." and globalSuffix when
// globalSuffix is set, even to "" (statsd's `!== undefined`).
func (n *namer) suffix() string {
	if n.sfx == nil {
		s := ""
		if n.cfg.GlobalSuffix != nil {
			s = "." + *n.cfg.GlobalSuffix
		}
		n.sfx = &s
	}
	return *n.sfx
}

// ns is the non-legacy namespace: [globalPrefix, prefix], empty ones left out.
func (n *namer) ns(prefix string) []string {
	var out []string
	if n.cfg.GlobalPrefix != "" {
		out = append(out, n.cfg.GlobalPrefix)
	}
	if prefix != "" {
		out = append(out, prefix)
	}
	return out
}

// format joins namespace, the key's name and parts with '.', then the
// suffix, then the key's tags (the text from its first ';').
func (n *namer) format(namespace []string, key string, parts ...string) string {
	name, tags, hasTags := strings.Cut(key, ";")
	if !n.cfg.KeyNameSanitize {
		name = string(line.SanitizeStatsdKey(nil, []byte(name)))
	}
	size := len(name) + len(n.suffix()) + 1 + len(tags) + 1
	for _, p := range namespace {
		size += len(p) + 1
	}
	for _, p := range parts {
		size += len(p) + 1
	}
	var b strings.Builder // one allocation: a flush names every key anew
	b.Grow(size)
	for _, p := range namespace {
		b.WriteString(p)
		b.WriteByte('.')
	}
	b.WriteString(name)
	for _, p := range parts {
		b.WriteByte('.')
		b.WriteString(p)
	}
	b.WriteString(n.suffix())
	if hasTags {
		b.WriteByte(';')
		b.WriteString(tags)
	}
	return b.String()
}

// keysOf returns m's keys, sorted if sorted (statsd's order, which its
// golden vectors compare; a snapshot taken by the aggregator skips it: order
// does not matter there and sorting a million keys costs a second).
func keysOf[V any](m map[string]V, sorted bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	if sorted {
		sort.Strings(ks)
	}
	return ks
}
