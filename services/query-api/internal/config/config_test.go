package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/config/configtest"
)

func TestServerLimits(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string
	}{
		{"defaults", "", ""},
		{"top-level keys", "query_timeout = \"10s\"\nmax_concurrent = 3\nidle_timeout = \"5s\"\n", ""},
		{"write_timeout under query_timeout", "query_timeout = \"3m\"\n", "write_timeout"},
		{"no cap", "max_concurrent = 0\n", "max_concurrent"},
		{"no header timeout", "read_header_timeout = \"0s\"\n", "read_header_timeout"},
		{"admin limits", "[admin]\nmax_concurrent = -1\n", "admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "q.toml")
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
					t.Fatalf("Load = %v, want an error naming %s and %q", err, p, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RequestTimeout != c.QueryTimeout.D() || c.RequestTimeout <= 0 {
				t.Errorf("request deadline %v, want query_timeout %v", c.RequestTimeout, c.QueryTimeout)
			}
			if tt.name == "top-level keys" && (c.MaxConcurrent != 3 || c.IdleTimeout.D() != 5*time.Second || c.MaxHeaderBytes != 1<<20) {
				t.Errorf("got %+v", c.Config)
			}
		})
	}
}

// TestCheckConfig: every bad value fails validation (what --check-config
// runs) with the file, key and value, and unknown keys name their line.
func TestCheckConfig(t *testing.T) {
	tests := []configtest.Case{
		{"ok", "", ""},
		{"recent", "[recent]\nnats = \"nats://127.0.0.1:4222\"\nshards = 32\ntimeout = \"100ms\"\n", ""},
		{"recent nats", "[recent]\nnats = \"127.0.0.1:4222\"\n", `recent.nats: "127.0.0.1:4222": want nats://host:port`},
		{"recent shards", "[recent]\nshards = 0\n", `recent.shards: 0 must be positive`},
		{"path index", "[path_index]\nenabled = false\nmax_paths = 5\nreload_interval = \"0s\"\nqueue = 1\nnats = \"nats://127.0.0.1:4222\"\n", ""},
		{"path index max", "[path_index]\nmax_paths = 0\n", `path_index.max_paths: 0 must be positive`},
		{"path index reload", "[path_index]\nreload_interval = \"-1s\"\n", `path_index.reload_interval: -1s cannot be negative`},
		{"path index queue", "[path_index]\nqueue = 0\n", `path_index.queue: 0 must be positive`},
		{"path index nats", "[path_index]\nnats = \"x:1\"\n", `path_index.nats: "x:1": want nats://host:port`},
		{"recent timeout", "[recent]\ntimeout = \"40s\"\n", `recent.timeout: 40s must be positive and shorter than query_timeout (30s)`},
		{"log level", "[log]\nlevel = \"verbose\"\n", `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", "[log]\nformat = \"jsn\"\n", `log.format: "jsn" is not one of text, json`},
		{"listen port", "listen = \"127.0.0.1:99999\"\n", `listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{"listen form", "listen = \"8080\"\n", `listen: "8080": want host:port`},
		{"admin port", "[admin]\nlisten = \"127.0.0.1:65536\"\n", `admin: listen "127.0.0.1:65536": port "65536"`},
		{"unknown key", "max_series = 5\nmax_pionts = 3\n", `c.toml:2: max_pionts: unknown key`},
		{"times", "times = [\"10s:1h\", \"15s:1h\"]\n", `times: times[1]`},
		{"timezone", "timezone = \"Mars/Olympus\"\n", `timezone: `},
		{"max series", "max_series = 0\n", `max_series: 0 must be positive`},
		{"max points", "max_points = -1\n", `max_points: -1 must be positive`},
		{"max find", "max_find = 0\n", `max_find: 0 must be positive`},
		{"query timeout", "query_timeout = \"0s\"\n", `query_timeout: 0s must be positive`},
		{"read concurrency", "read_concurrency = 0\n", `read_concurrency: must be positive`},
		{"base path", "base_path = \"graphite\"\n", `base_path: "graphite" must start with /`},
		{"driver", "[storage]\ndriver = \"file\"\n", `storage.driver: "file" cannot be read`},
		{"storage option", "[storage]\ndriver = \"sqlite\"\n[storage.options]\nconnections = \"many\"\n", `storage: options.connections "many"`},
	}
	configtest.Run(t, tests, func(path string) error { _, err := Load(path); return err })
}

// TestShippedConfigsAreValid loads every query-api configuration under deploy/.
func TestShippedConfigsAreValid(t *testing.T) {
	for _, f := range []string{"../../../../deploy/query-api/query-api.toml", "../../../../deploy/compose/query-api.toml"} {
		if _, err := Load(f); err != nil {
			t.Error(err)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name, toml, err string
	}{
		{"defaults", "", ""},
		{"set", "max_request_points = 1000\nmax_points_in_flight = 5000\nmax_depth = 8\n", ""},
		{"request past pool", "max_request_points = 5000\nmax_points_in_flight = 1000\n", "max_points_in_flight"},
		{"zero points", "max_request_points = 0\n", "max_request_points"},
		{"zero depth", "max_depth = 0\n", "max_depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.toml == "" && (c.MaxRequestPoints != 10_000_000 || c.MaxPointsInFlight != 40_000_000 || c.MaxDepth != 64) {
					t.Fatalf("defaults %d %d %d", c.MaxRequestPoints, c.MaxPointsInFlight, c.MaxDepth)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want an error naming %s and %s, got %v", path, tc.err, err)
			}
		})
	}
}
