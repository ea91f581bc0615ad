package agg

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/consthash/consthash/services/aggregator/internal/input"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
)

// sink is one statsd input's own accumulator (a Partial): a udp reader's, a
// slot shared by some tcp connections, a NATS shard subscription's. Its lock
// is held once per batch of lines and is almost never contended (by a flush,
// or by the other connections of a slot); no input takes the aggregator's
// lock per line. Each flush swaps the Partial for the spare and merges it into
// acc (under a.mu, before the accumulators are taken), so a flush holds every
// line read before it began. A batch's gauges are applied to acc in arrival
// order at the end of the batch, under a.mu and still under the sink's lock
// (see statsd.Partial): locks are always taken in that order, sink then a.mu.
type sink struct {
	mu    sync.Mutex
	p     *statsd.Partial // filled by the input, under mu
	spare *statsd.Partial // merged and emptied: only the flush touches it
	acc   *shardAcc
}

func (a *Aggregator) newSink(acc *shardAcc) *sink {
	s := &sink{acc: acc, p: statsd.NewPartial(a.cfg.StatsdCfg), spare: statsd.NewPartial(a.cfg.StatsdCfg)}
	// A Partial holds at most max_series keys between two flushes.
	s.p.MaxKeys, s.spare.MaxKeys = a.cfg.MaxSeries, a.cfg.MaxSeries
	return s
}

// udpIn is a statsd udp listener: a group of SO_REUSEPORT sockets, a sink
// per reader.
type udpIn struct {
	url     string // as configured
	u       *input.UDP
	sinks   []*sink
	maxLine int // 0: none
}

// tcpSinks are the sinks a statsd tcp or unix listener's connections share,
// handed out in turn.
type tcpSinks struct {
	sinks []*sink
	next  atomic.Uint64
}

func (t *tcpSinks) pick() *sink { return t.sinks[(t.next.Add(1)-1)%uint64(len(t.sinks))] }

// readPackets is a udp reader's Handler: one lock of its sink per batch of
// datagrams.
func (a *Aggregator) readPackets(in *udpIn) input.Handler {
	return func(i int, datagrams [][]byte) { a.feedPackets(in.sinks[i], datagrams, in.maxLine) }
}

// feedPackets accumulates statsd packets (datagrams, NATS messages) in s.
func (a *Aggregator) feedPackets(s *sink, packets [][]byte, maxLine int) {
	var lines, bad, tooLong int
	s.mu.Lock()
	for _, d := range packets {
		l, b, t := s.p.Packet(d, maxLine)
		lines, bad, tooLong = lines+l, bad+b, tooLong+t
	}
	a.applyGauges(s)
	s.mu.Unlock()
	if tooLong > 0 {
		a.udpTooLong.Add(uint64(tooLong))
	}
	a.fed(lines, bad)
}

// feedLines accumulates lines buf[ends[i-1]:ends[i]] of a stream in s;
// packets statsd packets (reads) brought them.
func (a *Aggregator) feedLines(s *sink, buf []byte, ends []int, packets int) {
	bad := 0
	s.mu.Lock()
	s.p.AddPackets(packets)
	start := 0
	for _, end := range ends {
		bad += s.p.Line(buf[start:end])
		start = end
	}
	a.applyGauges(s)
	s.mu.Unlock()
	a.fed(len(ends), bad)
}

// applyGauges applies the gauge values of s's batch, in order; the caller
// holds s.mu.
func (a *Aggregator) applyGauges(s *sink) {
	if gs := s.p.Gauges(); len(gs) > 0 {
		a.mu.Lock()
		s.acc.statsd.ApplyGauges(gs)
		a.mu.Unlock()
		s.p.ResetGauges()
	}
}

// fed counts a batch's lines.
func (a *Aggregator) fed(lines, bad int) {
	if lines > 0 {
		a.linesIn.Add(lines)
	}
	if bad > 0 {
		a.badLines.Add(bad)
		a.badLog.Warn("bad lines", "format", "statsd", "count", bad)
	}
}

// mergeInputs merges every sink into its accumulator and marks the shards
// whose subscription has ended (drained: no message comes after the merge)
// gone. The caller is the flush: it holds flushMu and a.mu, which mergeInputs
// lets go of while it waits for an input to finish a batch (the input may be
// waiting for a.mu to apply its gauges); nothing has been taken yet then.
func (a *Aggregator) mergeInputs() {
	sinks := slices.Clone(a.sinks)
	for _, acc := range a.shards {
		if acc.in != nil {
			sinks = append(sinks, acc.in)
		}
	}
	for _, s := range sinks {
		if !s.mu.TryLock() {
			a.mu.Unlock()
			s.mu.Lock() // sink, then a.mu: the inputs' order
			a.mu.Lock()
		}
		if acc := s.acc; acc.sub != nil && acc.released && !acc.sub.IsValid() {
			acc.gone = true // closed: nothing comes after this merge
		}
		p := s.p
		s.p, s.spare = s.spare, p
		s.mu.Unlock()
		if p.Refused > 0 {
			a.seriesRefused.Add(p.Refused)
		}
		s.acc.statsd.Merge(p, a.local.statsd)
	}
	// A shard whose statsd lines come only through its sink, or that has
	// none, is gone once its subscription ended.
	for _, acc := range a.shards {
		if acc.in == nil && acc.sub != nil && acc.released && !acc.sub.IsValid() {
			acc.gone = true
		}
	}
}

// addrsOf is the bound address of each input, in the configuration's order.
func addrsOf(inputs []interface{ Addr() net.Addr }) []net.Addr {
	out := make([]net.Addr, 0, len(inputs))
	for _, in := range inputs {
		out = append(out, in.Addr())
	}
	return out
}

// statsdReceived returns statsd's own counters since the last flush (packets,
// metrics, bad lines): the main accumulator's and what the sinks hold.
func (a *Aggregator) statsdReceived() (packets, metrics, bad float64) {
	a.mu.Lock()
	packets, metrics, bad = a.local.statsd.Received()
	sinks := slices.Clone(a.sinks)
	for _, acc := range a.shards {
		if acc.in != nil {
			sinks = append(sinks, acc.in)
		}
	}
	a.mu.Unlock()
	for _, s := range sinks {
		s.mu.Lock()
		p, m, b := s.p.Received()
		s.mu.Unlock()
		packets, metrics, bad = packets+p, metrics+m, bad+b
	}
	return packets, metrics, bad
}

type udpCounts struct{ datagrams, readErrors uint64 }

// udpCount sums the statsd udp listeners' counters (a.udp is fixed once New
// returns).
func (a *Aggregator) udpCount() udpCounts {
	var c udpCounts
	for _, in := range a.udp {
		c.datagrams += in.u.Datagrams.Load()
		c.readErrors += in.u.ReadErrors.Load()
	}
	return c
}

// udpByReader is each statsd udp listener's datagrams per reader, by URL.
func (a *Aggregator) udpByReader() map[string][]uint64 {
	out := make(map[string][]uint64, len(a.udp))
	for _, in := range a.udp {
		out[in.url] = in.u.ReaderDatagrams()
	}
	return out
}
