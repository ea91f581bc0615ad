package series

import (
	"math"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/rollup"
)

func TestChoose(t *testing.T) {
	res, _ := rollup.ParseTimes([]string{"10s:6h", "1m:7d", "10m:365d"})
	now := time.Unix(1700000000, 0)
	for age, want := range map[time.Duration]int64{time.Hour: 10, 6 * time.Hour: 10, 7 * time.Hour: 60, 30 * 24 * time.Hour: 600, 400 * 24 * time.Hour: 600} {
		if got := Choose(res, now.Add(-age), now).Seconds(); got != want {
			t.Errorf("from %v ago: %d s, want %d", age, got, want)
		}
	}
}

func TestColumnFor(t *testing.T) {
	for path, want := range map[string]Column{"stats_counts.x": Sum, "a.count": Sum, "stats.timers.x.upper_90": Max,
		"stats.timers.x.lower": Min, "stats.gauges.q": Last, "stats.timers.x.mean": Mean, "host.cpu": Mean} {
		if got := ColumnFor(bus.DefaultRules(), path, ""); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if ColumnFor(bus.DefaultRules(), "host.cpu", "max") != Max || ColumnFor(bus.DefaultRules(), "stats_counts.x", "average") != Mean {
		t.Error("consolidateBy does not override")
	}
	// Configured rules, as the aggregators' [graphite] rules, come first.
	rules, err := bus.ParseRules([][2]string{{`^host\.`, "max"}})
	if err != nil {
		t.Fatal(err)
	}
	if ColumnFor(rules, "host.cpu", "") != Max || ColumnFor(rules, "a.count", "") != Sum {
		t.Error("configured rules are not used")
	}
}

func TestFitAsWhisper(t *testing.T) {
	res := rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}
	var a, b rollup.Point
	a.Time = 1700000010
	a.Add(3, 1)
	a.Add(5, 2)
	b.Time = 1700000030
	b.Add(7, 3)
	// from 1700000003 → first step 1700000010; until 1700000041 → last step 1700000040.
	s := Fit("x", []rollup.Point{a, b}, res, 1700000003, 1700000041, Mean)
	if s.Start != 1700000010 || s.End != 1700000050 || len(s.Values) != 4 {
		t.Fatalf("fit %d..%d, %d values", s.Start, s.End, len(s.Values))
	}
	if s.Values[0] != 4 || !math.IsNaN(s.Values[1]) || s.Values[2] != 7 || !math.IsNaN(s.Values[3]) {
		t.Errorf("values %v", s.Values)
	}
	if Fit("x", []rollup.Point{a}, res, 1700000000, 1700000040, Sum).Values[0] != 8 {
		t.Error("sum column")
	}
}

// TestMaxDataPointsAsGraphite checks consolidation against values worked out
// by hand from graphite-web 1.1's render view: 60 one-minute values from
// 00:01, maxDataPoints 25 over a 3600 s range.
func TestMaxDataPointsAsGraphite(t *testing.T) {
	s := &Series{Name: "x", Start: 60, End: 3660, Step: 60, Consolidate: "average"}
	for i := 0; i < 60; i++ {
		s.Values = append(s.Values, float64(i))
	}
	s.Values[10] = math.NaN()
	pts := s.Datapoints(25, 3600)
	// valuesPerPoint = ceil(60/25) = 3; secondsPerPoint 180; nudge = 180 + 0 - 60 = 120; 2 values to lose, so
	// one is dropped; start 180; groups [1,2,3] [4,5,6] ... ; timestamps from 180 by 180 up to end+1.
	if len(pts) != 20 || pts[0].Time != 180 || pts[0].Value != 2 || pts[1].Value != 5 || pts[1].Time != 360 {
		t.Fatalf("got %d points starting %+v %+v", len(pts), pts[0], pts[1])
	}
	// [null, 11, 12] (value 10 is null) averages the non-null values: 11.5.
	if pts[3].Value != 11.5 {
		t.Errorf("group with a null = %v, want 11.5", pts[3].Value)
	}
	s.XFilesFactor = 1
	if !math.IsNaN(s.Datapoints(25, 3600)[3].Value) {
		t.Error("xFilesFactor 1 should null a group with a null")
	}
	if got := s.Datapoints(0, 3600); len(got) != 60 || got[0].Time != 60 {
		t.Errorf("without maxDataPoints: %d points from %d", len(got), got[0].Time)
	}
	for fn, want := range map[string]float64{"sum": 6, "min": 1, "max": 3, "first": 1, "last": 3} {
		s.Consolidate, s.XFilesFactor = fn, 0
		if got := s.Datapoints(25, 3600)[0].Value; got != want {
			t.Errorf("%s: %v, want %v", fn, got, want)
		}
	}
}
