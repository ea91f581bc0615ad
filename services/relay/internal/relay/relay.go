// Package relay is the relay's engine: listeners hand lines to per-connection
// sessions, which extract each line's key, apply the section's pre-routing
// rules, pick the cluster members by hash (or forward, any_of, failover,
// blackhole) and batch the line for each member's outbound destination.
package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
	"github.com/consthash/consthash/pkg/outbound"
	"github.com/consthash/consthash/pkg/ratelog"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/services/relay/internal/config"
)

// Relay owns the listeners, the routing table and the destinations.
type Relay struct {
	log     *slog.Logger
	badLog  *ratelog.Limiter
	Metrics *metrics.Set

	shardCheck *shardCheck // the aggregators' shard counts

	mu        sync.Mutex // serialises reconfiguration
	cfg       *config.Config
	table     atomic.Pointer[table]
	dests     map[string]*outbound.Destination // by destination URL (nats: URL#subject#format)
	destInfo  map[string]destInfo              // by the same name
	lnMetrics map[string][]string              // each listener's /metrics names, by the listeners key
	retired   map[string]*outbound.Destination // removed by a reload, closed after retireGrace unless re-added
	// slots numbers the open destinations, from 0: sessions find a
	// destination's batches by its number (session.add). A closed
	// destination's number goes to freeSlots, for the next one made.
	slots     map[*outbound.Destination]int32
	freeSlots []int32
	natsConns map[string]*nats.Conn
	// id names this process in the senders of acknowledged NATS batches
	// (bus.BatchHeader); senders numbers the destinations that use them.
	id        string
	senders   atomic.Uint64
	listeners map[string]*listener.Listener // by section + "|" + URL
	httpSrv   sync.Map                      // section + "|" + URL → *httpserver.Server of the http listeners open now
	serveWG   sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	checksWG  sync.WaitGroup
	selfCtx   context.Context
	selfStop  context.CancelFunc
	selfWG    sync.WaitGroup
	// bufs is the free list of batch buffers: a session takes one per
	// batch, the destination gives it back once sent. A channel rather than
	// a sync.Pool, whose Put of a slice allocates and whose buffers a GC
	// drops. At most freeBuffers wait in it; more are left to the GC.
	bufs chan []byte
}

// freeBuffers bounds the free list of batch buffers (of batch_bytes, 64 KiB
// by default): 8 MiB of idle buffers at the default.
const freeBuffers = 128

// buffer returns an empty batch buffer, from the free list when it has one.
func (r *Relay) buffer(size int) []byte {
	select {
	case b := <-r.bufs:
		return b
	default:
		return make([]byte, 0, max(size, 4<<10))
	}
}

// release gives a sent batch's buffer back to the free list.
func (r *Relay) release(b []byte) {
	if cap(b) > 1<<20 { // grown by a very long line: not worth keeping
		return
	}
	select {
	case r.bufs <- b[:0]:
	default:
	}
}

// destInfo is what /stats and /metrics need to know of a destination.
type destInfo struct {
	stats   string   // its /stats entry: the URL; a NATS server's shard subjects share one
	shard   bool     // one shard subject of a NATS server
	metrics []string // its /metrics names, unregistered when it closes
}

// table is an immutable routing snapshot; reconfiguration swaps it.
type table struct {
	sections map[string]*section
}

// section is a configured section with its compiled rules and cluster.
type section struct {
	name    string
	cfg     *config.Section
	rules   []config.Rule
	cluster *cluster
	regex   *line.Regex
	crelay  *line.CRelayNormalizer // set for carbon-c-relay clusters: rewrite lines as it does
	format  lineFormat             // cfg.Format, decided once per table instead of compared per line
	shards  int
	st      *sectionStats
}

// sectionStats are a section's counters (also exported to Prometheus).
type sectionStats struct {
	in, routed, rejected, blackholed, unroutable *metrics.Counter
	shardMismatch                                *metrics.Counter // aggregator heartbeats with another shard count
	bad                                          map[line.Reason]*metrics.Counter
}

