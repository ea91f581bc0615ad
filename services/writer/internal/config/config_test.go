package config

import (
	"testing"

	"github.com/consthash/consthash/pkg/config/configtest"
)

// TestCheckConfig: every bad value fails validation (what --check-config
// runs) with the file, key and value, and unknown keys name their line.
func TestCheckConfig(t *testing.T) {
	tests := []configtest.Case{
		{"ok", "", ""},
		{"log level", "[log]\nlevel = \"verbose\"\n", `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", "[log]\nformat = \"jsn\"\n", `log.format: "jsn" is not one of text, json`},
		{"admin port", "[admin]\nlisten = \"127.0.0.1:99999\"\n", `admin: listen "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{"unknown key", "batch = 3\n\n[storage]\ndriver = \"sqlite\"\ndsnn = \"x\"\n", `c.toml:5: storage.dsnn: unknown key`},
		{"nats", "nats = \"127.0.0.1:4222\"\n", `nats: "127.0.0.1:4222": want nats://host:port`},
		{"stream", "stream = \"\"\n", `stream: "" is not a JetStream name`},
		{"stream replicas", "stream_replicas = 3\n", ""},
		{"no stream replicas", "stream_replicas = 0\n", `stream_replicas: 0 is not between 1 and 5`},
		{"too many stream replicas", "stream_replicas = 6\n", `stream_replicas: 6 is not between 1 and 5`},
		{"durable", "durable = \"a.b\"\n", `durable: "a.b"`},
		{"dead letter", "dead_letter = \"a b\"\n", `dead_letter: "a b"`},
		{"batch", "batch = 0\n", `batch: 0 must be positive`},
		{"max deliver", "max_deliver = 0\n", `max_deliver: 0`},
		{"batch wait", "batch_wait = \"0s\"\n", `batch_wait: 0s must be positive`},
		{"retry delay", "retry_max_delay = \"-1s\"\n", `retry_max_delay: -1s must be positive`},
		{"expire", "expire_interval = \"0s\"\n", `expire_interval: 0s must be positive`},
		{"write timeout", "write_timeout = \"4m\"\n", `write_timeout: 4m0s must be shorter than ack_wait`},
		{"persist interval", "persist_interval = \"3m\"\n", `persist_interval: 3m0s plus write_timeout (30s) must be shorter than ack_wait (3m0s)`},
		{"persist interval zero", "persist_interval = \"0s\"\n", `persist_interval: 0s must be positive`},
		{"shards", "shards = 0\n", `shards: 0 must be positive`},
		{"id", "id = \"\"\n", `id: "" must be a non-empty word`},
		{"max open blocks", "max_open_blocks = -1\n", `max_open_blocks: -1 must be positive`},
		{"max open bytes", "max_open_bytes = 0\n", `max_open_bytes: 0 must be positive`},
		{"coarse persist interval", "coarse_persist_interval = \"0s\"\n", `coarse_persist_interval: 0s must be positive`},
		{"coarse step", "coarse_step = \"-1m\"\n", `coarse_step: -1m0s must be positive`},
		{"recent max points", "recent_max_points = 6000\n", `recent_max_points: 6000 must be from 1 to 5000`},
		{"membership", "[membership]\ninterval = \"0s\"\n", `membership.interval: 0s must be positive`},
		{"driver", "[storage]\ndriver = \"sqlit\"\n", `storage.driver: "sqlit"`},
		{"storage option", "[storage]\ndriver = \"sqlite\"\n[storage.options]\nconections = \"2\"\n", `storage: options.conections: unknown option of sqlite`},
		{"storage value", "[storage]\ndriver = \"cassandra\"\ndsn = \"h:9042\"\n[storage.options]\nwrite_queues = \"0\"\n", `storage: options.write_queues "0"`},
	}
	configtest.Run(t, tests, func(path string) error { _, err := Load(path); return err })
}

// TestShippedConfigsAreValid loads every writer configuration under deploy/.
func TestShippedConfigsAreValid(t *testing.T) {
	for _, f := range []string{"../../../../deploy/writer/writer.toml", "../../../../deploy/compose/writer.toml"} {
		if _, err := Load(f); err != nil {
			t.Error(err)
		}
	}
}
