package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

type expected struct {
	Counters map[string]float64
	Timers   map[string]struct{ Count, Sum, Min, Max float64 }
	Gauges   map[string]float64
	Sets     map[string]int
	Graphite map[string]struct {
		Count         uint64
		Sum, Min, Max float64
	}
}

// render returns every series of a target as target -> non-null values.
func render(t *testing.T, base, target, from string) map[string][]float64 {
	t.Helper()
	resp, err := http.PostForm(base+"/render", url.Values{"target": {target}, "from": {from}, "format": {"json"}, "maxDataPoints": {"100000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var series []struct {
		Target     string
		Datapoints [][2]*float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&series); err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	out := map[string][]float64{}
	for _, s := range series {
		for _, dp := range s.Datapoints {
			if dp[0] != nil {
				out[s.Target] = append(out[s.Target], *dp[0])
			}
		}
	}
	return out
}

func sum(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

// TestEndToEndStatblastMix is the pipeline's proof: statblast sends a known
// mix through the local stack's relay, and query-api's /render returns
// exactly statblast's expected aggregates at every resolution.
func TestEndToEndStatblastMix(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, name := range []string{"relay", "aggregator", "writer", "query-api", "statblast"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "github.com/consthash/consthash/services/"+name).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "local"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build local: %v\n%s", err, out)
	}
	p := freePorts(t, 4)
	cmd := exec.Command(filepath.Join(bin, "local"), "--data", filepath.Join(dir, "data"), "--bin", bin,
		fmt.Sprintf("--graphite-port=%d", p[0]), fmt.Sprintf("--statsd-port=%d", p[1]), fmt.Sprintf("--nats-port=%d", p[2]),
		fmt.Sprintf("--admin-port=%d", p[4]), fmt.Sprintf("--query-port=%d", p[3]), `--times=["5s:1h", "10s:2h"]`)
	logPath := filepath.Join(dir, "local.log")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("stack log:\n%s", b)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", p[3])
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(base + "/version"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("query-api did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Sets count distinct members per flush: send the burst just after a 5 s
	// boundary so it lands in one bin.
	for time.Now().UnixMilli()%5000 > 300 {
		time.Sleep(20 * time.Millisecond)
	}
	blast := func(args ...string) {
		if out, err := exec.Command(filepath.Join(bin, "statblast"), args...).CombinedOutput(); err != nil {
			t.Fatalf("statblast: %v\n%s", err, out)
		}
	}
	statsdExp, graphiteExp := filepath.Join(dir, "statsd.json"), filepath.Join(dir, "graphite.json")
	blast("--servers", fmt.Sprintf("tcp://127.0.0.1:%d", p[1]), "--type", "statsd", "--sample-rates", "--keys", "200",
		"--forks", "2", "--count", "20000", "--buffer", "16384", "--seed", "3", "--expect-out", statsdExp)
	blast("--servers", fmt.Sprintf("tcp://127.0.0.1:%d", p[0]), "--type", "graphite", "--keys", "50",
		"--count", "5000", "--buffer", "16384", "--seed", "4", "--expect-out", graphiteExp)
	var sx, gx expected
	for path, v := range map[string]*expected{statsdExp: &sx, graphiteExp: &gx} {
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if len(sx.Counters) == 0 || len(sx.Timers) == 0 || len(sx.Gauges) == 0 || len(sx.Sets) == 0 || len(gx.Graphite) == 0 {
		t.Fatal("statblast did not send every type")
	}
	// Poll until every total is exact: the 5 s bins are stored at each flush,
	// a 10 s bin once it closes (up to 10 s after the burst, plus the write).
	deadline := time.Now().Add(45 * time.Second)
	for {
		var errs []string
		errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
		for _, from := range []string{"-10min", "-90min"} { // the 5 s and the 10 s resolutions
			counters := render(t, base, "stats_counts.statblast.counter.*", from)
			for k, v := range sx.Counters {
				if got := sum(counters["stats_counts."+k]); got != v {
					errorf("%s counter %s = %v, sent %v", from, k, got, v)
				}
			}
			counts, sums := render(t, base, "stats.timers.statblast.timer.*.count", from), render(t, base, "stats.timers.statblast.timer.*.sum", from)
			lowers, uppers := render(t, base, "stats.timers.statblast.timer.*.lower", from), render(t, base, "stats.timers.statblast.timer.*.upper", from)
			for k, v := range sx.Timers {
				p := "stats.timers." + k
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, x := range lowers[p+".lower"] {
					lo = math.Min(lo, x)
				}
				for _, x := range uppers[p+".upper"] {
					hi = math.Max(hi, x)
				}
				if sum(counts[p+".count"]) != v.Count || sum(sums[p+".sum"]) != v.Sum || lo != v.Min || hi != v.Max {
					errorf("%s timer %s: count %v sum %v min %v max %v; sent %+v", from, k, sum(counts[p+".count"]), sum(sums[p+".sum"]), lo, hi, v)
				}
			}
			// Gauges keep the last value sent: one key's lines stay in order
			// from statblast's connection through the relay's lanes and NATS to
			// the aggregator's shard.
			gauges := render(t, base, "stats.gauges.statblast.gauge.*", from)
			for k, v := range sx.Gauges {
				if vs := gauges["stats.gauges."+k]; len(vs) == 0 || vs[len(vs)-1] != v {
					errorf("%s gauge %s = %v, last sent %v", from, k, vs, v)
				}
			}
			sets := render(t, base, "stats.sets.statblast.set.*.count", from)
			for k, v := range sx.Sets {
				if got := sum(sets["stats.sets."+k+".count"]); got != float64(v) {
					errorf("%s set %s = %v, sent %d distinct", from, k, got, v)
				}
			}
			graphite := render(t, base, "statblast.graphite.*", from)
			for k, v := range gx.Graphite {
				vs := graphite[k]
				if len(vs) != 1 || vs[0] != v.Sum/float64(v.Count) {
					errorf("%s graphite %s = %v, want one mean %v", from, k, vs, v.Sum/float64(v.Count))
				}
			}
		}
		if len(errs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, e := range errs {
				t.Error(e)
			}
			break
		}
		time.Sleep(time.Second)
	}
	resp, err := http.PostForm(base+"/metrics/find", url.Values{"query": {"statblast.*"}})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	json.NewDecoder(resp.Body).Decode(&nodes)
	resp.Body.Close()
	if len(nodes) != 1 || nodes[0]["id"] != "statblast.graphite" {
		t.Errorf("/metrics/find statblast.* = %v", nodes)
	}

	// Grafana's requests against the stack: a query wrapped in aliasSub, as
	// its editor sends it; "Save & test"; the editor's /functions; and the
	// tag editor's autocomplete.
	total := 0.0
	for _, v := range sx.Counters {
		total += v
	}
	got := render(t, base, `aliasSub(sumSeries(stats_counts.statblast.counter.*), '^.*$', 'total')`, "-10min")
	if len(got) != 1 || math.Abs(sum(got["total"])-total) > 1e-9*math.Max(1, total) {
		t.Errorf("aliasSub(sumSeries(...)) = %v, want one series total summing to %v", got, total)
	}
	if got := render(t, base, "constantLine(100)", "-1h"); len(got["100.0"]) == 0 || got["100.0"][0] != 100 {
		t.Errorf("Save & test's constantLine(100) = %v", got)
	}
	getJSON := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(v) != nil {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	var fns map[string]json.RawMessage
	getJSON("/functions", &fns)
	if fns["aliasSub"] == nil || fns["sumSeries"] == nil || fns["groupByTags"] == nil {
		t.Errorf("/functions lacks Grafana's functions: %d listed", len(fns))
	}
	// The provisioned Grafana dashboards show this data.
	t.Run("provisioned dashboards", func(t *testing.T) { checkDashboards(t, base) })

	var values []string
	getJSON("/tags/autoComplete/values?tag=name&valuePrefix=statblast.graphite.&limit=100", &values)
	if len(values) != len(gx.Graphite) {
		t.Errorf("autoComplete/values of name: %d values, sent %d graphite keys", len(values), len(gx.Graphite))
	}
	for _, v := range values {
		if _, ok := gx.Graphite[v]; !ok {
			t.Errorf("autoComplete/values: %q was not sent", v)
		}
	}
}
