package line

import (
	"strings"
	"testing"
)

func TestNewRegexNeedsKey(t *testing.T) {
	if _, err := NewRegex(`^(\S+) `); err == nil || !strings.Contains(err.Error(), "no named group Key") {
		t.Fatalf("want an error naming the missing Key group, got %v", err)
	}
	if _, err := NewRegex(`(?P<Key>[`); err == nil || !strings.Contains(err.Error(), "cannot compile") {
		t.Fatalf("want a compile error, got %v", err)
	}
}

func TestRegexParse(t *testing.T) {
	r, err := NewRegex(`^<\d+>(?P<Timestamp>\d+) (?P<Key>[a-z.]+)\[`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in     string
		key    string
		ts     int64
		reason Reason
	}{
		{in: "<13>1700000000 app.web[123]: hello", key: "app.web", ts: 1700000000},
		{in: "<13>1700000000123 app.web[123]: hello", key: "app.web", ts: 1700000000},
		{in: "no match here", reason: ReasonNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			key, ts, err := r.Parse([]byte(tt.in))
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %v (%v), want %v", got, err, tt.reason)
			}
			if err == nil && (string(key) != tt.key || ts != tt.ts) {
				t.Errorf("got %q %d, want %q %d", key, ts, tt.key, tt.ts)
			}
		})
	}
	opt, err := NewRegex(`(?P<Key>[a-z]*)x`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := opt.Parse([]byte("x")); ReasonOf(err) != ReasonKey {
		t.Errorf("empty key: reason %v, want key", ReasonOf(err))
	}
}

func FuzzRegexParse(f *testing.F) {
	r, err := NewRegex(`^(?P<Key>[^ ]+) (?P<Timestamp>[0-9.]+)?`)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"a.b 1700000000", "a.b ", "", "a 99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key, ts, err := r.Parse(b)
		if err == nil && (len(key) == 0 || ts < 0) {
			t.Fatalf("accepted %q as key %q ts %d", b, key, ts)
		}
	})
}

func BenchmarkRegexParse(b *testing.B) {
	r, err := NewRegex(`^(?P<Key>[^ ]+) `)
	if err != nil {
		b.Fatal(err)
	}
	in := []byte("servers.web01.cpu.load 0.53125 1700000000")
	b.SetBytes(int64(len(in) + 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
