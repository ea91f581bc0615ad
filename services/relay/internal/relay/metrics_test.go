package relay

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/testenv"
)

// metricAliases names the /metrics series of /stats counters whose names
// differ beyond the _total suffix.
var metricAliases = map[string]string{"spooled": "spooled_lines_total", "replayed": "replayed_lines_total"}

// TestMetricsCoverStats sends lines through a tcp and a NATS destination and
// checks that every counter /stats shows (sections, listeners, destinations)
// has a /metrics series, that the NATS server is one /stats entry whose totals
// are the sums of its per-shard series, and that the lines add up.
func TestMetricsCoverStats(t *testing.T) {
	natsURL := testenv.NATS(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The aggregator's part: answer every batch (nats_acks is on by default).
	if _, err := nc.Subscribe(bus.LinesPrefix+"*", func(m *nats.Msg) { m.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	s := newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "forward"
servers = ["tcp://%s", %q]
shards = 8
`, s.Addr(), natsURL))
	var lines []string
	for i := 0; i < 1000; i++ {
		lines = append(lines, fmt.Sprintf("cover.%d 1 1700000000", i))
	}
	send(t, r.ListenerAddrs("main")[0], lines)
	dests := func() map[string]any { return r.Stats()["destinations"].(map[string]any) }
	waitFor(t, "1000 lines to each destination", 10*time.Second, func() bool {
		n, ok := dests()[natsURL].(map[string]any)
		return ok && s.Count() == 1000 && n["sent_lines"] == uint64(1000)
	})
	st := r.Stats()
	if len(st["destinations"].(map[string]any)) != 2 {
		t.Fatalf("/stats destinations: want the tcp sink and one NATS entry, got %v", st["destinations"])
	}
	if n := st["destinations"].(map[string]any)[natsURL].(map[string]any); n["shards"] != 8 {
		t.Fatalf("NATS entry shards = %v, want 8", n["shards"])
	}
	var buf bytes.Buffer
	r.Metrics.WritePrometheus(&buf)
	series := map[string]float64{} // name{labels} -> value
	for _, l := range strings.Split(buf.String(), "\n") {
		if i := strings.LastIndexByte(l, ' '); i > 0 && !strings.HasPrefix(l, "#") {
			v, _ := strconv.ParseFloat(l[i+1:], 64)
			series[l[:i]] = v
		}
	}
	// sum adds the series named one of names whose labels start with labels.
	sum := func(names []string, labels string) (float64, bool) {
		total, found := 0.0, false
		for k, v := range series {
			for _, n := range names {
				if strings.HasPrefix(k, n+"{"+labels) {
					total, found = total+v, true
				}
			}
		}
		return total, found
	}
	names := func(prefix, field string) []string {
		ns := []string{prefix + field, prefix + field + "_total"}
		if a, ok := metricAliases[field]; ok {
			ns = append(ns, prefix+a)
		}
		return ns
	}
	check := func(group, key, prefix, labels string, fields map[string]any) {
		for field, v := range fields {
			if field == "shards" || field == "lines_bad" {
				continue // not a counter; lines_bad is checked by reason below
			}
			got, ok := sum(names(prefix, field), labels)
			if !ok {
				t.Errorf("/stats %s %q %s has no /metrics series %s{%s...}", group, key, field, prefix+field, labels)
				continue
			}
			var want float64
			switch v := v.(type) {
			case uint64:
				want = float64(v)
			case int:
				want = float64(v)
			case bool:
				if v {
					want = 1
				}
			}
			if field == "queued_lines" || field == "queued_bytes" || field == "accepting" || field == "down" {
				continue // a gauge may move between the two reads
			}
			if got != want {
				t.Errorf("%s %q %s: /stats %v, /metrics %v", group, key, field, want, got)
			}
		}
	}
	for name, f := range st["sections"].(map[string]any) {
		check("section", name, "consthash_relay_", fmt.Sprintf("section=%q", name), f.(map[string]any))
		if _, ok := sum([]string{"consthash_relay_lines_bad_total"}, fmt.Sprintf("section=%q", name)); !ok {
			t.Errorf("no consthash_relay_lines_bad_total for section %s", name)
		}
	}
	for key, f := range st["listeners"].(map[string]any) {
		sec, url, _ := strings.Cut(key, "|")
		check("listener", key, "consthash_relay_listener_", fmt.Sprintf("section=%q,listener=%q", sec, url), f.(map[string]any))
	}
	for key, f := range st["destinations"].(map[string]any) {
		check("destination", key, "consthash_relay_destination_", fmt.Sprintf("destination=%q", key), f.(map[string]any))
	}
	// Per-shard detail is on /metrics only, one series per shard subject.
	shards := 0
	for k := range series {
		if strings.HasPrefix(k, fmt.Sprintf("consthash_relay_destination_sent_lines_total{destination=%q,format=\"graphite\",shard=", natsURL)) {
			shards++
		}
	}
	if shards != 8 {
		t.Errorf("%d per-shard sent_lines series, want 8", shards)
	}
	if got, _ := sum([]string{"consthash_relay_listener_lines_total"}, `section="main"`); got != 1000 {
		t.Errorf("listener lines on /metrics = %v, want 1000", got)
	}
}
