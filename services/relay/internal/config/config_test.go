package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsFillUnsetKeys(t *testing.T) {
	c, err := Parse("x.toml", `
[defaults]
queue_size = 500
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
[sections.b]
listen = ["backend_only"]
cluster = "forward"
servers = ["tcp://127.0.0.1:2"]
queue_size = 7
`)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Sections["a"], c.Sections["b"]
	if a.QueueSize != 500 || b.QueueSize != 7 {
		t.Errorf("queue sizes %d %d, want 500 (from [defaults]) and 7", a.QueueSize, b.QueueSize)
	}
	if a.Cluster != "carbon_ch" || a.Format != "graphite" || a.HealthInterval.D() != 10*time.Second || a.Replication != 1 {
		t.Errorf("built-in defaults not applied: %+v", a)
	}
}

func TestValidationErrorsNameFileAndKey(t *testing.T) {
	tests := []struct{ toml, want string }{
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
replication = 2`, "x.toml: sections.a.replication: 2 must be between 1 and the number of servers (1)"},
		{`[sections.a]
listen = ["ftp://h:1"]
servers = ["tcp://127.0.0.1:1"]`, "x.toml: sections.a.listen: "},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
format = "regex"
regex = "^(\\S+)"
servers = ["tcp://127.0.0.1:1"]`, "x.toml: sections.a.regex: regex"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
cluster = "ketama"
servers = ["tcp://127.0.0.1:1"]`, "x.toml: sections.a.cluster: \"ketama\" is not one of"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1", "tcp://127.0.0.1:1"]`, "x.toml: sections.a.servers[1]: tcp://127.0.0.1:1 is listed twice"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
hashkeys = ["a", "b"]`, "x.toml: sections.a.hashkeys: has 2 entries, servers has 1"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
  [[sections.a.rules]]
  prefix = "x"`, "x.toml: sections.a.rules[0]: a rule needs either backend"},
		{`[admin]
listen = "0.0.0.0:8081"
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]`, "x.toml: admin: listen \"0.0.0.0:8081\" is not a loopback address, so a token is required"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
qeue_size = 3`, "x.toml:4: sections.a.qeue_size: unknown key"},
		{`[log]
level = "verbose"
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: log.level: "verbose" is not one of debug, info, warn, error`},
		{`[log]
format = "jsn"
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: log.format: "jsn" is not one of text, json`},
		{`[sections.a]
listen = ["udp://127.0.0.1:99999"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: sections.a.listen: "udp://127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{`[admin]
listen = "127.0.0.1:99999"
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: admin: listen "127.0.0.1:99999": port "99999"`},
		{`[statsd]
server = "udp://127.0.0.1:8125"
interval = "0s"
[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: statsd.interval: 0s must be positive`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
health_interval = "soon"`, "x.toml"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_c_ch"
servers = ["tcp://10.0.0.1:2003", "tcp://10.0.0.1:2004"]`, "x.toml: sections.a.servers[1]: tcp://10.0.0.1:2004 cannot be told apart from servers[0] (tcp://10.0.0.1:2003): carbon_c_ch hashes the host and instance, not the port"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_fnv1a_ch"
servers = ["tcp://10.0.0.1:2003", "tcp://10.0.0.2:2003"]`, "carbon_fnv1a_ch hashes only the instance"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:99999"]`, `x.toml: sections.a.servers[0]: server "tcp://127.0.0.1:99999": port "99999" is not a number from 1 to 65535`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:0"]`, `port "0" is not a number from 1 to 65535`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:70000"]
servers = ["tcp://127.0.0.1:1"]`, `x.toml: sections.a.listen: "tcp://127.0.0.1:70000": port "70000" is not a number from 0 to 65535`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://` + strings.Repeat("a", 5000) + `:2003"]`, "host name of 5000 characters: DNS allows at most 253"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://` + strings.Repeat("b", 64) + `.example.com:2003"]`, "a label of 64 characters"},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["unix:///no/such/dir/relay.sock"]`, `directory /no/such/dir does not exist`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["unix:///etc/passwd"]`, `"/etc/passwd" exists and is not a socket`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
check_servers = ["http://127.0.0.1:123456/health"]`, `x.toml: sections.a.check_servers[0]: "http://127.0.0.1:123456/health": port "123456"`},
		{`[sections.a]
listen = ["tcp://127.0.0.1:0"]
servers = ["tcp://127.0.0.1:1"]
max_connections = -1`, "x.toml: sections.a.max_connections: -1 must not be negative"},
	}
	for _, tt := range tests {
		if _, err := Parse("x.toml", tt.toml); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q)\n  = %v\n want an error containing %q", tt.toml, err, tt.want)
		}
	}
}

// TestShippedConfigsAreValid loads every relay configuration under deploy/.
func TestShippedConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../../../deploy/relay/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
