// Package config is the relay's configuration: TOML decoded over defaults,
// validated at start-up with errors naming the file, the key and the reason.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/admin"
	"github.com/consthash/consthash/pkg/config"
	"github.com/consthash/consthash/pkg/endpoint"
	"github.com/consthash/consthash/pkg/httpserver"
	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/pkg/listener"
	"github.com/consthash/consthash/pkg/logging"
	"github.com/consthash/consthash/pkg/ring"
)

// Cluster kinds beside the hash ring algorithms of pkg/ring.
const (
	KindForward   = "forward"   // every line to every server
	KindAnyOf     = "any_of"    // spread over live servers by key hash, fail over
	KindFailover  = "failover"  // the first live server in the list
	KindBlackhole = "blackhole" // drop (counted)
)

// BackendOnly as a section's listen means it receives only lines routed to it
// by another section's rules.
const BackendOnly = "backend_only"

// Config is the relay's whole configuration.
type Config struct {
	File     string              `toml:"-"`
	Admin    admin.Config        `toml:"admin"`
	Log      Log                 `toml:"log"`
	Defaults Section             `toml:"defaults"`
	Sections map[string]*Section `toml:"sections"`
	Stats    SelfStats           `toml:"statsd"`
	// HTTPListeners limits every http:// listener's server (timeouts,
	// header cap, max_concurrent).
	HTTPListeners httpserver.Config          `toml:"http_listeners"`
	raw           map[string]map[string]bool // keys set per section, for defaults
}

// Log configures the structured logger.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// SelfStats sends the relay's own counters as statsd lines.
type SelfStats struct {
	Server   string          `toml:"server"` // udp://host:port; "" disables
	Prefix   string          `toml:"prefix"`
	Interval config.Duration `toml:"interval"`
}

// Rule is one pre-routing rule: exactly one of Prefix, Substring and Regex
// matches the key; the line then goes to Backend or, with Reject, nowhere.
type Rule struct {
	Prefix    string `toml:"prefix"`
	Substring string `toml:"substring"`
	Regex     string `toml:"regex"`
	Backend   string `toml:"backend"`
	Reject    bool   `toml:"reject"`
	re        *regexp.Regexp
}

// Re returns the compiled regex of a regex rule.
func (r *Rule) Re() *regexp.Regexp { return r.re }

// Section is a listener (or backend_only) with its format, pre-routing rules
// and the cluster its unmatched lines go to.
type Section struct {
	Listen        []string `toml:"listen"` // endpoint URLs, or ["backend_only"]
	Format        string   `toml:"format"` // graphite, statsd, regex
	Regex         string   `toml:"regex"`  // with format = "regex": must have (?P<Key>...)
	MaxLineLength int      `toml:"max_line_length"`
	// MaxConnections bounds each tcp/unix listener's open connections; 0
	// derives it from the open-file limit (listener.MaxConnectionsFromLimit).
	MaxConnections int             `toml:"max_connections"`
	IdleTimeout    config.Duration `toml:"idle_timeout"` // close tcp/unix connections silent this long; 0: never
	Rules          []Rule          `toml:"rules"`

	Cluster      string   `toml:"cluster"` // a ring algorithm, or forward, any_of, failover, blackhole
	Replication  int      `toml:"replication"`
	VirtualNodes int      `toml:"virtual_nodes"`
	Diverse      bool     `toml:"diverse_replicas"`
	Servers      []string `toml:"servers"`       // tcp://, udp://, unix://, http://, nats:// URLs, optionally "=instance"
	CheckServers []string `toml:"check_servers"` // health check URLs, parallel to servers ("" = the server itself)
	HashKeys     []string `toml:"hashkeys"`      // ring identities, parallel to servers ("" = the algorithm's default)
	Shards       int      `toml:"shards"`        // for nats:// servers: subjects consthash.lines.<0..shards-1>
	// NATSAcks makes nats:// servers' batches requests the aggregator
	// acknowledges, each retried until it is (at-least-once, the aggregator
	// drops copies); false publishes them unacknowledged (at-most-once).
	NATSAcks       bool            `toml:"nats_acks"`
	NATSAckTimeout config.Duration `toml:"nats_ack_timeout"` // how long a batch waits for its acknowledgement before it is sent again

	HealthInterval config.Duration `toml:"health_interval"`
	HealthTimeout  config.Duration `toml:"health_timeout"`
	HealthFailures int             `toml:"health_failures"` // consecutive failed checks that mark a server down
	HealthRecovery int             `toml:"health_recovery"` // consecutive good checks that bring it back
	DownPolicy     string          `toml:"down_policy"`     // remove_node or keep

	QueueSize        int             `toml:"queue_size"`        // lines queued per server
	PoolConnections  int             `toml:"pool_connections"`  // connections per server
	BatchBytes       int             `toml:"batch_bytes"`       // bytes per write
	FlushInterval    config.Duration `toml:"flush_interval"`    // longest a partial batch waits
	BackpressureWait config.Duration `toml:"backpressure_wait"` // how long a full queue blocks senders before dropping oldest
	WriteTimeout     config.Duration `toml:"write_timeout"`
	ConnectTimeout   config.Duration `toml:"connect_timeout"`
	SpoolDir         string          `toml:"spool_dir"`         // "" disables the disk spool
	SpoolMaxBytes    int64           `toml:"spool_max_bytes"`   // per server
	SpoolReplayRate  int             `toml:"spool_replay_rate"` // lines per second when replaying

	Name string `toml:"-"`
}

