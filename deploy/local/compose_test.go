package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeFile struct {
	Services map[string]struct {
		Image         string         `yaml:"image"`
		Build         map[string]any `yaml:"build"`
		ContainerName string         `yaml:"container_name"`
		Command       []string       `yaml:"command"`
		Ports         []string       `yaml:"ports"`
		Volumes       []string       `yaml:"volumes"`
		Healthcheck   map[string]any `yaml:"healthcheck"`
		DependsOn     map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestComposeFile validates docker-compose.yml without a Docker engine:
// docker-compose's own check, then what the stack relies on: scaling without
// edits, health checks, every mounted file present, and every service
// accepting its mounted configuration.
func TestComposeFile(t *testing.T) {
	root, _ := filepath.Abs("../..")
	compose := filepath.Join(root, "docker-compose.yml")
	cluster := filepath.Join(root, "docker-compose.nats-cluster.yml")
	if _, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := exec.Command("docker-compose", "-f", compose, "config", "-q").CombinedOutput(); err != nil {
			t.Fatalf("docker-compose config: %v\n%s", err, out)
		}
		if out, err := exec.Command("docker-compose", "-f", compose, "-f", cluster, "config", "-q").CombinedOutput(); err != nil {
			t.Fatalf("docker-compose config with the NATS cluster file: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("docker-compose is required in CI (scripts/install-deps.sh installs it)")
	} else {
		t.Log("docker-compose not installed: only the structural checks run (apt-get install docker-compose)")
	}
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats", "cassandra", "relay", "aggregator", "writer", "query-api", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s is missing", name)
		}
	}
	for _, name := range []string{"aggregator", "writer"} {
		s := c.Services[name]
		if s.ContainerName != "" || len(s.Ports) > 0 {
			t.Errorf("%s has a fixed name or host ports: --scale %s=N would fail", name, name)
		}
	}
	for _, name := range []string{"nats", "cassandra"} {
		if len(c.Services[name].Healthcheck) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	for _, dep := range []struct{ svc, on string }{{"relay", "nats"}, {"aggregator", "nats"}, {"writer", "nats"}, {"writer", "cassandra"}, {"query-api", "cassandra"}} {
		if c.Services[dep.svc].DependsOn[dep.on].Condition != "service_healthy" {
			t.Errorf("%s does not wait for %s to be healthy", dep.svc, dep.on)
		}
	}
	// Published ports: movable by a variable and bound to 127.0.0.1 unless
	// CONSTHASH_BIND_ADDRESS says otherwise.
	bind := "${CONSTHASH_BIND_ADDRESS:-127.0.0.1}:"
	wantPorts := map[string][]string{
		"relay": {bind + "${CONSTHASH_GRAPHITE_PORT:-2003}:2003/tcp", bind + "${CONSTHASH_GRAPHITE_PORT:-2003}:2003/udp",
			bind + "${CONSTHASH_STATSD_PORT:-8125}:8125/udp", bind + "${CONSTHASH_STATSD_PORT:-8125}:8125/tcp",
			bind + "${CONSTHASH_RELAY_ADMIN_PORT:-8081}:8081"},
		"query-api": {bind + "${CONSTHASH_QUERY_PORT:-8080}:8080"},
		"grafana":   {bind + "${CONSTHASH_GRAFANA_PORT:-3000}:3000"},
	}
	for svc, ports := range wantPorts {
		if got := c.Services[svc].Ports; !slices.Equal(got, ports) {
			t.Errorf("%s publishes %q, want %q", svc, got, ports)
		}
	}
	for name, s := range c.Services {
		if s.Build != nil && s.Build["network"] != "host" {
			t.Errorf("%s builds without network: host (go build fetches modules)", name)
		}
	}
	// The 3-node NATS shape: three nodes routed to each other, aggregators
	// and writers on their cluster configurations (checked below with the rest).
	b, err = os.ReadFile(cluster)
	if err != nil {
		t.Fatal(err)
	}
	var cc composeFile
	if err := yaml.Unmarshal(b, &cc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats", "nats-2", "nats-3"} {
		cmd := strings.Join(cc.Services[name].Command, " ")
		if !strings.Contains(cmd, "--jetstream") || !strings.Contains(cmd, "--routes nats://nats:6222,nats://nats-2:6222,nats://nats-3:6222") {
			t.Errorf("cluster file: %s is not a JetStream node routed to all three: %s", name, cmd)
		}
	}
	type mounted struct {
		service string
		volumes []string
		build   bool
	}
	var mounts []mounted
	for name, s := range c.Services {
		mounts = append(mounts, mounted{name, s.Volumes, s.Build != nil})
	}
	for _, name := range []string{"aggregator", "writer"} {
		v := cc.Services[name].Volumes
		if len(v) != 1 || !strings.Contains(v[0], "-cluster.toml:") {
			t.Errorf("cluster file: %s mounts %q, want its -cluster.toml", name, v)
		}
		mounts = append(mounts, mounted{name, v, true})
	}
	// Every mounted file exists; every service accepts its mounted config.
	bin := t.TempDir()
	for _, m := range mounts {
		name, s := m.service, m
		for _, v := range s.volumes {
			src, dst, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue // a named volume
			}
			host := filepath.Join(root, src)
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, src)
				continue
			}
			if !s.build || !strings.HasSuffix(strings.TrimSuffix(dst, ":ro"), ".toml") {
				continue
			}
			exe := filepath.Join(bin, name)
			if _, err := os.Stat(exe); err != nil {
				if out, err := exec.Command("go", "build", "-o", exe, "github.com/consthash/consthash/services/"+name).CombinedOutput(); err != nil {
					t.Fatalf("go build %s: %v\n%s", name, err, out)
				}
			}
			if out, err := exec.Command(exe, "--config", host, "--check-config").CombinedOutput(); err != nil {
				t.Errorf("%s --check-config %s: %v\n%s", name, src, err, out)
			}
		}
	}
	ds, err := os.ReadFile(filepath.Join(root, "deploy/grafana/provisioning/datasources/consthash.yaml"))
	if err != nil || !strings.Contains(string(ds), "type: graphite") || !strings.Contains(string(ds), `graphiteVersion: "1.1"`) ||
		!strings.Contains(string(ds), "url: http://query-api:8080") {
		t.Errorf("the Grafana datasource is not graphite 1.1 on query-api: %v\n%s", err, ds)
	}
}
