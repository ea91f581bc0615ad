package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Fresh points (docs/wire.md, "Recent points"): the writer holding a rollup
// shard answers requests on RecentSubject(shard) with the points it holds
// and has not stored yet, so a read sees a point within a base interval of
// its flush, long before the writer's next persist.

// RecentPrefix starts the request subjects: RecentPrefix + shard.
const RecentPrefix = "consthash.recent."

// RecentSubject is where the holder of a rollup shard answers.
func RecentSubject(shard int) string { return RecentPrefix + strconv.Itoa(shard) }

// MaxRecentPaths bounds the paths of one request.
const MaxRecentPaths = 1000

// RecentRequest asks for the not-yet-stored points of Paths at the
// resolution of Step seconds with From <= time < Until (unix seconds).
type RecentRequest struct {
	Paths []string `json:"paths"`
	Step  int64    `json:"step"`
	From  int64    `json:"from"`
	Until int64    `json:"until"`
}

// RecentPoint is one point of a reply: one producer's bin. Only points whose
// producer has no stored point at that time are sent, so a reader adds them
// to what it read from storage without counting anything twice.
type RecentPoint struct {
	Path   string  `json:"path"`
	Source string  `json:"source"`
	Time   int64   `json:"time"`
	Sum    float64 `json:"sum"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Last   float64 `json:"last"`
	LastAt int64   `json:"last_at"`
	Count  uint64  `json:"count"`
}

// RecentReply is a writer's answer; Truncated says it left points out to
// stay within its bound (the writer's recent_max_points). A writer takes
// the points path by path in the request's order, so a truncated reply holds
// every point of the paths before the last path it has points of (readers
// ask again from that path on).
type RecentReply struct {
	Points    []RecentPoint `json:"points"`
	Truncated bool          `json:"truncated,omitempty"`
}

// ErrRecent is returned for a request or reply that does not decode.
var ErrRecent = errors.New("not a recent-points message")

// Encode returns the request's message body (JSON).
func (r *RecentRequest) Encode() []byte {
	b, _ := json.Marshal(r) // strings and integers always marshal
	return b
}

// Decode reads a request, refusing one without paths, with more than
// MaxRecentPaths, a step that is not positive or an empty range.
func (r *RecentRequest) Decode(b []byte) error {
	*r = RecentRequest{}
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("%w: %v", ErrRecent, err)
	}
	switch {
	case len(r.Paths) == 0 || len(r.Paths) > MaxRecentPaths:
		return fmt.Errorf("%w: %d paths, want 1 to %d", ErrRecent, len(r.Paths), MaxRecentPaths)
	case r.Step <= 0:
		return fmt.Errorf("%w: step %d", ErrRecent, r.Step)
	case r.Until <= r.From:
		return fmt.Errorf("%w: empty range [%d, %d)", ErrRecent, r.From, r.Until)
	}
	return nil
}

// Encode returns the reply's message body (JSON). Writers store only finite
// values, so every point marshals.
func (r *RecentReply) Encode() ([]byte, error) { return json.Marshal(r) }

// Decode reads a reply.
func (r *RecentReply) Decode(b []byte) error {
	*r = RecentReply{}
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("%w: %v", ErrRecent, err)
	}
	return nil
}