// Default returns the built-in defaults (documented in docs/relay.md).
func Default() *Config {
	return &Config{
		Admin:         admin.Default("127.0.0.1:8081"),
		Log:           Log{Level: "info", Format: "text"},
		Stats:         SelfStats{Prefix: "consthash.relay", Interval: config.Duration(10 * time.Second)},
		HTTPListeners: listener.DefaultHTTP(),
		Defaults: Section{
			Format:           "graphite",
			MaxLineLength:    line.DefaultMaxLength,
			Cluster:          string(ring.CarbonPy),
			Replication:      1,
			VirtualNodes:     ring.DefaultVirtualNodes,
			HealthInterval:   config.Duration(10 * time.Second),
			HealthTimeout:    config.Duration(time.Second),
			HealthFailures:   3,
			HealthRecovery:   1,
			DownPolicy:       "remove_node",
			QueueSize:        1_000_000,
			PoolConnections:  2,
			BatchBytes:       64 << 10,
			FlushInterval:    config.Duration(100 * time.Millisecond),
			BackpressureWait: config.Duration(10 * time.Second),
			WriteTimeout:     config.Duration(10 * time.Second),
			ConnectTimeout:   config.Duration(5 * time.Second),
			SpoolMaxBytes:    1 << 30,
			SpoolReplayRate:  100_000,
			Shards:           64,
			NATSAcks:         true,
			NATSAckTimeout:   config.Duration(2 * time.Second),
		},
	}
}

// Load reads path over the defaults and validates the result.
func Load(path string) (*Config, error) {
	c := Default()
	c.File = path
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &config.Error{File: path, Err: err}
	}
	raw := map[string]any{}
	if err := config.DecodeLoose(path, string(b), &raw); err != nil {
		return nil, err
	}
	if err := config.Decode(path, string(b), c); err != nil {
		return nil, err
	}
	c.raw = setKeys(raw)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse is Load for TOML text, named name in errors.
func Parse(name, text string) (*Config, error) {
	c := Default()
	c.File = name
	raw := map[string]any{}
	if err := config.DecodeLoose(name, text, &raw); err != nil {
		return nil, err
	}
	if err := config.Decode(name, text, c); err != nil {
		return nil, err
	}
	c.raw = setKeys(raw)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// setKeys lists, per section, which keys the file set, so that [defaults]
// fills in only the others.
func setKeys(raw map[string]any) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	secs, _ := raw["sections"].(map[string]any)
	for name, v := range secs {
		keys := map[string]bool{}
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				keys[k] = true
			}
		}
		out[name] = keys
	}
	return out
}

