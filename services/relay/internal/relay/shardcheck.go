package relay

import (
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/ratelog"
)

// heartbeatTTL is how long an aggregator's heartbeat counts: aggregators
// announce themselves every membership interval (1 s by default), so one not
// heard from for this long has gone.
const heartbeatTTL = 15 * time.Second

// shardCheck holds what the aggregators announce on the NATS servers the
// relay publishes lines to, so that a section publishing with another shard
// count than they read is noticed: core NATS drops a message no one
// subscribes to, so those lines would vanish without a trace.
type shardCheck struct {
	log  *ratelog.Limiter
	mu   sync.Mutex
	aggs map[string]announced // by aggregator id
}

type announced struct {
	url    string // the NATS server it was heard on
	shards int    // 0: unknown (an aggregator from before the check)
	at     time.Time
}

func newShardCheck(r *ratelog.Limiter) *shardCheck {
	return &shardCheck{log: r, aggs: map[string]announced{}}
}

// watchHeartbeats subscribes to the aggregators' heartbeats on a NATS
// connection the relay publishes lines on.
func (r *Relay) watchHeartbeats(url string, nc *nats.Conn) error {
	_, err := nc.Subscribe(bus.HeartbeatSubject, func(m *nats.Msg) { r.heartbeat(url, m.Data) })
	return err
}

// heartbeat records an aggregator's announcement and counts (and logs, rate
// limited) each section publishing to its NATS server with another shard
// count.
func (r *Relay) heartbeat(url string, data []byte) {
	var hb bus.Heartbeat
	if hb.Decode(data) != nil {
		return
	}
	c := r.shardCheck
	c.mu.Lock()
	if hb.Leaving {
		delete(c.aggs, hb.ID)
	} else {
		c.aggs[hb.ID] = announced{url: url, shards: hb.Shards, at: time.Now()}
	}
	c.mu.Unlock()
	if hb.Leaving || hb.Shards == 0 {
		return
	}
	t := r.table.Load()
	if t == nil {
		// A heartbeat before the first table is stored (the subscription
		// starts first): the next one, a second later, is checked.
		return
	}
	for _, s := range t.sections {
		if s.shards != hb.Shards && publishesTo(s, url) {
			s.st.shardMismatch.Inc()
			c.log.Warn("an aggregator reads another number of line shards than this section publishes to: lines on shards no aggregator reads are lost",
				"section", s.name, "shards", s.shards, "aggregator", hb.ID, "aggregator_shards", hb.Shards, "nats", url)
		}
	}
}

// publishesTo reports whether a section publishes lines to the NATS server url.
func publishesTo(s *section, url string) bool {
	for _, m := range s.cluster.members {
		if len(m.shards) > 0 && m.ring.Host == url {
			return true
		}
	}
	return false
}

// shardMismatches lists, for /ops/status, each live aggregator whose shard
// count differs from that of a section publishing to its NATS server.
func (r *Relay) shardMismatches(t *table) []map[string]any {
	c := r.shardCheck
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for id, a := range c.aggs {
		if time.Since(a.at) > heartbeatTTL {
			delete(c.aggs, id)
			continue
		}
		if a.shards == 0 {
			continue
		}
		for _, s := range t.sections {
			if s.shards != a.shards && publishesTo(s, a.url) {
				out = append(out, map[string]any{"section": s.name, "shards": s.shards, "aggregator": id, "aggregator_shards": a.shards})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i]["section"] != out[j]["section"] {
			return out[i]["section"].(string) < out[j]["section"].(string)
		}
		return out[i]["aggregator"].(string) < out[j]["aggregator"].(string)
	})
	return out
}
