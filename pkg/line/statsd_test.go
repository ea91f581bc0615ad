package line

import (
	"math"
	"strings"
	"testing"
)

type sv struct {
	typ   StatsdType
	value float64
	raw   string
	rate  float64
	delta bool
}

func TestStatsdParse(t *testing.T) {
	tests := []struct {
		in     string
		key    string
		values []sv
		bad    []Reason
	}{
		{in: "a.b:1|c", key: "a.b", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "a:1|c:2|c:3|ms", key: "a", values: []sv{{StatsdCounter, 1, "1", 1, false}, {StatsdCounter, 2, "2", 1, false}, {StatsdTimer, 3, "3", 1, false}}},
		{in: "a:2|c|@0.5", key: "a", values: []sv{{StatsdCounter, 2, "2", 0.5, false}}},
		{in: "a:2|c|@1e-3", key: "a", values: []sv{{StatsdCounter, 2, "2", 1, false}}},
		{in: "a:2|c|@.25", key: "a", values: []sv{{StatsdCounter, 2, "2", .25, false}}},
		{in: "g:+5|g", key: "g", values: []sv{{StatsdGauge, 5, "+5", 1, true}}},
		{in: "g:-5|g", key: "g", values: []sv{{StatsdGauge, -5, "-5", 1, true}}},
		{in: "g: +5|g", key: "g", values: []sv{{StatsdGauge, 5, " +5", 1, false}}},
		{in: "s:abc|s", key: "s", values: []sv{{StatsdSet, 0, "abc", 1, false}}},
		{in: "s:|s", key: "s", values: []sv{{StatsdSet, 0, "0", 1, false}}},
		{in: "h:7|h", key: "h", values: []sv{{StatsdCounter, 7, "7", 1, false}}},
		{in: "u:7|zz", key: "u", values: []sv{{StatsdCounter, 7, "7", 1, false}}},
		{in: "x:0x10|c", key: "x", values: []sv{{StatsdCounter, 16, "0x10", 1, false}}},
		{in: "x: 12 |c", key: "x", values: []sv{{StatsdCounter, 12, " 12 ", 1, false}}},
		{in: "x: |c", key: "x", values: []sv{{StatsdCounter, 0, " ", 1, false}}},
		{in: "t:-1| ms", key: "t", values: []sv{{StatsdTimer, -1, "-1", 1, false}}},
		{in: "my key/with\tstuff!:1|c", key: "my_key-with_stuff", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "ü.日本:1|c", key: ".", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "a\u00a0\u3000b:1|c", key: "a_b", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "req:1|c|#env:prod,host:web;1", key: "req;env=prod;host=web_1", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "req:1|c|@0.5|#a:b:c", key: "req;a=bc", values: []sv{{StatsdCounter, 1, "1", 0.5, false}}},
		{in: "req:1|c|#", key: "req", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "a:1|c\r", key: "a", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
		{in: "nocolon", key: "nocolon", bad: []Reason{ReasonType}},
		{in: "a:1", key: "a", bad: []Reason{ReasonType}},
		{in: "a:x|c", key: "a", bad: []Reason{ReasonValue}},
		{in: "a:|c", key: "a", bad: []Reason{ReasonValue}},
		{in: "a:NaN|c", key: "a", bad: []Reason{ReasonValue}},
		{in: "a:Infinity|c", key: "a", bad: []Reason{ReasonNonFinite}},
		{in: "a:-1|ms", key: "a", bad: []Reason{ReasonValue}},
		{in: "a:1|c|0.5", key: "a", bad: []Reason{ReasonSampleRate}},
		{in: "a:1|c|@-0.5", key: "a", bad: []Reason{ReasonSampleRate}},
		{in: "a:1|c|@abc", key: "a", bad: []Reason{ReasonSampleRate}},
		{in: "a:1|c|@Infinity", key: "a", bad: []Reason{ReasonSampleRate}},
		{in: "a:1|c|@ 1", key: "a", bad: []Reason{ReasonSampleRate}},
		{in: "a:1|c|@0", key: "a", bad: []Reason{ReasonNonFinite}},
		{in: "a:1|c:x|c:2|c", key: "a", values: []sv{{StatsdCounter, 1, "1", 1, false}, {StatsdCounter, 2, "2", 1, false}}, bad: []Reason{ReasonValue}},
		{in: ":1|c", key: "", values: []sv{{StatsdCounter, 1, "1", 1, false}}},
	}
	var p StatsdParser
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			key, values, bad := p.Parse([]byte(tt.in))
			if string(key) != tt.key {
				t.Errorf("key = %q, want %q", key, tt.key)
			}
			if len(values) != len(tt.values) {
				t.Fatalf("values = %+v, want %+v", values, tt.values)
			}
			for i, w := range tt.values {
				g := values[i]
				if g.Type != w.typ || g.Value != w.value || string(g.Raw) != w.raw || g.SampleRate != w.rate || g.Delta != w.delta {
					t.Errorf("value %d = {%v %v %q %v %v}, want %+v", i, g.Type, g.Value, g.Raw, g.SampleRate, g.Delta, w)
				}
			}
			if len(bad) != len(tt.bad) {
				t.Fatalf("bad = %v, want reasons %v", bad, tt.bad)
			}
			for i, r := range tt.bad {
				if ReasonOf(bad[i]) != r {
					t.Errorf("bad %d = %v, want %v", i, bad[i], r)
				}
			}
		})
	}
}

