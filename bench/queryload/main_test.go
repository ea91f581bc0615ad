package main

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// whisperPoint is one point of a whisper archive.
type whisperPoint struct {
	t int64
	v float64
}

// readWhisper reads a one-archive whisper file as whisper's readers do: the
// header, then every slot whose timestamp is set.
func readWhisper(t *testing.T, name string) (step, kept int64, pts []whisperPoint) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if agg, n := be.Uint32(b[0:]), be.Uint32(b[12:]); agg != 1 || n != 1 {
		t.Fatalf("%s: aggregation %d, %d archives; want 1 (average), 1", name, agg, n)
	}
	if xff := math.Float32frombits(be.Uint32(b[8:])); xff != 0.5 {
		t.Fatalf("%s: xFilesFactor %v, want 0.5", name, xff)
	}
	off, step, kept := int64(be.Uint32(b[16:])), int64(be.Uint32(b[20:])), int64(be.Uint32(b[24:]))
	if int64(be.Uint32(b[4:])) != step*kept || int64(len(b)) != off+12*kept {
		t.Fatalf("%s: max retention %d, size %d; want %d, %d", name, be.Uint32(b[4:]), len(b), step*kept, off+12*kept)
	}
	for i := range kept {
		o := off + 12*i
		if ts := int64(be.Uint32(b[o:])); ts != 0 {
			pts = append(pts, whisperPoint{ts, math.Float64frombits(be.Uint64(b[o+4:]))})
		}
	}
	return step, kept, pts
}