// New builds a relay from a validated configuration; Start begins serving.
func New(cfg *config.Config, log *slog.Logger) (*Relay, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{log: log, badLog: ratelog.New(log, 10, time.Second), Metrics: metrics.NewSet(),
		dests: map[string]*outbound.Destination{}, destInfo: map[string]destInfo{}, lnMetrics: map[string][]string{}, retired: map[string]*outbound.Destination{}, slots: map[*outbound.Destination]int32{}, natsConns: map[string]*nats.Conn{},
		listeners: map[string]*listener.Listener{}, ctx: ctx, cancel: cancel, id: "relay-" + rand.Text()[:10]}
	r.shardCheck = newShardCheck(ratelog.New(log, 4, time.Minute))
	r.selfCtx, r.selfStop = context.WithCancel(context.Background())
	r.bufs = make(chan []byte, freeBuffers)
	t, err := r.build(cfg)
	if err != nil {
		cancel()
		r.closeUnused(nil)
		return nil, err
	}
	r.cfg = cfg
	r.table.Store(t)
	if err := r.syncListeners(cfg); err != nil {
		r.Close(context.Background())
		return nil, err
	}
	return r, nil
}

func (r *Relay) sectionStats(name string) *sectionStats {
	c := func(metric string) *metrics.Counter {
		return r.Metrics.GetOrCreateCounter(fmt.Sprintf(`consthash_relay_%s_total{section=%q}`, metric, name))
	}
	st := &sectionStats{in: c("lines_in"), routed: c("lines_routed"), rejected: c("lines_rejected"),
		blackholed: c("lines_blackholed"), unroutable: c("lines_unroutable"), shardMismatch: c("nats_shard_mismatch"),
		bad: map[line.Reason]*metrics.Counter{}}
	for _, reason := range line.Reasons() {
		st.bad[reason] = r.Metrics.GetOrCreateCounter(fmt.Sprintf(`consthash_relay_lines_bad_total{section=%q,reason=%q}`, name, reason))
	}
	return st
}

// build makes a routing table for cfg, creating the destinations it needs
// and reusing those that already exist.
func (r *Relay) build(cfg *config.Config) (*table, error) {
	t := &table{sections: map[string]*section{}}
	for _, name := range cfg.SectionNames() {
		sc := cfg.Sections[name]
		s := &section{name: name, cfg: sc, rules: sc.Rules, shards: sc.Shards, st: r.sectionStats(name)}
		switch sc.Format {
		case "statsd":
			s.format = formatStatsd
		case "regex":
			s.format = formatRegex
		}
		if sc.Format == "regex" {
			re, err := line.NewRegex(sc.Regex)
			if err != nil {
				return nil, err
			}
			s.regex = re
		}
		switch ring.Algorithm(sc.Cluster) {
		case ring.CarbonC, ring.FNV1aC, ring.JumpFNV1aC:
			if sc.Format == "graphite" {
				s.crelay = line.NewCRelayNormalizer("")
			}
		}
		var members []*member
		for i, srv := range sc.Servers {
			m, err := r.member(name, sc, i, srv)
			if err != nil {
				return nil, err
			}
			members = append(members, m)
		}
		c, err := newCluster(name, sc, members)
		if err != nil {
			return nil, err
		}
		s.cluster = c
		t.sections[name] = s
	}
	return t, nil
}

