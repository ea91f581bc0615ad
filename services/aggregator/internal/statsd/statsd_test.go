package statsd

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/consthash/consthash/pkg/line"
)

func flushMap(a *Accumulator) map[string]float64 {
	out := map[string]float64{}
	a.Flush(time.Unix(1700000000, 0), func(n string, v float64) { out[n] = v })
	return out
}

// TestStrictRejectsNonFinite checks the default: values statsd would turn
// into Infinity or NaN are bad lines, counted, and do not poison the key.
func TestStrictRejectsNonFinite(t *testing.T) {
	a := New(Default())
	a.Packet([]byte("c:5|c\nc:Infinity|c\nc:1|c|@0\ng:3|g\ng:-Infinity|g\nt:1e400|ms\nok:1|c"))
	m := flushMap(a)
	if m["stats_counts.c"] != 5 || m["stats.gauges.g"] != 3 || m["stats_counts.ok"] != 1 {
		t.Fatalf("values poisoned: %v", m)
	}
	if m["stats_counts.statsd.bad_lines_seen"] != 4 || m["stats_counts.statsd.metrics_received"] != 7 || m["stats_counts.statsd.packets_received"] != 1 {
		t.Fatalf("counters: bad %v metrics %v packets %v", m["stats_counts.statsd.bad_lines_seen"],
			m["stats_counts.statsd.metrics_received"], m["stats_counts.statsd.packets_received"])
	}
	for n, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s = %v", n, v)
		}
	}
	if _, ok := m["stats.timers.t.count"]; ok {
		t.Error("a timer made only of a bad value exists")
	}
}

func TestCountersAndTimers(t *testing.T) {
	c := Default()
	c.FlushInterval = 10 * time.Second
	c.PercentThreshold = []float64{50, -50}
	a := New(c)
	a.Packet([]byte("req:2|c|@0.5\nreq:1|c\nlat:10|ms\nlat:20|ms\nlat:30|ms|@0.5\nlat:40|ms\nu:x|s\nu:y|s\nu:x|s\ng:5|g\ng:+2|g"))
	m := flushMap(a)
	want := map[string]float64{
		"stats.req": 0.5, "stats_counts.req": 5,
		"stats.timers.lat.count": 5, "stats.timers.lat.count_ps": 0.5, "stats.timers.lat.sum": 100,
		"stats.timers.lat.mean": 25, "stats.timers.lat.median": 25, "stats.timers.lat.upper": 40, "stats.timers.lat.lower": 10,
		"stats.timers.lat.upper_50": 20, "stats.timers.lat.mean_50": 15, "stats.timers.lat.count_50": 2,
		"stats.timers.lat.lower_top50": 30, "stats.timers.lat.sum_top50": 70, "stats.timers.lat.sum_squares": 3000,
		"stats.sets.u.count": 2, "stats.gauges.g": 7,
	}
	for n, v := range want {
		if m[n] != v {
			t.Errorf("%s = %v, want %v", n, m[n], v)
		}
	}
	// The next flush: counters idle at 0, timers only count and count_ps, gauges kept, sets empty.
	m = flushMap(a)
	if m["stats_counts.req"] != 0 || m["stats.timers.lat.count"] != 0 || m["stats.gauges.g"] != 7 || m["stats.sets.u.count"] != 0 {
		t.Errorf("idle flush: %v", m)
	}
	if _, ok := m["stats.timers.lat.mean"]; ok {
		t.Error("an idle timer still has a mean")
	}
}

func BenchmarkPacket(b *testing.B) {
	a := New(Default())
	pkt := []byte("api.requests:1|c\napi.latency:123|ms|@0.5\napp.users:+5|g\napp.uniq:u123|s\napp.req:1|c|#env:prod")
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		a.Packet(pkt)
		if len(a.timers["api.latency"]) > 1<<16 {
			a.timers["api.latency"] = a.timers["api.latency"][:0]
		}
	}
}

// TestGraphiteStats: flush_length is the previous payload's length in
// characters as JavaScript counts them (UTF-16 code units), last_flush when
// it was handed over, flush_time how long that took; Sent overrides them.
func TestGraphiteStats(t *testing.T) {
	a := New(Default())
	a.Packet([]byte("emoji😀.k:1|c\ncafé:2|ms\ng:3|g"))
	t0 := time.Unix(1700000000, 0)
	var payload []byte
	a.Flush(t0, func(n string, v float64) {
		payload = fmt.Appendf(payload, "%s %s %d\n", n, line.AppendJSNumber(nil, v), t0.Unix())
	})
	chars := utf8.RuneCount(payload) + strings.Count(string(payload), "😀") // one surrogate pair each
	if PayloadChars(payload) != chars {
		t.Fatalf("PayloadChars = %d, want %d", PayloadChars(payload), chars)
	}
	got := map[string]float64{}
	t1 := t0.Add(10 * time.Second)
	a.Flush(t1, func(n string, v float64) { got[n] = v })
	want := map[string]float64{"stats.statsd.graphiteStats.flush_length": float64(chars),
		"stats.statsd.graphiteStats.last_flush": float64(t0.Unix()), "stats.statsd.graphiteStats.flush_time": 0,
		"statsd.numStats": 3 + 1 + 1 + 2} // counters: 3 internal + the emoji one; timer café; gauges g, timestamp_lag
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	a.Sent(12345, 7*time.Millisecond, t1.Add(time.Second))
	a.AddKeys(5)
	got = map[string]float64{}
	a.Flush(t1.Add(10*time.Second), func(n string, v float64) { got[n] = v })
	want = map[string]float64{"stats.statsd.graphiteStats.flush_length": 12345, "stats.statsd.graphiteStats.flush_time": 7,
		"stats.statsd.graphiteStats.last_flush": float64(t1.Unix() + 1), "statsd.numStats": 7 + 5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after Sent: %s = %v, want %v", k, got[k], v)
		}
	}
}
