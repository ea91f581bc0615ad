// Package agg is the aggregator's engine: it feeds statsd and graphite lines
// (from NATS shard subjects and its own listeners) into the accumulators,
// flushes them on wall-clock multiples of the base interval, re-emits the
// flushed lines to a backend and publishes rollups of every resolution on
// JetStream.
package agg

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
	"github.com/consthash/consthash/pkg/outbound"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/services/aggregator/internal/accum"
	"github.com/consthash/consthash/services/aggregator/internal/config"
	"github.com/consthash/consthash/services/aggregator/internal/rollups"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
)

// Aggregator owns the inputs, the accumulators and the outputs.
type Aggregator struct {
	cfg     *config.Config
	log     *slog.Logger
	badLog  *ratelog.Limiter
	Metrics *metrics.Set
	Source  string // this process's producer id

	mu      sync.Mutex // guards the accumulators and shard ownership
	local   *shardAcc  // listeners' lines, and the aggregator's own statsd metrics
	shards  map[int]*shardAcc
	rollups *rollups.Set
	members map[string]member
	leaving atomic.Bool
	hbStop  chan struct{}
	hbWG    sync.WaitGroup

	nc        *nats.Conn
	js        jetstream.JetStream
	listeners []*listener.Listener
	lines     *outbound.Destination
	pending   chan *rollup.Batch
	pubWG     sync.WaitGroup
	flushWG   sync.WaitGroup
	stop      chan struct{}

	linesIn, badLines, flushes, flushLate       *metrics.Counter
	batchesPublished, batchesFailed, pointsSent *metrics.Counter
	lastFlushSeconds                            atomic.Uint64 // float64 bits
}

// New connects and binds everything the configuration names; Start begins.
func New(cfg *config.Config, log *slog.Logger) (*Aggregator, error) {
	a := &Aggregator{cfg: cfg, log: log, badLog: ratelog.New(log, 10, time.Second), Metrics: metrics.NewSet(),
		Source: cfg.ID + "-" + rand.Text()[:8], stop: make(chan struct{}), pending: make(chan *rollup.Batch, cfg.Output.MaxPending)}
	a.local = &shardAcc{statsd: statsd.New(cfg.StatsdCfg), graphite: accum.NewGraphite(time.Now)}
	a.shards = map[int]*shardAcc{}
	a.members = map[string]member{}
	a.hbStop = make(chan struct{})
	a.rollups = rollups.New(cfg.Resolutions, a.Source)
	c := func(n string) *metrics.Counter { return a.Metrics.GetOrCreateCounter("consthash_aggregator_" + n) }
	a.linesIn, a.badLines, a.flushes, a.flushLate = c("lines_in_total"), c("lines_bad_total"), c("flushes_total"), c("flushes_late_total")
	a.batchesPublished, a.batchesFailed, a.pointsSent = c("rollup_batches_published_total"), c("rollup_batches_failed_total"), c("rollup_points_published_total")
	a.Metrics.GetOrCreateGauge("consthash_aggregator_last_flush_seconds", func() float64 {
		return float64FromBits(a.lastFlushSeconds.Load())
	})
	if err := a.open(); err != nil {
		a.closeAll()
		return nil, err
	}
	return a, nil
}

