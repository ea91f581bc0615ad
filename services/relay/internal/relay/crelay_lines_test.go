package relay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/testenv"
)

// crelayLine is one line of testdata/crelay-lines/lines.jsonl.gz (run.sh):
// a random plaintext line, what the real carbon-c-relay 3.7.3 wrote for it
// (nil: it dropped it), and whether carbon-cache 1.1 would store it.
type crelayLine struct {
	In     string  `json:"in"`
	CRelay *string `json:"crelay"`
	Carbon int     `json:"carbon"`
}

func readCRelayLines(t *testing.T) []crelayLine {
	t.Helper()
	zr := testenv.Gzip(t, "testdata/crelay-lines/lines.jsonl.gz")
	sc := bufio.NewScanner(zr)
	sc.Scan() // the header: which peer made them
	var out []crelayLine
	for sc.Scan() {
		var l crelayLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCRelayLinesAsCarbonCRelay sends random whole lines (runs of blanks,
// tabs, a trailing CR, characters carbon-c-relay rewrites, and lines
// carbon-cache rejects) through a carbon-c-relay ring's real TCP listener.
// A line the relay forwards is byte for byte what carbon-c-relay wrote for
// it; a line carbon-c-relay dropped is dropped; a line carbon-cache stores
// is forwarded (but an infinite value or one with digit separators, which
// the relay refuses by design); every line not forwarded is counted as bad. carbon-c-relay
// forwards many lines carbon-cache then rejects (no value, a value that is
// not a number, four fields, malformed tags): the relay counts and drops
// them instead.
func TestCRelayLinesAsCarbonCRelay(t *testing.T) {
	lines := readCRelayLines(t)
	if len(lines) < 4000 {
		t.Fatalf("%d vector lines", len(lines))
	}
	s := newSink(t, "127.0.0.1:0")
	r := startRelay(t, fmt.Sprintf(`
[sections.main]
listen = ["tcp://127.0.0.1:0"]
cluster = "carbon_c_ch"
servers = ["tcp://%s"]
`, s.Addr()))
	in := make([]string, len(lines))
	for i, l := range lines {
		in[i] = l.In
	}
	send(t, r.ListenerAddrs("main")[0], in)
	stats := func() (read, routed, bad uint64) {
		st := r.Stats()["sections"].(map[string]any)["main"].(map[string]any)
		for _, n := range st["lines_bad"].(map[string]uint64) {
			bad += n
		}
		return st["lines_in"].(uint64), st["lines_routed"].(uint64), bad
	}
	waitFor(t, "every line read and the routed ones at the sink", 10*time.Second, func() bool {
		read, routed, _ := stats()
		return read == uint64(len(lines)) && uint64(s.Count()) == routed
	})
	read, routed, bad := stats()
	if routed+bad != read {
		t.Errorf("%d lines read, %d routed and %d counted bad", read, routed, bad)
	}
	got := map[string]string{}
	key := regexp.MustCompile(`^k(\d+)\.`)
	for _, l := range s.Lines() {
		m := key.FindStringSubmatch(l)
		if m == nil || got[m[1]] != "" {
			t.Fatalf("forwarded %q: not one of the lines sent, or a second line for one", l)
		}
		got[m[1]] = l
	}
	forwarded, storable := 0, 0
	for i, l := range lines {
		out, ok := got[fmt.Sprint(i)]
		switch {
		case ok && l.CRelay == nil:
			t.Errorf("%q: forwarded as %q, carbon-c-relay dropped it", l.In, out)
		case ok && out != *l.CRelay:
			t.Errorf("%q: forwarded as %q, carbon-c-relay wrote %q", l.In, out, *l.CRelay)
		case !ok && l.Carbon == 1 && !refusedByDesign(l.In):
			t.Errorf("%q: dropped, carbon-cache stores it (carbon-c-relay wrote %q)", l.In, deref(l.CRelay))
		}
		if ok {
			forwarded++
		}
		storable += l.Carbon
	}
	t.Logf("%d lines: %d forwarded as carbon-c-relay writes them, %d of them storable by carbon-cache, %d dropped and counted",
		len(lines), forwarded, storable, len(lines)-forwarded)
}

// refusedByDesign: a value carbon-cache stores and the relay refuses, as
// docs/line-formats.md says: an infinity, or digit separators (Python's
// float reads "1_000").
func refusedByDesign(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 {
		return false
	}
	v, err := strconv.ParseFloat(f[1], 64)
	return strings.Contains(f[1], "_") || err == nil && math.IsInf(v, 0) || errors.Is(err, strconv.ErrRange)
}

func deref(s *string) string {
	if s == nil {
		return "<nothing>"
	}
	return *s
}