// TestWhisperAndStoreHoldTheSamePoints writes a small data set both ways and
// reads every path back from both: the same times and values, at the steps
// and archives the package comment promises.
func TestWhisperAndStoreHoldTheSamePoints(t *testing.T) {
	dir := t.TempDir()
	const end = 1796025600 // a multiple of a day
	c := config{End: end, Whisper: filepath.Join(dir, "whisper"), Driver: "sqlite", DSN: "file:" + filepath.Join(dir, "q.db"),
		Fanout: 2, RenderSeries: 3, WideSeries: 3, WideDays: 2, WideStep: 5 * time.Minute, BatchSize: 1000, LastAt: "bin-end"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := run(c, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: c.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reader := st.(store.Reader)
	tests := []struct {
		set          string
		paths        []string
		step, kept   int64
		res          string
		points       int
		first, last  whisperPoint // of the first path
		lastOfLatest whisperPoint // of the last path
	}{
		{set: "render", paths: []string{"bench.render.s00", "bench.render.s02"}, step: 10, kept: 17280, res: "10s:2d",
			points: 8640, first: whisperPoint{end - 86400, 0}, last: whisperPoint{end - 10, float64(8639*37%1000) / 10},
			lastOfLatest: whisperPoint{end - 10, float64((8639*37+2*11)%1000) / 10}},
		{set: "wide", paths: []string{"bench.wide.w0000", "bench.wide.w0002"}, step: 300, kept: 8640, res: "5m:30d",
			points: 576, first: whisperPoint{end - 2*86400, 0}, last: whisperPoint{end - 300, float64(575*13%500) / 4},
			lastOfLatest: whisperPoint{end - 300, float64((575*13+2*7)%500) / 4}},
		{set: "find", paths: []string{"bench.find.000.000.000", "bench.find.001.001.001"}, step: 60, kept: 1, res: "10s:2d",
			points: 1, first: whisperPoint{end - 60, 1}, last: whisperPoint{end - 60, 1}, lastOfLatest: whisperPoint{end - 60, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			res, err := rollup.ParseTimes([]string{tt.res})
			if err != nil {
				t.Fatal(err)
			}
			for i, path := range tt.paths {
				name := filepath.Join(c.Whisper, strings.ReplaceAll(path, ".", "/")+".wsp")
				step, kept, wsp := readWhisper(t, name)
				if step != tt.step || kept != tt.kept || len(wsp) != tt.points {
					t.Fatalf("%s: archive %d s × %d with %d points; want %d s × %d with %d", path, step, kept, len(wsp),
						tt.step, tt.kept, tt.points)
				}
				want := [2]whisperPoint{tt.first, tt.last}
				if i == len(tt.paths)-1 {
					want[1] = tt.lastOfLatest
				}
				if (i == 0 && wsp[0] != want[0]) || wsp[len(wsp)-1] != want[1] {
					t.Fatalf("%s: whisper first %v last %v; want %v %v", path, wsp[0], wsp[len(wsp)-1], want[0], want[1])
				}
				got, err := reader.Read(context.Background(), path, res[0], end-30*86400, end)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(wsp) {
					t.Fatalf("%s: store has %d points, whisper %d", path, len(got), len(wsp))
				}
				for j, p := range got {
					if p.Time != wsp[j].t || p.Count != 1 || p.Mean() != wsp[j].v || p.LastAt != (p.Time+tt.step)*1e9 {
						t.Fatalf("%s: store point %d is (%d, %v, count %d); whisper's (%d, %v)", path, j, p.Time, p.Mean(),
							p.Count, wsp[j].t, wsp[j].v)
					}
				}
			}
		})
	}
	// fanout³ find leaves, and no more
	leaves, err := filepath.Glob(filepath.Join(c.Whisper, "bench", "find", "*", "*", "*.wsp"))
	if err != nil || len(leaves) != 8 {
		t.Fatalf("find leaves: %d (%v); want 8", len(leaves), err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := config{End: 1796025600, Whisper: "w", Fanout: 60, RenderSeries: 100, WideSeries: 1000, WideDays: 7, WideStep: time.Minute, BatchSize: 1,
		LastAt: "arrival"}
	tests := []struct {
		name string
		edit func(*config)
		want string // in the error; "" for none
	}{
		{"valid", func(*config) {}, ""},
		{"no end", func(c *config) { c.End = 0 }, "--end"},
		{"end not a minute", func(c *config) { c.End += 10 }, "multiple of 60"},
		{"nothing to do", func(c *config) { c.Whisper = "" }, "--whisper"},
		{"driver without dsn", func(c *config) { c.Driver = "sqlite" }, "--dsn"},
		{"drop without keyspace", func(c *config) { c.Drop, c.Driver, c.DSN = true, "cassandra", "h" }, "--drop"},
		{"step of seconds", func(c *config) { c.WideStep = 90 * time.Second }, "--wide-step"},
		{"step not dividing a day", func(c *config) { c.WideStep = 7 * time.Minute }, "--wide-step"},
		{"too many days", func(c *config) { c.WideDays = 30 }, "--wide-days"},
		{"fanout", func(c *config) { c.Fanout = -1 }, "--fanout"},
		{"no render series", func(c *config) { c.RenderSeries = 0 }, "--render-series"},
		{"last_at", func(c *config) { c.LastAt = "1ns" }, "--last-at"},
		{"exists without keyspace", func(c *config) { c.Exists, c.Driver, c.DSN = true, "cassandra", "h" }, "--exists"},
		{"exists", func(c *config) {
			c.End, c.Whisper, c.Exists, c.Driver, c.DSN, c.Keyspace = 0, "", true, "cassandra", "h", "k"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v; want an error with %q", err, tt.want)
			}
		})
	}
}

// TestLastAt: a statsd flush's last_at is its bin's end; a graphite line's
// arrival is in its bin, near its series' phase, and differs bin to bin.
func TestLastAt(t *testing.T) {
	const step, t0 = 10, 1796025600
	if got := lastAt("bin-end", 3, t0, step); got != (t0+step)*1e9 {
		t.Fatalf("bin-end: %d", got)
	}
	for k := range 50 {
		seen := map[int64]bool{}
		for i := range 100 {
			tb := int64(t0 + i*step)
			at := lastAt("arrival", k, tb, step)
			if at < tb*1e9 || at >= (tb+step)*1e9 {
				t.Fatalf("series %d, bin %d: arrival %d outside the bin", k, tb, at)
			}
			if phase, off := int64(k*7919%(step*1000))*1e6, at-tb*1e9; off > min(phase+20e6, step*1e9-1) || off < max(phase-20e6, 0) {
				t.Fatalf("series %d: arrival %d ns into the bin, its phase %d ns", k, at-tb*1e9, phase)
			}
			if lastAt("arrival", k, tb, step) != at {
				t.Fatal("arrival is not deterministic")
			}
			seen[at-tb*1e9] = true
		}
		if len(seen) < 45 { // series 0's phase is 0: its earlier arrivals are clamped to the bin's start
			t.Fatalf("series %d: %d different offsets in 100 bins", k, len(seen))
		}
	}
}
