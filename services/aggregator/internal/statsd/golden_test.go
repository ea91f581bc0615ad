package statsd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/line"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
	"github.com/consthash/consthash/services/aggregator/internal/statsd/golden"
)

// TestGoldenStatsd replays the golden vectors (npm statsd 0.9.0's flushes of
// seeded random packets, testdata/statsd-golden) through Packet. The
// aggregator's inputs replay the same vectors through a udp socket and NATS
// (internal/agg/golden_test.go).
func TestGoldenStatsd(t *testing.T) {
	files, err := golden.Files(golden.Dir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, path := range files {
		name := golden.Name(path)
		t.Run(name, func(t *testing.T) {
			if why, ok := golden.Skipped[name]; ok {
				t.Skip(why)
			}
			v, err := golden.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			acc := statsd.New(v.Header.Config())
			now := time.Unix(1795572976, 0)
			for _, r := range v.Rounds {
				for _, p := range r.Packets {
					acc.Packet([]byte(p))
					total++
				}
				var got []golden.Line
				acc.Flush(now, func(n string, v float64) {
					got = append(got, golden.Line{Name: n, Raw: string(line.AppendJSNumber(nil, v))})
				})
				now = now.Add(time.Duration(v.Header.FlushInterval) * time.Millisecond)
				if d := golden.Compare(got, r.Want(), r.Volatile, 10); d != nil {
					t.Errorf("round %d:\n%s", r.Round, strings.Join(d, "\n"))
				}
			}
		})
	}
	t.Logf("%d packets replayed", total)
}
