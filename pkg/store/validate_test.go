package store

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Driver: "sqlite", DSN: "file:x.db"}, ""},
		{Config{Driver: "sqlite", DSN: "file:x.db", Options: map[string]string{"connections": "8", "table": "m"}}, ""},
		{Config{Driver: "cassandra", DSN: "127.0.0.1:9042", Options: map[string]string{"consistency": "quorum"}}, ""},
		{Config{Driver: "sqlit"}, `"sqlit": want cassandra`},
		{Config{Driver: "sqlite", DSN: "file:x.db", Options: map[string]string{"conections": "8"}}, "options.conections: unknown option of sqlite"},
		{Config{Driver: "sqlite", DSN: "file:x.db", Options: map[string]string{"connections": "many"}}, `options.connections "many"`},
		{Config{Driver: "sqlite", DSN: "file:x.db", Options: map[string]string{"table": "Metrics"}}, `options.table "Metrics"`},
		{Config{Driver: "mysql", DSN: "no-at-sign/db(", Options: nil}, "dsn:"},
		{Config{Driver: "file", DSN: "/tmp/x", Options: map[string]string{"max_file_size": "-1"}}, "options.max_file_size"},
		{Config{Driver: "file"}, "dsn:"},
		{Config{Driver: "cassandra", DSN: "h:9042", Options: map[string]string{"write_queues": "0"}}, "options.write_queues"},
		{Config{Driver: "cassandra", DSN: "h:9042", Options: map[string]string{"consistency": "most"}}, "options.consistency"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
