// Package pyread is test support: it decodes pickle or msgpack with
// Python's own readers (Debian's /usr/bin/python3 and python3-msgpack, which
// scripts/install-deps.sh installs) and returns the value as JSON.
package pyread

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

const python = "/usr/bin/python3"

// JSON returns data, pickled or in msgpack (format), as Python reads it,
// written as JSON. Without Python's readers the test skips, or fails when
// CI=true.
func JSON(tb testing.TB, format string, data []byte) []byte {
	tb.Helper()
	if err := exec.Command(python, "-c", "import pickle, msgpack").Run(); err != nil {
		msg := python + " with msgpack is missing (scripts/install-deps.sh installs python3-msgpack): " + err.Error()
		if os.Getenv("CI") == "true" || os.Getenv("CI") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	load := map[string]string{"pickle": "pickle.loads(data)", "msgpack": "msgpack.loads(data, raw=False)"}[format]
	if load == "" {
		tb.Fatalf("pyread: unknown format %q", format)
	}
	cmd := exec.Command(python, "-c", "import sys, json, pickle, msgpack\ndata = sys.stdin.buffer.read()\nprint(json.dumps("+load+", sort_keys=True))")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("python reading %s: %v\n%s", format, err, out)
	}
	return bytes.TrimSpace(out)
}