// member makes (or reuses) the destination of server i of a section.
func (r *Relay) member(section string, sc *config.Section, i int, srv string) (*member, error) {
	d, err := config.ParseDestination(srv)
	if err != nil {
		return nil, err
	}
	m := &member{url: srv}
	hashKey := ""
	if len(sc.HashKeys) > 0 {
		hashKey = sc.HashKeys[i]
	}
	if d.Scheme == "nats" {
		m.ring = ring.Member{Host: d.NATSURL, Port: 1, Instance: d.Instance, HashKey: hashKey}
		nc, err := r.natsConn(d.NATSURL)
		if err != nil {
			return nil, err
		}
		format := sc.Format
		for sh := 0; sh < sc.Shards; sh++ {
			subject := bus.LinesSubject(sh)
			name := d.NATSURL + "#" + subject + "#" + format
			if !sc.NATSAcks {
				name += "#noack" // a reload that changes nats_acks makes new destinations
			}
			// One /stats entry per NATS server; each shard subject is a
			// label of its own on /metrics.
			labels := fmt.Sprintf(`{destination=%q,format=%q,shard="%d"}`, d.NATSURL, format, sh)
			oc := outbound.Config{Linger: natsLinger, Publish: func(data []byte) error {
				msg := nats.NewMsg(subject)
				msg.Header.Set(bus.FormatHeader, format) // the aggregator reads lines by this
				msg.Data = data
				return nc.PublishMsg(msg)
			}}
			if sc.NATSAcks {
				oc.Publish, oc.PublishAcked = nil, r.ackedPublisher(nc, subject, format, sc.PoolConnections, sc.NATSAckTimeout.D())
			}
			sd := r.destination(name, destInfo{stats: d.NATSURL, shard: true}, labels, sc, oc)
			m.shards = append(m.shards, sd)
			m.shardSlots = append(m.shardSlots, r.slots[sd])
		}
		return m, nil
	}
	host, port, err := net.SplitHostPort(d.Endpoint.Addr)
	if err != nil { // unix socket: its path is the ring identity
		host, port = d.Endpoint.Addr, "1"
	}
	p := 0
	fmt.Sscan(port, &p)
	if p <= 0 {
		p = 1
	}
	m.ring = ring.Member{Host: host, Port: p, Instance: d.Instance, HashKey: hashKey}
	m.dest = r.destination(srv, destInfo{stats: srv}, fmt.Sprintf(`{destination=%q}`, srv), sc, outbound.Config{Endpoint: d.Endpoint})
	m.slot = r.slots[m.dest]
	switch {
	case len(sc.CheckServers) > 0 && sc.CheckServers[i] != "":
		ce, err := endpoint.Parse(sc.CheckServers[i])
		if err != nil {
			return nil, err
		}
		m.check = &ce
	case d.Endpoint.Scheme == endpoint.TCP || d.Endpoint.Scheme == endpoint.Unix || d.Endpoint.Scheme == endpoint.HTTP:
		e := d.Endpoint
		m.check = &e
	}
	return m, nil
}

// destination returns the destination named name, creating and starting it
// if it does not exist yet, with its /metrics series labelled labels.
func (r *Relay) destination(name string, info destInfo, labels string, sc *config.Section, base outbound.Config) *outbound.Destination {
	if d, ok := r.dests[name]; ok {
		return d
	}
	if d, ok := r.retired[name]; ok { // removed by a recent reload and back again
		delete(r.retired, name)
		r.dests[name] = d
		return d
	}
	base.Name = name
	base.QueueSize = sc.QueueSize
	base.Connections = sc.PoolConnections
	base.BatchBytes = sc.BatchBytes
	base.BackpressureWait = sc.BackpressureWait.D()
	base.WriteTimeout = sc.WriteTimeout.D()
	base.ConnectTimeout = sc.ConnectTimeout.D()
	if sc.SpoolDir != "" {
		sp, err := outbound.OpenSpool(filepath.Join(sc.SpoolDir, spoolName(name)), sc.SpoolMaxBytes)
		if err != nil {
			r.log.Error("spool disabled for this destination", "destination", name, "err", err)
		} else {
			base.Spool, base.ReplayRate = sp, sc.SpoolReplayRate
		}
	}
	base.Release = r.release
	d := outbound.New(base, r.log)
	d.Start()
	r.dests[name] = d
	slot := int32(len(r.slots))
	if n := len(r.freeSlots); n > 0 {
		slot, r.freeSlots = r.freeSlots[n-1], r.freeSlots[:n-1]
	}
	r.slots[d] = slot
	g := r.registerer("consthash_relay_destination_", labels, &info.metrics)
	g("sent_lines_total", loadOf(&d.SentLines))
	g("sent_bytes_total", loadOf(&d.SentBytes))
	g("dropped_queue_full_total", loadOf(&d.DroppedFull))
	g("dropped_down_total", loadOf(&d.DroppedDown))
	g("dropped_closing_total", loadOf(&d.DroppedClosing))
	g("write_errors_total", loadOf(&d.WriteErrors))
	g("connects_total", loadOf(&d.Reconnects))
	g("spooled_lines_total", loadOf(&d.Spooled))
	g("replayed_lines_total", loadOf(&d.Replayed))
	g("spool_errors_total", loadOf(&d.SpoolErrors))
	g("publish_retries_total", loadOf(&d.PublishRetries))
	g("queued_lines", func() float64 { l, _ := d.Queued(); return float64(l) })
	g("queued_bytes", func() float64 { _, b := d.Queued(); return float64(b) })
	g("down", func() float64 {
		if d.Down() {
			return 1
		}
		return 0
	})
	r.destInfo[name] = info
	return d
}

