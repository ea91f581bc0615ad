package relay

import (
	"bytes"
	"net"
	"strings"

	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
	"github.com/consthash/consthash/pkg/outbound"
	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/services/relay/internal/config"
)

// session routes the lines of one connection. It batches lines per
// destination and hands the batches over when the connection's reader is
// about to block (Flush) or a batch is full.
type session struct {
	r       *Relay
	section string
	peer    string
	statsd  line.StatsdParser
	norm    []byte
	picks   []*member
	scratch []int
	batches []batch
}

type batch struct {
	dest  *outbound.Destination
	lane  int // one key's lines share a lane, so they stay in order
	buf   []byte
	lines int
}

func (r *Relay) newSession(section string) listener.NewSession {
	return func(peer net.Addr) listener.Session {
		s := &session{r: r, section: section}
		if peer != nil {
			s.peer = peer.String()
		}
		return s
	}
}

// Line routes one line; false means it was bad or rejected by a rule.
func (s *session) Line(b []byte) bool {
	t := s.r.table.Load()
	sec := t.sections[s.section]
	if sec == nil { // the section went away in a reload; its listener is closing
		return false
	}
	sec.st.in.Inc()
	key, out, err := sec.keyOf(s, b)
	if err != nil {
		sec.st.bad[line.ReasonOf(err)].Inc()
		s.r.badLog.Warn("bad line", "section", sec.name, "peer", s.peer, "err", err, "line", truncate(b))
		return false
	}
	target := sec
	for i := range sec.rules {
		rule := &sec.rules[i]
		if !matches(rule, key) {
			continue
		}
		if rule.Reject {
			sec.st.rejected.Inc()
			return false
		}
		if tgt := t.sections[rule.Backend]; tgt != nil {
			target = tgt
		}
		break
	}
	if target.cluster.kind == config.KindBlackhole {
		target.st.blackholed.Inc()
		return true
	}
	s.picks = target.cluster.pick(s.picks[:0], key, &s.scratch)
	if len(s.picks) == 0 {
		target.st.unroutable.Inc()
		s.r.badLog.Warn("no live server", "section", target.name)
		return false
	}
	for _, m := range s.picks {
		d := m.dest
		if d == nil {
			d = m.shards[ring.Shard(key, len(m.shards))]
		}
		s.add(d, d.LaneOf(key), out)
	}
	if target != sec {
		target.st.in.Inc()
	}
	target.st.routed.Inc()
	return true
}

func matches(r *config.Rule, key []byte) bool {
	switch {
	case r.Prefix != "":
		return bytes.HasPrefix(key, []byte(r.Prefix))
	case r.Substring != "":
		return bytes.Contains(key, []byte(r.Substring))
	default:
		return r.Re().Match(key)
	}
}

// add appends a line to the batch of the destination's lane.
func (s *session) add(d *outbound.Destination, lane int, l []byte) {
	var b *batch
	for i := range s.batches {
		if s.batches[i].dest == d && s.batches[i].lane == lane {
			b = &s.batches[i]
			break
		}
	}
	if b == nil {
		s.batches = append(s.batches, batch{dest: d, lane: lane})
		b = &s.batches[len(s.batches)-1]
	}
	if b.buf == nil {
		b.buf = (*s.r.bufs.Get().(*[]byte))[:0]
	}
	b.buf = append(b.buf, l...)
	b.buf = append(b.buf, '\n')
	b.lines++
	if len(b.buf) >= d.MaxChunk() {
		s.send(b)
	}
}

func (s *session) send(b *batch) {
	if b.lines == 0 {
		return
	}
	b.dest.SendLane(b.lane, outbound.Chunk{Data: b.buf, Lines: b.lines})
	b.buf, b.lines = nil, 0
}

// Flush hands every batch to its destination.
func (s *session) Flush() {
	for i := range s.batches {
		s.send(&s.batches[i])
	}
	if len(s.batches) > 64 {
		s.batches = s.batches[:0] // forget destinations of an old table
	}
}

// Close flushes what is left.
func (s *session) Close() { s.Flush() }

func truncate(b []byte) string {
	if len(b) > 200 {
		return strings.ToValidUTF8(string(b[:200]), "?") + "..."
	}
	return strings.ToValidUTF8(string(b), "?")
}
