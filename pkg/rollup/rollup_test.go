package rollup

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTimes(t *testing.T) {
	rs, err := ParseTimes([]string{"10s:168h", "1m:720h", "10m:17520h"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Resolution{{10 * time.Second, 168 * time.Hour}, {time.Minute, 720 * time.Hour}, {10 * time.Minute, 17520 * time.Hour}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("got %v", rs)
	}
	if d, err := ParseTimes([]string{"10s:7d", "1m:2w", "1h:5y"}); err != nil || d[0].TTL != 168*time.Hour || d[1].TTL != 336*time.Hour || d[2].TTL != 5*365*24*time.Hour {
		t.Errorf("carbon-style units: %v %v", d, err)
	}
	if rs[1].String() != "1m:720h" || rs[0].String() != "10s:168h" {
		t.Errorf("String: %s %s", rs[0], rs[1])
	}
	for _, bad := range []struct {
		in   []string
		want string
	}{
		{nil, "empty"},
		{[]string{"10s"}, "want \"step:ttl\""},
		{[]string{"0s:1h"}, "positive whole number of seconds"},
		{[]string{"1500ms:1h"}, "whole number of seconds"},
		{[]string{"10s:5s"}, "at least the step"},
		{[]string{"1m:1h", "10s:1h"}, "greater than and a multiple"},
		{[]string{"10s:1h", "15s:1h"}, "multiple of the previous step 10s"},
	} {
		if _, err := ParseTimes(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseTimes(%q) = %v, want %q", bad.in, err, bad.want)
		}
	}
}

func TestBinStart(t *testing.T) {
	r := Resolution{Step: time.Minute}
	if got := r.BinStart(time.Unix(1700000059, 0)); got != 1700000040 {
		t.Errorf("BinStart = %d", got)
	}
	if got := r.BinStart(time.Unix(-1, 0)); got != -60 {
		t.Errorf("BinStart before the epoch = %d", got)
	}
}

func TestAddAndMerge(t *testing.T) {
	var a, b Point
	a.Add(3, 10)
	a.Add(-1, 30)
	a.Add(5, 20) // older than the last sample: not the new last
	b.Add(7, 25)
	b.Add(0, 40)
	a.Merge(b)
	want := Point{Sum: 14, Min: -1, Max: 7, Last: 0, LastAt: 40, Count: 5}
	if a != want {
		t.Fatalf("merged %+v, want %+v", a, want)
	}
	if a.Mean() != 14.0/5 {
		t.Errorf("mean %v", a.Mean())
	}
	var empty Point
	if !math.IsNaN(empty.Mean()) {
		t.Error("empty mean is not NaN")
	}
	c := Point{Path: "x", Time: 60}
	c.Merge(b)
	if c.Path != "x" || c.Time != 60 || c.Count != 2 {
		t.Errorf("merge into empty: %+v", c)
	}
}

func testBatch() *Batch {
	return &Batch{Source: "agg-1", Resolution: Resolution{10 * time.Second, 168 * time.Hour}, Flush: 1700000010, Seq: 3, Final: true,
		Points: []Point{
			{Path: "stats.a", Time: 1700000000, Sum: 1.5, Min: -2, Max: 3, Last: 0.25, LastAt: 1700000009123456789, Count: 4},
			{Path: "ü.日本;tag=v", Time: 1700000000, Sum: math.Inf(1), Min: math.NaN(), Max: 1e300, Last: -0, LastAt: -5, Count: 1 << 40},
		}}
}

func TestWireRoundTrip(t *testing.T) {
	b := testBatch()
	data := b.Append(nil)
	var got Batch
	if err := got.Decode(data); err != nil {
		t.Fatal(err)
	}
	if got.Source != b.Source || got.Resolution != b.Resolution || got.Flush != b.Flush || got.Seq != b.Seq || got.Final != b.Final || len(got.Points) != 2 {
		t.Fatalf("header %+v", got)
	}
	if got.Points[0] != b.Points[0] {
		t.Errorf("point 0 = %+v", got.Points[0])
	}
	p := got.Points[1]
	if p.Path != "ü.日本;tag=v" || !math.IsInf(p.Sum, 1) || !math.IsNaN(p.Min) || p.Count != 1<<40 || p.LastAt != -5 {
		t.Errorf("point 1 = %+v", p)
	}
	if b.MsgID() != "agg-1:10:1700000010:3" {
		t.Errorf("msg id %s", b.MsgID())
	}
}

func TestWireRejects(t *testing.T) {
	data := testBatch().Append(nil)
	var b Batch
	for i := 0; i < len(data); i++ {
		if err := b.Decode(data[:i]); err == nil {
			t.Fatalf("a batch cut at %d of %d bytes decoded", i, len(data))
		}
	}
	bad := append([]byte{}, data...)
	bad[0] = 9
	if err := b.Decode(bad); err == nil || !strings.Contains(err.Error(), "unknown rollup wire version 9") {
		t.Errorf("version: %v", err)
	}
	if err := b.Decode(append(data, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(testBatch().Append(nil))
	f.Add((&Batch{Source: "x", Resolution: Resolution{Step: time.Second}}).Append(nil))
	f.Add([]byte{1, 0, 0, 10, 0, 0, 0, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		if err := b.Decode(data); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		if again := b.Append(nil); string(again) != string(data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, again)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	batch := benchBatch(1000)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = batch.Append(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
}

func BenchmarkDecode(b *testing.B) {
	data := benchBatch(1000).Append(nil)
	var batch Batch
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := batch.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
}

func benchBatch(n int) *Batch {
	b := &Batch{Source: "aggregator-7f3a", Resolution: Resolution{10 * time.Second, 168 * time.Hour}, Flush: 1700000010, Final: true}
	for i := 0; i < n; i++ {
		b.Points = append(b.Points, Point{Path: "servers.web" + string(rune('a'+i%26)) + ".cpu.load.avg", Time: 1700000000,
			Sum: float64(i), Min: 1, Max: float64(i), Last: 2, LastAt: 1700000009000000000, Count: uint64(i)})
	}
	return b
}
