package testenv

import (
	"compress/gzip"
	"io"
	"os"
	"testing"
)

// Gzip opens a gzipped file of test vectors and returns its text, closed
// when the test ends; it fails the test when the file cannot be read.
func Gzip(t testing.TB, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return zr
}
