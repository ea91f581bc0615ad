package statsd

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"
)

// TestJSUTF8 checks the decoding against Node 20's Buffer.toString() (what
// statsd 0.9.0 does to each datagram); each want was printed by node.
func TestJSUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain ascii", "plain ascii"},
		{"ü€😀\u0800", "ü€😀\u0800"},
		{"\xff", "\uFFFD"},
		{"\x80", "\uFFFD"},
		{"\xc2", "\uFFFD"},
		{"\xc2A", "\uFFFDA"},
		{"\xf5", "\uFFFD"},
		{"\xe2\x82x", "\uFFFDx"},
		{"\xe2\x82\xe2\x82\xac", "\uFFFD€"},
		{"\xf0\x9f\x99", "\uFFFD"},
		{"\xf0\x9f\x99x", "\uFFFDx"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // a surrogate
		{"\xc0\xaf", "\uFFFD\uFFFD"},           // overlong
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"}, // overlong
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf8\x88\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xef\xbf\xbd", "\uFFFD"},
		{"a\xe2\x82\nb", "a\uFFFD\nb"},
	} {
		if got := string(jsUTF8(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("jsUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestInvalidUTF8AsStatsd: lines that are not UTF-8 are the strings statsd
// makes of them. Wants are what npm statsd 0.9.0 flushed for these packets
// (scripts/diff_random.js --packets): "\xff" and "\xfe" are one set member,
// and without keyNameSanitize "k\xff" and "k\xfe" one timer, and tags keep
// U+FFFD (one per invalid subpart).
func TestInvalidUTF8AsStatsd(t *testing.T) {
	packets := []string{"set1:\xff|s", "set1:\xfe|s", "k\xff:1|ms", "k\xfe:1|ms", "tg:1|c|#t:\xff",
		"tg:1|c|#t:\xc0\xaf", "tk:2|c|#t:\xe2\x82"}
	for _, tc := range []struct {
		name     string
		sanitize bool
		want     map[string]float64
	}{
		{"keyNameSanitize", true, map[string]float64{"stats.sets.set1.count": 1, "stats.timers.k.count": 2,
			"stats_counts.tg;t=": 2, "stats_counts.tk;t=": 2}},
		{"no keyNameSanitize", false, map[string]float64{"stats.sets.set1.count": 1, "stats.timers.k.count": 2,
			"stats_counts.tg;t=\uFFFD": 1, "stats_counts.tg;t=\uFFFD\uFFFD": 1, "stats_counts.tk;t=\uFFFD": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.KeyNameSanitize = tc.sanitize
			a := New(c)
			for _, p := range packets {
				a.Packet([]byte(p))
			}
			got := map[string]float64{}
			timers := 0
			a.Flush(time.Unix(1700000000, 0), func(n string, v float64) {
				got[n] = v
				if bytes.HasSuffix([]byte(n), []byte(".count_ps")) {
					timers++
				}
			})
			for n, v := range tc.want {
				if got[n] != v {
					t.Errorf("%q = %v, want %v", n, got[n], v)
				}
			}
			if timers != 1 {
				t.Errorf("%d timers, want 1", timers)
			}
			for n := range got {
				if !utf8.ValidString(n) {
					t.Errorf("flushed name %q is not UTF-8", n)
				}
			}
		})
	}
}

// FuzzJSUTF8: the result is UTF-8, valid input is kept as it is, ASCII bytes
// (statsd's separators) keep their order, and decoding again changes nothing.
func FuzzJSUTF8(f *testing.F) {
	for _, s := range []string{"", "a:1|c", "ü:1|s", "\xff", "\xe2\x82x", "\xed\xa0\x80", "\xf0\x9f\x99", "\xf4\x90\x80\x80",
		"k\xc0\xaf:1|c|#t:\xe2\x82\n"} {
		f.Add([]byte(s))
	}
	ascii := func(b []byte) []byte {
		var out []byte
		for _, c := range b {
			if c < utf8.RuneSelf {
				out = append(out, c)
			}
		}
		return out
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := jsUTF8(nil, in)
		if !utf8.Valid(out) {
			t.Fatalf("jsUTF8(%q) = %q, not UTF-8", in, out)
		}
		if utf8.Valid(in) && !bytes.Equal(in, out) {
			t.Fatalf("jsUTF8(%q) = %q changed valid UTF-8", in, out)
		}
		if !bytes.Equal(ascii(in), ascii(out)) {
			t.Fatalf("jsUTF8(%q) = %q moved ASCII bytes", in, out)
		}
		if again := jsUTF8(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("jsUTF8 is not idempotent on %q", in)
		}
	})
}
