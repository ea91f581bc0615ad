// Command stackcheck compares what a running stack's query-api serves with
// the exact aggregates statblast wrote with --expect-out, at every given
// resolution, polling until they match or a deadline passes.
// scripts/compose-test.sh uses it against the compose stack.
//
//	stackcheck --query http://127.0.0.1:8080 --prefix mix1 --statsd s.json --graphite g.json \
//	  --from -1h,-200h,-1000h --wait 2m
//
// Exit status 0: every key matched at every resolution (or, with --lossy, the
// report was printed); 1: mismatches at the deadline, the first ones printed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
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

type config struct {
	Query, Prefix, Statsd, Graphite string
	From                            []string
	Wait, Poll                      time.Duration
	Lossy                           bool
}

func main() {
	var c config
	var from string
	flag.StringVar(&c.Query, "query", "http://127.0.0.1:8080", "query-api base URL")
	flag.StringVar(&c.Prefix, "prefix", "statblast", "statblast's --prefix of both files")
	flag.StringVar(&c.Statsd, "statsd", "", "statblast --expect-out of the statsd mix")
	flag.StringVar(&c.Graphite, "graphite", "", "statblast --expect-out of the graphite mix")
	flag.StringVar(&from, "from", "-1h", "comma-separated /render from values, one per resolution to check")
	flag.DurationVar(&c.Wait, "wait", 2*time.Minute, "longest wait for the stored aggregates to match")
	flag.DurationVar(&c.Poll, "poll", 2*time.Second, "pause between two comparisons")
	flag.BoolVar(&c.Lossy, "lossy", false, "report the stored share of the counters and graphite counts instead of requiring exact totals")
	flag.Parse()
	c.From = strings.Split(from, ",")
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "stackcheck:", err)
		os.Exit(1)
	}
}