// applyDefaults copies [defaults] into every key a section did not set.
func (c *Config) applyDefaults(name string, s *Section) {
	set := c.raw[name]
	d := c.Defaults
	if !set["format"] {
		s.Format = d.Format
	}
	if !set["max_line_length"] {
		s.MaxLineLength = d.MaxLineLength
	}
	if !set["max_connections"] {
		s.MaxConnections = d.MaxConnections
	}
	if !set["idle_timeout"] {
		s.IdleTimeout = d.IdleTimeout
	}
	if !set["cluster"] {
		s.Cluster = d.Cluster
	}
	if !set["replication"] {
		s.Replication = d.Replication
	}
	if !set["virtual_nodes"] {
		s.VirtualNodes = d.VirtualNodes
	}
	if !set["diverse_replicas"] {
		s.Diverse = d.Diverse
	}
	if !set["shards"] {
		s.Shards = d.Shards
	}
	if !set["nats_acks"] {
		s.NATSAcks = d.NATSAcks
	}
	if !set["nats_ack_timeout"] {
		s.NATSAckTimeout = d.NATSAckTimeout
	}
	if !set["health_interval"] {
		s.HealthInterval = d.HealthInterval
	}
	if !set["health_timeout"] {
		s.HealthTimeout = d.HealthTimeout
	}
	if !set["health_failures"] {
		s.HealthFailures = d.HealthFailures
	}
	if !set["health_recovery"] {
		s.HealthRecovery = d.HealthRecovery
	}
	if !set["down_policy"] {
		s.DownPolicy = d.DownPolicy
	}
	if !set["queue_size"] {
		s.QueueSize = d.QueueSize
	}
	if !set["pool_connections"] {
		s.PoolConnections = d.PoolConnections
	}
	if !set["batch_bytes"] {
		s.BatchBytes = d.BatchBytes
	}
	if !set["flush_interval"] {
		s.FlushInterval = d.FlushInterval
	}
	if !set["backpressure_wait"] {
		s.BackpressureWait = d.BackpressureWait
	}
	if !set["write_timeout"] {
		s.WriteTimeout = d.WriteTimeout
	}
	if !set["connect_timeout"] {
		s.ConnectTimeout = d.ConnectTimeout
	}
	if !set["spool_dir"] {
		s.SpoolDir = d.SpoolDir
	}
	if !set["spool_max_bytes"] {
		s.SpoolMaxBytes = d.SpoolMaxBytes
	}
	if !set["spool_replay_rate"] {
		s.SpoolReplayRate = d.SpoolReplayRate
	}
}

