// Package config is the writer's configuration: TOML over defaults,
// validated at start-up with errors naming the file, key and reason.
package config

import (
	"os"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/pkg/store"
)

// Config is the writer's whole configuration.
type Config struct {
	File           string          `toml:"-"`
	Admin          admin.Config    `toml:"admin"`
	Log            Log             `toml:"log"`
	NATS           string          `toml:"nats"`   // NATS URL with JetStream
	Stream         string          `toml:"stream"` // the rollup stream
	StreamMaxBytes int64           `toml:"stream_max_bytes"`
	StreamMaxAge   config.Duration `toml:"stream_max_age"`
	StreamReplicas int             `toml:"stream_replicas"` // JetStream servers holding the stream, if this writer makes it
	ID             string          `toml:"id"`              // member id prefix; a random suffix is added per start
	Shards         int             `toml:"shards"`          // rollup shards, the aggregators' shards
	Membership     Membership      `toml:"membership"`
	Durable        string          `toml:"durable"` // consumer name prefix: shard n is read by <durable>-<n>
	Batch          int             `toml:"batch"`   // messages per fetch and write
	// PersistInterval is how often a shard's dirty open blocks are written
	// (stores with blocks).
	PersistInterval config.Duration `toml:"persist_interval"`
	// CoarsePersistInterval is how often the dirty blocks of a resolution
	// whose step is at least CoarseStep are written (at least every
	// persist_interval): such a block gets a point a minute or fewer, so
	// writing it at every persist_interval is a block write per point.
	CoarsePersistInterval config.Duration `toml:"coarse_persist_interval"`
	CoarseStep            config.Duration `toml:"coarse_step"`
	// MaxOpenBlocks bounds the blocks held in memory over every owned shard.
	MaxOpenBlocks int `toml:"max_open_blocks"`
	// MaxOpenBytes bounds the bytes of those blocks (their encodings, their
	// points not persisted yet and a fixed cost each).
	MaxOpenBytes int64 `toml:"max_open_bytes"`
	// RecentMaxPoints bounds a reply to a recent-points request.
	RecentMaxPoints int             `toml:"recent_max_points"`
	BatchWait       config.Duration `toml:"batch_wait"`
	AckWait         config.Duration `toml:"ack_wait"`
	MaxDeliver      int             `toml:"max_deliver"`     // tries before a message is dead-lettered
	RetryMaxDelay   config.Duration `toml:"retry_max_delay"` // longest back-off before a failed message comes back
	DeadLetter      string          `toml:"dead_letter"`     // subject
	WriteTimeout    config.Duration `toml:"write_timeout"`
	ExpireInterval  config.Duration `toml:"expire_interval"` // SQL: how often expired rows are deleted
	Storage         store.Config    `toml:"storage"`
}

// Membership tunes shard ownership among writers.
type Membership struct {
	Interval config.Duration `toml:"interval"` // heartbeat period; a member silent for 3 of them is gone
}

// Log configures the structured logger.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Default returns the documented defaults (docs/writer.md).
func Default() *Config {
	return &Config{
		Admin: admin.Default("127.0.0.1:8083"), Log: Log{Level: "info", Format: "text"},
		NATS: "nats://127.0.0.1:4222", Stream: bus.DefaultStream, StreamMaxBytes: bus.DefaultStreamMaxBytes,
		StreamMaxAge: config.Duration(bus.DefaultStreamMaxAge), StreamReplicas: bus.DefaultStreamReplicas, Durable: "consthash-writer",
		ID: hostname(), Shards: bus.DefaultShards, Membership: Membership{Interval: config.Duration(time.Second)},
		PersistInterval: config.Duration(time.Minute), CoarsePersistInterval: config.Duration(5 * time.Minute),
		CoarseStep: config.Duration(time.Minute), MaxOpenBlocks: 2_000_000, MaxOpenBytes: 512 << 20, RecentMaxPoints: 4096,
		Batch: 256, BatchWait: config.Duration(time.Second), AckWait: config.Duration(3 * time.Minute), MaxDeliver: 10,
		RetryMaxDelay: config.Duration(time.Minute),
		DeadLetter:    "consthash.deadletter.rollups", WriteTimeout: config.Duration(30 * time.Second),
		ExpireInterval: config.Duration(10 * time.Minute),
		Storage:        store.Config{Driver: "sqlite", DSN: "file:data/consthash.db"},
	}
}

