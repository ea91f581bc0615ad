// Package golden reads the statsd golden vectors (testdata/statsd-golden:
// what npm statsd 0.9.0 flushed for seeded random packets) and compares a
// flush with them. Tests of the statsd package and of the aggregator's
// inputs (udp listener, NATS) replay the same vectors.
package golden

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/services/aggregator/internal/statsd"
)

// Skipped names the vector sets that test behaviour not reproduced on
// purpose, and why: keys such as "constructor" hitting JavaScript's
// Object.prototype (and timers on them crashing statsd), and a non-boolean
// legacyNamespace mixing both naming schemes (ours is a boolean).
var Skipped = map[string]string{
	"quirks_js_objects":         "JavaScript Object.prototype key collisions are not reproduced",
	"legacy_namespace_0_hybrid": "legacyNamespace must be a boolean here",
}

// Header is a vector file's first line.
type Header struct {
	Options       map[string]any `json:"options"`
	FlushInterval int            `json:"flushInterval"`
}

// Round is what was sent between two flushes and what statsd flushed.
type Round struct {
	Round     int      `json:"round"`
	Packets   []string `json:"packets"`
	Lines     [][2]any `json:"lines"`
	RawValues []string `json:"raw_values"`
	Volatile  []string `json:"volatile"`
}

// Metrics is how many non-empty lines the round's packets hold: statsd's
// metrics_received.
func (r Round) Metrics() int {
	n := 0
	for _, p := range r.Packets {
		for _, l := range strings.Split(p, "\n") {
			if l != "" {
				n++
			}
		}
	}
	return n
}

// Want is what statsd flushed at the end of the round.
func (r Round) Want() []Line {
	var want []Line
	for i, l := range r.Lines {
		want = append(want, Line{l[0].(string), r.RawValues[i]})
	}
	return want
}

// Vector is one option set's file.
type Vector struct {
	Name   string
	Header Header
	Rounds []Round
}

// Dir is the vectors' directory relative to a package under internal/.
const Dir = "../../testdata/statsd-golden/vectors"

// Files lists the vector files in dir.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl.gz"))
	if err == nil && len(files) < 20 {
		err = fmt.Errorf("found %d vector files in %s, want at least 20", len(files), dir)
	}
	return files, err
}

// Name is a vector file's option set name.
func Name(path string) string { return strings.TrimSuffix(filepath.Base(path), ".jsonl.gz") }

// Load reads one vector file.
func Load(path string) (*Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 16<<20), 16<<20)
	v := &Vector{Name: Name(path)}
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: no header", path)
	}
	if err := json.Unmarshal(sc.Bytes(), &v.Header); err != nil {
		return nil, fmt.Errorf("cannot parse the header of %s: %w", path, err)
	}
	for sc.Scan() {
		var r Round
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("cannot parse round %d of %s: %w", len(v.Rounds), path, err)
		}
		v.Rounds = append(v.Rounds, r)
	}
	return v, sc.Err()
}

// Config is the statsd configuration of the header's options.
func (h Header) Config() statsd.Config {
	c := statsd.Default()
	c.FlushInterval = time.Duration(h.FlushInterval) * time.Millisecond
	c.AllowNonFinite = true
	o := h.Options
	if g, ok := o["graphite"].(map[string]any); ok {
		if v, ok := g["legacyNamespace"].(bool); ok {
			c.LegacyNamespace = v
		}
		if v, ok := g["globalSuffix"].(string); ok {
			c.GlobalSuffix = &v
		}
		for k, p := range map[string]*string{"globalPrefix": &c.GlobalPrefix,
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
			h := statsd.Histogram{Metric: m["metric"].(string)}
			for _, b := range m["bins"].([]any) {
				if s, ok := b.(string); ok && s == "inf" {
					h.Bins = append(h.Bins, statsd.Bin{Inf: true})
				} else {
					h.Bins = append(h.Bins, statsd.Bin{Bound: b.(float64)})
				}
			}
			c.Histograms = append(c.Histograms, h)
		}
	}
	return c
}

// Line is one flushed line: name and value text.
type Line struct{ Name, Raw string }

// Compare returns the differences between got and want (at most max of them
// spelled out, then a total), allowing 1e-9 relative error on numbers and
// ignoring the values of the names in volatile. Order does not matter.
func Compare(got, want []Line, volatile []string, max int) []string {
	vol := map[string]bool{}
	for _, v := range volatile {
		vol[v] = true
	}
	key := func(l Line) string {
		if vol[l.Name] {
			return l.Name
		}
		return l.Name + " " + l.Raw
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
		return nil
	}
	wantBy := map[string][]string{}
	for _, l := range want {
		wantBy[l.Name] = append(wantBy[l.Name], l.Raw)
	}
	var diffs []string
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= max {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]int{}
	for _, l := range got {
		ws, ok := wantBy[l.Name]
		if !ok {
			report("extra line %q %s", l.Name, l.Raw)
			continue
		}
		i := seen[l.Name]
		seen[l.Name]++
		if vol[l.Name] || i >= len(ws) || closeEnough(l.Raw, ws[i]) {
			continue
		}
		report("%q = %s, statsd says %s", l.Name, l.Raw, ws[i])
	}
	for _, n := range slices.Sorted(maps.Keys(wantBy)) {
		if ws := wantBy[n]; seen[n] < len(ws) {
			report("missing line %q %v", n, ws)
		}
	}
	if bad > max {
		diffs = append(diffs, fmt.Sprintf("%d differences in all", bad))
	}
	return diffs
}

func closeEnough(a, b string) bool {
	if a == b {
		return true
	}
	x, err := strconv.ParseFloat(a, 64)
	if err != nil {
		return false
	}
	y, err := strconv.ParseFloat(b, 64)
	if err != nil {
		return false
	}
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y))
}