// unregisterDest forgets a closed destination's /metrics series.
func (r *Relay) unregisterDest(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, back := r.dests[name]; back { // made again meanwhile: the series are the new one's
		return
	}
	for _, n := range r.destInfo[name].metrics {
		r.Metrics.UnregisterMetric(n)
	}
	delete(r.destInfo, name)
}

// spoolName makes a destination name safe as a directory name.
func spoolName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ackedPublisher sends a shard subject's batches as NATS requests that the
// aggregator owning the shard answers once it has accumulated the lines
// (docs/wire.md): a batch not answered within timeout, or that found no
// aggregator, is sent again under the same bus.BatchHeader id, which the
// aggregator uses to take each batch once.
func (r *Relay) ackedPublisher(nc *nats.Conn, subject, format string, lanes int, timeout time.Duration) outbound.AckedPublisher {
	n := r.senders.Add(1)
	senders := make([]string, max(lanes, 1))
	for i := range senders {
		senders[i] = fmt.Sprintf("%s.%d.%d", r.id, n, i)
	}
	return func(ctx context.Context, lane int, seq uint64, data []byte) error {
		msg := nats.NewMsg(subject)
		msg.Header.Set(bus.FormatHeader, format)
		msg.Header.Set(bus.BatchHeader, bus.BatchID(senders[lane], seq))
		msg.Data = data
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if _, err := nc.RequestMsgWithContext(rctx, msg); err != nil {
			return fmt.Errorf("no acknowledgement of a batch on %s: %w", subject, err)
		}
		return nil
	}
}

