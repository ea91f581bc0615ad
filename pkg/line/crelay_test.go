package line

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func gzLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestCRelayNormalizeGolden checks the rewriting against what the real
// carbon-c-relay 3.7.3 daemon emitted for each golden key sent as
// "<key> 1 1700000000" (testdata/crelay/sanitize.tsv.gz, produced by
// pkg/ring/testdata/golden/scripts).
func TestCRelayNormalizeGolden(t *testing.T) {
	keys := gzLines(t, "testdata/crelay/keys.txt.gz")
	n := NewCRelayNormalizer("")
	checked := 0
	for _, row := range gzLines(t, "testdata/crelay/sanitize.tsv.gz") {
		if strings.HasPrefix(row, "#") {
			continue
		}
		f := strings.Split(row, "\t")
		idx, _ := strconv.Atoi(f[0])
		out, hashLen, ok := n.Normalize(nil, []byte(keys[idx]+" 1 1700000000"))
		if f[1] == "-" {
			if ok {
				t.Errorf("key %d %q: relay discarded it, we kept %q", idx, keys[idx], out)
			}
			continue
		}
		if !ok || string(out) != f[1]+" 1 1700000000" || string(out[:hashLen]) != f[2] {
			t.Errorf("key %d %q: got %q hashing %q (ok %v), relay emitted %q hashing %q", idx, keys[idx], out, out[:hashLen], ok, f[1], f[2])
		}
		checked++
	}
	if checked < 10000 {
		t.Fatalf("checked %d keys", checked)
	}
}

func TestCRelayNormalize(t *testing.T) {
	n := NewCRelayNormalizer("")
	tests := []struct{ in, out, hash string }{
		{"a.b.c 1 2", "a.b.c 1 2", "a.b.c"},
		{"..a..b. 1 2", "a.b 1 2", "a.b"},
		{"a\tb  1", "a b 1", "a"},
		{"a b 1.5", "a b 1.5", "a"},
		{"a%b 1", "a_b 1", "a_b"},
		{"ß 1", "__ 1", "__"},
		{"a;t=v 1", "a;t=v 1", "a"},
		{"a b;c 1", "a b;c 1", "a b"},
		{"a 1\r\nignored", "a 1", "a"},
	}
	for _, tt := range tests {
		out, h, ok := n.Normalize(nil, []byte(tt.in))
		if !ok || string(out) != tt.out || string(out[:h]) != tt.hash {
			t.Errorf("Normalize(%q) = %q, %q, %v; want %q, %q", tt.in, out, out[:h], ok, tt.out, tt.hash)
		}
	}
	for _, in := range []string{"", "   ", "nospace", "...."} {
		if out, _, ok := n.Normalize(nil, []byte(in)); ok {
			t.Errorf("Normalize(%q) = %q, want discarded", in, out)
		}
	}
	if out, h, _ := NewCRelayNormalizer("-_;=").Normalize(nil, []byte("a;t=v 1")); string(out[:h]) != "a;t=v" {
		t.Errorf("with ';' allowed, tags are part of the name: hashed %q", out[:h])
	}
}

func FuzzCRelayNormalize(f *testing.F) {
	for _, s := range []string{"a.b 1 2", "..x;t=v  3", "\t\t", "ü.日本 1", "a\r\nb"} {
		f.Add([]byte(s))
	}
	n := NewCRelayNormalizer("")
	f.Fuzz(func(t *testing.T, b []byte) {
		out, h, ok := n.Normalize(nil, b)
		if uh, same := n.Unchanged(b); same && (!ok || uh != h || !bytes.Equal(out, b)) {
			t.Fatalf("Unchanged(%q) = %d, true; Normalize gives %q hashing %d (ok %v)", b, uh, out, h, ok)
		}
		if !ok {
			return
		}
		// The name may be empty (";..." is routed by carbon-c-relay with an
		// empty name; the relay's graphite validation rejects it first).
		if h < 0 || h >= len(out) || (out[h] != ' ' && out[h] != ';') {
			t.Fatalf("Normalize(%q) = %q with hash length %d", b, out, h)
		}
		// Before the first space every byte is ASCII (others became '_'). A
		// ';' after that space still ends the hashed part, as in carbon-c-relay.
		name := out[:h]
		if i := bytes.IndexByte(name, ' '); i >= 0 {
			name = name[:i]
		}
		for _, c := range name {
			if c >= 0x80 {
				t.Fatalf("name %q holds %q", name, c)
			}
		}
	})
}

// TestCRelayUnchanged checks the fast path: lines Normalize gives back as
// they are, and lines it rewrites, which Unchanged must not claim.
func TestCRelayUnchanged(t *testing.T) {
	n := NewCRelayNormalizer("")
	tests := []struct {
		in   string
		same bool
	}{
		{"a.b.c 1 2", true}, {"a-b_c:d#e 1.5 1700000000", true}, {"a b 1 . x", true},
		{"a.b 1  2", false}, {"a.b. 1", false}, {".a 1", false}, {"a..b 1", false}, {"a  1", false},
		{"a .5", false}, {"a\tb 1", false}, {"a%b 1", false}, {"a;t=v 1", false}, {"a 1\r", false},
		{"a 1..5", false}, {"nospace", false}, {"", false}, {" a 1", false}, {"a 1;2", false}, {"a 1\x00", false},
	}
	for _, tt := range tests {
		h, same := n.Unchanged([]byte(tt.in))
		out, nh, ok := n.Normalize(nil, []byte(tt.in))
		if same != tt.same {
			t.Errorf("Unchanged(%q) = %v, want %v (Normalize gives %q)", tt.in, same, tt.same, out)
		}
		if same && (!ok || h != nh || string(out) != tt.in) {
			t.Errorf("Unchanged(%q) = %d, true but Normalize gives %q hashing %d", tt.in, h, out, nh)
		}
	}
	in := []byte("servers.web01.cpu.load 0.53125 1700000000")
	if a := testing.AllocsPerRun(100, func() { n.Unchanged(in) }); a != 0 {
		t.Errorf("Unchanged allocates %v times per line", a)
	}
}