// SectionNames returns the section names sorted.
func (c *Config) SectionNames() []string {
	names := make([]string, 0, len(c.Sections))
	for n := range c.Sections {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *Config) errorf(key, format string, args ...any) error {
	return config.Errorf(c.File, key, format, args...)
}

// Validate applies the defaults to every section and checks everything a
// running relay relies on.
func (c *Config) Validate() error {
	if err := c.Admin.Validate(); err != nil {
		return c.errorf("admin", "%v", err)
	}
	if err := c.HTTPListeners.Validate(); err != nil {
		return c.errorf("http_listeners", "%v", err)
	}
	if err := logging.CheckLevel(c.Log.Level); err != nil {
		return c.errorf("log.level", "%v", err)
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return c.errorf("log.format", "%v", err)
	}
	if c.Stats.Server != "" {
		if _, err := endpoint.Parse(c.Stats.Server); err != nil {
			return c.errorf("statsd.server", "%v", err)
		}
		if c.Stats.Interval <= 0 {
			return c.errorf("statsd.interval", "%s must be positive", c.Stats.Interval)
		}
	}
	if len(c.Sections) == 0 {
		return c.errorf("sections", "no sections: define at least one [sections.<name>]")
	}
	listening := 0
	for _, name := range c.SectionNames() {
		s := c.Sections[name]
		s.Name = name
		if c.raw != nil {
			c.applyDefaults(name, s)
		}
		if err := c.validateSection(name, s); err != nil {
			return err
		}
		if !s.IsBackendOnly() {
			listening++
		}
	}
	if listening == 0 {
		return c.errorf("sections", "every section is backend_only: nothing listens")
	}
	return nil
}

// IsBackendOnly reports whether the section only receives routed lines.
func (s *Section) IsBackendOnly() bool {
	return len(s.Listen) == 1 && s.Listen[0] == BackendOnly
}

// IsHashed reports whether the section's cluster is a hash ring.
func (s *Section) IsHashed() bool {
	return !slices.Contains([]string{KindForward, KindAnyOf, KindFailover, KindBlackhole}, s.Cluster)
}

func (c *Config) validateSection(name string, s *Section) error {
	key := func(k string) string { return "sections." + name + "." + k }
	if len(s.Listen) == 0 {
		return c.errorf(key("listen"), "missing: give endpoint URLs or [\"backend_only\"]")
	}
	if !s.IsBackendOnly() {
		for _, l := range s.Listen {
			ep, err := endpoint.Parse(l)
			if err != nil {
				return c.errorf(key("listen"), "%v", err)
			}
			if ep.Scheme != endpoint.Unix { // a listener makes its own socket file
				if err := checkAddress(ep, true); err != nil {
					return c.errorf(key("listen"), "%q: %v", l, err)
				}
			}
		}
	}
	switch s.Format {
	case "graphite", "statsd":
	case "regex":
		if _, err := line.NewRegex(s.Regex); err != nil {
			return c.errorf(key("regex"), "%v", err)
		}
	default:
		return c.errorf(key("format"), "%q is not one of graphite, statsd, regex", s.Format)
	}
	if s.MaxLineLength <= 0 {
		return c.errorf(key("max_line_length"), "%d must be positive", s.MaxLineLength)
	}
	if s.MaxConnections < 0 {
		return c.errorf(key("max_connections"), "%d must not be negative (0: derived from the open-file limit)", s.MaxConnections)
	}
	if s.IdleTimeout < 0 {
		return c.errorf(key("idle_timeout"), "%s must not be negative (0: never)", s.IdleTimeout)
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		rk := fmt.Sprintf("%s[%d]", key("rules"), i)
		n := 0
		for _, v := range []string{r.Prefix, r.Substring, r.Regex} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return c.errorf(rk, "a rule needs exactly one of prefix, substring, regex")
		}
		if r.Regex != "" {
			re, err := regexp.Compile(r.Regex)
			if err != nil {
				return c.errorf(rk+".regex", "%v", err)
			}
			r.re = re
		}
		if r.Reject == (r.Backend != "") {
			return c.errorf(rk, "a rule needs either backend = \"<section>\" or reject = true")
		}
		if r.Backend != "" {
			if _, ok := c.Sections[r.Backend]; !ok {
				return c.errorf(rk+".backend", "no section named %q", r.Backend)
			}
			if r.Backend == name {
				return c.errorf(rk+".backend", "a rule cannot route a section to itself")
			}
		}
	}
	kinds := []string{KindForward, KindAnyOf, KindFailover, KindBlackhole}
	for _, a := range ring.Algorithms() {
		kinds = append(kinds, string(a))
	}
	if !slices.Contains(kinds, s.Cluster) {
		return c.errorf(key("cluster"), "%q is not one of %s", s.Cluster, strings.Join(kinds, ", "))
	}
	if s.Cluster != KindBlackhole && len(s.Servers) == 0 {
		return c.errorf(key("servers"), "a %s cluster needs servers", s.Cluster)
	}
	if s.IsHashed() && (s.Replication < 1 || s.Replication > len(s.Servers)) {
		return c.errorf(key("replication"), "%d must be between 1 and the number of servers (%d)", s.Replication, len(s.Servers))
	}
	if len(s.CheckServers) > 0 && len(s.CheckServers) != len(s.Servers) {
		return c.errorf(key("check_servers"), "has %d entries, servers has %d: give one per server (\"\" for the server itself)", len(s.CheckServers), len(s.Servers))
	}
	if len(s.HashKeys) > 0 && len(s.HashKeys) != len(s.Servers) {
		return c.errorf(key("hashkeys"), "has %d entries, servers has %d: give one per server", len(s.HashKeys), len(s.Servers))
	}
	seen := map[string]bool{}
	for i, srv := range s.Servers {
		d, err := ParseDestination(srv)
		if err != nil {
			return c.errorf(fmt.Sprintf("%s[%d]", key("servers"), i), "%v", err)
		}
		if seen[d.String()] {
			return c.errorf(fmt.Sprintf("%s[%d]", key("servers"), i), "%s is listed twice", srv)
		}
		seen[d.String()] = true
		if d.Scheme == "nats" && s.Shards <= 0 {
			return c.errorf(key("shards"), "%d must be positive for nats servers", s.Shards)
		}
		if len(s.CheckServers) > 0 && s.CheckServers[i] != "" {
			ce, err := endpoint.Parse(s.CheckServers[i])
			if err != nil || (ce.Scheme != endpoint.TCP && ce.Scheme != endpoint.HTTP && ce.Scheme != endpoint.Unix) {
				return c.errorf(fmt.Sprintf("%s[%d]", key("check_servers"), i), "%q: want a tcp://, unix:// or http:// URL", s.CheckServers[i])
			}
			if err := checkAddress(ce, false); err != nil {
				return c.errorf(fmt.Sprintf("%s[%d]", key("check_servers"), i), "%q: %v", s.CheckServers[i], err)
			}
		}
	}
	if err := c.checkRingIdentities(key, s); err != nil {
		return err
	}
	if s.DownPolicy != "remove_node" && s.DownPolicy != "keep" {
		return c.errorf(key("down_policy"), "%q is not remove_node or keep", s.DownPolicy)
	}
	for _, p := range []struct {
		k string
		v int
	}{{"health_failures", s.HealthFailures}, {"health_recovery", s.HealthRecovery}, {"queue_size", s.QueueSize},
		{"pool_connections", s.PoolConnections}, {"batch_bytes", s.BatchBytes}, {"spool_replay_rate", s.SpoolReplayRate}} {
		if p.v <= 0 {
			return c.errorf(key(p.k), "%d must be positive", p.v)
		}
	}
	for _, p := range []struct {
		k string
		v config.Duration
	}{{"health_interval", s.HealthInterval}, {"health_timeout", s.HealthTimeout}, {"flush_interval", s.FlushInterval},
		{"write_timeout", s.WriteTimeout}, {"connect_timeout", s.ConnectTimeout}, {"nats_ack_timeout", s.NATSAckTimeout}} {
		if p.v <= 0 {
			return c.errorf(key(p.k), "%s must be positive", p.v)
		}
	}
	if s.BackpressureWait < 0 {
		return c.errorf(key("backpressure_wait"), "%s must not be negative", s.BackpressureWait)
	}
	if s.SpoolDir != "" && s.SpoolMaxBytes <= 0 {
		return c.errorf(key("spool_max_bytes"), "%d must be positive when spool_dir is set", s.SpoolMaxBytes)
	}
	return nil
}