func (r *Relay) natsConn(url string) (*nats.Conn, error) {
	if nc, ok := r.natsConns[url]; ok {
		return nc, nil
	}
	nc, err := nats.Connect(url, nats.Name("consthash-relay"), nats.MaxReconnects(-1), nats.ReconnectBufSize(64<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", url, err)
	}
	if err := r.watchHeartbeats(url, nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot subscribe to %s at %s: %w", bus.HeartbeatSubject, url, err)
	}
	r.natsConns[url] = nc
	return nc, nil
}

// Start begins the health checks (and self-metrics, when configured).
func (r *Relay) Start() {
	r.startChecks(r.table.Load())
	if st := r.cfg.Stats; st.Server != "" {
		r.selfWG.Add(1)
		go func() {
			defer r.selfWG.Done()
			r.sendSelfStats(r.selfCtx, st.Server, st.Prefix, st.Interval.D())
		}()
	}
}

func (r *Relay) startChecks(t *table) {
	for _, s := range t.sections {
		for _, m := range s.cluster.members {
			h := &checker{m: m, c: s.cluster, interval: s.cfg.HealthInterval.D(), timeout: s.cfg.HealthTimeout.D(),
				failures: int64(s.cfg.HealthFailures), recovery: int64(s.cfg.HealthRecovery), log: r.log,
				client: &http.Client{Timeout: s.cfg.HealthTimeout.D()}, onChange: r.healthChanged(s.cluster)}
			if m.dest != nil {
				m.dest.SetDown(m.down.Load())
				m.dest.SetOnResult(h.result) // passive detection and recovery
			}
			r.checksWG.Add(1)
			go func() {
				defer r.checksWG.Done()
				h.run(r.ctx)
			}()
		}
	}
}

func (r *Relay) healthChanged(c *cluster) func(*member, bool) {
	return func(m *member, down bool) {
		if m.dest != nil {
			m.dest.SetDown(down)
		}
		state := "up"
		if down {
			state = "down"
		}
		r.Metrics.GetOrCreateCounter(fmt.Sprintf(`consthash_relay_health_transitions_total{cluster=%q,server=%q,to=%q}`, c.name, m.url, state)).Inc()
		if err := c.rebuild(); err != nil {
			r.log.Error("cannot rebuild cluster after a health change", "cluster", c.name, "err", err)
		}
	}
}

// syncListeners starts the listeners cfg names that are not running and
// closes those it no longer names; unchanged ones keep their sockets.
func (r *Relay) syncListeners(cfg *config.Config) error {
	want := map[string]bool{}
	for _, name := range cfg.SectionNames() {
		sc := cfg.Sections[name]
		if sc.IsBackendOnly() {
			continue
		}
		maxConns := sc.MaxConnections
		if maxConns == 0 {
			maxConns = listener.MaxConnectionsFromLimit()
		}
		for _, u := range sc.Listen {
			k := name + "|" + u
			want[k] = true
			if l, ok := r.listeners[k]; ok {
				l.SetLimits(maxConns, sc.IdleTimeout.D())
				continue
			}
			ep, err := endpoint.Parse(u)
			if err != nil {
				return err
			}
			// statsd (and its proxy.js) split on "\n" only: a '\r' stays in the line.
			lcfg := listener.Config{MaxLineLength: sc.MaxLineLength, MaxConnections: maxConns, IdleTimeout: sc.IdleTimeout.D(),
				HTTP: cfg.HTTPListeners, KeepCR: sc.Format == "statsd"}
			l, err := listener.ListenSessions(ep, lcfg, r.newSession(name), r.log)
			if err != nil {
				return fmt.Errorf("section %s: %w", name, err)
			}
			r.listeners[k] = l
			r.listenerMetrics(k, name, u, l)
			if hs := l.HTTPServer(); hs != nil {
				r.httpSrv.Store(k, hs)
				// Registered once per name; a listener re-added by a reload is found again.
				httpserver.RegisterFunc(r.Metrics, "listener "+k, func() *httpserver.Server {
					if v, ok := r.httpSrv.Load(k); ok {
						return v.(*httpserver.Server)
					}
					return nil
				})
			}
			r.serveWG.Add(1)
			go func() {
				defer r.serveWG.Done()
				if err := l.Serve(); err != nil {
					r.log.Error("listener stopped", "listener", u, "err", err)
				}
			}()
			r.log.Info("listening", "section", name, "listener", u, "addr", l.Addr().String(), "max_connections", maxConns)
		}
	}
	for k, l := range r.listeners {
		if !want[k] {
			if err := l.Close(); err != nil {
				r.log.Warn("closing listener", "listener", k, "err", err)
			}
			delete(r.listeners, k)
			for _, n := range r.lnMetrics[k] {
				r.Metrics.UnregisterMetric(n)
			}
			delete(r.lnMetrics, k)
			r.httpSrv.Delete(k)
		}
	}
	return nil
}

// listenerMetrics puts a listener's counters on /metrics.
func (r *Relay) listenerMetrics(k, section, url string, l *listener.Listener) {
	labels := fmt.Sprintf(`{section=%q,listener=%q}`, section, url)
	var names []string
	g := r.registerer("consthash_relay_listener_", labels, &names)
	g("lines_total", loadOf(&l.Lines))
	g("bytes_total", loadOf(&l.Bytes))
	g("too_long_total", loadOf(&l.TooLong))
	g("rejected_total", loadOf(&l.Rejected))
	g("connections_total", loadOf(&l.Connections))
	g("refused_total", loadOf(&l.Refused))
	g("idle_closed_total", loadOf(&l.IdleClosed))
	g("accept_errors_total", loadOf(&l.AcceptErrors))
	g("accepting", func() float64 {
		if l.Accepting() {
			return 1
		}
		return 0
	})
	r.lnMetrics[k] = names
}

// ListenerAddrs returns the bound address of every listener of a section, in
// the order of its listen list.
func (r *Relay) ListenerAddrs(section string) []net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []net.Addr
	if sc, ok := r.cfg.Sections[section]; ok {
		for _, u := range sc.Listen {
			if l, ok := r.listeners[section+"|"+u]; ok {
				out = append(out, l.Addr())
			}
		}
	}
	return out
}

