package bus

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/consthash/consthash/pkg/ring"
	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
)

func TestSubjects(t *testing.T) {
	if got := LinesSubject(17); got != "consthash.lines.17" {
		t.Errorf("LinesSubject(17) = %q", got)
	}
	m := rollup.Resolution{Step: time.Minute}
	if got := RollupSubject(m, 5); got != "consthash.rollups.60.5" {
		t.Errorf("RollupSubject(1m, 5) = %q", got)
	}
	if got := RollupResolutionFilter(m); got != "consthash.rollups.60.*" {
		t.Errorf("RollupResolutionFilter(1m) = %q", got)
	}
	if got := RollupShardFilter(5); got != "consthash.rollups.*.5" {
		t.Errorf("RollupShardFilter(5) = %q", got)
	}
	if got, want := PathShard("stats.a", 64), ring.Shard([]byte("stats.a"), 64); got != want {
		t.Errorf("PathShard = %d, want ring.Shard's %d", got, want)
	}
}

func TestHeartbeat(t *testing.T) {
	hb := Heartbeat{ID: "agg-1", Shards: 64, Owned: []int{1, 5}, Leaving: true}
	var got Heartbeat
	if err := got.Decode(hb.Encode()); err != nil || !reflect.DeepEqual(got, hb) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		in     string
		shards int
		err    bool
	}{
		{`{"id":"a","owned":[1]}`, 0, false}, // an aggregator from before the shard check: unknown
		{`{"id":"a","shards":32}`, 32, false},
		{`{"shards":32}`, 0, true},
		{`{"id":"a","shards":-1}`, 0, true},
		{`not json`, 0, true},
	} {
		err := got.Decode([]byte(tc.in))
		if (err != nil) != tc.err || (err == nil && got.Shards != tc.shards) {
			t.Errorf("Decode(%s) = %+v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrHeartbeat) {
			t.Errorf("Decode(%s): %v is not ErrHeartbeat", tc.in, err)
		}
	}
}

func FuzzHeartbeatDecode(f *testing.F) {
	for _, s := range []string{`{"id":"a","shards":64,"owned":[1,2],"leaving":true}`, `{"id":"a"}`, `{}`, `[]`, `{"id":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Heartbeat
		if h.Decode(b) != nil {
			return
		}
		var again Heartbeat
		if err := again.Decode(h.Encode()); err != nil || !reflect.DeepEqual(h, again) {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", h, again, err)
		}
	})
}

func TestRules(t *testing.T) {
	rules := DefaultRules()
	for name, want := range map[string]Reducer{
		"stats_counts.api.requests":       Sum,
		"stats.counters.api.count":        Sum,
		"app.bytes.sum":                   Sum,
		"stats.timers.api.upper_90":       Max,
		"stats.timers.api.upper":          Max,
		"host.cpu.max":                    Max,
		"stats.timers.api.lower":          Min,
		"stats.gauges.queue.depth":        Last,
		"stats.timers.api.mean":           Mean,
		"servers.web01.cpu.load":          Mean,
		"stats.timers.api.count;env=prod": Sum,
	} {
		if got := ReducerFor(rules, name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	// Configured rules come first, then the defaults.
	rs, err := ParseRules([][2]string{{`\.load$`, "max"}})
	if err != nil {
		t.Fatal(err)
	}
	if ReducerFor(rs, "servers.web01.cpu.load") != Max || ReducerFor(rs, "a.count") != Sum || len(rs) != len(rules)+1 {
		t.Errorf("configured rule before the defaults: %v", rs)
	}
	if _, err := ParseRules([][2]string{{"(", "sum"}}); err == nil {
		t.Error("bad regex accepted")
	}
	if _, err := ParseRules([][2]string{{"x", "median"}}); err == nil {
		t.Error("unknown reducer accepted")
	}
	p := rollup.Point{Sum: 10, Min: 1, Max: 6, Last: 3, Count: 4}
	for r, want := range map[Reducer]float64{Sum: 10, Min: 1, Max: 6, Last: 3, Mean: 2.5} {
		if got := Value(r, p); got != want {
			t.Errorf("Value(%s) = %v, want %v", r, got, want)
		}
	}
}

// TestEnsureStream makes the stream the way a writer does (create if
// missing) and the way an aggregator does (create or update): both end with
// the one definition.
func TestEnsureStream(t *testing.T) {
	url := testenv.NATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def := DefaultStreamConfig()
	// A writer starting first makes it.
	st, differs, err := EnsureStream(ctx, js, def, false)
	if err != nil || differs {
		t.Fatalf("writer: %v, differs %v", err, differs)
	}
	same := func(who string, want Stream) {
		t.Helper()
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, w := info.Config, want.Config()
		if c.Name != w.Name || !reflect.DeepEqual(c.Subjects, w.Subjects) || c.Storage != w.Storage || c.MaxBytes != w.MaxBytes ||
			c.MaxAge != w.MaxAge || c.Discard != w.Discard || c.Duplicates != w.Duplicates || c.Replicas != w.Replicas {
			t.Errorf("%s: stream %+v, want %+v", who, c, w)
		}
	}
	same("writer", def)
	// An aggregator with other limits updates it; a writer then leaves it
	// alone and learns that its own limits differ.
	agg := def
	agg.MaxBytes, agg.MaxAge = 2<<30, 48*time.Hour
	if st, differs, err = EnsureStream(ctx, js, agg, true); err != nil || differs {
		t.Fatalf("aggregator: %v, differs %v", err, differs)
	}
	same("aggregator", agg)
	if st, differs, err = EnsureStream(ctx, js, def, false); err != nil || !differs {
		t.Fatalf("writer after the aggregator: %v, differs %v (want true)", err, differs)
	}
	same("writer after the aggregator", agg)
}
