package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream is the rollup stream's configurable part; Config makes the rest.
type Stream struct {
	Name     string
	MaxBytes int64         // oldest batches are dropped past it
	MaxAge   time.Duration // and past it
	// Replicas is how many JetStream servers of a cluster hold the stream
	// (1 to MaxStreamReplicas): 3 survives the loss of one server.
	Replicas int
}

// The stream's defaults, the same for aggregators and writers.
const (
	DefaultStream         = "CONSTHASH_ROLLUPS"
	DefaultStreamMaxBytes = 1 << 30
	DefaultStreamMaxAge   = 24 * time.Hour
	DefaultStreamReplicas = 1
	// MaxStreamReplicas is JetStream's limit on a stream's replicas.
	MaxStreamReplicas = 5
	// Duplicates is how long JetStream remembers a batch's message id, so a
	// republished batch is stored once.
	Duplicates = 10 * time.Minute
)

// DefaultStreamConfig returns the stream's defaults.
func DefaultStreamConfig() Stream {
	return Stream{Name: DefaultStream, MaxBytes: DefaultStreamMaxBytes, MaxAge: DefaultStreamMaxAge, Replicas: DefaultStreamReplicas}
}

// Config is the whole definition of the rollup stream: every rollup
// subject, on disk, bounded by MaxBytes and MaxAge (the oldest go first),
// deduplicating message ids for Duplicates, on Replicas servers (0 means
// DefaultStreamReplicas).
func (s Stream) Config() jetstream.StreamConfig {
	replicas := s.Replicas
	if replicas == 0 {
		replicas = DefaultStreamReplicas
	}
	return jetstream.StreamConfig{Name: s.Name, Subjects: []string{RollupsFilter}, Storage: jetstream.FileStorage,
		MaxBytes: s.MaxBytes, MaxAge: s.MaxAge, Discard: jetstream.DiscardOld, Duplicates: Duplicates, Replicas: replicas}
}

// EnsureStream is the one place the rollup stream is made. With update, the
// stream is created or updated to s (aggregators: the producers own its
// limits); without, it is created only if missing and an existing stream is
// left as it is (writers, which may start first). It returns the stream and
// whether its limits or replicas differ from s.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s Stream, update bool) (jetstream.Stream, bool, error) {
	var st jetstream.Stream
	var err error
	if update {
		st, err = js.CreateOrUpdateStream(ctx, s.Config())
	} else {
		st, err = js.Stream(ctx, s.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(ctx, s.Config())
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // made meanwhile by another
				st, err = js.Stream(ctx, s.Name)
			}
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("stream %s: %w", s.Name, err)
	}
	have := st.CachedInfo().Config
	differs := have.MaxBytes != s.MaxBytes || have.MaxAge != s.MaxAge || have.Replicas != s.Config().Replicas
	return st, differs, nil
}
