package blast

import (
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/endpoint"
)

func testConfig(t testing.TB, typ Type) Config {
	t.Helper()
	ep, err := endpoint.Parse("tcp://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Servers: []endpoint.Endpoint{ep}, Type: typ, Count: 1000, Forks: 2, Keys: 50, Seed: 3, SampleRates: true,
		Now: func() time.Time { return time.Unix(1700000000, 0) }}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func generate(cfg Config, fork, n int) string {
	g := newGenerator(cfg, newKeySet(cfg), fork)
	var b []byte
	for range n {
		b = g.next(b)
		g.commit()
	}
	return string(b)
}

func TestDeterministic(t *testing.T) {
	for _, typ := range []Type{Statsd, Graphite} {
		cfg := testConfig(t, typ)
		a, b := generate(cfg, 0, 500), generate(cfg, 0, 500)
		if a != b {
			t.Errorf("%s: the same seed generated different lines", typ)
		}
		if generate(cfg, 1, 500) == a {
			t.Errorf("%s: two forks generated the same lines", typ)
		}
		cfg.Seed++
		if generate(cfg, 0, 500) == a {
			t.Errorf("%s: another seed generated the same lines", typ)
		}
	}
}

func TestForksOwnDisjointKeys(t *testing.T) {
	cfg := testConfig(t, Statsd)
	seen := map[string]int{}
	for f := 0; f < cfg.Forks; f++ {
		for _, l := range strings.Split(strings.TrimSpace(generate(cfg, f, 2000)), "\n") {
			key, _, _ := strings.Cut(l, ":")
			if prev, ok := seen[key]; ok && prev != f {
				t.Fatalf("key %s sent by forks %d and %d", key, prev, f)
			}
			seen[key] = f
		}
	}
}

func TestValidate(t *testing.T) {
	ep, _ := endpoint.Parse("tcp://127.0.0.1:1")
	tests := []struct {
		cfg Config
		err string
	}{
		{Config{Type: Statsd, Count: 1}, "no servers"},
		{Config{Servers: []endpoint.Endpoint{ep}, Type: "x", Count: 1}, "want statsd or graphite"},
		{Config{Servers: []endpoint.Endpoint{ep}, Type: Statsd}, "unbounded"},
		{Config{Servers: []endpoint.Endpoint{ep}, Type: Statsd, Count: 1, Forks: 4, Keys: 2}, "fewer than forks"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.err)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("c:1,ms:0,g:3,s:2")
	if err != nil || m != (Mix{Counter: 1, Gauge: 3, Set: 2}) {
		t.Fatalf("got %+v, %v", m, err)
	}
	for _, bad := range []string{"c", "x:1", "c:-1", "c:0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): want an error", bad)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, typ := range []Type{Statsd, Graphite} {
		b.Run(string(typ), func(b *testing.B) {
			cfg := testConfig(b, typ)
			cfg.Keys = 100000
			g := newGenerator(cfg, newKeySet(cfg), 0)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = g.next(buf[:0])
				g.commit()
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// TestCycleSendsEveryKeyInTurn: with Cycle, each run of a fork's key count
// of lines holds each of its keys exactly once, for both line types.
func TestCycleSendsEveryKeyInTurn(t *testing.T) {
	for _, typ := range []Type{Statsd, Graphite} {
		cfg := testConfig(t, typ)
		cfg.Cycle = true
		for f := 0; f < cfg.Forks; f++ {
			owned := cfg.Keys / cfg.Forks
			lines := strings.Split(strings.TrimSpace(generate(cfg, f, 3*owned)), "\n")
			for round := range 3 {
				seen := map[string]bool{}
				for _, l := range lines[round*owned : (round+1)*owned] {
					key, _, _ := strings.Cut(l, ":")
					key, _, _ = strings.Cut(key, " ")
					if seen[key] {
						t.Fatalf("%s fork %d round %d: key %s twice", typ, f, round, key)
					}
					seen[key] = true
				}
				if len(seen) != owned {
					t.Fatalf("%s fork %d round %d: %d keys, want %d", typ, f, round, len(seen), owned)
				}
			}
		}
	}
}
