package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
