// Command testsum reads `go test -json` events and prints what a plain `go
// test` run prints (each package's result line, and the whole output of every
// failed test), then, with -summary, a list of every skipped test with its
// reason and one closing line: "tests: N passed, N failed, N skipped".
//
// Usage (scripts/test.sh):
//
//	go test -json ./... | go run ./scripts/testsum -record skips.jsonl   # per module, streaming
//	go run ./scripts/testsum -summary -allow scripts/test-skips.txt *.jsonl
//
// With -allow and CI=true, a skip that is not on the allow-list fails the run:
// in CI a test that does not run is a test that did not pass.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

// result is what -record writes per finished test and -summary reads back.
type result struct {
	Package string `json:"package"`
	Test    string `json:"test"`
	Action  string `json:"action"` // pass, fail, skip
	Reason  string `json:"reason,omitempty"`
}

func main() {
	record := flag.String("record", "", "stream mode: read go test -json from stdin, print it as go test does, append results to this file")
	summary := flag.Bool("summary", false, "summary mode: read the result files named as arguments and print skips and totals")
	allow := flag.String("allow", "", "with -summary: file of allowed skips (package test  # why); others fail when CI=true")
	flag.Parse()
	var err error
	code := 0
	switch {
	case *record != "":
		code, err = stream(os.Stdin, os.Stdout, *record)
	case *summary:
		code, err = summarize(os.Stdout, flag.Args(), *allow, inCI())
	default:
		err = fmt.Errorf("one of -record or -summary is needed")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// stream prints package results and failed tests' output as they come and
// records every test's outcome. It exits 1 when a package or build failed.
func stream(in io.Reader, out io.Writer, recordPath string) (int, error) {
	rec, err := os.OpenFile(recordPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return 2, fmt.Errorf("cannot open record file: %w", err)
	}
	defer rec.Close()
	enc := json.NewEncoder(rec)
	w := bufio.NewWriter(out)
	defer w.Flush()

	outputs := map[string][]string{} // package/test -> output lines so far
	failed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (go vet or the linker printing): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			w.Flush()
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			failed = true
		case "output":
			if e.Test == "" {
				// Package-level lines: "ok  pkg 1.2s", "FAIL", "--- FAIL", panics.
				if !strings.HasPrefix(e.Output, "=== ") && e.Output != "PASS\n" {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			outputs[key] = append(outputs[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" {
					failed = true
				}
				w.Flush()
				continue
			}
			r := result{Package: e.Package, Test: e.Test, Action: e.Action}
			if e.Action == "skip" {
				r.Reason = skipReason(outputs[key])
			}
			if e.Action == "fail" {
				for _, o := range outputs[key] {
					fmt.Fprint(w, o)
				}
			}
			delete(outputs, key)
			if err := enc.Encode(r); err != nil {
				return 2, fmt.Errorf("cannot record a result: %w", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 2, fmt.Errorf("cannot read go test -json: %w", err)
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

// skipReason is the message a skipped test logged: its output less the
// === RUN and --- SKIP lines.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		// t.Skip logs "file_test.go:12: why".
		if i := strings.Index(t, ".go:"); i >= 0 {
			if j := strings.Index(t[i:], ": "); j >= 0 {
				t = t[i+j+2:]
			}
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// summarize prints every skip with its reason, whether it is allowed, and the
// closing totals. It exits 1 in CI when a skip is not on the allow-list.
func summarize(out io.Writer, files []string, allowPath string, ci bool) (int, error) {
	allowed := map[string]bool{}
	if allowPath != "" {
		a, err := readAllow(allowPath)
		if err != nil {
			return 2, err
		}
		allowed = a
	}
	var passed, failed int
	var skips []result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 2, fmt.Errorf("cannot read results: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		for dec.More() {
			var r result
			if err := dec.Decode(&r); err != nil {
				return 2, fmt.Errorf("cannot decode %s: %w", f, err)
			}
			switch r.Action {
			case "pass":
				passed++
			case "fail":
				failed++
			case "skip":
				skips = append(skips, r)
			}
		}
	}
	sort.Slice(skips, func(i, j int) bool {
		return skips[i].Package+" "+skips[i].Test < skips[j].Package+" "+skips[j].Test
	})
	unallowed := 0
	if len(skips) > 0 {
		fmt.Fprintf(out, "skipped tests (%d):\n", len(skips))
	}
	for _, s := range skips {
		mark := "allowed"
		if !allowed[path.Base(s.Package)+" "+s.Test] && !allowed[s.Package+" "+s.Test] {
			mark = "NOT ALLOWED"
			unallowed++
		}
		fmt.Fprintf(out, "  %-11s %s %s: %s\n", mark, s.Package, s.Test, s.Reason)
	}
	code := 0
	if failed > 0 {
		code = 1
	}
	if unallowed > 0 {
		if ci {
			fmt.Fprintf(out, "testsum: %d skipped tests are not on the allow-list %s; in CI a skip fails\n", unallowed, allowPath)
			code = 1
		} else {
			fmt.Fprintf(out, "testsum: %d skipped tests are not on the allow-list %s (they would fail in CI)\n", unallowed, allowPath)
		}
	}
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failed+unallowedIf(ci, unallowed), len(skips))
	return code, nil
}

// unallowedIf counts unallowed skips as failures in CI, so the closing line
// agrees with the exit code.
func unallowedIf(ci bool, n int) int {
	if ci {
		return n
	}
	return 0
}

// readAllow reads "package test  # why" lines; the comment is required, so
// every allowed skip says why it is allowed.
func readAllow(p string) (map[string]bool, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("cannot read the skip allow-list: %w", err)
	}
	m := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, ok := strings.Cut(line, "#")
		fields := strings.Fields(entry)
		if !ok || strings.TrimSpace(why) == "" || len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"package test  # why\", got %q", p, i+1, line)
		}
		m[fields[0]+" "+fields[1]] = true
	}
	return m, nil
}