func (a *Aggregator) open() error {
	cfg := a.cfg
	if cfg.NATS.URL != "" {
		nc, err := nats.Connect(cfg.NATS.URL, nats.Name("consthash-aggregator "+a.Source), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("cannot connect to NATS at %s: %w", cfg.NATS.URL, err)
		}
		a.nc = nc
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("cannot use JetStream: %w", err)
		}
		a.js = js
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Aggregators own the stream's limits: created or updated to theirs.
		stream := bus.Stream{Name: cfg.Output.Stream, MaxBytes: cfg.Output.StreamMaxBytes, MaxAge: cfg.Output.StreamMaxAge.D()}
		if _, _, err := bus.EnsureStream(ctx, js, stream, true); err != nil {
			return fmt.Errorf("cannot create the rollup stream: %w", err)
		}
		if _, err := nc.Subscribe(bus.HeartbeatSubject, a.heartbeatMsg); err != nil {
			return fmt.Errorf("cannot subscribe to %s: %w", bus.HeartbeatSubject, err)
		}
	}
	for _, l := range cfg.Listeners {
		ep, _ := endpoint.Parse(l.URL)
		format := l.Format
		udp := ep.Scheme == endpoint.UDP
		// statsd splits a packet on "\n" only: a '\r' stays in the line.
		ln, err := listener.ListenSessions(ep, listener.Config{MaxLineLength: l.MaxLineLength, UDPReadBuffer: 8 << 20,
			KeepCR: format == "statsd"},
			func(net.Addr) listener.Session { return &session{a: a, format: format, udp: udp} }, a.log)
		if err != nil {
			return err
		}
		a.listeners = append(a.listeners, ln)
	}
	switch out := cfg.Output.Lines; {
	case out == "" || out == "BLACKHOLE":
	case len(out) > 7 && out[:7] == "nats://":
		if a.nc == nil {
			return fmt.Errorf("output.lines %s needs [nats] url", out)
		}
		nc := a.nc
		a.lines = outbound.New(outbound.Config{Name: out, QueueSize: 10_000_000, Connections: 1, BatchBytes: 64 << 10,
			BackpressureWait: 10 * time.Second, Publish: func(b []byte) error { return nc.Publish(bus.FlushedSubject, b) }}, a.log)
	default:
		ep, _ := endpoint.Parse(out)
		a.lines = outbound.New(outbound.Config{Name: out, Endpoint: ep, QueueSize: 10_000_000, Connections: 2, BatchBytes: 64 << 10,
			BackpressureWait: 10 * time.Second, WriteTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}, a.log)
	}
	return nil
}

