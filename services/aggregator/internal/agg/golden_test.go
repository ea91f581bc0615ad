package agg

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/consthash/consthash/pkg/bus"
	"github.com/consthash/consthash/pkg/testenv"
	"github.com/consthash/consthash/services/aggregator/internal/config"
	"github.com/consthash/consthash/services/aggregator/internal/statsd"
	"github.com/consthash/consthash/services/aggregator/internal/statsd/golden"
)

// TestGoldenStatsdInputs replays the statsd golden vectors (npm statsd
// 0.9.0's flushes, testdata/statsd-golden) through the aggregator's real
// inputs: each packet as one datagram to its udp statsd listener, and as one
// message on a NATS shard subject as a relay publishes it. The flushed lines
// come out of output.lines over tcp and must equal statsd's, packets_received
// and the lines' '\r's included.
func TestGoldenStatsdInputs(t *testing.T) {
	files, err := golden.Files(golden.Dir)
	if err != nil {
		t.Fatal(err)
	}
	natsURL := testenv.NATS(t)
	for _, input := range []string{"udp", "nats"} {
		t.Run(input, func(t *testing.T) {
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
					total += replayGolden(t, v, input, natsURL)
				})
			}
			t.Logf("%d packets replayed through %s", total, input)
		})
	}
}

func replayGolden(t *testing.T, v *golden.Vector, input, natsURL string) int {
	t.Helper()
	sink := testenv.NewSink(t, "127.0.0.1:0")
	// The flush loop's step is a day so that it never runs during the test:
	// the test flushes each round itself, at bin ends a day apart.
	toml := fmt.Sprintf("times = [\"24h:48h\"]\nshards = 1\n[admin]\nlisten = \"\"\n[output]\nlines = \"tcp://%s\"\n", sink.Addr())
	if input == "udp" {
		toml += "[[listeners]]\nurl = \"udp://127.0.0.1:0\"\nformat = \"statsd\"\n"
	} else {
		toml += fmt.Sprintf("[nats]\nurl = %q\n[membership]\ninterval = \"100ms\"\n", natsURL)
	}
	cfg, err := config.Parse(v.Name+".toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StatsdCfg = v.Header.Config()
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	var send func(p string)
	if input == "udp" {
		c, err := net.Dial("udp", a.ListenerAddrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		send = func(p string) {
			if _, err := c.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		send = func(p string) {
			m := nats.NewMsg(bus.LinesSubject(0))
			m.Header.Set(bus.FormatHeader, "statsd")
			m.Data = []byte(p)
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	binEnd := time.Unix(1795572976, 0).Truncate(24 * time.Hour).Add(24 * time.Hour)
	packets, prevChars := 0, -1
	for _, r := range v.Rounds {
		for _, p := range r.Packets {
			send(p)
			packets++
		}
		// Wait until the aggregator has read every packet of the round.
		wantP, wantM := float64(len(r.Packets)), float64(r.Metrics())
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, m, _ := a.statsdReceived()
			if p == wantP && m == wantM {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the aggregator read %v packets and %v lines, want %v and %v", r.Round, p, m, wantP, wantM)
			}
			time.Sleep(2 * time.Millisecond)
		}
		a.Flush(binEnd)
		want := r.Want()
		ts := " " + fmt.Sprint(binEnd.Unix())
		var got []golden.Line
		deadline = time.Now().Add(10 * time.Second)
		for {
			got = got[:0]
			for _, l := range sink.Lines() {
				if rest, ok := strings.CutSuffix(l, ts); ok {
					i := strings.LastIndexByte(rest, ' ')
					got = append(got, golden.Line{Name: rest[:i], Raw: rest[i+1:]})
				}
			}
			if len(got) >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if d := golden.Compare(got, want, r.Volatile, 10); d != nil {
			t.Errorf("round %d:\n%s", r.Round, strings.Join(d, "\n"))
		}
		// graphiteStats.flush_length (volatile for the comparison) is the
		// previous payload's length in characters, as statsd reports it.
		var payload []byte
		for _, l := range got {
			if strings.Contains(l.Name, ".graphiteStats.flush_length") && prevChars >= 0 && l.Raw != fmt.Sprint(prevChars) {
				t.Errorf("round %d: %s = %s, the previous payload had %d characters", r.Round, l.Name, l.Raw, prevChars)
			}
			payload = fmt.Appendf(payload, "%s %s%s\n", l.Name, l.Raw, ts)
		}
		prevChars = statsd.PayloadChars(payload)
		binEnd = binEnd.Add(24 * time.Hour)
	}
	return packets
}
