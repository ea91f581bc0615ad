package line

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

func TestParseGraphite(t *testing.T) {
	tests := []struct {
		in     string
		key    string
		value  float64
		ts     int64
		reason Reason
	}{
		{in: "a.b.c 1 1700000000", key: "a.b.c", value: 1, ts: 1700000000},
		{in: "a.b.c 1.5 1700000000\r", key: "a.b.c", value: 1.5, ts: 1700000000},
		{in: "  a.b.c\t-2.5e3  1700000000  ", key: "a.b.c", value: -2500, ts: 1700000000},
		{in: "a 1e-7", key: "a", value: 1e-7},
		{in: "a 1E+3 1700000000.9", key: "a", value: 1000, ts: 1700000000},
		{in: "a 0x10 1", reason: ReasonValue},
		{in: "a .5", key: "a", value: .5},
		{in: "a 5. 1", key: "a", value: 5, ts: 1},
		{in: "a +5", key: "a", value: 5},
		{in: "a 1e", reason: ReasonValue},
		{in: "a .", reason: ReasonValue},
		{in: "a 1_0", reason: ReasonValue},
		{in: "a 1 -1", key: "a", value: 1},
		{in: "a 1 1700000000123", key: "a", value: 1, ts: 1700000000},
		{in: "a 1 1700000000123456", key: "a", value: 1, ts: 1700000000},
		{in: "a 1 1700000000123456789", key: "a", value: 1, ts: 1700000000},
		{in: "a 1 1.7e12", key: "a", value: 1, ts: 1700000000},
		{in: "a 18446744073709551615", key: "a", value: 18446744073709551615},
		{in: "a 1e-400", key: "a", value: 0},
		{in: "a.b;tag=v;t2=x.y 3 10", key: "a.b;tag=v;t2=x.y", value: 3, ts: 10},
		{in: "ü.日本 3 10", key: "ü.日本", value: 3, ts: 10},
		{in: "", reason: ReasonEmpty},
		{in: " \t\r", reason: ReasonEmpty},
		{in: "a", reason: ReasonFields},
		{in: "a 1 2 3", reason: ReasonFields},
		{in: "a x 1", reason: ReasonValue},
		{in: "a 1x", reason: ReasonValue},
		{in: "a - 1", reason: ReasonValue},
		{in: "a NaN 1", reason: ReasonNonFinite},
		{in: "a Inf 1", reason: ReasonNonFinite},
		{in: "a -infinity 1", reason: ReasonNonFinite},
		{in: "a 1e400 1", reason: ReasonNonFinite},
		{in: "a 1 x", reason: ReasonTimestamp},
		{in: "a 1 -5", reason: ReasonTimestamp},
		{in: "a 1 NaN", reason: ReasonTimestamp},
		{in: "a 1 1e30", reason: ReasonTimestamp},
		{in: ";t=v 1", reason: ReasonKey},
		{in: "a; 1", reason: ReasonTags},
		{in: "a;t 1", reason: ReasonTags},
		{in: "a;=v 1", reason: ReasonTags},
		{in: "a;t= 1", reason: ReasonTags},
		{in: "a;t=v; 1", reason: ReasonTags},
		{in: "a;t!=v 1", reason: ReasonTags},
		{in: "a;t=~v 1", reason: ReasonTags},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var g Graphite
			err := ParseGraphite([]byte(tt.in), &g)
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %v (err %v), want %v", got, err, tt.reason)
			}
			if tt.reason != ReasonNone {
				return
			}
			if string(g.Key) != tt.key || g.Value != tt.value || g.Timestamp != tt.ts {
				t.Errorf("got {%q %v %v}, want {%q %v %v}", g.Key, g.Value, g.Timestamp, tt.key, tt.value, tt.ts)
			}
		})
	}
}

