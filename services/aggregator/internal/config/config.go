// Package config is the aggregator's configuration: TOML over defaults,
// validated at start-up with errors naming the file, key and reason.
package config

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
)

// Config is the aggregator's whole configuration.
type Config struct {
	File       string       `toml:"-"`
	Admin      admin.Config `toml:"admin"`
	Log        Log          `toml:"log"`
	ID         string       `toml:"id"`     // producer id prefix; a random suffix is added per start
	Times      []string     `toml:"times"`  // resolutions, the first is the flush interval
	Shards     int          `toml:"shards"` // NATS line shards (as the relays publish them)
	NATS       NATS         `toml:"nats"`
	Membership Membership   `toml:"membership"`
	Listeners  []Listener   `toml:"listeners"`
	Statsd     Statsd       `toml:"statsd"`
	Graphite   Graphite     `toml:"graphite"`
	Output     Output       `toml:"output"`
	MaxSeries  int          `toml:"max_series"` // keys held at once over all accumulators; 0: no limit

	Resolutions []rollup.Resolution `toml:"-"`
	StatsdCfg   statsd.Config       `toml:"-"`
	Rules       []bus.Rule          `toml:"-"`
}

// Log configures the structured logger.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// NATS is where line shards come from and rollups go.
type NATS struct {
	URL string `toml:"url"` // "" disables NATS input and rollup publishing
	// DedupSenders bounds, per shard, the relay senders whose last batch
	// number is remembered to drop copies of acknowledged batches; when full,
	// the one seen longest ago is forgotten (nats_dedup_evicted).
	DedupSenders int `toml:"dedup_senders"`
}

// DefaultDedupSenders is [nats] dedup_senders' default.
const DefaultDedupSenders = 4096

// Membership tunes shard ownership among aggregators.
type Membership struct {
	Interval config.Duration `toml:"interval"` // heartbeat period; a member silent for 3 of them is gone
}

// Listener is a direct input: a statsd or graphite server.
type Listener struct {
	URL           string `toml:"url"`
	Format        string `toml:"format"` // statsd or graphite
	MaxLineLength int    `toml:"max_line_length"`
	// Readers: a statsd udp listener's SO_REUSEPORT sockets (a reading
	// goroutine and an accumulator each); a statsd tcp or unix listener's
	// accumulators, which its connections share in turn. 0: GOMAXPROCS.
	Readers int `toml:"readers"`
	// ReadBatch is how many datagrams a udp reader takes per recvmmsg
	// (each with a 64 KiB buffer). 0: DefaultReadBatch.
	ReadBatch int `toml:"read_batch"`
	// ReadBuffer is each udp socket's receive buffer (SO_RCVBUF, capped by
	// the kernel's net.core.rmem_max). 0: DefaultReadBuffer.
	ReadBuffer int `toml:"read_buffer"`
}

// Defaults of a listener's read_batch and read_buffer.
const (
	DefaultReadBatch  = 32
	DefaultReadBuffer = 8 << 20
)

// Statsd holds statsd's own options, with its names.
type Statsd struct {
	LegacyNamespace        bool      `toml:"legacyNamespace"`
	GlobalPrefix           string    `toml:"globalPrefix"`
	GlobalSuffix           *string   `toml:"globalSuffix"`
	PrefixCounter          string    `toml:"prefixCounter"`
	PrefixTimer            string    `toml:"prefixTimer"`
	PrefixGauge            string    `toml:"prefixGauge"`
	PrefixSet              string    `toml:"prefixSet"`
	PrefixStats            string    `toml:"prefixStats"`
	PercentThreshold       []float64 `toml:"percentThreshold"`
	FlushCounts            bool      `toml:"flush_counts"`
	DeleteIdleStats        bool      `toml:"deleteIdleStats"`
	DeleteCounters         *bool     `toml:"deleteCounters"`
	DeleteTimers           *bool     `toml:"deleteTimers"`
	DeleteGauges           *bool     `toml:"deleteGauges"`
	DeleteSets             *bool     `toml:"deleteSets"`
	GaugesMaxTTL           int       `toml:"gaugesMaxTTL"`
	KeyNameSanitize        bool      `toml:"keyNameSanitize"`
	CalculatedTimerMetrics []string  `toml:"calculatedTimerMetrics"`
	Histogram              []struct {
		Metric string `toml:"metric"`
		Bins   []any  `toml:"bins"` // numbers, or "inf"
	} `toml:"histogram"`
}

// Graphite configures the graphite accumulator.
type Graphite struct {
	Rules [][2]string `toml:"rules"` // [regex, reducer] pairs tried before the default name rules
}

// Output says where flushed lines and rollups go.
type Output struct {
	Lines          string          `toml:"lines"` // tcp://, udp://, unix://, nats:// (subject consthash.flushed), or BLACKHOLE
	Stream         string          `toml:"stream"`
	StreamMaxBytes int64           `toml:"stream_max_bytes"`
	StreamMaxAge   config.Duration `toml:"stream_max_age"`
	StreamReplicas int             `toml:"stream_replicas"` // JetStream servers holding the stream (3 in a 3-node cluster)
	PublishTimeout config.Duration `toml:"publish_timeout"`
	MaxPending     int             `toml:"max_pending_batches"` // rollup messages queued for publishing
	PublishWindow  int             `toml:"publish_window"`      // rollup messages published and not yet acknowledged
	MaxMessageSize int             `toml:"max_message_bytes"`   // a rollup message's size (and at most half the server's max_payload)
}