func BenchmarkCRelayUnchanged(b *testing.B) {
	n := NewCRelayNormalizer("")
	in := []byte("servers.web01.cpu.load 0.53125 1700000000")
	b.SetBytes(int64(len(in) + 1))
	b.ReportAllocs()
	for b.Loop() {
		n.Unchanged(in)
	}
}

func BenchmarkCRelayNormalize(b *testing.B) {
	n := NewCRelayNormalizer("")
	in := []byte("servers.web01.cpu.load;dc=eu 0.53125 1700000000")
	dst := make([]byte, 0, 128)
	b.SetBytes(int64(len(in) + 1))
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = n.Normalize(dst[:0], in)
	}
}

// parseUnchangedSlow is what ParseUnchanged stands for: Unchanged, then
// ParseGraphiteKeyed.
func parseUnchangedSlow(n *CRelayNormalizer, b []byte, g *Graphite) (int, bool) {
	h, ok := n.Unchanged(b)
	if !ok || ParseGraphiteKeyed(b, h, g) != nil {
		return 0, false
	}
	return h, true
}

// checkParseUnchanged fails t when ParseUnchanged claims a line the slow
// path does not, or gives another hash length or result.
func checkParseUnchanged(t *testing.T, n *CRelayNormalizer, b []byte) (ok bool) {
	t.Helper()
	var g, w Graphite
	h, ok := n.ParseUnchanged(b, &g)
	wh, wok := parseUnchangedSlow(n, b, &w)
	if !ok {
		if g.Key != nil || g.Value != 0 || g.Timestamp != 0 {
			t.Fatalf("ParseUnchanged(%q) = false but set %+v", b, g)
		}
		return false
	}
	if !wok || h != wh || !bytes.Equal(g.Key, w.Key) || math.Float64bits(g.Value) != math.Float64bits(w.Value) || g.Timestamp != w.Timestamp {
		t.Fatalf("ParseUnchanged(%q) = %d, %+v; Unchanged+ParseGraphiteKeyed = %d, %v, %+v", b, h, g, wh, wok, w)
	}
	return true
}

// TestCRelayParseUnchanged checks the one-pass path on the common lines it
// takes and on lines it must leave to the general path (rewritten by
// carbon-c-relay, or bad).
func TestCRelayParseUnchanged(t *testing.T) {
	n := NewCRelayNormalizer("")
	tests := []struct {
		in   string
		fast bool
	}{
		{"a.b.c 1 2", true}, {"a-b_c:d#e 1.5 1700000000", true}, {"app.server1.cpu 42", true},
		{"a -0.25 1700000000123", true}, {"a 1e5 1", true}, {"a 12. 1", true}, {"a -1 1.5", true},
		{"a 1 -1", true}, {"a.b 0.53125 1700000000", true},
		// rewritten by carbon-c-relay, or not the common form: the general path
		{"a.b 1  2", false}, {"a.b. 1", false}, {".a 1", false}, {"a..b 1", false}, {"a  1", false},
		{"a .5", false}, {"a\tb 1", false}, {"a;t=v 1", false}, {"a 1\r", false}, {"a 1 2 3", false},
		{"a 1 ", false}, {"a ", false}, {"a", false}, {"", false},
		// unchanged but bad
		{"a x 1", false}, {"a NaN 1", false}, {"a inf", false}, {"a 1..5", false}, {"a 1 x", false},
		{"a 1e999 1", false}, {"a 1 1.5.", false},
	}
	for _, tt := range tests {
		if got := checkParseUnchanged(t, n, []byte(tt.in)); got != tt.fast {
			t.Errorf("ParseUnchanged(%q) ok = %v, want %v", tt.in, got, tt.fast)
		}
	}
	in := []byte("servers.web01.cpu.load 0.53125 1700000000")
	var g Graphite
	if a := testing.AllocsPerRun(100, func() { n.ParseUnchanged(in, &g) }); a != 0 {
		t.Errorf("ParseUnchanged allocates %v times per line", a)
	}
}

func FuzzCRelayParseUnchanged(f *testing.F) {
	for _, s := range []string{"a.b.c 1 1700000000", "a.b 1.5e3 1 2", "a NaN", "a 1 -1", "a  1", "a.b x", "a 1 ", "a -.5 1.", "a 1..2 3"} {
		f.Add([]byte(s))
	}
	n := NewCRelayNormalizer("")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParseUnchanged(t, n, b)
	})
}

func BenchmarkCRelayParseUnchanged(b *testing.B) {
	n := NewCRelayNormalizer("")
	in := []byte("servers.web01.cpu.load 0.53125 1700000000")
	b.SetBytes(int64(len(in) + 1))
	b.ReportAllocs()
	var g Graphite
	for b.Loop() {
		n.ParseUnchanged(in, &g)
	}
}