// Load reads path over the defaults and validates it.
func Load(path string) (*Config, error) {
	c := Default()
	c.File = path
	if err := config.Load(path, c); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// Parse is Load for TOML text named name.
func Parse(name, text string) (*Config, error) {
	c := Default()
	c.File = name
	if err := config.Decode(name, text, c); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	e := func(key, f string, a ...any) error { return config.Errorf(c.File, key, f, a...) }
	if err := c.Admin.Validate(); err != nil {
		return e("admin", "%v", err)
	}
	if err := logging.CheckLevel(c.Log.Level); err != nil {
		return e("log.level", "%v", err)
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return e("log.format", "%v", err)
	}
	if c.NATS == "" {
		return e("nats", "a NATS URL is required")
	}
	if !strings.HasPrefix(c.NATS, "nats://") && !strings.HasPrefix(c.NATS, "tls://") {
		return e("nats", "%q: want nats://host:port", c.NATS)
	}
	for key, v := range map[string]string{"stream": c.Stream, "durable": c.Durable} {
		if v == "" || strings.ContainsAny(v, ". *>") {
			return e(key, "%q is not a JetStream name", v)
		}
	}
	if c.DeadLetter == "" || strings.ContainsAny(c.DeadLetter, " *>") {
		return e("dead_letter", "%q is not a NATS subject", c.DeadLetter)
	}
	if c.StreamMaxBytes <= 0 {
		return e("stream_max_bytes", "%d must be positive", c.StreamMaxBytes)
	}
	if c.StreamMaxAge <= 0 {
		return e("stream_max_age", "%s must be positive", c.StreamMaxAge)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > bus.MaxStreamReplicas {
		return e("stream_replicas", "%d is not between 1 and %d", c.StreamReplicas, bus.MaxStreamReplicas)
	}
	if c.ID == "" || strings.ContainsAny(c.ID, " \t\n") {
		return e("id", "%q must be a non-empty word", c.ID)
	}
	if c.Shards <= 0 {
		return e("shards", "%d must be positive", c.Shards)
	}
	if c.MaxOpenBlocks <= 0 {
		return e("max_open_blocks", "%d must be positive", c.MaxOpenBlocks)
	}
	if c.MaxOpenBytes <= 0 {
		return e("max_open_bytes", "%d must be positive", c.MaxOpenBytes)
	}
	if c.RecentMaxPoints <= 0 || c.RecentMaxPoints > 5000 {
		return e("recent_max_points", "%d must be from 1 to 5000 (a reply stays under NATS's 1 MiB max_payload)", c.RecentMaxPoints)
	}
	if c.Batch <= 0 {
		return e("batch", "%d must be positive", c.Batch)
	}
	if c.MaxDeliver < 1 {
		return e("max_deliver", "%d must be at least 1", c.MaxDeliver)
	}
	for _, d := range []struct {
		key string
		v   config.Duration
	}{{"batch_wait", c.BatchWait}, {"ack_wait", c.AckWait}, {"write_timeout", c.WriteTimeout},
		{"expire_interval", c.ExpireInterval}, {"retry_max_delay", c.RetryMaxDelay},
		{"persist_interval", c.PersistInterval}, {"coarse_persist_interval", c.CoarsePersistInterval},
		{"coarse_step", c.CoarseStep},
		{"membership.interval", c.Membership.Interval}} {
		if d.v <= 0 {
			return e(d.key, "%s must be positive", d.v)
		}
	}
	if c.WriteTimeout >= c.AckWait {
		return e("write_timeout", "%s must be shorter than ack_wait (%s), or JetStream redelivers while a write is still running", c.WriteTimeout, c.AckWait)
	}
	if c.PersistInterval+c.WriteTimeout >= c.AckWait {
		return e("persist_interval", "%s plus write_timeout (%s) must be shorter than ack_wait (%s): a message is acknowledged after the persist that follows it",
			c.PersistInterval, c.WriteTimeout, c.AckWait)
	}
	switch c.Storage.Driver {
	case "cassandra", "sqlite", "mysql", "file":
	default:
		return e("storage.driver", "%q is not one of cassandra, sqlite, mysql, file", c.Storage.Driver)
	}
	if err := c.Storage.Validate(); err != nil {
		return e("storage", "%v", err)
	}
	return nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "writer"
	}
	return h
}

// StreamConfig is the rollup stream as this writer would make it.
func (c *Config) StreamConfig() bus.Stream {
	return bus.Stream{Name: c.Stream, MaxBytes: c.StreamMaxBytes, MaxAge: c.StreamMaxAge.D(), Replicas: c.StreamReplicas}
}
