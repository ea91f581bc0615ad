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