// Destination is a parsed server URL: an endpoint or nats://host:port, with
// an optional "=instance" suffix for the ring.
type Destination struct {
	Scheme   string // tcp, udp, unix, http, nats
	Endpoint endpoint.Endpoint
	NATSURL  string
	Instance string
	raw      string
}

// String returns the URL as configured (with its instance).
func (d Destination) String() string { return d.raw }

// ParseDestination reads a server URL such as tcp://10.0.0.1:2003=a.
func ParseDestination(s string) (Destination, error) {
	d := Destination{raw: s}
	u := s
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		u, d.Instance = s[:i], s[i+1:]
		if d.Instance == "" {
			return Destination{}, fmt.Errorf("server %q: empty instance after '='", s)
		}
	}
	if strings.HasPrefix(u, "nats://") {
		d.Scheme, d.NATSURL = "nats", u
		return d, nil
	}
	ep, err := endpoint.Parse(u)
	if err != nil {
		return Destination{}, err
	}
	if err := checkAddress(ep, false); err != nil {
		return Destination{}, fmt.Errorf("server %q: %w", clip(s), err)
	}
	d.Scheme, d.Endpoint = string(ep.Scheme), ep
	return d, nil
}

// maxHostLength is the longest DNS name (RFC 1035: 253 characters written
// out, labels of at most 63).
const maxHostLength = 253

