// Package bus is the contract of what crosses NATS between consthash's
// services (docs/wire.md): the subjects and headers, the line shard count
// relays and aggregators must agree on, the aggregators' heartbeat that
// announces it, the rollup stream's definition, and the name rules that pick
// a series' stored column (aggregators and query-api read the same rules).
// The encodings of what the messages hold are pkg/line's and pkg/rollup's.
package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/rollup"
)

// Subjects.
const (
	// LinesPrefix starts the core NATS subjects relays publish lines to:
	// LinesPrefix + shard (LinesSubject).
	LinesPrefix = "consthash.lines."
	// RollupsPrefix starts the JetStream subjects of rollup batches:
	// RollupsPrefix + step seconds + "." + shard (RollupSubject).
	RollupsPrefix = "consthash.rollups."
	// RollupsFilter matches every rollup subject: the stream's filter.
	RollupsFilter = RollupsPrefix + ">"
	// HeartbeatSubject carries every aggregator's Heartbeat.
	HeartbeatSubject = "consthash.aggregators.heartbeat"
	// IndexSubject carries the paths writers added to the index, one per line.
	IndexSubject = "consthash.index.new"
	// FlushedSubject is where an aggregator with output.lines = nats://...
	// sends its flushed lines.
	FlushedSubject = "consthash.flushed"
	// AggregatorsBucket is the JetStream KV bucket where each aggregator
	// checkpoints the coarse bins it has open, so another can rebuild them
	// after a crash (docs/aggregator.md).
	AggregatorsBucket = "CONSTHASH_AGGREGATORS"
)

// Headers.
const (
	// FormatHeader names the line format of a message on a lines subject:
	// "statsd" or "graphite" (graphite when absent).
	FormatHeader = "Consthash-Format"
	// ReasonHeader says why a writer dead-lettered a rollup message.
	ReasonHeader = "Consthash-Reason"
	// SubjectHeader is the subject a dead-lettered message came from.
	SubjectHeader = "Consthash-Subject"
)

// DefaultShards is the line shard count relays and aggregators use unless
// configured; both must use the same. A line's shard is
// ring.Shard(key, shards).
const DefaultShards = 64

// LinesSubject returns the subject of a line shard.
func LinesSubject(shard int) string { return LinesPrefix + strconv.Itoa(shard) }

// RollupSubject returns the JetStream subject of a resolution's batches of
// one shard: consthash.rollups.<step seconds>.<shard>. The shard of a point
// is PathShard(point.Path, shards): one writer owns a shard, so one writer
// builds a series' blocks.
func RollupSubject(r rollup.Resolution, shard int) string {
	return RollupsPrefix + strconv.FormatInt(r.Seconds(), 10) + "." + strconv.Itoa(shard)
}

// RollupResolutionFilter matches every shard's batches of one resolution:
// consthash.rollups.<step seconds>.*.
func RollupResolutionFilter(r rollup.Resolution) string {
	return RollupsPrefix + strconv.FormatInt(r.Seconds(), 10) + ".*"
}

// RollupShardFilter matches every resolution's batches of one shard:
// consthash.rollups.*.<shard>, the filter of that shard's writer consumer.
func RollupShardFilter(shard int) string { return RollupsPrefix + "*." + strconv.Itoa(shard) }

// PathShard returns the shard of a stored path among n: ring.Shard, the
// function relays shard lines with, over the path. Aggregators publish a
// point under its path's shard, writers own shards, and query-api asks the
// owner of a path's shard for its points not yet stored.
func PathShard(path string, n int) int { return ring.Shard([]byte(path), n) }

// Heartbeat is what every aggregator announces on HeartbeatSubject each
// membership interval: itself, the line shard count it reads (relays check
// theirs against it), the shards it holds, and whether it is leaving.
type Heartbeat struct {
	ID      string `json:"id"`
	Shards  int    `json:"shards"`
	Owned   []int  `json:"owned"`
	Leaving bool   `json:"leaving,omitempty"`
}

// ErrHeartbeat is returned for a message that is not a heartbeat.
var ErrHeartbeat = errors.New("not an aggregator heartbeat")

// Encode returns the heartbeat's message body (JSON).
func (h *Heartbeat) Encode() []byte {
	b, _ := json.Marshal(h) // strings, ints and a bool always marshal
	return b
}

// Decode reads a heartbeat message body. A heartbeat without an id is
// refused; one without a shard count (an aggregator older than the check)
// decodes with Shards 0, which means unknown.
func (h *Heartbeat) Decode(b []byte) error {
	*h = Heartbeat{}
	if err := json.Unmarshal(b, h); err != nil {
		return fmt.Errorf("%w: %v", ErrHeartbeat, err)
	}
	if h.ID == "" {
		return fmt.Errorf("%w: no id", ErrHeartbeat)
	}
	if h.Shards < 0 {
		return fmt.Errorf("%w: shards %d", ErrHeartbeat, h.Shards)
	}
	return nil
}