// Reload swaps in a new configuration: listeners that stay keep their
// sockets, destinations that stay keep their queues. A configuration that
// cannot be applied leaves the running one untouched.
func (r *Relay) Reload(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.apply(cfg)
}

// apply is Reload with r.mu held.
func (r *Relay) apply(cfg *config.Config) error {
	t, err := r.build(cfg)
	if err != nil {
		return fmt.Errorf("reload rejected: %w", err)
	}
	old := r.table.Load()
	r.table.Store(t)
	if err := r.syncListeners(cfg); err != nil {
		r.table.Store(old)
		return fmt.Errorf("reload rejected: %w", err)
	}
	r.cfg = cfg
	// Restart health checks for the new members (old checkers end with ctx).
	r.cancel()
	r.checksWG.Wait()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.startChecks(t)
	r.closeUnused(t)
	return nil
}

// retireGrace is how long a destination a reload removed stays open: sessions
// may still hold batches for it, and a reload may bring it back.
const retireGrace = 30 * time.Second

// closeUnused retires destinations no section uses any more; they are closed
// (after sending what they hold) once retireGrace has passed.
func (r *Relay) closeUnused(t *table) {
	used := map[*outbound.Destination]bool{}
	if t != nil {
		for _, s := range t.sections {
			for _, m := range s.cluster.members {
				if m.dest != nil {
					used[m.dest] = true
				}
				for _, d := range m.shards {
					used[d] = true
				}
			}
		}
	}
	for name, d := range r.dests {
		if used[d] {
			continue
		}
		delete(r.dests, name)
		if t == nil { // start-up failed: nothing can hold a batch for it
			go r.closeDest(name, d)
			continue
		}
		r.retired[name] = d
		time.AfterFunc(retireGrace, func() {
			r.mu.Lock()
			still := r.retired[name] == d
			if still {
				delete(r.retired, name)
			}
			r.mu.Unlock()
			if still {
				r.closeDest(name, d)
			}
		})
	}
}

func (r *Relay) closeDest(name string, d *outbound.Destination) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		r.log.Warn("closing removed destination", "destination", name, "err", err)
	}
	r.mu.Lock()
	if slot, ok := r.slots[d]; ok {
		delete(r.slots, d)
		r.freeSlots = append(r.freeSlots, slot)
	}
	r.mu.Unlock()
	r.unregisterDest(name)
}

// Close stops the listeners (handling what they already read), then sends
// what the queues hold until ctx ends.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for k, l := range r.listeners {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing listener %s: %w", k, err))
		}
	}
	r.serveWG.Wait()
	r.cancel()
	r.checksWG.Wait()
	r.selfStop()
	r.selfWG.Wait()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, d := range r.retired {
		r.dests[name] = d
		delete(r.retired, name)
	}
	for _, d := range r.dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Close(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, nc := range r.natsConns {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("flushing NATS: %w", err))
		}
		nc.Close()
	}
	return errors.Join(errs...)
}

// Healthy reports whether every section can route somewhere and every
// listener accepts connections (its accept loop runs and is not backing off
// after errors such as running out of file descriptors), with details.
func (r *Relay) Healthy() (bool, map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.table.Load()
	ok := true
	details := map[string]any{}
	for name, s := range t.sections {
		h := s.cluster.healthy()
		ok = ok && h
		d := map[string]any{"healthy": h}
		if !s.cfg.IsBackendOnly() {
			accepting := map[string]bool{}
			for _, u := range s.cfg.Listen {
				if l, found := r.listeners[name+"|"+u]; found {
					accepting[u] = l.Accepting()
					ok = ok && accepting[u]
				}
			}
			d["listeners_accepting"] = accepting
		}
		details[name] = d
	}
	// Lines published to shards no aggregator reads are lost.
	if mm := r.shardMismatches(t); len(mm) > 0 {
		ok = false
		details["nats_shard_mismatch"] = mm
	}
	return ok, details
}

// lineFormat is a section's line format.
type lineFormat uint8

const (
	formatGraphite lineFormat = iota
	formatStatsd
	formatRegex
)

