// Package config is query-api's configuration: TOML over defaults,
// validated at start-up with errors naming the file, key and reason.
package config

import (
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// Config is query-api's whole configuration.
type Config struct {
	File            string          `toml:"-"`
	Listen          string          `toml:"listen"`
	Times           []string        `toml:"times"` // the aggregators' times: resolutions and their TTLs
	Timezone        string          `toml:"timezone"`
	MaxSeries       int             `toml:"max_series"`
	MaxPoints       int             `toml:"max_points"`
	MaxFind         int             `toml:"max_find"`
	QueryTimeout    config.Duration `toml:"query_timeout"`
	BasePath        string          `toml:"base_path"`        // the seed's find, expand and metrics under it
	ReadConcurrency int             `toml:"read_concurrency"` // store queries one request runs at once (a group of series each)
	// MaxRequestPoints bounds the points one render reads and computes;
	// MaxPointsInFlight those all renders hold together; MaxDepth how
	// deeply a target's calls nest.
	MaxRequestPoints  int64        `toml:"max_request_points"`
	MaxPointsInFlight int64        `toml:"max_points_in_flight"`
	MaxDepth          int          `toml:"max_depth"`
	MaxEvents         int          `toml:"max_events"`       // events per /events/get_data answer
	EventsPostOpen    bool         `toml:"events_post_open"` // POST /events/ on listen without a token, as graphite-web
	Storage           store.Config `toml:"storage"`
	Admin             admin.Config `toml:"admin"`
	// Recent asks the writers for the points they have not stored yet.
	Recent Recent `toml:"recent"`
	// PathIndex keeps the store's path index in memory for finds.
	PathIndex PathIndex `toml:"path_index"`
	// The API server's limits, keys at the top level: read_header_timeout,
	// read_timeout, write_timeout, idle_timeout, max_header_bytes,
	// max_concurrent. query_timeout is its request deadline.
	httpserver.Config
	Log struct {
		Level  string `toml:"level"`
		Format string `toml:"format"`
	} `toml:"log"`
	// Graphite holds the name rules, as the aggregators' [graphite] section:
	// the column a series is read from follows the reducer it was made with.
	Graphite struct {
		Rules [][2]string `toml:"rules"` // [regex, reducer] pairs tried before the default name rules
	} `toml:"graphite"`

	Resolutions []rollup.Resolution `toml:"-"`
	Location    *time.Location      `toml:"-"`
	Rules       []bus.Rule          `toml:"-"`
}

// Recent configures asking the writers for recent points
// (docs/query-api.md, "Recent points").
type Recent struct {
	NATS    string          `toml:"nats"`    // the writers' NATS; "" asks nobody
	Shards  int             `toml:"shards"`  // the rollup shards (the writers' and aggregators' shards)
	Timeout config.Duration `toml:"timeout"` // for all of one read's requests together
}

// PathIndex configures the in-memory path index (docs/query-api.md, "Path
// index").
type PathIndex struct {
	Enabled        bool            `toml:"enabled"`
	MaxPaths       int             `toml:"max_paths"`       // past it the index is disabled: finds go to the store
	ReloadInterval config.Duration `toml:"reload_interval"` // full reloads (deletions, missed announcements); 0: none
	Queue          int             `toml:"queue"`           // announcement messages waiting; past it dropped
	NATS           string          `toml:"nats"`            // where writers announce new paths; "": recent.nats
}

// Default returns the documented defaults (docs/query-api.md).
func Default() *Config {
	c := &Config{Listen: "127.0.0.1:8080", Times: []string{"10s:168h", "1m:720h", "10m:17520h"}, Timezone: "UTC",
		MaxSeries: 1000, MaxPoints: 2_000_000, MaxFind: 100_000, QueryTimeout: config.Duration(30 * time.Second), BasePath: "/graphite/", ReadConcurrency: 8,
		MaxRequestPoints: 10_000_000, MaxPointsInFlight: 40_000_000, MaxDepth: 64, MaxEvents: 10_000, EventsPostOpen: true,
		Storage: store.Config{Driver: "sqlite", DSN: "file:data/consthash.db"}, Admin: admin.Default("127.0.0.1:8084"),
		PathIndex: PathIndex{Enabled: true, MaxPaths: 10_000_000, ReloadInterval: config.Duration(10 * time.Minute), Queue: 1024},
		Recent:    Recent{Shards: bus.DefaultShards, Timeout: config.Duration(200 * time.Millisecond)},
		// No read_timeout: query_timeout bounds reading the body, from the
		// end of the headers. write_timeout must exceed query_timeout.
		Config: httpserver.Config{ReadHeaderTimeout: config.Duration(5 * time.Second), WriteTimeout: config.Duration(2 * time.Minute),
			IdleTimeout: config.Duration(2 * time.Minute), MaxHeaderBytes: 1 << 20, MaxConcurrent: 256}}
	c.Log.Level, c.Log.Format = "info", "text"
	return c
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

// Validate checks the configuration.
func (c *Config) Validate() error {
	e := func(key, f string, a ...any) error { return config.Errorf(c.File, key, f, a...) }
	if c.Listen == "" {
		return e("listen", "an address is required")
	}
	if err := endpoint.CheckHostPort(c.Listen); err != nil {
		return e("listen", "%v", err)
	}
	if err := logging.CheckLevel(c.Log.Level); err != nil {
		return e("log.level", "%v", err)
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return e("log.format", "%v", err)
	}
	res, err := rollup.ParseTimes(c.Times)
	if err != nil {
		return e("times", "%v", err)
	}
	c.Resolutions = res
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return e("timezone", "%v", err)
	}
	c.Location = loc
	for key, v := range map[string]int{"max_series": c.MaxSeries, "max_points": c.MaxPoints, "max_find": c.MaxFind, "max_events": c.MaxEvents} {
		if v <= 0 {
			return e(key, "%d must be positive", v)
		}
	}
	if c.QueryTimeout <= 0 {
		return e("query_timeout", "%s must be positive", c.QueryTimeout)
	}
	c.RequestTimeout = c.QueryTimeout.D()
	if err := c.Config.Validate(); err != nil {
		return e("", "%v", err)
	}
	rules, err := bus.ParseRules(c.Graphite.Rules)
	if err != nil {
		return e("graphite.rules", "%v", err)
	}
	c.Rules = rules
	if c.ReadConcurrency <= 0 {
		return e("read_concurrency", "must be positive, got %d", c.ReadConcurrency)
	}
	if c.MaxRequestPoints <= 0 {
		return e("max_request_points", "must be positive, got %d", c.MaxRequestPoints)
	}
	if c.MaxPointsInFlight < c.MaxRequestPoints {
		return e("max_points_in_flight", "(%d) cannot be lower than max_request_points (%d): such a request could never run", c.MaxPointsInFlight, c.MaxRequestPoints)
	}
	if c.MaxDepth <= 0 || c.MaxDepth > 10_000 {
		return e("max_depth", "must be 1 to 10000, got %d", c.MaxDepth)
	}
	if c.BasePath != "" && !strings.HasPrefix(c.BasePath, "/") {
		return e("base_path", "%q must start with /", c.BasePath)
	}
	for _, p := range []string{"/render/", "/metrics/", "/tags/", "/functions/"} {
		if b := "/" + strings.Trim(c.BasePath, "/") + "/"; b == p {
			return e("base_path", "%q is one of graphite's own paths", c.BasePath)
		}
	}
	if c.Storage.Driver == "sqlite" && c.Storage.Options["connections"] == "" {
		// Reads only: several connections read side by side (WAL).
		if c.Storage.Options == nil {
			c.Storage.Options = map[string]string{}
		}
		c.Storage.Options["connections"] = "8"
	}
	switch c.Storage.Driver {
	case "cassandra", "sqlite", "mysql":
	default:
		return e("storage.driver", "%q cannot be read: use cassandra, sqlite or mysql", c.Storage.Driver)
	}
	if err := c.Storage.Validate(); err != nil {
		return e("storage", "%v", err)
	}
	if err := c.Admin.Validate(); err != nil {
		return e("admin", "%v", err)
	}
	if c.Recent.NATS != "" && !strings.HasPrefix(c.Recent.NATS, "nats://") && !strings.HasPrefix(c.Recent.NATS, "tls://") {
		return e("recent.nats", "%q: want nats://host:port", c.Recent.NATS)
	}
	if c.Recent.Shards <= 0 {
		return e("recent.shards", "%d must be positive", c.Recent.Shards)
	}
	if c.Recent.Timeout <= 0 || c.Recent.Timeout >= c.QueryTimeout {
		return e("recent.timeout", "%s must be positive and shorter than query_timeout (%s)", c.Recent.Timeout, c.QueryTimeout)
	}
	if c.PathIndex.MaxPaths <= 0 {
		return e("path_index.max_paths", "%d must be positive", c.PathIndex.MaxPaths)
	}
	if c.PathIndex.ReloadInterval < 0 {
		return e("path_index.reload_interval", "%s cannot be negative", c.PathIndex.ReloadInterval)
	}
	if c.PathIndex.Queue <= 0 {
		return e("path_index.queue", "%d must be positive", c.PathIndex.Queue)
	}
	if c.PathIndex.NATS != "" && !strings.HasPrefix(c.PathIndex.NATS, "nats://") && !strings.HasPrefix(c.PathIndex.NATS, "tls://") {
		return e("path_index.nats", "%q: want nats://host:port", c.PathIndex.NATS)
	}
	return nil
}
