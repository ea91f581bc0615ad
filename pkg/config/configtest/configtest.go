// Package configtest checks a service's configuration loader the same way in
// every service: each case is a file's text and the error it must give.
package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Case is {name, text, want}: a configuration file's text and what loading it
// must say. want "" means it loads; otherwise the error must contain want and
// name the file.
type Case [3]string

// Run writes each case to a file and loads it with load, in a subtest each.
func Run(t *testing.T, cases []Case, load func(path string) error) {
	t.Helper()
	for _, tc := range cases {
		name, text, want := tc[0], tc[1], tc[2]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			err := load(path)
			switch {
			case want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case want != "" && err == nil:
				t.Fatalf("no error, want %q", want)
			case want != "" && (!strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path)):
				t.Fatalf("error %q, want it to name %s and contain %q", err, path, want)
			}
		})
	}
}
