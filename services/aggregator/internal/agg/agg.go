// Package agg is the aggregator's engine: it feeds statsd and graphite lines
// (from NATS shard subjects and its own listeners) into the accumulators,
// flushes them on wall-clock multiples of the base interval, re-emits the
// flushed lines to a backend and publishes rollups of every resolution on
// JetStream.
package agg

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
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
	"github.com/consthash/consthash/services/aggregator/internal/input"
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

	mu      sync.Mutex // guards the accumulators, series and shard ownership
	series  int        // keys the accumulators hold (max_series bounds it)
	local   *shardAcc  // listeners' lines, and the aggregator's own statsd metrics
	shards  map[int]*shardAcc
	rollups *rollups.Set
	members *bus.Members
	leaving atomic.Bool
	hbStop  chan struct{}
	hbWG    sync.WaitGroup

	nc         *nats.Conn
	js         jetstream.JetStream
	listeners  []*listener.Listener
	udp        []*udpIn                       // statsd udp listeners: a socket and reader per core
	sinks      []*sink                        // the statsd listeners' sinks, merged into local at each flush
	inputs     []interface{ Addr() net.Addr } // every listener, in the configuration's order
	udpTooLong atomic.Uint64                  // lines dropped by the udp readers for max_line_length
	lines      *outbound.Destination
	pub        *publisher // nil without NATS
	flushMu    sync.Mutex // one flush at a time: the rollups and the publishing order
	flushWG    sync.WaitGroup
	stop       chan struct{}
	flushHook  func()      // tests: called during a flush, with the accumulators swapped out and the lock free
	clock      accum.Clock // the flush loop's time; tests replace it before Start
	started    time.Time

	kv            jetstream.KeyValue // checkpoints (recover.go); nil without NATS
	recoverCtx    context.Context
	recoverCancel context.CancelFunc
	recoverWG     sync.WaitGroup
	recovering    atomic.Bool // a recoverOrphans pass is running
	recovered     *metrics.Counter

	linesIn, badLines, flushes, flushLate, seriesRefused *metrics.Counter
	// acknowledged NATS batches (acks.go); dedups is each shard's memory of
	// its senders
	batchesAcked, batchesDup, batchBadIDs, dedupEvicted, ackErrors *metrics.Counter
	dedups                                                         []*dedup
	refusedLog                                                     *ratelog.Limiter
	flushSeconds                                                   *metrics.Histogram
	lastFlushSeconds, maxFlushSeconds                              atomic.Uint64 // float64 bits
}