// ListenerAddrs returns the bound address of each listener.
func (a *Aggregator) ListenerAddrs() []net.Addr {
	var out []net.Addr
	for _, l := range a.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// shardMsg accumulates a message of one shard subject in that shard's
// accumulator.
func (a *Aggregator) shardMsg(shard int) nats.MsgHandler {
	return func(m *nats.Msg) {
		format := m.Header.Get(bus.FormatHeader)
		if format == "" {
			format = "graphite"
		}
		a.mu.Lock()
		acc := a.shards[shard]
		a.mu.Unlock()
		if acc == nil {
			acc = a.local // cannot happen once a drain completed; never lose the lines
		}
		// A statsd message is one statsd packet: split on "\n" only, its
		// '\r's kept, counted in packets_received.
		next, packets := line.Next, 0
		if format == "statsd" {
			next, packets = line.NextLF, 1
		}
		var ends []int
		buf := m.Data[:0:0]
		for l, rest, ok := next(m.Data); ok; l, rest, ok = next(rest) {
			if len(l) > 0 {
				buf = append(buf, l...)
				ends = append(ends, len(buf))
			}
		}
		a.addLines(acc, format, buf, ends, packets)
	}
}

// session batches a connection's lines (a datagram's, or what one read of a
// stream holds) so the accumulator lock is taken once per batch. It counts
// statsd packets as statsd does: every udp datagram (the listener flushes
// once per datagram), and every read of a stream that ended lines.
type session struct {
	a       *Aggregator
	format  string
	udp     bool
	buf     []byte
	ends    []int
	packets int
	lines   int // since the last listener Flush
}

func (s *session) Line(b []byte) bool {
	s.buf = append(s.buf, b...)
	s.ends = append(s.ends, len(s.buf))
	s.lines++
	if len(s.buf) >= 64<<10 {
		s.flush()
	}
	return true
}

// Flush is the listener's: a datagram ended, or the reader waits for more.
func (s *session) Flush() {
	if s.format == "statsd" && (s.udp || s.lines > 0) {
		s.packets++
	}
	s.lines = 0
	s.flush()
}

func (s *session) flush() {
	if len(s.ends) == 0 && s.packets == 0 {
		return
	}
	s.a.addLines(s.a.local, s.format, s.buf, s.ends, s.packets)
	s.buf, s.ends, s.packets = s.buf[:0], s.ends[:0], 0
}

func (s *session) Close() { s.flush() }

// addLines accumulates lines buf[ends[i-1]:ends[i]] under one lock; packets
// statsd packets brought them.
func (a *Aggregator) addLines(acc *shardAcc, format string, buf []byte, ends []int, packets int) {
	a.linesIn.Add(len(ends))
	bad := 0
	var reasons []line.Reason
	a.mu.Lock()
	if packets > 0 {
		a.local.statsd.AddInternal(float64(packets), 0, 0)
	}
	start := 0
	for _, end := range ends {
		l := buf[start:end]
		start = end
		if format == "statsd" {
			n := acc.statsd.Line(l)
			bad += n
			if acc != a.local {
				a.local.statsd.AddInternal(0, 1, float64(n))
			}
		} else if err := acc.graphite.Line(l); err != nil {
			bad++
			reasons = append(reasons, line.ReasonOf(err))
		}
	}
	a.mu.Unlock()
	if bad > 0 {
		a.badLines.Add(bad)
		for _, r := range reasons {
			a.Metrics.GetOrCreateCounter(`consthash_aggregator_lines_bad_by_reason_total{reason="` + r.String() + `"}`).Inc()
		}
		a.badLog.Warn("bad lines", "format", format, "count", bad)
	}
}

// Line accumulates one line of the given format from a listener.
func (a *Aggregator) Line(format string, b []byte) bool { return a.lineTo(a.local, format, b) }

func (a *Aggregator) lineTo(acc *shardAcc, format string, b []byte) bool {
	a.linesIn.Inc()
	a.mu.Lock()
	var bad int
	var err error
	if format == "statsd" {
		bad = acc.statsd.Line(b)
		if acc != a.local {
			a.local.statsd.AddInternal(0, 1, float64(bad))
		}
	} else if err = acc.graphite.Line(b); err != nil {
		bad = 1
	}
	a.mu.Unlock()
	if bad > 0 {
		a.badLines.Add(bad)
		if err != nil {
			a.Metrics.GetOrCreateCounter(`consthash_aggregator_lines_bad_by_reason_total{reason="` + line.ReasonOf(err).String() + `"}`).Inc()
			a.badLog.Warn("bad line", "format", format, "err", err, "line", string(b))
		}
		return false
	}
	return true
}

// Start serves the listeners and runs the flush loop and the publisher.
func (a *Aggregator) Start() {
	for _, l := range a.listeners {
		go l.Serve()
	}
	if a.lines != nil {
		a.lines.Start()
	}
	a.pubWG.Add(1)
	go a.publisher()
	if a.nc != nil {
		a.reconcile() // a lone aggregator holds every shard when Start returns
		a.announce()
		a.hbWG.Add(1)
		go a.membership()
	}
	a.flushWG.Add(1)
	go func() {
		defer a.flushWG.Done()
		accum.Run(accum.RealClock{}, a.cfg.Resolutions[0].Step, a.stop, a.Flush, func(behind time.Duration) {
			a.flushLate.Inc()
			a.log.Error("flush is running behind: flushes take longer than the interval; nothing is skipped, but data is late",
				"behind", behind, "interval", a.cfg.Resolutions[0].Step)
		})
	}()
}

// Flush flushes the bin that ends at binEnd: lines to the backend, rollups
// to the publisher.
func (a *Aggregator) Flush(binEnd time.Time) {
	start := time.Now()
	ts := strconv.FormatInt(binEnd.Unix(), 10)
	var out []byte
	var base []rollup.Point
	at := binEnd.UnixNano()
	merged := map[string]int{} // path -> index in base: a key seen by two accumulators is one point
	add := func(p rollup.Point) {
		if i, ok := merged[p.Path]; ok {
			base[i].Merge(p)
			return
		}
		merged[p.Path] = len(base)
		base = append(base, p)
	}
	a.mu.Lock()
	accs := []*shardAcc{a.local}
	for shard, acc := range a.shards {
		accs = append(accs, acc)
		if acc.released && !acc.sub.IsValid() {
			delete(a.shards, shard) // drained: this is its last flush
		}
	}
	for _, acc := range accs[1:] { // statsd's numStats counts every key
		a.local.statsd.AddKeys(acc.statsd.Keys())
	}
	for _, acc := range accs {
		acc.statsd.Flush(binEnd, func(name string, v float64) {
			out = append(out, name...)
			out = append(out, ' ')
			out = line.AppendJSNumber(out, v)
			out = append(out, ' ')
			out = append(out, ts...)
			out = append(out, '\n')
			add(rollup.Point{Path: name, Sum: v, Min: v, Max: v, Last: v, LastAt: at, Count: 1})
		})
		acc.graphite.Flush(func(p rollup.Point) {
			out = append(out, p.Path...)
			out = append(out, ' ')
			out = strconv.AppendFloat(out, bus.Value(bus.ReducerFor(a.cfg.Rules, p.Path), p), 'f', -1, 64)
			out = append(out, ' ')
			out = append(out, ts...)
			out = append(out, '\n')
			add(p)
		})
	}
	batches := a.rollups.Add(binEnd, base)
	a.mu.Unlock()
	chars, sendStart := statsd.PayloadChars(out), time.Now()
	if a.lines != nil && len(out) > 0 {
		n := 0
		for _, c := range out {
			if c == '\n' {
				n++
			}
		}
		a.lines.Send(outbound.Chunk{Data: out, Lines: n})
	}
	// statsd's graphiteStats of the next flush describe this payload (every
	// shard's lines and the graphite ones), even when it goes nowhere.
	a.mu.Lock()
	a.local.statsd.Sent(chars, time.Since(sendStart), time.Now())
	a.mu.Unlock()
	if a.js != nil {
		for _, b := range batches {
			select {
			case a.pending <- b:
			default:
				a.log.Error("rollup publisher is behind; the flush waits for it", "pending", len(a.pending))
				a.pending <- b
			}
		}
	}
	a.flushes.Inc()
	a.lastFlushSeconds.Store(float64Bits(time.Since(start).Seconds()))
}

// publisher sends rollup batches to JetStream, retrying until each is
// acknowledged or the aggregator stops.
func (a *Aggregator) publisher() {
	defer a.pubWG.Done()
	var buf []byte
	for b := range a.pending {
		buf = b.Append(buf[:0])
		msg := nats.NewMsg(bus.RollupSubject(b.Resolution))
		msg.Data = append([]byte(nil), buf...)
		backoff := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Output.PublishTimeout.D())
			_, err := a.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.MsgID()))
			cancel()
			if err == nil {
				a.batchesPublished.Inc()
				a.pointsSent.Add(len(b.Points))
				break
			}
			a.batchesFailed.Inc()
			a.log.Warn("publishing a rollup batch", "subject", msg.Subject, "attempt", attempt, "err", err)
			if attempt >= 20 {
				a.log.Error("dropping a rollup batch after 20 attempts", "subject", msg.Subject, "points", len(b.Points))
				break
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// Close stops the inputs, flushes what the current bin holds, publishes
// every pending batch and sends the lines, waiting until ctx ends.
func (a *Aggregator) Close(ctx context.Context) error {
	var errs []error
	for _, l := range a.listeners {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.nc != nil {
		a.leave(ctx)
		close(a.hbStop)
		a.hbWG.Wait()
	}
	close(a.stop)
	a.flushWG.Wait()
	// The current bin is not over: flush it now for its own boundary, so
	// nothing this process accumulated is lost.
	a.Flush(accum.NextFlush(time.Now(), a.cfg.Resolutions[0].Step))
	close(a.pending)
	done := make(chan struct{})
	go func() { a.pubWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("stop deadline passed with rollup batches unpublished"))
	}
	if a.lines != nil {
		if err := a.lines.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.closeAll()
	return errors.Join(errs...)
}

func (a *Aggregator) closeAll() {
	for _, l := range a.listeners {
		l.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
}

// Healthy reports NATS connectivity when NATS is used.
func (a *Aggregator) Healthy() (bool, map[string]any) {
	d := map[string]any{"source": a.Source, "pending_batches": len(a.pending)}
	if a.nc == nil {
		return true, d
	}
	d["nats"] = a.nc.Status().String()
	return a.nc.IsConnected(), d
}

// Stats is the /stats document.
func (a *Aggregator) Stats() map[string]any {
	return map[string]any{"source": a.Source, "lines_in": a.linesIn.Get(), "lines_bad": a.badLines.Get(),
		"flushes": a.flushes.Get(), "flushes_late": a.flushLate.Get(), "last_flush_seconds": float64FromBits(a.lastFlushSeconds.Load()),
		"rollup_batches_published": a.batchesPublished.Get(), "rollup_batches_failed": a.batchesFailed.Get(),
		"rollup_points_published": a.pointsSent.Get(), "pending_batches": len(a.pending), "shards_owned": a.Owned()}
}
