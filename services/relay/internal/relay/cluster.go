package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/outbound"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/services/relay/internal/config"
)

// member is one server of a cluster: its destination (or, for nats, one
// destination per shard subject), its ring identity and its health.
type member struct {
	url    string
	dest   *outbound.Destination   // tcp, udp, unix, http
	shards []*outbound.Destination // nats: index = shard
	ring   ring.Member
	check  *endpoint.Endpoint // active health check target; nil: none
	down   atomic.Bool
	fails  atomic.Int64 // consecutive failed checks or writes
	oks    atomic.Int64 // consecutive good checks while down
}

// liveSet is the members a cluster routes to right now.
type liveSet struct {
	members []*member // live members (all of them with the keep policy)
	ring    ring.Ring // over members, for hashed clusters
}

// cluster routes keys of one section to its members.
type cluster struct {
	name    string
	kind    string // a ring algorithm or forward, any_of, failover, blackhole
	algo    ring.Algorithm
	hashed  bool
	repl    int
	opt     ring.Options
	remove  bool // down_policy remove_node
	members []*member
	live    atomic.Pointer[liveSet]
	mu      sync.Mutex // serialises rebuilds
}

func newCluster(name string, sc *config.Section, members []*member) (*cluster, error) {
	c := &cluster{name: name, kind: sc.Cluster, hashed: sc.IsHashed(), repl: sc.Replication,
		opt: ring.Options{VirtualNodes: sc.VirtualNodes, Diverse: sc.Diverse}, remove: sc.DownPolicy == "remove_node",
		members: members}
	if c.hashed {
		c.algo = ring.Algorithm(sc.Cluster)
	}
	if err := c.rebuild(); err != nil {
		return nil, err
	}
	return c, nil
}

// rebuild recomputes the live set after a health change.
func (c *cluster) rebuild() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := &liveSet{}
	for _, m := range c.members {
		if !c.remove || !m.down.Load() {
			ls.members = append(ls.members, m)
		}
	}
	if c.hashed && len(ls.members) > 0 {
		rms := make([]ring.Member, len(ls.members))
		for i, m := range ls.members {
			rms[i] = m.ring
		}
		r, err := ring.New(c.algo, rms, c.opt)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.name, err)
		}
		ls.ring = r
	}
	c.live.Store(ls)
	return nil
}

// pick appends the members a key goes to; keyHash is the FNV-1a of the key,
// used by any_of.
func (c *cluster) pick(dst []*member, key []byte, scratch *[]int) []*member {
	ls := c.live.Load()
	if len(ls.members) == 0 {
		return dst
	}
	switch c.kind {
	case config.KindBlackhole:
		return dst
	case config.KindForward:
		return append(dst, ls.members...)
	case config.KindFailover:
		return append(dst, ls.members[0])
	case config.KindAnyOf:
		return append(dst, ls.members[fnv1a(key)%uint32(len(ls.members))])
	}
	*scratch = ls.ring.GetN((*scratch)[:0], key, c.repl)
	for _, i := range *scratch {
		dst = append(dst, ls.members[i])
	}
	return dst
}

// healthy reports whether the cluster can route anywhere.
func (c *cluster) healthy() bool {
	if c.kind == config.KindBlackhole {
		return true
	}
	for _, m := range c.members {
		if !m.down.Load() {
			return true
		}
	}
	return false
}

func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// checker runs active health checks of one member and reacts to passive
// failures (write errors).
type checker struct {
	m        *member
	c        *cluster
	interval time.Duration
	timeout  time.Duration
	failures int64
	recovery int64
	log      *slog.Logger
	onChange func(m *member, down bool)
	client   *http.Client
}

func (h *checker) run(ctx context.Context) {
	if h.m.check == nil {
		return
	}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.result(h.probe(ctx), true)
	}
}

// probe connects (tcp, unix) or GETs (http) the check endpoint.
func (h *checker) probe(ctx context.Context) error {
	e := h.m.check
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if e.Scheme == endpoint.HTTP {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL(), nil)
		if err != nil {
			return err
		}
		resp, err := h.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("GET %s: %s", e.URL(), resp.Status)
		}
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, e.Network(), e.Addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// result records one check (active) or write (passive) outcome. A member goes
// down after `failures` consecutive failures and comes back only after
// `recovery` consecutive good active checks.
func (h *checker) result(err error, active bool) {
	m := h.m
	if err != nil {
		m.oks.Store(0)
		if n := m.fails.Add(1); n >= h.failures && !m.down.Load() {
			m.down.Store(true)
			h.log.Warn("server down", "cluster", h.c.name, "server", m.url, "err", err, "consecutive_failures", n)
			h.onChange(m, true)
		}
		return
	}
	if !active {
		if !m.down.Load() {
			m.fails.Store(0)
		}
		return
	}
	m.fails.Store(0)
	if m.down.Load() {
		if n := m.oks.Add(1); n >= h.recovery {
			m.down.Store(false)
			m.oks.Store(0)
			h.log.Info("server up", "cluster", h.c.name, "server", m.url, "consecutive_good_checks", n)
			h.onChange(m, false)
		}
	}
}

// natsFormatHeader names the line format of a message on a shard subject
// ("statsd" or "graphite"); the aggregator reads lines by it.
const natsFormatHeader = "Consthash-Format"

// natsSubject is the subject of a shard.
func natsSubject(shard int) string { return "consthash.lines." + strconv.Itoa(shard) }
