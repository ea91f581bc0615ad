package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goTestJSON is what `go test -json` printed for a package with one passing,
// one failing and two skipped tests.
const goTestJSON = `{"Action":"start","Package":"example.com/p"}
{"Action":"run","Package":"example.com/p","Test":"TestOK"}
{"Action":"output","Package":"example.com/p","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"example.com/p","Test":"TestOK"}
{"Action":"run","Package":"example.com/p","Test":"TestBad"}
{"Action":"output","Package":"example.com/p","Test":"TestBad","Output":"    p_test.go:9: want 2, got 3\n"}
{"Action":"fail","Package":"example.com/p","Test":"TestBad"}
{"Action":"output","Package":"example.com/p","Test":"TestGone","Output":"    p_test.go:12: backend absent\n"}
{"Action":"output","Package":"example.com/p","Test":"TestGone","Output":"--- SKIP: TestGone (0.00s)\n"}
{"Action":"skip","Package":"example.com/p","Test":"TestGone"}
{"Action":"output","Package":"example.com/p","Test":"TestKnown","Output":"    p_test.go:20: quirk not reproduced\n"}
{"Action":"skip","Package":"example.com/p","Test":"TestKnown"}
{"Action":"output","Package":"example.com/p","Output":"FAIL\texample.com/p\t0.01s\n"}
{"Action":"fail","Package":"example.com/p"}
`

func TestStreamThenSummary(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.jsonl")
	var out strings.Builder
	code, err := stream(strings.NewReader(goTestJSON), &out, rec)
	if err != nil || code != 1 {
		t.Fatalf("stream: code %d, err %v; want 1 for a failed package", code, err)
	}
	for _, want := range []string{"want 2, got 3", "FAIL\texample.com/p"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stream output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "backend absent") {
		t.Errorf("a skipped test's log belongs in the summary, not the stream:\n%s", out.String())
	}

	allow := filepath.Join(dir, "allow.txt")
	if err := os.WriteFile(allow, []byte("# comment\np TestKnown  # the quirk is documented\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ci       bool
		wantLine string
	}{
		{false, "tests: 1 passed, 1 failed, 2 skipped"},
		{true, "tests: 1 passed, 2 failed, 2 skipped"},
	} {
		var sum strings.Builder
		code, err := summarize(&sum, []string{rec}, allow, tc.ci)
		if err != nil || code != 1 {
			t.Fatalf("summarize(ci=%v): code %d, err %v", tc.ci, code, err)
		}
		s := sum.String()
		for _, want := range []string{tc.wantLine, "NOT ALLOWED example.com/p TestGone: backend absent", "allowed     example.com/p TestKnown: quirk not reproduced"} {
			if !strings.Contains(s, want) {
				t.Errorf("summary(ci=%v) lacks %q:\n%s", tc.ci, want, s)
			}
		}
	}
}

func TestAllowListNeedsAReason(t *testing.T) {
	allow := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(allow, []byte("p TestKnown\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readAllow(allow); err == nil || !strings.Contains(err.Error(), "allow.txt:1") {
		t.Fatalf("an entry without a reason: err %v, want one naming the file and line", err)
	}
}
