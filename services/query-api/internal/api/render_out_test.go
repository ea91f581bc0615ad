package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/services/query-api/internal/series"
)

// TestAppendJSONFloat checks the streamed numbers are encoding/json's.
func TestAppendJSONFloat(t *testing.T) {
	vals := []float64{0, 1, -1, 0.1, 1.5, 123456789, 1e20, 1e21, 1.234e21, 1e-6, 9.99e-7, 1e-7, -1e-9, 5e-324,
		math.MaxFloat64, -math.MaxFloat64, 1.0 / 3, 100, 1e100}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()))
	}
	// Values of a few decimals (appendShortDecimal's): of every scale it
	// tries and one beyond, around 2^52 / 10^k, and just off such values.
	for k, p := range []float64{1, 10, 100, 1000, 1e4, 1e5} {
		for range 20000 {
			m := float64(rng.Int64N(1 << 20))
			if rng.IntN(4) == 0 {
				m = float64(rng.Int64N(1 << 53))
			}
			v := m / p
			if rng.IntN(2) == 0 {
				v = -v
			}
			vals = append(vals, v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1)))
		}
		edge := math.Ldexp(1, 52) / p
		for _, d := range []float64{-2, -1, -0.5, 0, 0.5, 1, 2} {
			vals = append(vals, edge+d/p, math.Round(edge)+d, float64(k)*0.1+1e-5)
		}
	}
	vals = append(vals, math.Copysign(0, -1), 0.0001, 0.00005, 1e-4+1e-20, 4503599627370495.5, 450359962737049.55)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, v); string(got) != string(want) {
			t.Fatalf("%v: got %s, want %s", v, got, want)
		}
	}
	for v, want := range map[float64]string{math.Inf(1): "1e9999", math.Inf(-1): "-1e9999", math.NaN(): "null"} {
		if got := appendJSONFloat(nil, v); string(got) != want {
			t.Errorf("%v: got %s, want %s", v, got, want)
		}
	}
}

// TestRenderJSONStreamed checks the streamed answer against json.Marshal of
// what graphite-web answers, with nulls, noNullPoints and jsonp.
func TestRenderJSONStreamed(t *testing.T) {
	srv := testAPI(t)
	form := url.Values{"target": {"stats_counts.app.req", "servers.*.cpu;dc=eu"}, "from": {"-1h"}}
	code, body := post(t, srv, "/render", form)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var decoded []struct {
		Target     string            `json:"target"`
		Tags       map[string]string `json:"tags"`
		Datapoints [][2]any          `json:"datapoints"`
	}
	if err := json.Unmarshal([]byte(body), &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded) != 2 || len(decoded[0].Datapoints) != 60 {
		t.Fatalf("%d series, %d points", len(decoded), len(decoded[0].Datapoints))
	}
	again, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != body {
		t.Fatalf("not json.Marshal's bytes:\n%s\n%s", body, again)
	}
	nulls := strings.Count(body, "[null,")
	form.Set("noNullPoints", "true")
	_, noNull := post(t, srv, "/render", form)
	if nulls == 0 || strings.Contains(noNull, "null") || len(noNull) >= len(body) {
		t.Fatalf("noNullPoints: %d nulls before, after: %s", nulls, noNull)
	}
	form.Del("noNullPoints")
	form.Set("jsonp", "jQuery123_456.cb")
	if _, wrapped := post(t, srv, "/render", form); wrapped != "jQuery123_456.cb("+body+")" {
		t.Fatalf("jsonp: %.200s", wrapped)
	}
}

// BenchmarkRenderWriters writes a render answer of 100 series × 1,440
// points (a tenth null) in each format, as render does once the series are
// evaluated; -benchmem shows the allocations per answer.
func BenchmarkRenderWriters(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all []*series.Series
	var outs []renderOut
	for i := range 100 {
		s := &series.Series{Name: fmt.Sprintf("servers.web%03d.cpu.user", i), Start: 1_700_000_000, Step: 60,
			Consolidate: "average", ValuesPerPoint: 1, Values: make([]float64, 1440)}
		s.PathExpr, s.End = s.Name, s.Start+1440*60
		for j := range s.Values {
			s.Values[j] = math.Round(rng.Float64()*10000) / 100
			if rng.IntN(10) == 0 {
				s.Values[j] = math.NaN()
			}
		}
		all = append(all, s)
		o := renderOut{s: s}
		o.vals, o.start, o.step = s.Consolidated(0, s.End-s.Start)
		outs = append(outs, o)
	}
	for _, format := range []string{"json", "csv", "pickle", "msgpack"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := &countingWriter{header: http.Header{}}
				switch format {
				case "json":
					writeRenderJSON(w, "", outs)
				case "csv":
					writeRenderCSV(w, outs, time.UTC)
				default:
					writeEncoded(w, format, renderInfos(all))
				}
				b.SetBytes(w.n)
			}
		})
	}
}

// countingWriter is a ResponseWriter that keeps only the answer's length.
type countingWriter struct {
	header http.Header
	n      int64
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestRenderJSONGroups checks an answer of many groups, encoded side by
// side (writeRenderJSON), against json.Marshal of the same series: series
// sharing timestamps, others not, empty ones, nulls and decimals.
func TestRenderJSONGroups(t *testing.T) {
	type jsonSeries struct {
		Target     string            `json:"target"`
		Tags       map[string]string `json:"tags"`
		Datapoints [][2]any          `json:"datapoints"`
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var outs []renderOut
	var want []jsonSeries
	for i := range 120 {
		name := fmt.Sprintf("a.b.s%03d;dc=eu", i)
		s := &series.Series{Name: name}
		n, start := 1500, int64(1700000000)
		switch i % 7 {
		case 3:
			n = 0
		case 5:
			start += 5 // other timestamps
		case 6:
			n = 40000 // a group alone
		}
		js := jsonSeries{Target: name, Tags: tagsOf(name), Datapoints: [][2]any{}}
		var pts []series.Point
		for j := range n {
			v := float64(rng.IntN(100000)) / 10
			switch rng.IntN(5) {
			case 0:
				v = math.NaN()
			case 1:
				v = rng.Float64() * 1e6
			}
			ts := start + int64(j)*10
			pts = append(pts, series.Point{Value: v, Time: ts})
			var jv any = v
			if math.IsNaN(v) {
				jv = nil
			}
			js.Datapoints = append(js.Datapoints, [2]any{jv, ts})
		}
		o := renderOut{s: s, pts: pts, points: true}
		if i%2 == 0 { // the other form: values on steps
			o = renderOut{s: s, start: start, step: 10}
			for _, p := range pts {
				o.vals = append(o.vals, p.Value)
			}
		}
		outs = append(outs, o)
		want = append(want, js)
	}
	// The whole answer, a smaller one and the whole again: buffers kept
	// from an answer (sync.Pool) leave nothing in the next.
	for _, n := range []int{len(outs), 7, 1, len(outs)} {
		wantBody, err := json.Marshal(want[:n])
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if err := writeRenderJSON(rec, "", outs[:n]); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != string(wantBody) {
			for i := range min(len(got), len(wantBody)) {
				if got[i] != wantBody[i] {
					t.Fatalf("%d series: differs at byte %d of %d: %.80q, want %.80q", n, i, len(wantBody), got[max(0, i-40):], wantBody[max(0, i-40):])
				}
			}
			t.Fatalf("%d series: %d bytes, want %d", n, len(got), len(wantBody))
		}
	}
}
