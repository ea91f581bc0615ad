package statsd

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/line"
)

// The vectors under testdata/statsd-golden were produced by running npm
// statsd 0.9.0 on seeded random packets (see its README). Two sets test
// behaviour we do not reproduce on purpose: quirks_js_objects (keys such as
// "constructor" hitting JavaScript's Object.prototype, and timers on them
// crashing statsd) and legacy_namespace_0_hybrid (a non-boolean
// legacyNamespace mixing both naming schemes; our option is a boolean).
var skipped = map[string]string{
	"quirks_js_objects":         "JavaScript Object.prototype key collisions are not reproduced",
	"legacy_namespace_0_hybrid": "legacyNamespace must be a boolean here",
}

type header struct {
	Options       map[string]any `json:"options"`
	FlushInterval int            `json:"flushInterval"`
}

type round struct {
	Round     int      `json:"round"`
	Packets   []string `json:"packets"`
	Lines     [][2]any `json:"lines"`
	RawValues []string `json:"raw_values"`
	Volatile  []string `json:"volatile"`
}

func configFrom(t *testing.T, h header) Config {
	t.Helper()
	c := Default()
	c.FlushInterval = time.Duration(h.FlushInterval) * time.Millisecond
	c.AllowNonFinite = true
	o := h.Options
	if g, ok := o["graphite"].(map[string]any); ok {
		if v, ok := g["legacyNamespace"].(bool); ok {
			c.LegacyNamespace = v
		}
		for k, p := range map[string]*string{"globalPrefix": &c.GlobalPrefix, "globalSuffix": &c.GlobalSuffix,
			"prefixCounter": &c.PrefixCounter, "prefixTimer": &c.PrefixTimer, "prefixGauge": &c.PrefixGauge, "prefixSet": &c.PrefixSet} {
			if v, ok := g[k].(string); ok {
				*p = v
			}
		}
	}
	if v, ok := o["prefixStats"].(string); ok {
		c.PrefixStats = v
	}
	if v, ok := o["percentThreshold"].([]any); ok {
		c.PercentThreshold = nil
		for _, p := range v {
			c.PercentThreshold = append(c.PercentThreshold, p.(float64))
		}
	}
	if v, ok := o["flush_counts"].(bool); ok {
		c.FlushCounts = v
	}
	if v, ok := o["keyNameSanitize"].(bool); ok {
		c.KeyNameSanitize = v
	}
	idle, _ := o["deleteIdleStats"].(bool)
	for k, p := range map[string]*bool{"deleteCounters": &c.DeleteCounters, "deleteTimers": &c.DeleteTimers,
		"deleteGauges": &c.DeleteGauges, "deleteSets": &c.DeleteSets} {
		*p = idle
		if v, ok := o[k].(bool); ok {
			*p = v
		}
	}
	if v, ok := o["gaugesMaxTTL"].(float64); ok {
		c.GaugesMaxTTL = int(v)
	}
	if v, ok := o["calculatedTimerMetrics"].([]any); ok {
		for _, m := range v {
			c.CalculatedTimerMetrics = append(c.CalculatedTimerMetrics, m.(string))
		}
	}
	if v, ok := o["histogram"].([]any); ok {
		for _, e := range v {
			m := e.(map[string]any)
			h := Histogram{Metric: m["metric"].(string)}
			for _, b := range m["bins"].([]any) {
				if s, ok := b.(string); ok && s == "inf" {
					h.Bins = append(h.Bins, Bin{Inf: true})
				} else {
					h.Bins = append(h.Bins, Bin{Bound: b.(float64)})
				}
			}
			c.Histograms = append(c.Histograms, h)
		}
	}
	return c
}

type outLine struct{ name, raw string }

func TestGoldenStatsd(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/statsd-golden/vectors/*.jsonl.gz")
	if len(files) < 20 {
		t.Fatalf("found %d vector files", len(files))
	}
	total := 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl.gz")
		t.Run(name, func(t *testing.T) {
			if why, ok := skipped[name]; ok {
				t.Skip(why)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(make([]byte, 16<<20), 16<<20)
			sc.Scan()
			var h header
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				t.Fatal(err)
			}
			acc := New(configFrom(t, h))
			now := time.Unix(1795572976, 0)
			for sc.Scan() {
				var r round
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				for _, p := range r.Packets {
					acc.Packet([]byte(p))
					total++
				}
				var got []outLine
				acc.Flush(now, func(n string, v float64) { got = append(got, outLine{n, string(line.AppendJSNumber(nil, v))}) })
				now = now.Add(time.Duration(h.FlushInterval) * time.Millisecond)
				volatile := map[string]bool{}
				for _, v := range r.Volatile {
					volatile[v] = true
				}
				var want []outLine
				for i, l := range r.Lines {
					want = append(want, outLine{l[0].(string), r.RawValues[i]})
				}
				compareRound(t, r.Round, got, want, volatile)
			}
		})
	}
	t.Logf("%d packets replayed", total)
}

func compareRound(t *testing.T, round int, got, want []outLine, volatile map[string]bool) {
	t.Helper()
	key := func(l outLine) string {
		if volatile[l.name] {
			return l.name
		}
		return l.name + " " + l.raw
	}
	var g, w []string
	for _, l := range got {
		g = append(g, key(l))
	}
	for _, l := range want {
		w = append(w, key(l))
	}
	sort.Strings(g)
	sort.Strings(w)
	if slices.Equal(g, w) {
		return
	}
	// Report the differences, allowing 1e-9 relative error on numbers.
	wantBy := map[string][]string{}
	for _, l := range want {
		wantBy[l.name] = append(wantBy[l.name], l.raw)
	}
	bad := 0
	seen := map[string]int{}
	for _, l := range got {
		ws, ok := wantBy[l.name]
		if !ok {
			bad++
			if bad <= 10 {
				t.Errorf("round %d: extra line %s %s", round, l.name, l.raw)
			}
			continue
		}
		i := seen[l.name]
		seen[l.name]++
		if volatile[l.name] || i >= len(ws) || closeEnough(l.raw, ws[i]) {
			continue
		}
		bad++
		if bad <= 10 {
			t.Errorf("round %d: %s = %s, statsd says %s", round, l.name, l.raw, ws[i])
		}
	}
	for n, ws := range wantBy {
		if seen[n] < len(ws) {
			bad++
			if bad <= 10 {
				t.Errorf("round %d: missing line %s %v", round, n, ws)
			}
		}
	}
	if bad > 10 {
		t.Errorf("round %d: %d differences in all", round, bad)
	}
}

func closeEnough(a, b string) bool {
	if a == b {
		return true
	}
	var x, y float64
	if _, err := fmt.Sscan(a, &x); err != nil {
		return false
	}
	if _, err := fmt.Sscan(b, &y); err != nil {
		return false
	}
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y))
}