func TestJSNumber(t *testing.T) {
	for in, want := range map[string]float64{
		"": 0, " ": 0, "12": 12, " 12\n": 12, "-1.5e3": -1500, ".5": .5, "5.": 5, "+7": 7,
		"0x1F": 31, "0o17": 15, "0b101": 5, "Infinity": math.Inf(1), "-Infinity": math.Inf(-1),
		"007": 7, "1e400": math.Inf(1),
	} {
		if got := jsNumber([]byte(in)); got != want {
			t.Errorf("Number(%q) = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"x", "1x", "NaN", "inf", "infinity", "-0x10", "0x", "1_0", "1e", ".", "0xG", "0b2"} {
		if got := jsNumber([]byte(in)); !math.IsNaN(got) {
			t.Errorf("Number(%q) = %v, want NaN", in, got)
		}
	}
}

func TestStatsdNoSanitize(t *testing.T) {
	p := StatsdParser{NoSanitize: true}
	key, _, _ := p.Parse([]byte("my key/x:1|c"))
	if string(key) != "my key/x" {
		t.Fatalf("key %q", key)
	}
}

func TestStatsdAllocs(t *testing.T) {
	var p StatsdParser
	in := []byte("api.requests.count:1|c|@0.5|#env:prod")
	p.Parse(in)
	if n := testing.AllocsPerRun(100, func() { p.Parse(in) }); n != 0 {
		t.Errorf("Parse allocates %v times per line", n)
	}
}

func FuzzStatsdParse(f *testing.F) {
	for _, s := range []string{"a:1|c", "a:1|c:2|ms|@0.5", "g:+3|g", "s:x|s|#t:v", "bad", "a:1|c|@", "k:0x1p3|c", "a\u3000b:1|h"} {
		f.Add([]byte(s))
	}
	var p StatsdParser
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes := strings.IndexByte(string(b), '\n'); bytes >= 0 {
			b = b[:bytes]
		}
		key, values, bad := p.Parse(b)
		for _, c := range key {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.;=", c) >= 0) {
				t.Fatalf("key %q holds %q", key, c)
			}
		}
		for _, v := range values {
			if v.Type != StatsdSet && (math.IsNaN(v.Value) || math.IsInf(v.Value, 0)) {
				t.Fatalf("accepted a non-finite value from %q", b)
			}
			if !(v.SampleRate > 0) || math.IsInf(v.SampleRate, 0) {
				t.Fatalf("accepted sample rate %v from %q", v.SampleRate, b)
			}
		}
		for _, e := range bad {
			if ReasonOf(e) == ReasonNone {
				t.Fatalf("error without a reason: %v", e)
			}
		}
	})
}

func BenchmarkStatsdParse(b *testing.B) {
	lines := [][]byte{
		[]byte("api.requests.count:1|c"),
		[]byte("api.latency:123.5|ms|@0.1"),
		[]byte("app.users.online:+5|g"),
		[]byte("app.requests:1|c|#env:prod,host:web01"),
	}
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var p StatsdParser
	for b.Loop() {
		for _, l := range lines {
			p.Parse(l)
		}
	}
}
