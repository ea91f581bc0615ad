package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Name     string   `toml:"name"`
	Interval Duration `toml:"interval"`
	Servers  []string `toml:"servers"`
	Admin    struct {
		Listen string `toml:"listen"`
	} `toml:"admin"`
}

func TestDecodeOverDefaults(t *testing.T) {
	c := testConfig{Name: "default", Interval: Duration(10 * time.Second)}
	if err := Decode("x.toml", "servers = [\"a\"]\n[admin]\nlisten = \":1\"\n", &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "default" || c.Interval.D() != 10*time.Second || len(c.Servers) != 1 || c.Admin.Listen != ":1" {
		t.Fatalf("got %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"interval = \"ten\"", "config x.toml:1: interval: "},
		{"nmae = \"typo\"", "config x.toml:1: nmae: unknown key"},
		{"name = \"a\"\n\n[admin]\nlisen = 1", "config x.toml:4: admin.lisen: unknown key"},
		{"servers = [\n  \"a\",\n  \"b = c\",\n]\n[admin]\n# x = 1\nlisten = \"\"\n\"odd key\" = 2", "config x.toml:8: admin.\"odd key\": unknown key"},
		{"[admin]\nlisten = \"\"\n[extra]\nk = 1\n", "config x.toml:4: extra.k: unknown key"},
		{"[admin]\nlisten = '''\nk = 1\n'''\nkk = 2", "config x.toml:5: admin.kk: unknown key"},
		{"x = { a = 1 }", "config x.toml:1: x.a: unknown key"},
		{"admin.lisen = 1", "config x.toml:1: admin.lisen: unknown key"},
		{"name = ", "config x.toml:1: "},
		{"name = 5", "config x.toml"},
	}
	for _, tt := range tests {
		var c testConfig
		err := Decode("x.toml", tt.text, &c)
		var ce *Error
		if err == nil || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want an *Error starting %q", tt.text, err, tt.want)
		}
	}
}

// TestUnknownKeysEach: every unknown key is reported with its own line.
func TestUnknownKeysEach(t *testing.T) {
	var c testConfig
	err := Decode("x.toml", "nmae = 1\n[admin]\nlisten = \"\"\nlisen = 2\n[[more]]\na = 1\n", &c)
	want := "config x.toml:1: nmae: unknown key\nconfig x.toml:4: admin.lisen: unknown key\nconfig x.toml:6: more.a: unknown key"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want\n%s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.toml")
	var c testConfig
	if err := Load(p, &c); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want an error naming %s, got %v", p, err)
	}
	if err := os.WriteFile(p, []byte("name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Load(p, &c); err != nil || c.Name != "x" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func FuzzKeyLines(f *testing.F) {
	f.Add("a = 1\n[t]\nb = \"x\"\n[[arr]]\nc = [\n 1,\n]\nd = '''\ne = 1\n'''\n")
	f.Add("\"q.k\" = { x = 1 }\n[a . 'b']\nc.d = 2 # e = 3\n")
	f.Add("x = \"\"\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		n := strings.Count(text, "\n") + 1
		for k, l := range KeyLines(text) {
			if l < 1 || l > n {
				t.Fatalf("key %q on line %d of %d", k, l, n)
			}
		}
	})
}

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true}, {"1m30s", 90 * time.Second, true}, {"1.5h", 90 * time.Minute, true},
		{"300ms", 300 * time.Millisecond, true}, {"0", 0, true}, {"-1h", -time.Hour, true},
		{"7d", 7 * day, true}, {"2w", 14 * day, true}, {"5y", 5 * 365 * day, true}, {"-7d", -7 * day, true},
		{"60min", time.Hour, true}, {"3days", 3 * day, true}, {"1year", 365 * day, true}, {"2weeks", 14 * day, true},
		{"90seconds", 90 * time.Second, true}, {"1hour", time.Hour, true}, {"+2d", 2 * day, true},
		{"", 0, false}, {"7", 0, false}, {"d", 0, false}, {"1.5d", 0, false}, {"7dd", 0, false}, {"1d12h", 0, false},
		{"7 d", 0, false}, {"ten", 0, false}, {"99999999999y", 0, false}, {"7D", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestDurationEverywhere: a config Duration, a rollup's times and a flag read
// "7d" the same way.
func TestDurationEverywhere(t *testing.T) {
	var c struct {
		Age   Duration `toml:"stream_max_age"`
		Times []string `toml:"times"`
	}
	if err := Decode("x.toml", "stream_max_age = \"7d\"\ntimes = [\"10s:7d\"]\n", &c); err != nil {
		t.Fatal(err)
	}
	if c.Age.D() != 7*24*time.Hour {
		t.Fatalf("stream_max_age = %s", c.Age)
	}
	var f Duration
	if err := f.Set("2w"); err != nil || f.D() != 14*24*time.Hour {
		t.Fatalf("Set(2w) = %s, %v", f, err)
	}
	if err := Decode("x.toml", "stream_max_age = \"7days!\"\n", &c); err == nil || !strings.Contains(err.Error(), "x.toml:1: stream_max_age: \"7days!\" is not a duration") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10s", "7d", "-2w", "5years", "1h30m", "99999999999999y", "+", "1.5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if g, gerr := time.ParseDuration(s); gerr == nil && g != d {
			t.Fatalf("ParseDuration(%q) = %v, Go says %v", s, d, g)
		}
		// What it prints, it reads back.
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, and its String %q reads as %v, %v", s, d, d.String(), back, err)
		}
	})
}
