package bus

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/consthash/consthash/pkg/ring"
)

// Shard ownership, shared by aggregators (line shards) and writers (rollup
// shards): every member announces a Heartbeat with the shards it holds each
// membership interval; Members keeps what it heard, and the owner a shard
// should have is Owner over the live members (rendezvous hashing). How a
// shard moves from one holder to the next is the service's: aggregators
// take a shard before its old holder lets it go (queue groups keep each line
// with one of them), writers only after (a block is built by one writer).

// WriterHeartbeatSubject carries every writer's Heartbeat (writers announce
// the rollup shards they hold on it; HeartbeatSubject is the aggregators').
const WriterHeartbeatSubject = "consthash.writers.heartbeat"

// Members is the table of a group's other members, as their heartbeats
// announce them. It is safe for concurrent use.
type Members struct {
	self string
	mu   sync.Mutex
	m    map[string]member
}

type member struct {
	seen    time.Time
	owned   []int
	leaving bool
}

// NewMembers returns an empty table for the member self (whose own
// heartbeats Observe ignores).
func NewMembers(self string) *Members { return &Members{self: self, m: map[string]member{}} }

// Observe records a heartbeat heard at now.
func (ms *Members) Observe(hb Heartbeat, now time.Time) {
	if hb.ID == ms.self {
		return
	}
	ms.mu.Lock()
	ms.m[hb.ID] = member{seen: now, owned: hb.Owned, leaving: hb.Leaving}
	ms.mu.Unlock()
}

// Alive reports whether id was heard within timeout of now.
func (ms *Members) Alive(id string, now time.Time, timeout time.Duration) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.m[id]
	return ok && now.Sub(m.seen) <= timeout
}

// View is the group as one member sees it at one moment.
type View struct {
	// Live is every member not leaving, sorted, this one included unless
	// it is leaving: the candidates of Owner.
	Live []string
	// Holders lists, per shard, the other members that announce holding it.
	Holders map[int][]string
	// Others counts the other members alive and not leaving.
	Others int
}

// View forgets the members not heard within timeout of now and returns the
// group as it is left; selfLeaving keeps this member out of Live.
func (ms *Members) View(now time.Time, timeout time.Duration, selfLeaving bool) View {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	v := View{Holders: map[int][]string{}}
	for id, m := range ms.m {
		if now.Sub(m.seen) > timeout {
			delete(ms.m, id)
			continue
		}
		for _, s := range m.owned {
			v.Holders[s] = append(v.Holders[s], id)
		}
		if !m.leaving {
			v.Live = append(v.Live, id)
			v.Others++
		}
	}
	if !selfLeaving {
		v.Live = append(v.Live, ms.self)
	}
	slices.Sort(v.Live)
	return v
}

// HeldByOther reports whether a member other than except holds shard.
func (v View) HeldByOther(shard int, except string) bool {
	for _, id := range v.Holders[shard] {
		if id != except {
			return true
		}
	}
	return false
}

// Owner returns the live member a shard should belong to: the one with the
// highest murmur3(id + ":" + shard), ties to the smaller id; "" when live is
// empty.
func Owner(live []string, shard int) string {
	best, bestScore := "", uint32(0)
	for _, id := range live {
		s := ring.Murmur3Sum32([]byte(id + ":" + strconv.Itoa(shard)))
		if best == "" || s > bestScore || (s == bestScore && id < best) {
			best, bestScore = id, s
		}
	}
	return best
}