// New connects and binds everything the configuration names; Start begins.
func New(cfg *config.Config, log *slog.Logger) (*Aggregator, error) {
	a := &Aggregator{cfg: cfg, log: log, badLog: ratelog.New(log, 10, time.Second), Metrics: metrics.NewSet(),
		Source: cfg.ID + "-" + rand.Text()[:8], stop: make(chan struct{}), refusedLog: ratelog.New(log, 1, 10*time.Second),
		clock: accum.RealClock{}}
	a.local = a.newAcc(cfg.StatsdCfg)
	a.series = a.local.statsd.Keys() // statsd's own counters
	a.shards = map[int]*shardAcc{}
	a.hbStop = make(chan struct{})
	a.members = bus.NewMembers(a.Source)
	a.rollups = rollups.New(cfg.Resolutions, a.Source)
	c := func(n string) *metrics.Counter { return a.Metrics.GetOrCreateCounter("consthash_aggregator_" + n) }
	a.linesIn, a.badLines, a.flushes, a.flushLate = c("lines_in_total"), c("lines_bad_total"), c("flushes_total"), c("flushes_late_total")
	a.seriesRefused, a.recovered = c("series_refused_total"), c("coarse_recovered_points_total")
	a.batchesAcked, a.batchesDup, a.batchBadIDs = c("nats_batches_acked_total"), c("nats_batches_duplicate_total"), c("nats_batch_ids_bad_total")
	a.dedupEvicted, a.ackErrors = c("nats_dedup_evicted_total"), c("nats_ack_errors_total")
	for range cfg.Shards {
		a.dedups = append(a.dedups, newDedup(cfg.NATS.DedupSenders))
	}
	a.recoverCtx, a.recoverCancel = context.WithCancel(context.Background())
	a.flushSeconds = a.Metrics.GetOrCreateHistogram("consthash_aggregator_flush_duration_seconds")
	// Lines longer than a listener's max_line_length, dropped (a.listeners is
	// fixed once New returns).
	a.Metrics.GetOrCreateGauge("consthash_aggregator_lines_too_long_total", func() float64 { return float64(a.tooLong()) })
	// The statsd udp listeners' datagrams, and their failed reads (each retried).
	a.Metrics.GetOrCreateGauge("consthash_aggregator_udp_datagrams_total", func() float64 { return float64(a.udpCount().datagrams) })
	a.Metrics.GetOrCreateGauge("consthash_aggregator_udp_read_errors_total", func() float64 { return float64(a.udpCount().readErrors) })
	a.Metrics.GetOrCreateGauge("consthash_aggregator_last_flush_seconds", func() float64 {
		return float64FromBits(a.lastFlushSeconds.Load())
	})
	a.Metrics.GetOrCreateGauge("consthash_aggregator_max_flush_seconds", func() float64 {
		return float64FromBits(a.maxFlushSeconds.Load())
	})
	a.Metrics.GetOrCreateGauge("consthash_aggregator_series", func() float64 { return float64(a.Series()) })
	a.Metrics.GetOrCreateGauge("consthash_aggregator_max_series", func() float64 { return float64(a.cfg.MaxSeries) })
	a.Metrics.GetOrCreateGauge("consthash_aggregator_shards_owned", func() float64 { return float64(len(a.Owned())) })
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
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.Output.PublishWindow),
			jetstream.WithPublishAsyncTimeout(cfg.Output.PublishTimeout.D()))
		if err != nil {
			return fmt.Errorf("cannot use JetStream: %w", err)
		}
		a.js = js
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Aggregators own the stream's limits: created or updated to theirs.
		stream := bus.Stream{Name: cfg.Output.Stream, MaxBytes: cfg.Output.StreamMaxBytes, MaxAge: cfg.Output.StreamMaxAge.D(),
			Replicas: cfg.Output.StreamReplicas}
		if _, _, err := bus.EnsureStream(ctx, js, stream, true); err != nil {
			return fmt.Errorf("cannot create the rollup stream: %w", err)
		}
		a.pub = newPublisher(js, a.log, a.Metrics, cfg.Output.MaxPending, cfg.Output.PublishWindow, cfg.Output.PublishTimeout.D())
		if err := a.openCheckpoints(ctx); err != nil {
			return fmt.Errorf("cannot use the KV bucket %s: %w", aggregatorsBucket, err)
		}
		if _, err := nc.Subscribe(bus.HeartbeatSubject, a.heartbeatMsg); err != nil {
			return fmt.Errorf("cannot subscribe to %s: %w", bus.HeartbeatSubject, err)
		}
	}
	for _, l := range cfg.Listeners {
		ep, _ := endpoint.Parse(l.URL)
		format := l.Format
		udp := ep.Scheme == endpoint.UDP
		maxLine := l.MaxLineLength
		if udp && maxLine == 0 {
			// A datagram is its own bound (at most 65,507 bytes): statsd reads
			// every line of one, however long, and so does a udp listener here.
			maxLine = udpMaxLineLength
		}
		readers := l.Readers
		if readers == 0 {
			readers = runtime.GOMAXPROCS(0)
		}
		if format == "statsd" && udp {
			// On every core: a SO_REUSEPORT socket, a reader and a sink each.
			u, err := input.ListenUDP(ep.Addr, input.UDPConfig{Readers: readers, Batch: l.ReadBatch, ReadBuffer: l.ReadBuffer})
			if err != nil {
				return err
			}
			in := &udpIn{url: l.URL, u: u}
			if maxLine < input.MaxDatagram {
				in.maxLine = maxLine
			}
			for range readers {
				in.sinks = append(in.sinks, a.newSink(a.local))
			}
			a.sinks = append(a.sinks, in.sinks...)
			a.udp = append(a.udp, in)
			for r := range readers {
				a.Metrics.GetOrCreateGauge(fmt.Sprintf(`consthash_aggregator_udp_reader_datagrams_total{listener=%q,reader="%d"}`, l.URL, r),
					func() float64 { return float64(u.ReaderDatagrams()[r]) })
			}
			a.inputs = append(a.inputs, u)
			continue
		}
		var shared *tcpSinks
		acceptors := 0
		if format == "statsd" {
			// tcp: readers SO_REUSEPORT sockets accept the connections
			// (each connection is read by its own goroutine anyway).
			acceptors = readers
			shared = &tcpSinks{}
			for range readers {
				shared.sinks = append(shared.sinks, a.newSink(a.local))
			}
			a.sinks = append(a.sinks, shared.sinks...)
		}
		// statsd splits a packet on "\n" only: a '\r' stays in the line.
		ln, err := listener.ListenSessions(ep, listener.Config{MaxLineLength: maxLine, UDPReadBuffer: l.ReadBuffer,
			KeepCR: format == "statsd", Acceptors: acceptors},
			func(net.Addr) listener.Session {
				s := &session{a: a, format: format, udp: udp}
				if shared != nil {
					s.sink = shared.pick()
				}
				return s
			}, a.log)
		if err != nil {
			return err
		}
		a.listeners = append(a.listeners, ln)
		a.inputs = append(a.inputs, ln)
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

// newAcc returns an accumulator whose new keys count against max_series.
func (a *Aggregator) newAcc(cfg statsd.Config) *shardAcc {
	acc := &shardAcc{statsd: statsd.New(cfg), graphite: accum.NewGraphite(time.Now)}
	acc.statsd.Admit, acc.graphite.Admit = a.admit, a.admit
	if cfg.NoInternal { // a shard's: its statsd messages go through a sink
		acc.in = a.newSink(acc)
	}
	return acc
}

// admit is asked, under a.mu, before an accumulator creates a key: past
// max_series the value is refused, counted and logged (rate-limited).
func (a *Aggregator) admit(key string) bool {
	if a.cfg.MaxSeries == 0 || a.series < a.cfg.MaxSeries {
		a.series++
		return true
	}
	a.seriesRefused.Inc()
	a.refusedLog.Warn("refusing a new series: max_series reached", "max_series", a.cfg.MaxSeries, "key", key,
		"refused_total", a.seriesRefused.Get())
	return false
}

// Series returns how many keys the accumulators hold.
func (a *Aggregator) Series() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.series
}

