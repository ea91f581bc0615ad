package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
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

// freePorts returns n ports free for TCP and UDP, and after them a run of
// four free ones for the admin servers (the last element is its first port).
// They come from below Linux's ephemeral range (32768–60999), so that no
// outgoing connection takes one between this check and the stack's listen.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	free := func(port int) bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		l.Close()
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		u.Close()
		return true
	}
	used := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n+1; tries++ {
		if tries > 10000 {
			t.Fatal("no free ports below 32768")
		}
		base := 20000 + rand.IntN(12000)
		run := 1
		if len(ports) == n {
			run = 4 // the admin ports
		}
		ok := true
		for i := range run {
			if used[base+i] || !free(base+i) {
				ok = false
				break
			}
		}
		if ok {
			for i := range run {
				used[base+i] = true
			}
			ports = append(ports, base)
		}
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
	p := freePorts(t, 4)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(bin, "local"), "--data", data, "--bin", bin, fmt.Sprintf("--graphite-port=%d", p[0]),
		fmt.Sprintf("--statsd-port=%d", p[1]), fmt.Sprintf("--nats-port=%d", p[2]), fmt.Sprintf("--admin-port=%d", p[4]),
		fmt.Sprintf("--query-port=%d", p[3]), `--times=["1s:1h", "2s:2h"]`)
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
	render := fmt.Sprintf("http://127.0.0.1:%d/render?target=stats_counts.local.*&from=-5min&format=json", p[3])
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
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics/find?query=local.*", p[3]))
	if err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if len(found) != 10 {
		t.Errorf("/metrics/find local.* found %d, want 10 graphite paths", len(found))
	}
	// The relay's mutating admin endpoints take the token it wrote to
	// data/run, readable only by this user; without it they refuse.
	tokenFile := filepath.Join(data, "run", "relay-admin.token")
	fi, err := os.Stat(tokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v, want mode 0600", tokenFile, fi, err)
	}
	token, _ := os.ReadFile(tokenFile)
	admin := func(op, tok string) int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/graphite/%s", p[4], op), strings.NewReader("server=tcp://127.0.0.1:1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := admin("addserver", ""); code != http.StatusUnauthorized {
		t.Errorf("addserver without the token: %d, want 401", code)
	}
	if code := admin("addserver", strings.TrimSpace(string(token))); code != 200 {
		t.Errorf("addserver with the token: %d, want 200", code)
	}
	if code := admin("purgeserver", strings.TrimSpace(string(token))); code != 200 {
		t.Errorf("purgeserver with the token: %d, want 200", code)
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
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("the relay's token file outlived it: %v", err)
	}
	db, err := sqlx.Open("sqlite", "file:"+filepath.Join(data, "consthash.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Points are stored in blocks: read them as query-api does.
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(data, "consthash.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, secs := range []int{1, 2} {
		res := rollup.Resolution{Step: time.Duration(secs) * time.Second, TTL: time.Duration(secs) * time.Hour}
		check := func(w map[string]float64) {
			for path, v := range w {
				pts, err := st.(store.Reader).Read(context.Background(), path, res, 0, 1<<33)
				if err != nil {
					t.Fatal(err)
				}
				var sum float64
				for _, p := range pts {
					sum += p.Sum
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