// checkAddress rejects what endpoint.Parse lets through but no socket can
// use: a port outside 1-65535 (0 too when listen is set: it binds any free
// port), a host name longer than DNS allows, and a unix socket path that is
// relative, whose directory does not exist, or that exists and is not a
// socket.
func checkAddress(ep endpoint.Endpoint, listen bool) error {
	if ep.Scheme == endpoint.Unix {
		path := ep.Addr
		if !filepath.IsAbs(path) {
			return fmt.Errorf("unix socket path %q is not absolute", path)
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return fmt.Errorf("unix socket path %q: directory %s does not exist", path, filepath.Dir(path))
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("unix socket path %q exists and is not a socket", path)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", ep.Addr, err)
	}
	min := 1
	if listen {
		min = 0
	}
	if p, err := strconv.Atoi(port); err != nil || p < min || p > 65535 {
		return fmt.Errorf("port %q is not a number from %d to 65535", port, min)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if len(host) > maxHostLength {
		return fmt.Errorf("host name of %d characters: DNS allows at most %d", len(host), maxHostLength)
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if len(label) > 63 {
			return fmt.Errorf("host name %q has a label of %d characters: DNS allows at most 63", clip(host), len(label))
		}
		if label == "" && host != "" {
			return fmt.Errorf("host name %q has an empty label", host)
		}
	}
	return nil
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:60] + "..." + s[len(s)-17:]
	}
	return s
}

// CheckSocketExists refuses a unix:// server whose socket does not exist
// (yet). Membership changes at run time (addserver) check it: a server added
// by hand is expected to be listening, and a path that is not there is most
// likely a typo. A file or reload may name a receiver that is not started
// yet, so Validate does not.
func CheckSocketExists(server string) error {
	d, err := ParseDestination(server)
	if err != nil || d.Scheme != string(endpoint.Unix) {
		return err
	}
	if _, err := os.Stat(d.Endpoint.Addr); err != nil {
		return fmt.Errorf("server %q: no socket at %s: start the receiver first, or fix the path", server, d.Endpoint.Addr)
	}
	return nil
}

// Clone returns a deep copy, for changes at run time (addserver,
// purgeserver) that must validate before they apply.
func (c *Config) Clone() *Config {
	n := *c
	n.Sections = make(map[string]*Section, len(c.Sections))
	for name, s := range c.Sections {
		cp := *s
		cp.Listen = append([]string(nil), s.Listen...)
		cp.Rules = append([]Rule(nil), s.Rules...)
		cp.Servers = append([]string(nil), s.Servers...)
		cp.CheckServers = append([]string(nil), s.CheckServers...)
		cp.HashKeys = append([]string(nil), s.HashKeys...)
		n.Sections[name] = &cp
	}
	n.raw = nil // defaults are already applied
	return &n
}

// checkRingIdentities rejects servers that a ring cannot tell apart: such a
// server would own no position of its own and never receive a line.
// carbon_ch and carbon_c_ch hash the host and instance, not the port;
// carbon_fnv1a_ch hashes only the instance; fnv1a_ch the instance, or else
// host:port.
func (c *Config) checkRingIdentities(key func(string) string, s *Section) error {
	algo := ring.Algorithm(s.Cluster)
	if algo != ring.CarbonPy && algo != ring.CarbonC && algo != ring.CarbonPyFNV && algo != ring.FNV1aC {
		return nil
	}
	seen := map[string]int{}
	for i, srv := range s.Servers {
		if len(s.HashKeys) > 0 && s.HashKeys[i] != "" {
			continue
		}
		d, err := ParseDestination(srv)
		if err != nil {
			return err
		}
		host, addr := d.NATSURL, d.NATSURL
		if d.Scheme != "nats" {
			addr = d.Endpoint.Addr
			host = addr
			if h, _, err := net.SplitHostPort(addr); err == nil {
				host = h
			}
		}
		var id, why string
		switch algo {
		case ring.CarbonPyFNV:
			id, why = d.Instance, "carbon_fnv1a_ch hashes only the instance"
		case ring.FNV1aC:
			id, why = d.Instance, "fnv1a_ch hashes the instance"
			if id == "" {
				id, why = addr, "fnv1a_ch hashes host:port"
			}
		default:
			id, why = host+"="+d.Instance, string(algo)+" hashes the host and instance, not the port"
		}
		if j, dup := seen[id]; dup {
			return c.errorf(fmt.Sprintf("%s[%d]", key("servers"), i),
				"%s cannot be told apart from servers[%d] (%s): %s, so it would receive nothing; give each server a distinct =instance or hashkey",
				srv, j, s.Servers[j], why)
		}
		seen[id] = i
	}
	return nil
}