// udpMaxLineLength is a udp listener's default max_line_length: the
// largest datagram, so that no line of one is dropped.
const udpMaxLineLength = 65536

// ListenerAddrs returns the bound address of each listener.
func (a *Aggregator) ListenerAddrs() []net.Addr { return addrsOf(a.inputs) }

// shardMsg accumulates a message of one shard subject in that shard's
// accumulator acc: a statsd message (one packet) through the shard's sink,
// without the aggregator's lock but for its gauges. A request (a relay's
// acknowledged batch) is answered once its lines are accumulated, and a copy
// of a batch already taken is answered without being taken again (acks.go).
// A subscription calls it for one message at a time.
func (a *Aggregator) shardMsg(acc *shardAcc, dd *dedup) nats.MsgHandler {
	return func(m *nats.Msg) {
		sender, seq, ok := a.batchOf(m)
		if ok && !dd.fresh(sender, seq) {
			a.batchesDup.Inc()
			a.ack(m)
			return
		}
		a.shardLines(acc, m)
		if ok {
			if n := dd.took(sender, seq, time.Now()); n > 0 {
				a.dedupEvicted.Add(n)
			}
		}
		a.ack(m)
	}
}

// shardLines accumulates a shard message's lines.
func (a *Aggregator) shardLines(acc *shardAcc, m *nats.Msg) {
	format := m.Header.Get(bus.FormatHeader)
	if format == "" {
		format = "graphite"
	}
	if format == "statsd" && acc.in != nil {
		a.feedPackets(acc.in, [][]byte{m.Data}, 0)
		return
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

// session batches a connection's lines (a datagram's, or what one read of a
// stream holds) so the accumulator lock is taken once per batch. It counts
// statsd packets as statsd does: every udp datagram (the listener flushes
// once per datagram), and every read of a stream that ended lines.
type session struct {
	a       *Aggregator
	format  string
	udp     bool
	sink    *sink // statsd over a stream: the connection's slot
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
	if s.sink != nil {
		s.a.feedLines(s.sink, s.buf, s.ends, s.packets)
	} else {
		s.a.addLines(s.a.local, s.format, s.buf, s.ends, s.packets)
	}
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
	a.started = time.Now()
	for _, l := range a.listeners {
		go l.Serve()
	}
	for _, in := range a.udp {
		in.u.Serve(a.readPackets(in))
	}
	if a.lines != nil {
		a.lines.Start()
	}
	if a.pub != nil {
		a.pub.start() // ends when Close stops it
	}
	if a.nc != nil {
		a.reconcile() // a lone aggregator holds every shard when Start returns
		a.announce()
		a.hbWG.Add(1)
		go a.membership()
	}
	a.flushWG.Add(1)
	go func() {
		defer a.flushWG.Done()
		accum.Run(a.clock, a.cfg.Resolutions[0].Step, a.stop, a.Flush, func(behind time.Duration) {
			a.flushLate.Inc()
			a.log.Error("flush is running behind: flushes take longer than the interval; nothing is skipped, but data is late",
				"behind", behind, "interval", a.cfg.Resolutions[0].Step)
		})
	}()
}

// Flush flushes the bin that ends at binEnd: lines to the backend, rollups
// to the publisher. It holds the accumulators' lock only to swap them for
// empty ones and, afterwards, to put back the keys statsd keeps: lines are
// accumulated while it computes.
func (a *Aggregator) Flush(binEnd time.Time) { a.flush(binEnd, false) }

// flush is Flush; closing also closes the open coarse bins (at a stop).
func (a *Aggregator) flush(binEnd time.Time, closing bool) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	start := time.Now()
	type snapshot struct {
		acc *shardAcc
		s   *statsd.Accumulator
		g   *accum.Graphite
	}
	a.mu.Lock()
	a.mergeInputs() // every line read so far, from the inputs' own accumulators
	snaps := make([]snapshot, 0, len(a.shards)+1)
	snaps = append(snaps, snapshot{a.local, a.local.statsd.Take(binEnd), a.local.graphite.Take()})
	for shard, acc := range a.shards {
		snaps = append(snaps, snapshot{acc, acc.statsd.Take(binEnd), acc.graphite.Take()})
		if acc.gone {
			delete(a.shards, shard) // drained: this is its last flush
		}
	}
	var shardKeys int
	for _, sn := range snaps[1:] { // statsd's numStats counts every key
		shardKeys += sn.s.Keys()
	}
	snaps[0].s.AddKeys(shardKeys)
	a.mu.Unlock()
	if a.flushHook != nil {
		a.flushHook()
	}

	ts := strconv.FormatInt(binEnd.Unix(), 10)
	var out []byte
	var base []rollup.Point
	at := binEnd.UnixNano()
	// A shard's keys are its own, but a key may also come through a listener
	// (the local accumulator, flushed first): such a path is one point.
	var local map[string]int // path -> index in base, for the local accumulator's paths
	inLocal := true
	add := func(p rollup.Point) {
		if inLocal {
			if local == nil {
				local = map[string]int{}
			}
			local[p.Path] = len(base)
		} else if i, ok := local[p.Path]; ok {
			base[i].Merge(p)
			return
		}
		base = append(base, p)
	}
	for i, sn := range snaps {
		inLocal = i == 0
		sn.s.Flush(binEnd, func(name string, v float64) {
			out = append(out, name...)
			out = append(out, ' ')
			out = line.AppendJSNumber(out, v)
			out = append(out, ' ')
			out = append(out, ts...)
			out = append(out, '\n')
			add(rollup.Point{Path: name, Sum: v, Min: v, Max: v, Last: v, LastAt: at, Count: 1})
		})
		sn.g.Flush(func(p rollup.Point) {
			out = append(out, p.Path...)
			out = append(out, ' ')
			out = strconv.AppendFloat(out, bus.Value(bus.ReducerFor(a.cfg.Rules, p.Path), p), 'f', -1, 64)
			out = append(out, ' ')
			out = append(out, ts...)
			out = append(out, '\n')
			add(p)
		})
	}
	local = nil
	a.mu.Lock()
	for _, sn := range snaps {
		sn.acc.statsd.Restore(sn.s, func() { a.mu.Unlock(); a.mu.Lock() })
	}
	a.series = 0
	for _, acc := range a.shards {
		a.series += acc.statsd.Keys() + acc.graphite.Len()
	}
	a.series += a.local.statsd.Keys() + a.local.graphite.Len()
	a.mu.Unlock()
	snaps = nil

	batches := a.rollups.Add(binEnd, base)
	if closing {
		batches = append(batches, a.rollups.Close(binEnd.Unix())...)
	}
	base = nil
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
	took := time.Since(start)
	if a.pub != nil {
		maxBytes := min(a.cfg.Output.MaxMessageSize, int(a.nc.MaxPayload()/2))
		var buf []byte
		for i, b := range batches {
			buf = publishBatch(b, a.cfg.Shards, maxBytes, buf, func(subject, id string, data []byte, points int) {
				a.pub.enqueue(&outMsg{flush: binEnd.Unix(), subject: subject, id: id, data: bytes.Clone(data), points: points})
			})
			batches[i] = nil
		}
		if a.kv != nil && !closing {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Output.PublishTimeout.D())
			if err := a.checkpoint(ctx, binEnd.Unix()); err != nil {
				a.log.Warn("recording the checkpoint", "err", err)
			}
			cancel()
		}
	}
	a.flushes.Inc()
	a.flushSeconds.Update(took.Seconds())
	a.lastFlushSeconds.Store(float64Bits(took.Seconds()))
	if took.Seconds() > float64FromBits(a.maxFlushSeconds.Load()) {
		a.maxFlushSeconds.Store(float64Bits(took.Seconds()))
	}
}

