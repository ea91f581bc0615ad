package agg

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// crash stops a as a killed process would: its connection is gone at once,
// nothing more is flushed or published and its checkpoint stays.
func (a *Aggregator) crash() {
	a.nc.Close()
	close(a.stop)
	a.flushWG.Wait()
	close(a.hbStop)
	a.hbWG.Wait()
	a.recoverCancel()
	a.recoverWG.Wait()
	a.pub.abortOnce()
	close(a.pub.queue)
	<-a.pub.done
}

// TestCrashLosesAtMostOneBaseInterval crashes an aggregator in the middle of
// a coarse bin, after some base flushes: another aggregator finds its
// checkpoint stale, rebuilds its open coarse bin from the base batches in the
// stream and publishes it under the crashed producer's source. Every base
// point the crashed aggregator published is then in its coarse bins too:
// the totals of its source agree at both resolutions.
func TestCrashLosesAtMostOneBaseInterval(t *testing.T) {
	url := testenv.NATS(t)
	const times, conf = `["1s:1h", "4s:2h"]`, `membership = { interval = "100ms" }`
	a := newAggTimes(t, url, times, "id = \"crashing\"\n"+conf)
	a.Start()
	// Send until at least two base flushes went out in the current 4 s bin
	// and the bin still has a second to go, then crash.
	for i := 0; ; i++ {
		a.Line("statsd", []byte("crash.c"+strconv.Itoa(i%50)+":"+strconv.Itoa(1+i%7)+"|c"))
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond)
			if in := time.Now().UnixMilli() % 4000; in > 2200 && in < 3000 && a.flushes.Get() >= 4 {
				break
			}
		}
	}
	a.crash()
	crashed := a.Source

	b := newAggTimes(t, url, times, "id = \"survivor\"\n"+conf)
	b.Start()
	deadline := time.Now().Add(30 * time.Second)
	for b.Stats()["coarse_recovered_points"].(uint64) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the survivor never recovered the crashed aggregator's open coarse bin")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	stored := readStream(t, url, "CONSTHASH_ROLLUPS")
	sums := map[int64]float64{}
	var lastCoarse int64
	for k, p := range stored {
		if k.source == crashed && strings.HasPrefix(k.path, "stats_counts.crash.") {
			sums[k.step] += p.Sum
			if k.step == 4 {
				lastCoarse = max(lastCoarse, k.time)
			}
		}
	}
	if sums[1] == 0 || sums[1] != sums[4] {
		t.Fatalf("the crashed aggregator's counters: %v at 1 s, %v at 4 s; want equal and not 0", sums[1], sums[4])
	}
	t.Logf("crashed producer: %v counted at both resolutions; its last coarse bin %d was recovered (%v points)",
		sums[1], lastCoarse, b.Stats()["coarse_recovered_points"])
}
