package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"
)

// renderSums sums every series /render returns.
func renderSums(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var series []struct {
		Target     string
		Datapoints [][2]*float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&series); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range series {
		for _, dp := range s.Datapoints {
			if dp[0] != nil {
				out[s.Target] += *dp[0]
			}
		}
	}
	return out, nil
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// TestLocalPipeline runs the local stack as `make run` does and sends statsd
// counters and graphite lines through the relay: after the flushes and a
// Ctrl-C, SQLite holds exactly what was sent at every resolution.
func TestLocalPipeline(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, name := range []string{"relay", "aggregator", "writer", "query-api"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "github.com/consthash/consthash/services/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "local"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build local: %v\n%s", err, out)
	}
	p := freePorts(t, 5)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(bin, "local"), "--data", data, "--bin", bin, fmt.Sprintf("--graphite-port=%d", p[0]),
		fmt.Sprintf("--statsd-port=%d", p[1]), fmt.Sprintf("--nats-port=%d", p[2]), fmt.Sprintf("--admin-port=%d", p[3]+10),
		fmt.Sprintf("--query-port=%d", p[4]), `--times=["1s:1h", "2s:2h"]`)
	logPath := filepath.Join(dir, "local.log")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("local stack log:\n%s", b)
		}
	})
	var statsdConn, graphiteConn net.Conn
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err1, err2 error
		statsdConn, err1 = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p[1]))
		graphiteConn, err2 = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p[0]))
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not start: %v %v", err1, err2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]float64{}
	graphiteWant := map[string]float64{}
	for i := 0; i < 3000; i++ {
		key := fmt.Sprintf("local.c%d", i%25)
		v := 1 + i%7
		fmt.Fprintf(statsdConn, "%s:%d|c\n", key, v)
		want["stats_counts."+key] += float64(v)
		path := fmt.Sprintf("local.g%d", i%10)
		fmt.Fprintf(graphiteConn, "%s %d %d\n", path, i%5, time.Now().Unix())
		graphiteWant[path] += float64(i % 5)
		if i%500 == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	statsdConn.Close()
	graphiteConn.Close()
	// Through query-api: once the flushes are stored, /render sums to what was sent.
	render := fmt.Sprintf("http://127.0.0.1:%d/render?target=stats_counts.local.*&from=-5min&format=json", p[4])
	deadline = time.Now().Add(20 * time.Second)
	for {
		got, err := renderSums(render)
		ok := err == nil && len(got) == len(want)
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/render sums %v (%v), want %v", got, err, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics/find?query=local.*", p[4]))
	if err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if len(found) != 10 {
		t.Errorf("/metrics/find local.* found %d, want 10 graphite paths", len(found))
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("local stack exited with %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("local stack did not stop")
	}
	db, err := sqlx.Open("sqlite", "file:"+filepath.Join(data, "consthash.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, secs := range []int{1, 2} {
		check := func(w map[string]float64) {
			for path, v := range w {
				var sum float64
				if err := db.Get(&sum, fmt.Sprintf("SELECT COALESCE(SUM(sum), 0) FROM metrics_%ds WHERE path = ?", secs), path); err != nil {
					t.Fatal(err)
				}
				if sum != v {
					t.Errorf("%d s: %s = %v, sent %v", secs, path, sum, v)
				}
			}
		}
		check(want)
		check(graphiteWant)
	}
	var leaves int
	db.Get(&leaves, "SELECT COUNT(*) FROM metrics_paths WHERE leaf = 1 AND path LIKE 'stats_counts.local.%'")
	if leaves != 25 {
		t.Errorf("%d counter paths indexed, want 25", leaves)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "consthash is running") {
		t.Errorf("no banner in the log")
	}
}
