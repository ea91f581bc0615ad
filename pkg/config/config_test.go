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
		{"interval = \"ten\"", "config x.toml: interval: "},
		{"nmae = \"typo\"", "config x.toml: nmae: unknown key"},
		{"[admin]\nlisen = 1", "config x.toml: admin.lisen: unknown key"},
		{"name = ", "config x.toml"},
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
