package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/pkg/testenv"
)

// TestRenderShowsPointsBeforeTheirPersist runs the writer and query-api
// binaries over one SQLite file and a real NATS: a rollup published to the
// stream is in /render within one base interval (10 s), long before the
// writer's persist_interval (1 m), answered by the writer over NATS; after
// the writer stops (persisting its blocks) the render reads it from storage.
func TestRenderShowsPointsBeforeTheirPersist(t *testing.T) {
	dir := t.TempDir()
	dsn := "file:" + filepath.Join(dir, "consthash.db")
	natsURL := testenv.NATS(t)
	bins := map[string]string{"writer": ".", "query-api": "../query-api"}
	for name, src := range bins {
		bin := filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", src, err, out)
		}
		bins[name] = bin
	}
	writerAdmin, query, queryAdmin := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	configs := map[string]string{
		"writer": fmt.Sprintf(`nats = %q
shards = 8
persist_interval = "1m"
[membership]
interval = "200ms"
[admin]
listen = %q
[storage]
driver = "sqlite"
dsn = %q
`, natsURL, writerAdmin, dsn),
		"query-api": fmt.Sprintf(`listen = %q
times = ["10s:24h"]
[recent]
nats = %q
shards = 8
timeout = "200ms"
[admin]
listen = %q
[storage]
driver = "sqlite"
dsn = %q
`, query, natsURL, queryAdmin, dsn),
	}
	procs := map[string]*exec.Cmd{}
	for _, name := range []string{"writer", "query-api"} {
		cfg := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(cfg, []byte(configs[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bins[name], "--config", cfg)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = cmd
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s stderr:\n%s", name, stderr.String())
			}
		})
	}
	getJSON := func(u string, v any) bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && json.Unmarshal(b, v) == nil
	}
	var ws struct {
		Reading  []int `json:"shards_reading"`
		Persists int   `json:"persists"`
		Blocks   bool  `json:"blocks"`
	}
	testenv.Eventually(t, "the writer reads all 8 shards", func() bool {
		return getJSON("http://"+writerAdmin+"/stats", &ws) && len(ws.Reading) == 8
	})
	if !ws.Blocks {
		t.Fatal("the writer keeps no blocks over SQLite")
	}

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	const path = "e2e.fresh.count"
	res := rollup.Resolution{Step: 10 * time.Second, TTL: 24 * time.Hour}
	first := res.BinStart(time.Now()) - 20
	if store.SpanOf(res, first) != store.SpanOf(res, first+10) {
		first -= 10 // both points in one block
	}
	publish := func(bin int64, v float64) time.Time {
		t.Helper()
		p := rollup.Point{Path: path, Time: bin}
		p.Add(v, bin*1e9)
		b := rollup.Batch{Source: "agg-e2e", Resolution: res, Flush: bin + 10, Seq: 1, Final: true, Points: []rollup.Point{p}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, bus.RollupSubject(res, bus.PathShard(path, 8)), b.Append(nil), jetstream.WithMsgID(b.MsgID())); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	render := func(bin int64) (float64, bool) {
		q := url.Values{"target": {path}, "from": {fmt.Sprint(first - 60)}, "until": {fmt.Sprint(first + 60)}, "format": {"json"}}
		var out []struct {
			Datapoints [][2]*float64 `json:"datapoints"`
		}
		if !getJSON("http://"+query+"/render?"+q.Encode(), &out) || len(out) != 1 {
			return 0, false
		}
		for _, dp := range out[0].Datapoints {
			if dp[0] != nil && int64(*dp[1]) == bin {
				return *dp[0], true
			}
		}
		return 0, false
	}
	// The series' first point opens a block with nothing stored: its path
	// is indexed at once (no block written), so /render finds it, and the
	// writer serves its point to query-api until the persist (1 m).
	publish(first, 5)
	testenv.Eventually(t, "the new series in /render", func() bool { v, ok := render(first); return ok && v == 5 })
	if !getJSON("http://"+writerAdmin+"/stats", &ws) || ws.Persists != 0 {
		t.Fatalf("the writer persisted the new series' block to show it: %+v", ws)
	}
	// Its next point waits in the open block too.
	published := publish(first+10, 42)
	var took time.Duration
	testenv.Eventually(t, "the next point in /render", func() bool {
		v, ok := render(first + 10)
		took = time.Since(published)
		return ok && v == 42
	})
	if took > 10*time.Second {
		t.Errorf("the point showed in /render %s after it was published, more than one base interval", took)
	}
	if !getJSON("http://"+writerAdmin+"/stats", &ws) || ws.Persists != 0 {
		t.Fatalf("the writer persisted (%d): the render did not need its recent points", ws.Persists)
	}
	var qs struct {
		Recent struct {
			Points   int `json:"points"`
			Timeouts int `json:"timeouts"`
		} `json:"recent"`
	}
	if !getJSON("http://"+queryAdmin+"/stats", &qs) || qs.Recent.Points < 1 || qs.Recent.Timeouts != 0 {
		t.Errorf("query-api's recent counters: %+v", qs.Recent)
	}
	t.Logf("visible in /render %s after publishing, before any persist", took.Round(time.Millisecond))

	// The writer stops: it persists, and the render reads the point from storage.
	procs["writer"].Process.Signal(syscall.SIGTERM)
	if err := procs["writer"].Wait(); err != nil {
		t.Fatalf("the writer's stop: %v", err)
	}
	if v, ok := render(first + 10); !ok || v != 42 {
		t.Fatalf("after the writer's stop the render shows %v (%v), want 42 from storage", v, ok)
	}
}
