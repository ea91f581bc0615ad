package line

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func scanAll(t testing.TB, r io.Reader, maxLen int) ([]string, uint64, error) {
	t.Helper()
	return scanAllCR(t, r, maxLen, false)
}

func scanAllCR(t testing.TB, r io.Reader, maxLen int, keepCR bool) ([]string, uint64, error) {
	t.Helper()
	s := NewScanner(r, maxLen)
	s.KeepCR = keepCR
	var got []string
	for s.Scan() {
		got = append(got, string(s.Bytes()))
	}
	return got, s.TooLong(), s.Err()
}

func TestScanner(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		tooLong uint64
		keepCR  bool
	}{
		{name: "plain", in: "a 1\nb 2\n", max: 10, want: []string{"a 1", "b 2"}},
		{name: "crlf", in: "a 1\r\nb 2\r\n", max: 10, want: []string{"a 1", "b 2"}},
		{name: "crlf kept", in: "a 1\r\nb 2\r\n\r\n\r", max: 10, keepCR: true, want: []string{"a 1\r", "b 2\r", "\r", "\r"}},
		{name: "no final newline", in: "a 1\nb 2", max: 10, want: []string{"a 1", "b 2"}},
		{name: "empty lines kept", in: "\n\na\n", max: 10, want: []string{"", "", "a"}},
		{name: "exactly max", in: "0123456789\n", max: 10, want: []string{"0123456789"}},
		{name: "too long in the middle", in: "a\n" + long + "\nb\n", max: 10, want: []string{"a", "b"}, tooLong: 1},
		{name: "too long at the end", in: "a\n" + long, max: 10, want: []string{"a"}, tooLong: 1},
		{name: "too long twice", in: long + "\n" + long + "\nc", max: 10, want: []string{"c"}, tooLong: 2},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "byte-at-a-time"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.in)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				got, tooLong, err := scanAllCR(t, r, tt.max, tt.keepCR)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
					t.Errorf("lines = %q, want %q", got, tt.want)
				}
				if tooLong != tt.tooLong {
					t.Errorf("tooLong = %d, want %d", tooLong, tt.tooLong)
				}
			})
		}
	}
}

// TestScannerLongLineBiggerThanBuffer drops a line of several buffers' size
// and keeps its neighbours.
func TestScannerLongLineBiggerThanBuffer(t *testing.T) {
	in := "first 1\n" + strings.Repeat("y", 1<<20) + "\nsecond 2\n"
	got, tooLong, err := scanAll(t, strings.NewReader(in), 1024)
	if err != nil || tooLong != 1 || len(got) != 2 || got[0] != "first 1" || got[1] != "second 2" {
		t.Fatalf("got %q, tooLong %d, err %v", got, tooLong, err)
	}
}

func TestScannerReadError(t *testing.T) {
	boom := errors.New("boom")
	got, _, err := scanAll(t, io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 10)
	if !errors.Is(err, boom) || len(got) != 1 || got[0] != "a" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestNext(t *testing.T) {
	var got []string
	for l, rest, ok := Next([]byte("a\r\nb\n\nc")); ok; l, rest, ok = Next(rest) {
		got = append(got, string(l))
	}
	if strings.Join(got, "|") != "a|b||c" {
		t.Fatalf("got %q", got)
	}
	got = nil
	for l, rest, ok := NextLF([]byte("a\r\nb\n\r\n\nc\r")); ok; l, rest, ok = NextLF(rest) {
		got = append(got, string(l))
	}
	if strings.Join(got, "|") != "a\r|b|\r||c\r" {
		t.Fatalf("NextLF: got %q", got)
	}
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte("a 1\nb 2\r\n"), uint8(4))
	f.Add([]byte("xxxxxxxxxxxxxxxxxxxx\nshort\n"), uint8(8))
	f.Add([]byte("a:1|c\r\n\r\nb:2|c|#t\r"), uint8(132))
	f.Fuzz(func(t *testing.T, in []byte, maxLen uint8) {
		m := int(maxLen)%64 + 1
		keepCR := maxLen >= 128
		got, tooLong, err := scanAllCR(t, iotest.HalfReader(bytes.NewReader(in)), m, keepCR)
		if err != nil {
			t.Fatal(err)
		}
		// Reference: split on '\n', drop a final empty piece, drop too-long lines.
		parts := strings.Split(string(in), "\n")
		if len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		var want []string
		var wantLong uint64
		for _, p := range parts {
			if len(p) > m {
				wantLong++
				continue
			}
			if !keepCR {
				p = strings.TrimSuffix(p, "\r")
			}
			want = append(want, p)
		}
		if keepCR { // NextLF splits a datagram the same way
			var next []string
			for l, rest, ok := NextLF(in); ok; l, rest, ok = NextLF(rest) {
				if len(l) <= m {
					next = append(next, string(l))
				}
			}
			if strings.Join(next, "\n") != strings.Join(want, "\n") {
				t.Fatalf("NextLF = %q, want %q", next, want)
			}
		}
		if tooLong != wantLong || len(got) != len(want) {
			t.Fatalf("got %d lines (%d too long), want %d (%d)", len(got), tooLong, len(want), wantLong)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}

func BenchmarkScanner(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 10000; i++ {
		buf.WriteString("servers.web01.cpu.load 0.53125 1700000000\n")
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	s := NewScanner(r, 0)
	for b.Loop() {
		r.Reset(in)
		s.Reset(r)
		for s.Scan() {
		}
	}
}
