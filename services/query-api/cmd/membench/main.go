// Command membench measures query-api's peak memory (VmHWM) on the requests
// of issue #19 item 6, each against a fresh query-api process over SQLite:
//
//	go build -o /tmp/query-api ./services/query-api
//	go run ./services/query-api/cmd/membench --bin /tmp/query-api --work /tmp/membench
//
// It writes 1,000 series m.s000..m.s999 (a point an hour for 7 days at 10 s,
// a point a day for 2 years at 10 min: reads allocate the whole range, so
// sparse data costs what dense data does, and loads in seconds), then runs:
// one summarize(x,"1s") over -1y; 30 concurrent Grafana renders of 1,000
// series over 7 days; 500 series over -100y; and, to see the pool at work on
// requests it accepts, 30 concurrent renders of 100 series over 7 days and
// 30 of 30 series over 7 days answered with every point (1.8 million each,
// under max_points), and 30 of 150 series over 7 days, each request close
// to max_request_points.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

type benchCase struct {
	name        string
	target      string
	from        string
	concurrency int
	maxPoints   string // maxDataPoints; "": none
}

var cases = []benchCase{
	{"summarize(x,\"1s\") over -1y, 1 series", `summarize(m.s000,"1s")`, "-1y", 1, "1000"},
	{"30 × (1,000 series × 7 d), maxDataPoints=1000", "m.*", "-7d", 30, "1000"},
	{"500 series over -100y", "m.s[0-4]*", "-100y", 1, "1000"},
	{"30 × (100 series × 7 d), maxDataPoints=1000", "m.s0*", "-7d", 30, "1000"},
	{"30 × (30 series × 7 d), every point (1.8 M out each)", "m.s0[0-2]*", "-7d", 30, ""},
	{"30 × (150 series × 7 d), maxDataPoints=1000 (9.4 M points each, near max_request_points)", "group(m.s0*,m.s1[0-4]*)", "-7d", 30, "1000"},
}

func main() {
	bin := flag.String("bin", "", "the query-api binary")
	work := flag.String("work", "/tmp/membench", "directory for the database and configuration")
	extra := flag.String("config", "", "TOML lines added to query-api's configuration (e.g. the limits)")
	only := flag.Int("case", 0, "run only this case (1-based); 0: all")
	flag.Parse()
	if *bin == "" {
		log.Fatal("give --bin, the query-api binary")
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		log.Fatal(err)
	}
	dsn := "file:" + filepath.Join(*work, "m.db")
	if err := load(dsn); err != nil {
		log.Fatal(err)
	}
	fmt.Println("| case | answers | wall | peak RSS (VmHWM) |")
	fmt.Println("|---|---|---|---|")
	for i, c := range cases {
		if *only != 0 && i+1 != *only {
			continue
		}
		answers, wall, hwm, err := run(*bin, *work, dsn, *extra, c)
		if err != nil {
			log.Fatalf("%s: %v", c.name, err)
		}
		fmt.Printf("| %s | %s | %s | %d MiB |\n", c.name, answers, wall.Round(10*time.Millisecond), hwm>>10)
	}
}

// load writes the series once (a marker file says it is done).
func load(dsn string) error {
	marker := strings.TrimPrefix(dsn, "file:") + ".loaded"
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	res, err := rollup.ParseTimes([]string{"10s:168h", "10m:17520h"})
	if err != nil {
		return err
	}
	s, err := store.Open(store.Config{Driver: "sqlite", DSN: dsn})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		return err
	}
	now := time.Now().Unix()
	for _, r := range []struct {
		res   rollup.Resolution
		every int64
		span  time.Duration
	}{{res[0], 3600, 7 * 24 * time.Hour}, {res[1], 86400, 2 * 365 * 24 * time.Hour}} {
		b := &rollup.Batch{Source: "membench", Resolution: r.res}
		step := r.res.Seconds()
		for i := range 1000 {
			for t := now - int64(r.span/time.Second); t < now; t += r.every {
				var p rollup.Point
				p.Path, p.Time = fmt.Sprintf("m.s%03d", i), t-t%step
				p.Add(float64(i), 1)
				b.Points = append(b.Points, p)
			}
			if len(b.Points) >= 20000 {
				if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
					return err
				}
				b.Points = b.Points[:0]
			}
		}
		if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
			return err
		}
	}
	return os.WriteFile(marker, nil, 0o644)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// run starts query-api, sends the case's requests at once, and returns the
// answers by status, the time they took and the process's VmHWM in KiB.
func run(bin, work, dsn, extra string, c benchCase) (string, time.Duration, int64, error) {
	addr, err := freePort()
	if err != nil {
		return "", 0, 0, err
	}
	cfgPath := filepath.Join(work, "query-api.toml")
	cfg := fmt.Sprintf("listen = %q\ntimes = [\"10s:168h\", \"10m:17520h\"]\n%s\n[storage]\ndriver = \"sqlite\"\ndsn = %q\n[admin]\nlisten = \"\"\n[log]\nlevel = \"warn\"\n",
		addr, extra, dsn)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", 0, 0, err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, 0, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/version")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return "", 0, 0, errors.New("query-api did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	form := url.Values{"target": {c.target}, "from": {c.from}, "format": {"json"}}
	if c.maxPoints != "" {
		form.Set("maxDataPoints", c.maxPoints)
	}
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	started := time.Now()
	client := &http.Client{Timeout: 5 * time.Minute}
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "error"
			resp, err := client.PostForm("http://"+addr+"/render", form)
			if err == nil {
				if resp.StatusCode == http.StatusOK {
					io.Copy(io.Discard, resp.Body)
				} else if b, _ := io.ReadAll(resp.Body); resp.StatusCode >= 500 {
					log.Printf("%s: %d %.300s", c.name, resp.StatusCode, b) // an answer the limits do not explain
				}
				resp.Body.Close()
				key = strconv.Itoa(resp.StatusCode)
			}
			mu.Lock()
			codes[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(started)
	hwm, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return "", 0, 0, err
	}
	var parts []string
	for k, n := range codes {
		parts = append(parts, fmt.Sprintf("%d × %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), wall, hwm, nil
}

// vmHWM reads a process's peak resident set size in KiB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM")
}
