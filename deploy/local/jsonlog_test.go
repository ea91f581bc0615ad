package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestJSONLogsFromTheFirstLine runs the four services as the compose stack
// does, logging JSON: from the first line to the last (start, /metrics
// scraped, which reads the process metrics, then a graceful stop), every line
// each writes to stderr is one JSON object with time, level and msg. A
// service that fails to start says why in JSON too.
func TestJSONLogsFromTheFirstLine(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	services := []string{"relay", "aggregator", "writer", "query-api"}
	for _, name := range services {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "github.com/consthash/consthash/services/"+name).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "local"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build local: %v\n%s", err, out)
	}
	p := freePorts(t, 4)
	cmd := exec.Command(filepath.Join(bin, "local"), "--data", filepath.Join(dir, "data"), "--bin", bin, "--log-format", "json",
		fmt.Sprintf("--graphite-port=%d", p[0]), fmt.Sprintf("--statsd-port=%d", p[1]), fmt.Sprintf("--nats-port=%d", p[2]),
		fmt.Sprintf("--admin-port=%d", p[4]), fmt.Sprintf("--query-port=%d", p[3]))
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// Every service started, then each one's /metrics read (process metrics:
	// /proc, cgroup pressure files).
	for deadline := time.Now().Add(30 * time.Second); ; {
		all := true
		for _, name := range services {
			all = all && strings.Contains(stderr.String(), `"msg":"`+name+` started"`)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the services did not all start:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range services {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p[4]+i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(b, []byte("process_cpu_seconds_total")) {
			t.Fatalf("%s /metrics has no process metrics:\n%.500s", services[i], b)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("local: %v\n%s", err, stderr.String())
	}
	stopped = true

	lines := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		name, line, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(services, name) {
			continue // the launcher's own lines
		}
		line = strings.TrimLeft(line, " ")
		lines[name]++
		if !isLogObject(line) {
			t.Errorf("%s line %d is not a JSON log object: %s", name, lines[name], line)
		}
	}
	for _, name := range services {
		if lines[name] < 2 || !strings.Contains(stderr.String(), `"msg":"`+name+` stopped"`) {
			t.Errorf("%s wrote %d lines and no stop line:\n%s", name, lines[name], stderr.String())
		}
	}

	// A start that fails (nothing listens at the relay's NATS URL) ends with
	// the error as a JSON line.
	cfg := filepath.Join(dir, "bad-relay.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[admin]
listen = "127.0.0.1:0"
[log]
format = "json"
[sections.graphite]
listen = ["tcp://127.0.0.1:0"]
format = "graphite"
cluster = "forward"
servers = ["nats://127.0.0.1:%d"]
`, p[2])), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "relay"), "--config", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("the relay started without NATS:\n%s", out)
	}
	n := 0
	for l := range strings.Lines(string(out)) {
		n++
		if !isLogObject(strings.TrimSuffix(l, "\n")) {
			t.Errorf("failed relay: line %d is not a JSON log object: %s", n, l)
		}
	}
	if n == 0 || !strings.Contains(string(out), `"msg":"relay failed"`) {
		t.Errorf("the failed relay did not log why as JSON:\n%s", out)
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// isLogObject reports whether line is one JSON object with slog's time,
// level and msg.
func isLogObject(line string) bool {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return false
	}
	_, okT := m["time"].(string)
	_, okL := m["level"].(string)
	_, okM := m["msg"].(string)
	return okT && okL && okM
}
