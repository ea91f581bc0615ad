package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	// The destinations' numbers in Relay.slots.
	slot       int32
	shardSlots []int32
	ring       ring.Member
	check      *endpoint.Endpoint // active health check target; nil: none
	down       atomic.Bool
	fails      atomic.Int64 // consecutive failed checks or writes
	oks        atomic.Int64 // consecutive good checks while down
}

// held reports whether the member's destinations hold lines (see rebuild).
func (m *member) held() bool {
	if m.dest != nil {
		return m.dest.Held()
	}
	return len(m.shards) > 0 && m.shards[0].Held()
}

// liveSet is the members a cluster routes to right now.
type liveSet struct {
	members []*member // live members (all of them with the keep policy, or when none is up)
	ring    ring.Ring // over members, for hashed clusters
	held    bool      // no member is up: lines are held for them, not dropped
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

// rebuild recomputes the live set after a health change. When no member is
// up, remove_node has nowhere to send a key: the cluster then routes over
// all its members, as keep does, and their destinations hold the lines
// (queue with backpressure, or spool) until a member comes back, instead of
// dropping them as unroutable.
func (c *cluster) rebuild() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := &liveSet{held: true}
	for _, m := range c.members {
		if !m.down.Load() {
			ls.held = false
		}
	}
	for _, m := range c.members {
		down := m.down.Load()
		if !c.remove || ls.held || !down {
			ls.members = append(ls.members, m)
		}
		// With remove_node a member stays held until it is itself back up:
		// it gets no new keys once another member is up, but what sessions
		// had already batched for it must not be dropped. With keep, new
		// lines keep going to a down member, which must not stall senders
		// once another member is up.
		hold := ls.held || (c.remove && down && m.held())
		if m.dest != nil {
			m.dest.SetHold(hold)
		}
		for _, d := range m.shards {
			d.SetHold(hold)
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

// pick appends the members a key goes to.
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
		h.result(h.probe(ctx))
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
// down after `failures` consecutive failures and comes back after `recovery`
// consecutive good outcomes: a check that connected, or a batch its
// destination's writer managed to send (the writers of a held destination
// keep retrying, so a member is re-admitted as soon as a connection to it
// succeeds).
func (h *checker) result(err error) {
	m := h.m
	if err != nil {
		m.oks.Store(0)
		if n := m.fails.Add(1); n >= h.failures && m.down.CompareAndSwap(false, true) {
			h.log.Warn("server down", "cluster", h.c.name, "server", m.url, "err", err, "consecutive_failures", n)
			h.onChange(m, true)
		}
		return
	}
	m.fails.Store(0)
	if m.down.Load() {
		if n := m.oks.Add(1); n >= h.recovery && m.down.CompareAndSwap(true, false) {
			m.oks.Store(0)
			h.log.Info("server up", "cluster", h.c.name, "server", m.url, "consecutive_good_checks", n)
			h.onChange(m, false)
		}
	}
}

// natsLinger is how long a shard's lane gathers lines into one NATS message
// (up to batch_bytes): one read of a client's lines holds few lines of each
// shard, and a message per read and shard carried about two lines.
const natsLinger = 200 * time.Millisecond

// laneDest is one destination of a line and the lane of its key there.
type laneDest struct {
	d    *outbound.Destination
	lane int
	slot int32 // d's number in Relay.slots
}

// appendDests appends where a key's line goes when it goes to members:
// each member's destination (a NATS member's shard subject by the key) and
// the key's lane there. The key's lane hash is computed once, when a
// destination has more than one lane.
func appendDests(dst []laneDest, members []*member, key []byte) []laneDest {
	var h uint32
	hashed := false
	for _, m := range members {
		d, slot := m.dest, m.slot
		if d == nil {
			sh := ring.Shard(key, len(m.shards))
			d, slot = m.shards[sh], m.shardSlots[sh]
		}
		lane := 0
		if d.Lanes() > 1 {
			if !hashed {
				h, hashed = outbound.LaneHash(key), true
			}
			lane = d.Lane(h)
		}
		dst = append(dst, laneDest{d: d, lane: lane, slot: slot})
	}
	return dst
}