func TestParseGraphiteAllocs(t *testing.T) {
	in := []byte("servers.web01.cpu.load;dc=eu 0.53125 1700000000")
	var g Graphite
	if n := testing.AllocsPerRun(100, func() { _ = ParseGraphite(in, &g) }); n != 0 {
		t.Errorf("ParseGraphite allocates %v times per line, want 0", n)
	}
	bad := []byte("servers.web01 notanumber 1")
	if n := testing.AllocsPerRun(100, func() { _ = ParseGraphite(bad, &g) }); n != 0 {
		t.Errorf("ParseGraphite allocates %v times per bad line, want 0", n)
	}
}

func FuzzParseGraphite(f *testing.F) {
	for _, s := range []string{"a.b.c 1 1700000000", "a;t=v 1.5e3 1", "a 0x1p-2 -1", "a NaN", " \t", "a 1 1700000000123456789"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Graphite
		err := ParseGraphite(b, &g)
		if err != nil {
			if ReasonOf(err) == ReasonNone {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(g.Key) == 0 || !bytes.Contains(b, g.Key) {
			t.Fatalf("key %q is not a non-empty part of %q", g.Key, b)
		}
		if math.IsNaN(g.Value) || math.IsInf(g.Value, 0) || g.Timestamp < 0 {
			t.Fatalf("accepted %q as %+v", b, g)
		}
	})
}

func BenchmarkParseGraphite(b *testing.B) {
	lines := [][]byte{
		[]byte("servers.web01.cpu.load 0.53125 1700000000"),
		[]byte("stats.timers.api.request.upper_99 1523 1700000000"),
		[]byte("app.requests;dc=eu;host=web01 42 1700000000"),
	}
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var g Graphite
	for b.Loop() {
		for _, l := range lines {
			if err := ParseGraphite(l, &g); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FuzzParseDecimal checks the fast path against strconv.ParseFloat: the
// same float64, bit for bit, for every input it accepts.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0.53125", "-1.5", "123456789012.345", "1.", ".5", "-0.0", "0.1", "999999999999999.", "1e5", "+1.5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseDecimal(b)
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v, strconv.ParseFloat = %v, %v", b, got, want, err)
		}
	})
}

// FuzzParseGraphiteKeyed checks that a key found by Unchanged gives
// ParseGraphiteKeyed the very result of ParseGraphite.
func FuzzParseGraphiteKeyed(f *testing.F) {
	for _, s := range []string{"a.b.c 1 1700000000", "a.b 1.5e3 1 2", "a NaN", "a 1 -1", "a  1", "a.b x", "a 1 1700000000123"} {
		f.Add([]byte(s))
	}
	n := NewCRelayNormalizer("")
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ok := n.Unchanged(b)
		if !ok {
			return
		}
		var g, h Graphite
		err := ParseGraphite(b, &g)
		kerr := ParseGraphiteKeyed(b, k, &h)
		if err != kerr || !bytes.Equal(g.Key, h.Key) || math.Float64bits(g.Value) != math.Float64bits(h.Value) || g.Timestamp != h.Timestamp {
			t.Fatalf("%q: ParseGraphite = %+v, %v; ParseGraphiteKeyed(%d) = %+v, %v", b, g, err, k, h, kerr)
		}
	})
}

// FuzzParsePlain checks the one-pass parsePlain against what it replaces:
// parseUint below 2^53, else parseDecimal; the same answer and float64.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"0.53125", "-1.5", "1700000000", "9007199254740992", "9007199254740991", "-5", "1.",
		".5", "-.5", "-", ".", "", "1234567890123456789", "12345678901234567890", "1234567890123456", "999999999999999.", "1..2", "1e5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parsePlain(b)
		want, wok := 0.0, false
		if n, isUint := parseUint(b); isUint && n < 1<<53 {
			want, wok = float64(n), true
		} else {
			want, wok = parseDecimal(b)
		}
		if ok != wok || ok && math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parsePlain(%q) = %v, %v; parseUint/parseDecimal give %v, %v", b, got, ok, want, wok)
		}
	})
}