// Default returns the documented defaults (docs/aggregator.md).
func Default() *Config {
	d := statsd.Default()
	return &Config{
		Admin:      admin.Default("127.0.0.1:8082"),
		Log:        Log{Level: "info", Format: "text"},
		ID:         hostname(),
		Times:      []string{"10s:168h", "1m:720h", "10m:17520h"},
		Shards:     bus.DefaultShards,
		Membership: Membership{Interval: config.Duration(time.Second)},
		NATS:       NATS{DedupSenders: DefaultDedupSenders},
		Statsd: Statsd{LegacyNamespace: d.LegacyNamespace, GlobalPrefix: d.GlobalPrefix, PrefixCounter: d.PrefixCounter,
			PrefixTimer: d.PrefixTimer, PrefixGauge: d.PrefixGauge, PrefixSet: d.PrefixSet, PrefixStats: d.PrefixStats,
			PercentThreshold: d.PercentThreshold, FlushCounts: true, GaugesMaxTTL: 1, KeyNameSanitize: true},
		Output: Output{Lines: "BLACKHOLE", Stream: bus.DefaultStream, StreamMaxBytes: bus.DefaultStreamMaxBytes,
			StreamMaxAge: config.Duration(bus.DefaultStreamMaxAge), StreamReplicas: bus.DefaultStreamReplicas, PublishTimeout: config.Duration(10 * time.Second), MaxPending: 256,
			PublishWindow: 32, MaxMessageSize: 64 << 10},
		MaxSeries: 1_000_000,
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "aggregator"
	}
	return h
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

func (c *Config) errorf(key, format string, args ...any) error {
	return config.Errorf(c.File, key, format, args...)
}

// checkEndpoint parses an endpoint URL and checks its port.
func checkEndpoint(u string) error {
	ep, err := endpoint.Parse(u)
	if err != nil {
		return err
	}
	if ep.Scheme != endpoint.Unix {
		return endpoint.CheckHostPort(ep.Addr)
	}
	return nil
}

// timerMetrics are the names calculatedTimerMetrics may keep (statsd's).
func timerMetrics() []string {
	return []string{"count", "count_ps", "lower", "upper", "sum", "sum_squares", "mean", "median", "std",
		"count_percent", "mean_percent", "upper_percent", "lower_percent", "sum_percent", "sum_squares_percent", "histogram"}
}

// Validate checks the configuration and derives the parsed forms.
func (c *Config) Validate() error {
	if err := c.Admin.Validate(); err != nil {
		return c.errorf("admin", "%v", err)
	}
	if err := logging.CheckLevel(c.Log.Level); err != nil {
		return c.errorf("log.level", "%v", err)
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return c.errorf("log.format", "%v", err)
	}
	if c.ID == "" {
		return c.errorf("id", "must not be empty")
	}
	if u := c.NATS.URL; u != "" && !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
		return c.errorf("nats.url", "%q: want nats://host:port", u)
	}
	if c.NATS.DedupSenders <= 0 {
		return c.errorf("nats.dedup_senders", "%d must be positive", c.NATS.DedupSenders)
	}
	if c.Membership.Interval <= 0 {
		return c.errorf("membership.interval", "%s must be positive", c.Membership.Interval)
	}
	res, err := rollup.ParseTimes(c.Times)
	if err != nil {
		return c.errorf("times", "%v", err)
	}
	c.Resolutions = res
	if c.Shards <= 0 {
		return c.errorf("shards", "%d must be positive", c.Shards)
	}
	if c.NATS.URL == "" && len(c.Listeners) == 0 {
		return c.errorf("listeners", "nothing to receive: give [nats] url or at least one [[listeners]]")
	}
	for i, l := range c.Listeners {
		if err := checkEndpoint(l.URL); err != nil {
			return c.errorf(fmt.Sprintf("listeners[%d].url", i), "%v", err)
		}
		if l.Format != "statsd" && l.Format != "graphite" {
			return c.errorf(fmt.Sprintf("listeners[%d].format", i), "%q is not statsd or graphite", l.Format)
		}
		if l.MaxLineLength < 0 {
			return c.errorf(fmt.Sprintf("listeners[%d].max_line_length", i), "%d must not be negative (0: the default)", l.MaxLineLength)
		}
		for _, f := range []struct {
			key string
			v   *int
			def int
		}{{"readers", &c.Listeners[i].Readers, 0}, {"read_batch", &c.Listeners[i].ReadBatch, DefaultReadBatch},
			{"read_buffer", &c.Listeners[i].ReadBuffer, DefaultReadBuffer}} {
			if *f.v < 0 {
				return c.errorf(fmt.Sprintf("listeners[%d].%s", i, f.key), "%d must not be negative (0: the default)", *f.v)
			}
			if *f.v == 0 {
				*f.v = f.def
			}
		}
		if l.ReadBatch > 1024 {
			return c.errorf(fmt.Sprintf("listeners[%d].read_batch", i), "%d is more than 1024 (each datagram has a 64 KiB buffer)", l.ReadBatch)
		}
	}
	if l := c.Output.Lines; l != "BLACKHOLE" && l != "" && !strings.HasPrefix(l, "nats://") {
		if err := checkEndpoint(l); err != nil {
			return c.errorf("output.lines", "%q: want tcp://, udp://, unix://, http://, nats:// or BLACKHOLE: %v", l, err)
		}
	}
	if c.Output.MaxPending <= 0 {
		return c.errorf("output.max_pending_batches", "%d must be positive", c.Output.MaxPending)
	}
	if c.Output.Stream == "" || strings.ContainsAny(c.Output.Stream, ". *>") {
		return c.errorf("output.stream", "%q is not a JetStream stream name", c.Output.Stream)
	}
	if c.Output.StreamMaxBytes <= 0 {
		return c.errorf("output.stream_max_bytes", "%d must be positive", c.Output.StreamMaxBytes)
	}
	if c.Output.StreamMaxAge <= 0 {
		return c.errorf("output.stream_max_age", "%s must be positive", c.Output.StreamMaxAge)
	}
	if c.Output.StreamReplicas < 1 || c.Output.StreamReplicas > bus.MaxStreamReplicas {
		return c.errorf("output.stream_replicas", "%d is not between 1 and %d", c.Output.StreamReplicas, bus.MaxStreamReplicas)
	}
	if c.Output.PublishTimeout <= 0 {
		return c.errorf("output.publish_timeout", "%s must be positive", c.Output.PublishTimeout)
	}
	if c.Statsd.GaugesMaxTTL < 0 {
		return c.errorf("statsd.gaugesMaxTTL", "%d must not be negative", c.Statsd.GaugesMaxTTL)
	}
	for i, m := range c.Statsd.CalculatedTimerMetrics {
		if names := timerMetrics(); !slices.Contains(names, m) {
			return c.errorf(fmt.Sprintf("statsd.calculatedTimerMetrics[%d]", i), "%q is not one of %s", m, strings.Join(names, ", "))
		}
	}
	for i, p := range c.Statsd.PercentThreshold {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return c.errorf(fmt.Sprintf("statsd.percentThreshold[%d]", i), "%v is not a number", p)
		}
	}
	if c.Output.PublishWindow <= 0 {
		return c.errorf("output.publish_window", "%d must be positive", c.Output.PublishWindow)
	}
	if c.Output.MaxMessageSize < 4096 {
		return c.errorf("output.max_message_bytes", "%d must be at least 4096", c.Output.MaxMessageSize)
	}
	if c.MaxSeries < 0 {
		return c.errorf("max_series", "%d must be 0 (no limit) or positive", c.MaxSeries)
	}
	rules, err := bus.ParseRules(c.Graphite.Rules)
	if err != nil {
		return c.errorf("graphite.rules", "%v", err)
	}
	c.Rules = rules
	s := c.Statsd
	sc := statsd.Config{FlushInterval: res[0].Step, LegacyNamespace: s.LegacyNamespace, GlobalPrefix: s.GlobalPrefix,
		GlobalSuffix: s.GlobalSuffix, PrefixCounter: s.PrefixCounter, PrefixTimer: s.PrefixTimer, PrefixGauge: s.PrefixGauge,
		PrefixSet: s.PrefixSet, PrefixStats: s.PrefixStats, PercentThreshold: s.PercentThreshold, FlushCounts: s.FlushCounts,
		GaugesMaxTTL: s.GaugesMaxTTL, KeyNameSanitize: s.KeyNameSanitize, CalculatedTimerMetrics: s.CalculatedTimerMetrics}
	pick := func(p *bool) bool {
		if p != nil {
			return *p
		}
		return s.DeleteIdleStats
	}
	sc.DeleteCounters, sc.DeleteTimers, sc.DeleteGauges, sc.DeleteSets = pick(s.DeleteCounters), pick(s.DeleteTimers), pick(s.DeleteGauges), pick(s.DeleteSets)
	for i, h := range s.Histogram {
		hh := statsd.Histogram{Metric: h.Metric}
		for _, b := range h.Bins {
			switch v := b.(type) {
			case string:
				if v != "inf" {
					return c.errorf(fmt.Sprintf("statsd.histogram[%d].bins", i), "%q: bins are numbers or \"inf\"", v)
				}
				hh.Bins = append(hh.Bins, statsd.Bin{Inf: true})
			case int64:
				hh.Bins = append(hh.Bins, statsd.Bin{Bound: float64(v)})
			case float64:
				hh.Bins = append(hh.Bins, statsd.Bin{Bound: v})
			default:
				return c.errorf(fmt.Sprintf("statsd.histogram[%d].bins", i), "%v: bins are numbers or \"inf\"", b)
			}
		}
		sc.Histograms = append(sc.Histograms, hh)
	}
	c.StatsdCfg = sc
	return nil
}
