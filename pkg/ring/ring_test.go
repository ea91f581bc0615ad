package ring

import (
	"fmt"
	"strings"
	"testing"
)

func members(t testing.TB, n int, inst bool) []Member {
	t.Helper()
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Host: fmt.Sprintf("10.0.0.%d", i+1), Port: 2003}
		if inst {
			ms[i].Instance = string(rune('a' + i%26))
		}
	}
	return ms
}

func TestParseMember(t *testing.T) {
	tests := []struct {
		in   string
		want Member
		err  string
	}{
		{in: "10.0.0.1:2003", want: Member{Host: "10.0.0.1", Port: 2003}},
		{in: "10.0.0.1:2003=a", want: Member{Host: "10.0.0.1", Port: 2003, Instance: "a"}},
		{in: "10.0.0.1:2004:a", want: Member{Host: "10.0.0.1", Port: 2004, Instance: "a"}},
		{in: "[::1]:2003=b", want: Member{Host: "::1", Port: 2003, Instance: "b"}},
		{in: "host", err: "want host:port"},
		{in: "host:0", err: "port"},
		{in: "host:2003=", err: "empty instance"},
		{in: ":2003", err: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMember(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New("nope", members(t, 3, false), Options{}); err == nil || !strings.Contains(err.Error(), "unknown ring algorithm") {
		t.Errorf("unknown algorithm: %v", err)
	}
	if _, err := New(Murmur3, nil, Options{}); err == nil {
		t.Error("no members: want an error")
	}
	ms := members(t, 2, false)
	if _, err := New(Murmur3, append(ms, ms[0]), Options{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate member: %v", err)
	}
}

// TestRingProperties checks what every algorithm promises: GetN returns
// distinct valid members, never more than asked or than exist, and the first
// of GetN(n) is the first of GetN(1).
func TestRingProperties(t *testing.T) {
	for _, algo := range Algorithms() {
		t.Run(string(algo), func(t *testing.T) {
			r, err := New(algo, members(t, 7, true), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2000; i++ {
				key := []byte(fmt.Sprintf("servers.host%d.cpu.%d", i%97, i))
				one := r.GetN(nil, key, 1)
				for n := 1; n <= 9; n++ {
					got := r.GetN(nil, key, n)
					want := min(n, 7)
					if len(got) != want {
						t.Fatalf("GetN(%q, %d) returned %d members, want %d", key, n, len(got), want)
					}
					seen := map[int]bool{}
					for _, m := range got {
						if m < 0 || m >= 7 || seen[m] {
							t.Fatalf("GetN(%q, %d) = %v: invalid or repeated member", key, n, got)
						}
						seen[m] = true
					}
					if got[0] != one[0] {
						t.Fatalf("GetN(%q, %d)[0] = %d, GetN(1) = %d", key, n, got[0], one[0])
					}
				}
			}
		})
	}
}

// TestGenericBalanceAndStability checks that a generic ring spreads keys
// evenly and that removing a member moves only that member's keys.
func TestGenericBalanceAndStability(t *testing.T) {
	for _, algo := range []Algorithm{Murmur3, CRC32, FNV1a} {
		t.Run(string(algo), func(t *testing.T) {
			ms := members(t, 5, false)
			r, err := New(algo, ms, Options{VirtualNodes: 200})
			if err != nil {
				t.Fatal(err)
			}
			r2, err := Without(r, ms[2].String())
			if err != nil {
				t.Fatal(err)
			}
			counts := make([]int, len(ms))
			const keys = 50000
			for i := 0; i < keys; i++ {
				key := []byte(fmt.Sprintf("a.b.c%d.d", i))
				before := r.GetN(nil, key, 1)[0]
				counts[before]++
				after := r2.Members()[r2.GetN(nil, key, 1)[0]]
				if before != 2 && after != ms[before] {
					t.Fatalf("key %q moved from %v to %v though its member stayed", key, ms[before], after)
				}
			}
			for i, c := range counts {
				if c < keys/5*6/10 || c > keys/5*14/10 {
					t.Errorf("member %d got %d of %d keys: unbalanced %v", i, c, keys, counts)
				}
			}
		})
	}
}

func TestShard(t *testing.T) {
	// murmur3 x86_32 of "foo" with seed 0 is 0xf6a5c420.
	if got := Shard([]byte("foo"), 1<<32-1); got != 0xf6a5c420%(1<<32-1) {
		t.Errorf("Shard(foo) = %#x", got)
	}
	if got := Shard([]byte("foo"), 16); got != 0xf6a5c420%16 {
		t.Errorf("Shard(foo, 16) = %d, want %d", got, 0xf6a5c420%16)
	}
}

func BenchmarkGetN(b *testing.B) {
	key := []byte("servers.web01.cpu.load.average.1min")
	for _, algo := range Algorithms() {
		for _, n := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/12members/n=%d", algo, n), func(b *testing.B) {
				r, err := New(algo, members(b, 12, true), Options{})
				if err != nil {
					b.Fatal(err)
				}
				dst := make([]int, 0, 4)
				b.ReportAllocs()
				for b.Loop() {
					dst = r.GetN(dst[:0], key, n)
				}
			})
		}
	}
}

func TestMurmur3Vectors(t *testing.T) {
	// MurmurHash3 x86_32, seed 0 (cross-checked against spaolacci/murmur3).
	for in, want := range map[string]uint32{
		"":      0,
		"foo":   0xf6a5c420,
		"hello": 0x248bfa47,
		"The quick brown fox jumps over the lazy dog": 0x2e4ff723,
	} {
		if got := murmur3Sum32([]byte(in)); got != want {
			t.Errorf("murmur3(%q) = %#x, want %#x", in, got, want)
		}
	}
}

// TestIndexMatchesSearch checks the position table against the binary search
// it replaces, for every ring built from points, at every 16-bit position and
// at random and boundary 32-bit positions (each point's own position, one
// below and one above it, 0 and the maximum).
func TestIndexMatchesSearch(t *testing.T) {
	type indexed struct {
		ps      points
		idx     index
		posBits uint
	}
	for _, algo := range Algorithms() {
		for _, size := range []int{1, 3, 12, 100} {
			r, err := New(algo, members(t, size, true), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var rs []indexed
			switch r := r.(type) {
			case *cRing:
				rs = append(rs, indexed{r.ring, r.idx, 16})
			case *carbonPy:
				rs = append(rs, indexed{r.ring, r.idx, 16})
			case *statsdRing:
				rs = append(rs, indexed{r.ring, r.idx, 32})
			case *generic:
				rs = append(rs, indexed{r.ring, r.idx, 32})
			}
			for _, x := range rs {
				if x.idx.first == nil {
					t.Fatalf("%s/%d: no index", algo, size)
				}
				var probes []uint64
				if x.posBits == 16 {
					for p := uint64(0); p < 1<<16; p++ {
						probes = append(probes, p)
					}
				} else {
					probes = append(probes, 0, 1<<32-1)
					for p := uint64(12345); p < 1<<32; p += 2654435761 % (1 << 24) {
						probes = append(probes, p)
					}
				}
				for _, pt := range x.ps {
					probes = append(probes, pt.pos, pt.pos+1)
					if pt.pos > 0 {
						probes = append(probes, pt.pos-1)
					}
				}
				for _, p := range probes {
					if got, want := x.idx.search(x.ps, p), x.ps.search(p); got != want {
						t.Fatalf("%s/%d members: index.search(%d) = %d, want %d", algo, size, p, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkGetNKeys is GetN over 100,000 distinct keys in turn, as a relay
// sees them: the ring's tables are not all in the CPU's cache as they are
// with one key.
func BenchmarkGetNKeys(b *testing.B) {
	keys := make([][]byte, 100000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "statblast.graphite.%d.value", i*7919%100000)
	}
	for _, algo := range Algorithms() {
		b.Run(fmt.Sprintf("%s/3members/n=1", algo), func(b *testing.B) {
			r, err := New(algo, members(b, 3, true), Options{})
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]int, 0, 4)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst = r.GetN(dst[:0], keys[i%len(keys)], 1)
			}
		})
	}
}
