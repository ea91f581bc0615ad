package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/services/statblast/internal/blast"
)

// buildTools builds statblast and echoserver into a temporary directory.
func buildTools(t *testing.T) (statblast, echoserver string) {
	t.Helper()
	dir := t.TempDir()
	statblast, echoserver = filepath.Join(dir, "statblast"), filepath.Join(dir, "echoserver")
	for bin, pkg := range map[string]string{statblast: ".", echoserver: "github.com/consthash/consthash/services/echoserver"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return statblast, echoserver
}

var listeningRE = regexp.MustCompile(`msg=listening listener=(\S+) addr=(\S+)`)

// startEcho starts echoserver on url (port 0 is fine) and returns the address
// it bound and a function that waits for it to exit.
func startEcho(t *testing.T, bin, url string, args ...string) (addr string, wait func()) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--servers", url}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[2]
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case addr = <-found:
	case <-time.After(10 * time.Second):
		t.Fatalf("echoserver on %s did not start", url)
	}
	return addr, func() {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("echoserver: %v\n%s", err, stdout.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("echoserver did not stop by itself")
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// transports lists a listener URL per transport, with what statblast needs
// to reach it once echoserver has bound.
func transports(dir string) []struct{ name, listen, scheme, extra string } {
	return []struct{ name, listen, scheme, extra string }{
		{"tcp", "tcp://127.0.0.1:0", "tcp", ""},
		{"udp", "udp://127.0.0.1:0", "udp", "--rate=200us"},
		{"unix", "unix://" + filepath.Join(dir, "echo.sock"), "unix", ""},
		{"http", "http://127.0.0.1:0/lines", "http", ""},
	}
}

func target(scheme, addr string) string {
	switch scheme {
	case "unix":
		return "unix://" + addr
	case "http":
		return "http://" + addr + "/lines"
	}
	return scheme + "://" + addr
}

// TestGraphiteTotalsOverEveryTransport sends graphite lines with statblast to
// echoserver --sum and checks the line count and every key's count and sum.
func TestGraphiteTotalsOverEveryTransport(t *testing.T) {
	statblast, echoserver := buildTools(t)
	const lines = 20000
	for _, tr := range transports(t.TempDir()) {
		t.Run(tr.name, func(t *testing.T) {
			dir := t.TempDir()
			summary, expect := filepath.Join(dir, "summary.json"), filepath.Join(dir, "expect.json")
			addr, wait := startEcho(t, echoserver, tr.listen, "--count", "--sum", "--interval=0",
				fmt.Sprintf("--expect=%d", lines), "--summary-out", summary)
			args := []string{"--servers", target(tr.scheme, addr), "--type=graphite", fmt.Sprintf("--count=%d", lines),
				"--forks=2", "--keys=500", "--seed=7", "--expect-out", expect}
			if tr.extra != "" {
				args = append(args, tr.extra)
			}
			if out, err := exec.Command(statblast, args...).CombinedOutput(); err != nil {
				t.Fatalf("statblast: %v\n%s", err, out)
			}
			wait()
			var got struct {
				Lines uint64
				Keys  map[string]struct {
					Count uint64
					Sum   float64
				}
			}
			var want blast.Expected
			readJSON(t, summary, &got)
			readJSON(t, expect, &want)
			if got.Lines != lines || want.Lines != lines {
				t.Fatalf("echoserver got %d lines, statblast sent %d, want %d", got.Lines, want.Lines, lines)
			}
			if len(got.Keys) != len(want.Graphite) {
				t.Fatalf("echoserver saw %d keys, statblast sent %d", len(got.Keys), len(want.Graphite))
			}
			for k, w := range want.Graphite {
				if g := got.Keys[k]; g.Count != w.Count || g.Sum != w.Sum {
					t.Errorf("key %s: got count %d sum %v, want %d %v", k, g.Count, g.Sum, w.Count, w.Sum)
				}
			}
		})
	}
}

// TestStatsdExpectations sends statsd lines (with sample rates) to
// echoserver --out and recomputes, from the lines that arrived, the
// aggregates statblast says it sent.
func TestStatsdExpectations(t *testing.T) {
	statblast, echoserver := buildTools(t)
	const lines = 20000
	for _, tr := range transports(t.TempDir()) {
		t.Run(tr.name, func(t *testing.T) {
			dir := t.TempDir()
			out, expect := filepath.Join(dir, "lines.txt"), filepath.Join(dir, "expect.json")
			addr, wait := startEcho(t, echoserver, tr.listen, "--out", out, fmt.Sprintf("--expect=%d", lines))
			args := []string{"--servers", target(tr.scheme, addr), "--type=statsd", fmt.Sprintf("--count=%d", lines),
				"--forks=3", "--keys=300", "--seed=11", "--sample-rates", "--expect-out", expect}
			if tr.extra != "" {
				args = append(args, tr.extra)
			}
			if o, err := exec.Command(statblast, args...).CombinedOutput(); err != nil {
				t.Fatalf("statblast: %v\n%s", err, o)
			}
			wait()
			var want blast.Expected
			readJSON(t, expect, &want)
			got := recompute(t, out)
			if got.Lines != lines {
				t.Fatalf("%d lines arrived, want %d", got.Lines, lines)
			}
			compareExpected(t, got, &want)
		})
	}
}

// recompute parses the statsd lines in path the simple way, as an
// independent check of statblast's own bookkeeping.
func recompute(t *testing.T, path string) *blast.Expected {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := &blast.Expected{Counters: map[string]float64{}, Timers: map[string]*blast.TimerAgg{}, Gauges: map[string]float64{}, Sets: map[string]int{}}
	sets := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e.Lines++
		key, rest, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Split(rest, "|")
		rate := 1.0
		if len(fields) == 3 {
			rate, _ = strconv.ParseFloat(strings.TrimPrefix(fields[2], "@"), 64)
		}
		switch fields[1] {
		case "c":
			v, _ := strconv.ParseFloat(fields[0], 64)
			e.Counters[key] += v * (1 / rate)
		case "ms":
			v, _ := strconv.ParseFloat(fields[0], 64)
			ta := e.Timers[key]
			if ta == nil {
				ta = &blast.TimerAgg{Min: math.Inf(1), Max: math.Inf(-1)}
				e.Timers[key] = ta
			}
			ta.Samples++
			ta.Count += 1 / rate
			ta.Sum += v
			ta.Min, ta.Max = math.Min(ta.Min, v), math.Max(ta.Max, v)
		case "g":
			v, _ := strconv.ParseFloat(fields[0], 64)
			if strings.HasPrefix(fields[0], "+") || strings.HasPrefix(fields[0], "-") {
				e.Gauges[key] += v
			} else {
				e.Gauges[key] = v
			}
		case "s":
			if sets[key] == nil {
				sets[key] = map[string]bool{}
			}
			sets[key][fields[0]] = true
			e.Sets[key] = len(sets[key])
		default:
			t.Fatalf("unexpected line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return e
}

func compareExpected(t *testing.T, got, want *blast.Expected) {
	t.Helper()
	if len(got.Counters) != len(want.Counters) || len(got.Timers) != len(want.Timers) ||
		len(got.Gauges) != len(want.Gauges) || len(got.Sets) != len(want.Sets) {
		t.Fatalf("key counts differ: got %d/%d/%d/%d, want %d/%d/%d/%d", len(got.Counters), len(got.Timers),
			len(got.Gauges), len(got.Sets), len(want.Counters), len(want.Timers), len(want.Gauges), len(want.Sets))
	}
	if len(want.Counters) == 0 || len(want.Timers) == 0 || len(want.Gauges) == 0 || len(want.Sets) == 0 {
		t.Fatalf("the mix should send every type: %d/%d/%d/%d", len(want.Counters), len(want.Timers), len(want.Gauges), len(want.Sets))
	}
	for k, w := range want.Counters {
		if got.Counters[k] != w {
			t.Errorf("counter %s = %v, want %v", k, got.Counters[k], w)
		}
	}
	for k, w := range want.Timers {
		if g := got.Timers[k]; g == nil || *g != *w {
			t.Errorf("timer %s = %+v, want %+v", k, g, w)
		}
	}
	for k, w := range want.Gauges {
		if got.Gauges[k] != w {
			t.Errorf("gauge %s = %v, want %v", k, got.Gauges[k], w)
		}
	}
	for k, w := range want.Sets {
		if got.Sets[k] != w {
			t.Errorf("set %s = %d, want %d", k, got.Sets[k], w)
		}
	}
}