// Close stops the inputs, flushes what the current bin holds, publishes
// every pending batch and sends the lines, waiting until ctx ends.
func (a *Aggregator) Close(ctx context.Context) error {
	var errs []error
	// Publishing (a flush waiting for room in the queue, too) waits for the
	// publisher only until the deadline; then what is left is counted lost.
	if a.pub != nil {
		stopped := make(chan struct{})
		defer close(stopped)
		go func() {
			select {
			case <-ctx.Done():
				a.pub.abortOnce()
			case <-stopped:
			}
		}()
	}
	for _, l := range a.listeners {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, in := range a.udp {
		if err := in.u.Close(); err != nil {
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
	a.recoverCancel()
	a.recoverWG.Wait()
	// The current bin is not over: flush it now for its own boundary, so
	// nothing this process accumulated is lost.
	a.flush(accum.NextFlush(time.Now(), a.cfg.Resolutions[0].Step), true)
	if p := a.pub; p != nil {
		if !p.stop(ctx) {
			// The checkpoint stays: another aggregator rebuilds the open coarse
			// bins from the base batches that made it to the stream.
			errs = append(errs, fmt.Errorf("stop deadline passed: %d rollup messages (%d points) lost", p.lostMsgs.Get(), p.lostPoints.Get()))
		} else if a.kv != nil {
			if err := a.kv.Delete(ctx, kvKey(a.Source)); err != nil {
				errs = append(errs, fmt.Errorf("deleting this aggregator's checkpoint: %w", err))
			}
		}
		a.log.Info("rollups published", "points_produced", p.produced.Get(), "points_published", p.pointsSent.Get(),
			"points_lost", p.lostPoints.Get(), "messages_published", p.published.Get(), "attempts_failed", p.failed.Get(),
			"series_refused", a.seriesRefused.Get(), "flushes", a.flushes.Get(), "max_flush_seconds", float64FromBits(a.maxFlushSeconds.Load()))
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
	for _, in := range a.udp {
		in.u.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
}

// Healthy reports NATS connectivity when NATS is used.
func (a *Aggregator) Healthy() (bool, map[string]any) {
	d := map[string]any{"source": a.Source}
	if a.pub != nil {
		d["pending_messages"] = len(a.pub.queue)
	}
	if a.nc == nil {
		return true, d
	}
	d["nats"] = a.nc.Status().String()
	return a.nc.IsConnected(), d
}

// tooLong is how many lines the listeners dropped for exceeding max_line_length.
func (a *Aggregator) tooLong() uint64 {
	n := a.udpTooLong.Load()
	for _, l := range a.listeners {
		n += l.TooLong.Load()
	}
	return n
}

// Stats is the /stats document.
func (a *Aggregator) Stats() map[string]any {
	st := map[string]any{"source": a.Source, "lines_in": a.linesIn.Get(), "lines_bad": a.badLines.Get(), "lines_too_long": a.tooLong(),
		"flushes": a.flushes.Get(), "flushes_late": a.flushLate.Get(), "last_flush_seconds": float64FromBits(a.lastFlushSeconds.Load()),
		"max_flush_seconds": float64FromBits(a.maxFlushSeconds.Load()), "series": a.Series(), "max_series": a.cfg.MaxSeries,
		"series_refused": a.seriesRefused.Get(), "shards_owned": a.Owned(),
		"udp_datagrams": a.udpCount().datagrams, "udp_read_errors": a.udpCount().readErrors,
		"nats_batches_acked": a.batchesAcked.Get(), "nats_batches_duplicate": a.batchesDup.Get(),
		"nats_batch_ids_bad": a.batchBadIDs.Get(), "nats_dedup_evicted": a.dedupEvicted.Get(), "nats_ack_errors": a.ackErrors.Get()}
	if len(a.udp) > 0 {
		st["udp_reader_datagrams"] = a.udpByReader()
	}
	if p := a.pub; p != nil {
		st["rollup_batches_published"], st["rollup_batches_failed"] = p.published.Get(), p.failed.Get()
		st["rollup_points_published"], st["rollup_batches_lost"], st["rollup_points_lost"] = p.pointsSent.Get(), p.lostMsgs.Get(), p.lostPoints.Get()
		st["pending_messages"], st["rollup_messages_in_flight"] = len(p.queue), p.flying()
		st["rollup_points_produced"] = p.produced.Get()
		st["coarse_recovered_points"] = a.recovered.Get()
	}
	return st
}