// keyOf extracts the routing key of a line in the section's format, and the
// line to forward (rewritten for carbon-c-relay clusters).
func (s *section) keyOf(sess *session, b []byte) (key, out []byte, err error) {
	switch s.format {
	case formatStatsd:
		// proxy.js hashes the text before the first ':'; the line is
		// forwarded as sent once it holds at least one valid value.
		_, values, bad := sess.statsd.Parse(b)
		if len(values) == 0 {
			if len(bad) > 0 {
				return nil, nil, bad[0]
			}
			return nil, nil, &line.Error{Format: "statsd", Reason: line.ReasonEmpty, Msg: "empty line"}
		}
		i := indexByte(b, ':')
		return b[:i], b, nil
	case formatRegex:
		k, _, err := s.regex.Parse(b)
		return k, b, err
	}
	var g line.Graphite
	if s.crelay != nil {
		// Most lines: carbon-c-relay leaves them as they are, so they are
		// forwarded as read (no copy), checked and split in one pass.
		if n, ok := s.crelay.ParseUnchanged(b, &g); ok {
			return b[:n], b, nil
		}
		if n, ok := s.crelay.Unchanged(b); ok {
			if err := line.ParseGraphiteKeyed(b, n, &g); err != nil {
				return nil, nil, err
			}
			return b[:n], b, nil
		}
	}
	if err := line.ParseGraphite(b, &g); err != nil {
		return nil, nil, err
	}
	if s.crelay != nil {
		out, n, ok := s.crelay.Normalize(sess.norm[:0], b)
		sess.norm = out
		if !ok {
			return nil, nil, &line.Error{Format: "graphite", Reason: line.ReasonKey, Msg: "carbon-c-relay would discard this line"}
		}
		return out[:n], out, nil
	}
	return g.Key, b, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return len(b)
}

// Servers describes every section's servers for /servers.
func (r *Relay) Servers() map[string]any {
	t := r.table.Load()
	out := map[string]any{}
	for name, s := range t.sections {
		var list []map[string]any
		for _, m := range s.cluster.members {
			e := map[string]any{"server": m.url, "down": m.down.Load()}
			if m.dest != nil {
				l, b := m.dest.Queued()
				e["queued_lines"], e["queued_bytes"] = l, b
				e["sent_lines"] = m.dest.SentLines.Load()
			}
			list = append(list, e)
		}
		out[name] = map[string]any{"cluster": s.cluster.kind, "replication": s.cluster.repl, "servers": list,
			"endpoints": []string{"/" + name + "/addserver", "/" + name + "/purgeserver"}}
	}
	return out
}

// HashCheck tells where key goes in every section, with its hash position.
func (r *Relay) HashCheck(key string) map[string]any {
	t := r.table.Load()
	out := map[string]any{}
	names := make([]string, 0, len(t.sections))
	for n := range t.sections {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := t.sections[name]
		var scratch []int
		ms := s.cluster.pick(nil, []byte(key), &scratch)
		urls := make([]string, len(ms))
		for i, m := range ms {
			urls[i] = m.url
		}
		e := map[string]any{"cluster": s.cluster.kind, "servers": urls}
		if ls := s.cluster.live.Load(); ls.ring != nil {
			e["position"] = ls.ring.Position([]byte(key))
		}
		if s.shards > 0 {
			e["nats_subject"] = bus.LinesSubject(ring.Shard([]byte(key), s.shards))
		}
		out[name] = e
	}
	return out
}

// registerer returns a function that registers a series prefix+metric+labels
// read by f, replacing one a closed listener or destination of the same name
// may still hold, and notes its name in names so it can be unregistered.
func (r *Relay) registerer(prefix, labels string, names *[]string) func(metric string, f func() float64) {
	return func(metric string, f func() float64) {
		n := prefix + metric + labels
		r.Metrics.UnregisterMetric(n)
		r.Metrics.GetOrCreateGauge(n, f)
		*names = append(*names, n)
	}
}

// loadOf reads a counter for a gauge.
func loadOf(v *atomic.Uint64) func() float64 { return func() float64 { return float64(v.Load()) } }
