package config

import (
	"testing"

	"github.com/consthash/consthash/pkg/config/configtest"
)

// TestCheckConfig: every bad value fails validation (what --check-config
// runs) with the file, key and value, and unknown keys name their line.
func TestCheckConfig(t *testing.T) {
	const base = "[[listeners]]\nurl = \"udp://127.0.0.1:8125\"\nformat = \"statsd\"\n"
	tests := []configtest.Case{
		{"ok", base, ""},
		{"one duration parser", "times = [\"10s:7d\", \"1m:2w\"]\n" + base + "[output]\nstream_max_age = \"7d\"\n[membership]\ninterval = \"1s\"\n", ""},
		{"bad duration", base + "[output]\nstream_max_age = \"7 days\"\n", `c.toml:5: output.stream_max_age: "7 days" is not a duration`},
		{"log level", base + "[log]\nlevel = \"verbose\"\n", `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", base + "[log]\nformat = \"jsn\"\n", `log.format: "jsn" is not one of text, json`},
		{"listener port", "[[listeners]]\nurl = \"udp://127.0.0.1:99999\"\nformat = \"statsd\"\n", `listeners[0].url: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{"admin port", base + "[admin]\nlisten = \"127.0.0.1:99999\"\n", `admin: listen "127.0.0.1:99999": port "99999"`},
		{"output port", base + "[output]\nlines = \"tcp://127.0.0.1:70000\"\n", `output.lines: "tcp://127.0.0.1:70000"`},
		{"unknown key", base + "\n[output]\nstream_max_agee = \"1h\"\n", `c.toml:6: output.stream_max_agee: unknown key`},
		{"unknown top key", "shardz = 3\n" + base, `c.toml:1: shardz: unknown key`},
		{"listener format", "[[listeners]]\nurl = \"udp://127.0.0.1:1\"\nformat = \"statd\"\n", `listeners[0].format: "statd"`},
		{"max line length", base + "max_line_length = -1\n", `listeners[0].max_line_length: -1`},
		{"readers", base + "readers = -2\n", `listeners[0].readers: -2 must not be negative`},
		{"read batch", base + "read_batch = 2048\n", `listeners[0].read_batch: 2048 is more than 1024`},
		{"read buffer", base + "read_buffer = -1\n", `listeners[0].read_buffer: -1 must not be negative`},
		{"readers ok", base + "readers = 4\nread_batch = 64\nread_buffer = 1048576\n", ""},
		{"nats url", base + "[nats]\nurl = \"127.0.0.1:4222\"\n", `nats.url: "127.0.0.1:4222"`},
		{"membership", base + "[membership]\ninterval = \"0s\"\n", `membership.interval: 0s must be positive`},
		{"stream", base + "[output]\nstream = \"a.b\"\n", `output.stream: "a.b"`},
		{"stream bytes", base + "[output]\nstream_max_bytes = 0\n", `output.stream_max_bytes: 0`},
		{"stream age", base + "[output]\nstream_max_age = \"-1h\"\n", `output.stream_max_age: -1h0m0s must be positive`},
		{"stream replicas", base + "[output]\nstream_replicas = 3\n", ""},
		{"no stream replicas", base + "[output]\nstream_replicas = 0\n", `output.stream_replicas: 0 is not between 1 and 5`},
		{"too many stream replicas", base + "[output]\nstream_replicas = 6\n", `output.stream_replicas: 6 is not between 1 and 5`},
		{"publish timeout", base + "[output]\npublish_timeout = \"0s\"\n", `output.publish_timeout: 0s`},
		{"pending", base + "[output]\nmax_pending_batches = 0\n", `output.max_pending_batches: 0`},
		{"times", "times = [\"10s:1h\", \"15s:1h\"]\n" + base, `times: times[1]`},
		{"shards", "shards = 0\n" + base, `shards: 0 must be positive`},
		{"gauges ttl", base + "[statsd]\ngaugesMaxTTL = -1\n", `statsd.gaugesMaxTTL: -1`},
		{"timer metrics", base + "[statsd]\ncalculatedTimerMetrics = [\"count\", \"p99\"]\n", `statsd.calculatedTimerMetrics[1]: "p99"`},
		{"histogram", base + "[[statsd.histogram]]\nmetric = \"x\"\nbins = [1, \"inf2\"]\n", `statsd.histogram[0].bins: "inf2"`},
		{"graphite rule", base + "[graphite]\nrules = [[\"(\", \"sum\"]]\n", `graphite.rules`},
		{"nothing in", "[nats]\nurl = \"\"\n", `listeners: nothing to receive`},
		{"empty id", "id = \"\"\n" + base, `id: must not be empty`},
	}
	configtest.Run(t, tests, func(path string) error { _, err := Load(path); return err })
}

// TestShippedConfigsAreValid loads the aggregator configuration under deploy/.
func TestShippedConfigsAreValid(t *testing.T) {
	if _, err := Load("../../../../deploy/aggregator/aggregator.toml"); err != nil {
		t.Error(err)
	}
}

// TestGlobalSuffixSetEmpty: statsd tells an unset globalSuffix from one set
// to "" (which still appends "."), and so does the config.
func TestGlobalSuffixSetEmpty(t *testing.T) {
	for toml, want := range map[string]string{"": "<unset>", "[statsd]\nglobalSuffix = \"\"\n": "", "[statsd]\nglobalSuffix = \"x\"\n": "x"} {
		c, err := Parse("c.toml", "[[listeners]]\nurl = \"udp://127.0.0.1:8125\"\nformat = \"statsd\"\n"+toml)
		if err != nil {
			t.Fatal(err)
		}
		got := "<unset>"
		if s := c.StatsdCfg.GlobalSuffix; s != nil {
			got = *s
		}
		if got != want {
			t.Errorf("%q: globalSuffix %q, want %q", toml, got, want)
		}
	}
}
