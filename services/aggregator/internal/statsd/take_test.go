package statsd

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTakeFlushRestoreIsFlush checks the aggregator's flush outside the lock
// against statsd's own: lines, Flush, lines, Flush on one accumulator emit
// exactly what lines, Take, lines (while the snapshot is out), Flush of the
// snapshot, Restore, ... emit on another, for every clearing option, with
// gauge deltas, and over gauge TTLs.
func TestTakeFlushRestoreIsFlush(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"deleteIdleStats", func(c *Config) {
			c.DeleteCounters, c.DeleteTimers, c.DeleteGauges, c.DeleteSets = true, true, true, true
		}},
		{"deleteGauges with ttl 3", func(c *Config) { c.DeleteGauges, c.GaugesMaxTTL = true, 3 }},
		{"non-legacy", func(c *Config) { c.LegacyNamespace = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.mod(&cfg)
			direct, swapped := New(cfg), New(cfg)
			rng := rand.New(rand.NewPCG(3, 4))
			batch := func() []string {
				var ls []string
				for range 1 + rng.IntN(40) {
					k := rng.IntN(12)
					switch rng.IntN(5) {
					case 0:
						ls = append(ls, fmt.Sprintf("c%d:%d|c|@0.5", k, rng.IntN(9)))
					case 1:
						ls = append(ls, fmt.Sprintf("t%d:%d|ms", k, rng.IntN(900)))
					case 2:
						ls = append(ls, fmt.Sprintf("g%d:%d|g", k, rng.IntN(90)))
					case 3:
						ls = append(ls, fmt.Sprintf("g%d:%+d|g", k, rng.IntN(19)-9))
					default:
						ls = append(ls, fmt.Sprintf("s%d:m%d|s", k, rng.IntN(5)))
					}
				}
				return ls
			}
			feed := func(a *Accumulator, ls []string) {
				for _, l := range ls {
					a.Packet([]byte(l))
				}
			}
			// Times measured while flushing (whole ms), and the previous
			// payload's length that spells them, differ from run to run; they
			// are left out of the comparison.
			emit := func(out *[]string) Emit {
				return func(name string, v float64) {
					if !strings.Contains(name, "calculationtime") && !strings.Contains(name, "processing_time") &&
						!strings.Contains(name, "flush_time") && !strings.Contains(name, "flush_length") {
						*out = append(*out, fmt.Sprintf("%s=%v", name, v))
					}
				}
			}
			now := time.Unix(1_700_000_000, 0)
			pending := batch()
			for flush := range 12 {
				now = now.Add(10 * time.Second)
				feed(direct, pending)
				feed(swapped, pending)
				during := batch()
				var want, got []string
				direct.Flush(now, emit(&want))
				feed(direct, during)

				s := swapped.Take(now)
				feed(swapped, during) // arrives while the snapshot is flushed
				s.Flush(now, emit(&got))
				swapped.Restore(s, func() {})
				slices.Sort(got) // a snapshot's flush is in no particular order
				slices.Sort(want)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("flush %d:\n got %v\nwant %v", flush, got, want)
				}
				pending = batch()
			}
		})
	}
}
