package agg

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// TestStatblastThroughRelayWhileScaling is issue 6's proof on the real
// pipeline: the statblast binary sends statsd counters (with sample rates) at
// a steady rate over TCP to the relay binary, which publishes them on NATS
// shard subjects; meanwhile aggregators go 1 -> 3 -> 2. Every counter summed
// over the stored rollups equals what statblast says it sent, at every
// resolution.
func TestStatblastThroughRelayWhileScaling(t *testing.T) {
	url := testenv.NATS(t)
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"relay", "statblast"} {
		bins[name] = filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", bins[name], "github.com/consthash/consthash/services/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	relayAddr := l.Addr().String()
	l.Close()
	relayCfg := filepath.Join(dir, "relay.toml")
	os.WriteFile(relayCfg, []byte(fmt.Sprintf(`
[admin]
listen = ""
[sections.statsd]
listen = ["tcp://%s"]
format = "statsd"
cluster = "forward"
servers = [%q]
shards = 8
`, relayAddr, url)), 0o644)
	relay := exec.Command(bins["relay"], "--config", relayCfg)
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer relay.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", relayAddr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	a := startAgg(t, url, "pipe-a")
	converged(t, "one aggregator", 8, a)
	expect := filepath.Join(dir, "expect.json")
	blast := exec.Command(bins["statblast"], "--servers", "tcp://"+relayAddr, "--type", "statsd", "--mix", "c:1",
		"--sample-rates", "--keys", "300", "--forks", "2", "--lines-per-sec", "20000", "--duration", "3s",
		"--buffer", "8192", "--seed", "5", "--expect-out", expect)
	blast.Stderr = os.Stderr
	if err := blast.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	b := startAgg(t, url, "pipe-b")
	c := startAgg(t, url, "pipe-c")
	converged(t, "three aggregators", 8, a, b, c)
	time.Sleep(700 * time.Millisecond)
	stopAgg(t, c)
	converged(t, "two aggregators", 8, a, b)
	if err := blast.Wait(); err != nil {
		t.Fatalf("statblast: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the relay sends what it holds; NATS delivers
	relay.Process.Signal(os.Interrupt)
	relay.Wait()
	stopAgg(t, a)
	stopAgg(t, b)

	var want struct {
		Lines    uint64
		Counters map[string]float64
	}
	raw, err := os.ReadFile(expect)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil || len(want.Counters) == 0 {
		t.Fatalf("expectations: %v", err)
	}
	stored := readStream(t, url, "CONSTHASH_ROLLUPS")
	for _, step := range []int64{1, 2} {
		got := map[string]float64{}
		for k, p := range stored {
			if k.step == step && strings.HasPrefix(k.path, "stats_counts.statblast.") {
				got[strings.TrimPrefix(k.path, "stats_counts.")] += p.Sum
			}
		}
		for k, v := range want.Counters {
			if got[k] != v {
				t.Errorf("resolution %d s: counter %s = %v, statblast sent %v", step, k, got[k], v)
			}
		}
		if len(got) != len(want.Counters) {
			t.Errorf("resolution %d s: %d counters stored, %d sent", step, len(got), len(want.Counters))
		}
	}
	t.Logf("statblast sent %d lines through the relay while aggregators went 1 -> 3 -> 2; every counter exact", want.Lines)
}
