package relay

import (
	"bytes"
	"net"
	"strings"

	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
	"github.com/consthash/consthash/pkg/outbound"
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
	dests   []laneDest
	batches []batch
	// slots maps a destination's number (Relay.slots) to 1 + the index in
	// batches of its lane 0; its other lanes follow (0: none yet). A number
	// a closed destination had may name a new one: batches found by it are
	// checked to be the destination's.
	slots []int32
	// The table and section of the last line: looked up again only when a
	// reload swaps the table.
	table *table
	sec   *section
	// Counts of lines in and routed not yet added to the sections' shared
	// counters: they are added before any batch is handed over (so a line a
	// destination holds is counted) and at every Flush, instead of two
	// contended atomic additions per line.
	counts []pending
}

// pending is a section's counts a session has not published yet.
type pending struct {
	st         *sectionStats
	in, routed uint64
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

// count returns the pending counts of a section's stats.
func (s *session) count(st *sectionStats) *pending {
	for i := range s.counts {
		if s.counts[i].st == st {
			return &s.counts[i]
		}
	}
	if len(s.counts) >= 16 { // sections of old tables: publish and forget them
		s.publish()
		s.counts = s.counts[:0]
	}
	s.counts = append(s.counts, pending{st: st})
	return &s.counts[len(s.counts)-1]
}

// publish adds the pending counts to the shared counters.
func (s *session) publish() {
	for i := range s.counts {
		p := &s.counts[i]
		if p.in > 0 {
			p.st.in.Add(int(p.in))
			p.in = 0
		}
		if p.routed > 0 {
			p.st.routed.Add(int(p.routed))
			p.routed = 0
		}
	}
}

// Line routes one line; false means it was bad or rejected by a rule.
func (s *session) Line(b []byte) bool {
	t := s.r.table.Load()
	if t != s.table {
		s.table, s.sec = t, t.sections[s.section]
	}
	sec := s.sec
	if sec == nil { // the section went away in a reload; its listener is closing
		return false
	}
	pc := s.count(sec.st)
	pc.in++
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
	if target != sec {
		pc = s.count(target.st)
		pc.in++
	}
	dests := s.route(target.cluster, key)
	if len(dests) == 0 {
		target.st.unroutable.Inc()
		s.r.badLog.Warn("no live server", "section", target.name)
		return false
	}
	// Counted before it is batched: add may hand a batch over, and what a
	// destination holds is counted.
	pc.routed++
	for i := range dests {
		s.add(&dests[i], out)
	}
	return true
}

// route returns where a key's line goes in cluster c: each member's
// destination and the key's lane there. The result is valid until the next
// call.
func (s *session) route(c *cluster, key []byte) []laneDest {
	s.picks = c.pick(s.picks[:0], key, &s.scratch)
	s.dests = appendDests(s.dests[:0], s.picks, key)
	return s.dests
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

// add appends a line to the batch of the destination's lane. A
// destination's batches, one per lane, are made together the first time
// the session sends it a line, and found again by its slot.
func (s *session) add(ld *laneDest, l []byte) {
	d := ld.d
	if int(ld.slot) >= len(s.slots) {
		s.slots = append(s.slots, make([]int32, int(ld.slot)+1-len(s.slots))...)
	}
	first := int(s.slots[ld.slot]) - 1
	if first < 0 || s.batches[first].dest != d {
		first = len(s.batches)
		for lane := range d.Lanes() {
			s.batches = append(s.batches, batch{dest: d, lane: lane})
		}
		s.slots[ld.slot] = int32(first + 1)
	}
	b := &s.batches[first+ld.lane]
	// A batch is handed over before a line would take it past batch_bytes,
	// so a buffer of batch_bytes never grows (a longer line goes alone).
	if b.lines > 0 && len(b.buf)+len(l)+1 > d.MaxChunk() {
		s.send(b)
	}
	if b.buf == nil {
		b.buf = s.r.buffer(d.MaxChunk())
	}
	b.buf = append(b.buf, l...)
	b.buf = append(b.buf, '\n')
	b.lines++
}

func (s *session) send(b *batch) {
	if b.lines == 0 {
		return
	}
	s.publish()
	b.dest.SendLane(b.lane, outbound.Chunk{Data: b.buf, Lines: b.lines})
	b.buf, b.lines = nil, 0
}

// Flush hands every batch to its destination.
func (s *session) Flush() {
	s.publish()
	for i := range s.batches {
		s.send(&s.batches[i])
	}
	if len(s.batches) > 64 {
		s.batches = s.batches[:0] // forget destinations of an old table
		clear(s.slots)
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
