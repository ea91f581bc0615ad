package ring

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/consthash/consthash/pkg/line"
)

// The golden vectors under testdata/golden were produced by running the real
// peers (scripts under testdata/golden/scripts, see its README) over the keys
// in testdata/golden/keys.txt.gz. Each file is one ring configuration:
//
//	# peer: ...
//	# algo: carbon_ch
//	# replication: 2
//	# diverse: false
//	# member: 10.0.0.1:2004
//	<key index>\t<member index>,<member index>
//
// where the member indexes are in the order the peer chose them.

type goldenFile struct {
	path        string
	peer, algo  string
	replication int
	diverse     bool
	tagNorm     bool // carbon's TAG_RELAY_NORMALIZED: the key is normalized first
	members     []string
	rows        []goldenRow
}

type goldenRow struct {
	key     int
	members []int
	name    string // the key as the peer rewrote it, when it did
}

func readGzipLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines
}

func goldenKeys(t *testing.T) []string {
	t.Helper()
	keys := readGzipLines(t, filepath.Join("testdata", "golden", "keys.txt.gz"))
	if len(keys) < 10000 {
		t.Fatalf("only %d golden keys", len(keys))
	}
	return keys
}

func readGolden(t *testing.T, path string) *goldenFile {
	t.Helper()
	g := &goldenFile{path: path, replication: 1}
	for i, l := range readGzipLines(t, path) {
		if h, ok := strings.CutPrefix(l, "# "); ok {
			k, v, _ := strings.Cut(h, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "peer":
				g.peer = v
			case "algo":
				g.algo, _, _ = strings.Cut(v, " ")
			case "replication":
				g.replication, _ = strconv.Atoi(v)
			case "diverse":
				g.diverse = v == "true" || v == "True"
			case "tag_relay_normalized":
				g.tagNorm = v == "true" || v == "True"
			case "member":
				g.members = append(g.members, v)
			}
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < 2 {
			t.Fatalf("%s:%d: malformed row %q", path, i+1, l)
		}
		row := goldenRow{}
		row.key, _ = strconv.Atoi(f[0])
		if f[1] != "-" {
			for _, m := range strings.Split(f[1], ",") {
				mi, err := strconv.Atoi(m)
				if err != nil {
					t.Fatalf("%s:%d: member %q", path, i+1, m)
				}
				row.members = append(row.members, mi)
			}
		}
		if len(f) > 2 {
			row.name = f[2]
		}
		g.rows = append(g.rows, row)
	}
	return g
}

// algorithmFor maps a vector file's peer directory and algo to ours.
func algorithmFor(dir, algo string) (Algorithm, bool) {
	switch dir + "/" + algo {
	case "carbon-relay-py/carbon_ch":
		return CarbonPy, true
	case "carbon-relay-py/fnv1a_ch":
		return CarbonPyFNV, true
	case "carbon-c-relay/carbon_ch":
		return CarbonC, true
	case "carbon-c-relay/fnv1a_ch":
		return FNV1aC, true
	case "carbon-c-relay/jump_fnv1a_ch":
		return JumpFNV1aC, true
	case "statsd-hashring/hashring_md5":
		return Statsd, true
	}
	return "", false
}

func TestGoldenVectors(t *testing.T) {
	keys := goldenKeys(t)
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.tsv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden vectors under testdata/golden")
	}
	perPeer := map[string]int{}
	for _, path := range files {
		dir := filepath.Base(filepath.Dir(path))
		name := strings.TrimSuffix(filepath.Base(path), ".tsv.gz")
		if strings.HasPrefix(name, "ring_positions") {
			continue
		}
		t.Run(dir+"/"+name, func(t *testing.T) {
			g := readGolden(t, path)
			algo, ok := algorithmFor(dir, g.algo)
			if !ok {
				t.Fatalf("no ring for peer %s algo %s", dir, g.algo)
			}
			ms, err := ParseMembers(g.members)
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(algo, ms, Options{Diverse: g.diverse})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.rows) < 10000 {
				t.Fatalf("%d rows, want at least 10000", len(g.rows))
			}
			bad := 0
			var dst []int
			for _, row := range g.rows {
				key := keys[row.key]
				if row.name != "" {
					key = row.name
				}
				if g.tagNorm {
					key, _ = line.NormalizeCarbonTags(key)
				}
				dst = r.GetN(dst[:0], []byte(key), g.replication)
				if fmt.Sprint(dst) != fmt.Sprint(row.members) {
					if bad++; bad <= 5 {
						t.Errorf("key %d %q (position %d): got %v, peer chose %v", row.key, key, r.Position([]byte(key)), dst, row.members)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d keys disagree with %s", bad, len(g.rows), g.peer)
			}
			perPeer[dir] += len(g.rows)
		})
	}
	t.Logf("keys checked per peer: %v", perPeer)
}