func load(path string) (expected, error) {
	var e expected
	if path == "" {
		return e, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

func run(c config) error {
	sx, err := load(c.Statsd)
	if err != nil {
		return err
	}
	gx, err := load(c.Graphite)
	if err != nil {
		return err
	}
	if len(sx.Counters)+len(sx.Timers)+len(sx.Gauges)+len(sx.Sets)+len(gx.Graphite) == 0 {
		return errors.New("nothing to check: give --statsd and/or --graphite with statblast's --expect-out files")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if c.Lossy {
		for _, from := range c.From {
			r, err := share(client, c, sx, gx, from)
			if err != nil {
				return err
			}
			fmt.Printf("%s %s\n", from, r)
		}
		return nil
	}
	deadline := time.Now().Add(c.Wait)
	for {
		var bad []string
		for _, from := range c.From {
			b, err := compare(client, c, sx, gx, from)
			if err != nil {
				b = []string{err.Error()}
			}
			bad = append(bad, b...)
		}
		if len(bad) == 0 {
			fmt.Printf("exact: %d counters, %d timers, %d gauges, %d sets, %d graphite keys at %s\n",
				len(sx.Counters), len(sx.Timers), len(sx.Gauges), len(sx.Sets), len(gx.Graphite), strings.Join(c.From, ", "))
			return nil
		}
		if time.Now().After(deadline) {
			for i, b := range bad {
				if i == 10 {
					fmt.Printf("... and %d more\n", len(bad)-10)
					break
				}
				fmt.Println(b)
			}
			return fmt.Errorf("%d mismatches after %s", len(bad), c.Wait)
		}
		time.Sleep(c.Poll)
	}
}

// render returns every series of a target as target -> non-null values.
func render(client *http.Client, base, target, from string) (map[string][]float64, error) {
	resp, err := client.PostForm(base+"/render", url.Values{"target": {target}, "from": {from}, "format": {"json"}, "maxDataPoints": {"1000000"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("render %s from %s: %s", target, from, resp.Status)
	}
	var series []struct {
		Target     string
		Datapoints [][2]*float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&series); err != nil {
		return nil, fmt.Errorf("render %s from %s: %w", target, from, err)
	}
	out := map[string][]float64{}
	for _, s := range series {
		for _, dp := range s.Datapoints {
			if dp[0] != nil {
				out[s.Target] = append(out[s.Target], *dp[0])
			}
		}
	}
	return out, nil
}

func sum(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

// compare lists every key whose stored aggregate at from's resolution differs
// from what was sent.
func compare(client *http.Client, c config, sx, gx expected, from string) ([]string, error) {
	var bad []string
	get := func(target string) (map[string][]float64, error) { return render(client, c.Query, target, from) }
	if len(sx.Counters) > 0 {
		got, err := get("stats_counts." + c.Prefix + ".counter.*")
		if err != nil {
			return nil, err
		}
		for k, v := range sx.Counters {
			if s := sum(got["stats_counts."+k]); s != v {
				bad = append(bad, fmt.Sprintf("%s counter %s = %v, sent %v", from, k, s, v))
			}
		}
	}
	if len(sx.Timers) > 0 {
		t := "stats.timers." + c.Prefix + ".timer.*."
		series := map[string]map[string][]float64{}
		for _, col := range []string{"count", "sum", "lower", "upper"} {
			got, err := get(t + col)
			if err != nil {
				return nil, err
			}
			series[col] = got
		}
		for k, v := range sx.Timers {
			p := "stats.timers." + k
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range series["lower"][p+".lower"] {
				lo = math.Min(lo, x)
			}
			for _, x := range series["upper"][p+".upper"] {
				hi = math.Max(hi, x)
			}
			n, s := sum(series["count"][p+".count"]), sum(series["sum"][p+".sum"])
			if n != v.Count || s != v.Sum || lo != v.Min || hi != v.Max {
				bad = append(bad, fmt.Sprintf("%s timer %s: count %v sum %v min %v max %v; sent %+v", from, k, n, s, lo, hi, v))
			}
		}
	}
	if len(sx.Gauges) > 0 {
		got, err := get("stats.gauges." + c.Prefix + ".gauge.*")
		if err != nil {
			return nil, err
		}
		for k, v := range sx.Gauges {
			if vs := got["stats.gauges."+k]; len(vs) == 0 || vs[len(vs)-1] != v {
				bad = append(bad, fmt.Sprintf("%s gauge %s = %v, last sent %v", from, k, vs, v))
			}
		}
	}
	if len(sx.Sets) > 0 {
		got, err := get("stats.sets." + c.Prefix + ".set.*.count")
		if err != nil {
			return nil, err
		}
		for k, v := range sx.Sets {
			if s := sum(got["stats.sets."+k+".count"]); s != float64(v) {
				bad = append(bad, fmt.Sprintf("%s set %s = %v, sent %d distinct", from, k, s, v))
			}
		}
	}
	if len(gx.Graphite) > 0 {
		got, err := get(c.Prefix + ".graphite.*")
		if err != nil {
			return nil, err
		}
		for k, v := range gx.Graphite {
			if vs := got[k]; len(vs) != 1 || vs[0] != v.Sum/float64(v.Count) {
				bad = append(bad, fmt.Sprintf("%s graphite %s = %v, want one mean %v", from, k, vs, v.Sum/float64(v.Count)))
			}
		}
	}
	return bad, nil
}

// share reports how much of the sent counter total and timer count is stored:
// a load that ran while an aggregator was killed loses what that aggregator
// held (at most one base interval, by design).
func share(client *http.Client, c config, sx, gx expected, from string) (string, error) {
	sent, stored := 0.0, 0.0
	if len(sx.Counters) > 0 {
		got, err := render(client, c.Query, "stats_counts."+c.Prefix+".counter.*", from)
		if err != nil {
			return "", err
		}
		for k, v := range sx.Counters {
			sent += v
			stored += sum(got["stats_counts."+k])
		}
	}
	if sent == 0 {
		return "no counters sent", nil
	}
	return fmt.Sprintf("counters: stored %v of %v sent (%.3f%%, %+v)", stored, sent, 100*stored/sent, stored-sent), nil
}
