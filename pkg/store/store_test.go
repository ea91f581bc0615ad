package store

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/testenv"
)

var (
	tenSec = rollup.Resolution{Step: 10 * time.Second, TTL: time.Hour}
	oneMin = rollup.Resolution{Step: time.Minute, TTL: 24 * time.Hour}
)

func pt(path string, t int64, vals ...float64) rollup.Point {
	var p rollup.Point
	p.Path, p.Time = path, t
	for i, v := range vals {
		p.Add(v, t*1e9+int64(i))
	}
	return p
}

// suite is the same behaviour every SQL store must have.
func suite(t *testing.T, s Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatalf("Init is not idempotent: %v", err)
	}
	if bs, ok := s.(BlockStore); ok {
		horizonSuite(ctx, t, s, bs)
	}
	r := s.(Reader)
	// Two producers write the same bin; one of them writes it twice (a
	// redelivery or a later partial): rows are overwritten, producers merged.
	a1 := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Flush: 1700000010, Seq: 1, Points: []rollup.Point{pt("a.b.c", 1700000000, 1, 2), pt("a.b.d", 1700000000, 5)}}
	a2 := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Flush: 1700000020, Seq: 2, Points: []rollup.Point{pt("a.b.c", 1700000000, 1, 2, 3)}}
	b1 := &rollup.Batch{Source: "agg-b", Resolution: tenSec, Flush: 1700000010, Seq: 1, Points: []rollup.Point{pt("a.b.c", 1700000000, 10), pt("a.b.c", 1700000010, 7)}}
	bad := &rollup.Batch{Source: "agg-b", Resolution: oneMin, Seq: 2, Points: []rollup.Point{pt("a.x", 1699999980, math.NaN()), pt("ü.日本;t=v", 1699999980, 4)}}
	for _, batches := range [][]*rollup.Batch{{a1, b1}, {a2}, {a2}, {bad}} {
		if err := s.Write(ctx, batches); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Read(ctx, "a.b.c", tenSec, 1700000000, 1700000020)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("read %d points: %+v", len(got), got)
	}
	if p := got[0]; p.Time != 1700000000 || p.Sum != 16 || p.Count != 4 || p.Min != 1 || p.Max != 10 {
		t.Errorf("merged bin = %+v, want sum 16 (6 from agg-a's newest row, 10 from agg-b), count 4, min 1, max 10", p)
	}
	if p := got[1]; p.Time != 1700000010 || p.Sum != 7 || p.Count != 1 {
		t.Errorf("second bin = %+v", p)
	}
	// A column reader merges the producers' rows of the column it reads as
	// Read does.
	{
		cr := r
		for _, col := range []string{"sum", "mean", "min", "max", "last"} {
			cg, err := cr.ReadColumn(ctx, "a.b.c", tenSec, 1700000000, 1700000020, col)
			if err != nil {
				t.Fatal(err)
			}
			if len(cg) != len(got) {
				t.Fatalf("ReadColumn %s: %d points, Read %d", col, len(cg), len(got))
			}
			for i, p := range cg {
				w := got[i]
				var same bool
				switch col {
				case "sum", "mean":
					same = p.Sum == w.Sum
				case "min":
					same = p.Min == w.Min
				case "max":
					same = p.Max == w.Max
				case "last":
					same = p.Last == w.Last && p.LastAt == w.LastAt
				}
				if !same || p.Time != w.Time || p.Count != w.Count {
					t.Errorf("ReadColumn %s [%d] = %+v, Read %+v", col, i, p, w)
				}
			}
		}
		if _, err := cr.ReadColumn(ctx, "a.b.c", tenSec, 0, 1, "median"); err == nil {
			t.Error("ReadColumn of an unknown column did not fail")
		}
	}
	if got, _ := r.Read(ctx, "a.x", oneMin, 0, 2e9); len(got) != 0 {
		t.Errorf("a NaN point was stored: %+v", got)
	}
	if got, _ := r.Read(ctx, "ü.日本;t=v", oneMin, 0, 2e9); len(got) != 1 || got[0].Sum != 4 {
		t.Errorf("the finite point beside the NaN one: %+v", got)
	}
	// Many parents' children at once, as one by one.
	{
		many, err := r.ChildrenOf(ctx, []string{"", "a", "a.b", "ü", "nope"}, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, parent := range []string{"", "a", "a.b", "ü", "nope"} {
			one, err := r.Children(ctx, parent)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(many[parent]) != fmt.Sprint(one) {
				t.Errorf("ChildrenOf[%q] = %v, Children %v", parent, many[parent], one)
			}
		}
		// A glob may narrow what comes back, never drop a match.
		some, err := r.ChildrenOf(ctx, []string{"a.b", ""}, "[cx]")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(some["a.b"], func(n Node) bool { return n.Path == "a.b.c" }) || len(some[""]) > len(many[""]) {
			t.Errorf("ChildrenOf with a glob: %v", some)
		}
		// A name without wildcards (a plain path's level): the children of
		// that name, with or without ;tags (exactly those in SQL).
		for parent, kids := range many {
			for _, k := range kids {
				name := strings.TrimPrefix(k.Path, parent+".")
				name, _, _ = strings.Cut(name, ";")
				named, err := r.ChildrenOf(ctx, []string{parent, "nope"}, name)
				if err != nil {
					t.Fatal(err)
				}
				var want []Node
				for _, o := range kids {
					if bare, _, _ := strings.Cut(strings.TrimPrefix(o.Path, parent+"."), ";"); bare == name {
						want = append(want, o)
					}
				}
				got := named[parent]
				if _, sql := s.(*sqlStore); !sql { // the others may list every child
					got = slices.DeleteFunc(got, func(o Node) bool { return !slices.Contains(want, o) })
				}
				if fmt.Sprint(got) != fmt.Sprint(want) || len(named["nope"]) > 0 {
					t.Errorf("ChildrenOf([%q], %q) = %v, want %v", parent, name, named, want)
				}
			}
		}
	}
	// The path index answers level by level.
	check := func(parent string, want ...string) {
		t.Helper()
		nodes, err := r.Children(ctx, parent)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range nodes {
			s := n.Path
			if n.Leaf {
				s += "*"
			}
			names = append(names, s)
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("children of %q = %v, want %v", parent, names, want)
		}
	}
	check("", "a", "ü")
	check("a", "a.b")
	check("a.b", "a.b.c*", "a.b.d*")
	check("ü", "ü.日本;t=v*")
	if ex, ok := s.(interface {
		Expire(context.Context, time.Time) (int64, error)
	}); ok {
		// A block expires when its span's last bin has outlived the TTL.
		end := SpanOf(tenSec, 1700000000) + SpanSeconds(tenSec) + 3600
		if n, err := ex.Expire(ctx, time.Unix(end, 0)); err != nil || n != 0 {
			t.Errorf("expired %d blocks (%v) at the end of their TTL, want none yet", n, err)
		}
		n, err := ex.Expire(ctx, time.Unix(end+1, 0))
		if err != nil || n != 3 {
			t.Errorf("expired %d blocks (%v), want the 3 ten-second blocks (a.b.c of agg-a and agg-b, a.b.d) past their hour", n, err)
		}
		if got, err := r.Read(ctx, "a.b.c", tenSec, 0, 2e9); err != nil || len(got) != 0 {
			t.Errorf("a.b.c after its blocks expired: %+v, %v", got, err)
		}
		if got, err := r.Read(ctx, "ü.日本;t=v", oneMin, 0, 2e9); err != nil || len(got) != 1 {
			t.Errorf("a one-minute block within its day expired: %+v, %v", got, err)
		}
	}
	// A path can be a leaf and a parent: written in one batch with its child
	// (in either map order) or after it, it is a leaf.
	for i := range 20 {
		leaf, child := fmt.Sprintf("lp%d.q", i), fmt.Sprintf("lp%d.q.r", i)
		both := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Seq: 9, Points: []rollup.Point{pt(child, 1700000000, 1), pt(leaf, 1700000000, 2)}}
		if err := s.Write(ctx, []*rollup.Batch{both}); err != nil {
			t.Fatal(err)
		}
		nodes, err := r.Children(ctx, fmt.Sprintf("lp%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 1 || nodes[0].Path != leaf || !nodes[0].Leaf {
			t.Fatalf("Children(lp%d) = %+v: %s, written with its child in one batch, is not a leaf", i, nodes, leaf)
		}
	}
	later := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Seq: 10, Points: []rollup.Point{pt("lb.q.r", 1700000000, 1)}}
	then := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Seq: 11, Points: []rollup.Point{pt("lb.q", 1700000000, 1)}}
	for _, b := range []*rollup.Batch{later, then} {
		if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	if nodes, err := r.Children(ctx, "lb"); err != nil || len(nodes) != 1 || !nodes[0].Leaf {
		t.Fatalf("Children(lb) = %+v, %v: lb.q got points after its child and is not a leaf", nodes, err)
	}
	versions(ctx, t, s)
	readValues(ctx, t, s)
	blockSuite(ctx, t, s)
}

// readValues checks that ReadMany puts on its steps what ReadColumn reads,
// for one producer and for several, over ranges that start and end inside
// blocks and cross spans.
func readValues(ctx context.Context, t *testing.T, s Store) {
	t.Helper()
	r := s.(Reader)
	const first = 1700006400 // a 10 s span starts here; five hours cross three spans
	one := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Flush: first, Seq: 20}
	two := &rollup.Batch{Source: "agg-b", Resolution: tenSec, Flush: first, Seq: 20}
	for i := int64(0); i < 1800; i++ {
		at := first + i*10
		if i%7 != 3 { // gaps
			one.Points = append(one.Points, pt("rv.one", at, float64(i%13), float64(i%5)), pt("rv.two", at, float64(i)/3))
		}
		if i > 500 && i < 1300 && i%3 != 0 {
			two.Points = append(two.Points, pt("rv.two", at, float64(i%11), 0.1))
		}
	}
	if err := s.Write(ctx, []*rollup.Batch{one, two}); err != nil {
		t.Fatal(err)
	}
	value := func(p rollup.Point, col string) float64 {
		switch col {
		case "sum":
			return p.Sum
		case "min":
			return p.Min
		case "max":
			return p.Max
		case "last":
			return p.Last
		}
		return p.Sum / float64(p.Count)
	}
	for _, rg := range [][2]int64{{first - 100, first + 18100}, {first + 3000, first + 9000}, {first + 7190, first + 7220}} {
		n := (rg[1] - rg[0]) / 10
		var reads []SeriesRead
		var wants [][]float64
		for _, path := range []string{"rv.one", "rv.two", "rv.none"} {
			for _, col := range []string{"sum", "mean", "min", "max", "last", ""} {
				pts, err := r.ReadColumn(ctx, path, tenSec, rg[0], rg[1], col)
				if err != nil {
					t.Fatal(err)
				}
				want, got := make([]float64, n), make([]float64, n)
				for i := range want {
					want[i], got[i] = math.NaN(), float64(i) // ReadMany sets the empty bins to NaN
				}
				for _, p := range pts {
					want[(p.Time-rg[0])/10] = value(p, col)
				}
				reads = append(reads, SeriesRead{Path: path, Col: col, Vals: got})
				wants = append(wants, want)
			}
		}
		check := func(what string, rd SeriesRead, want []float64) {
			t.Helper()
			for i := range want {
				if math.Float64bits(want[i]) != math.Float64bits(rd.Vals[i]) {
					t.Fatalf("ReadMany %s: %s %q over [%d, %d): bin %d = %v, ReadColumn %v", what, rd.Path, rd.Col, rg[0], rg[1], i, rd.Vals[i], want[i])
				}
			}
		}
		// All at once (one path asked in several columns), then one by one.
		if err := r.ReadMany(ctx, tenSec, rg[0], reads); err != nil {
			t.Fatal(err)
		}
		for i, rd := range reads {
			check("of all", rd, wants[i])
		}
		for i, rd := range reads {
			for j := range rd.Vals {
				rd.Vals[j] = 1
			}
			if err := r.ReadMany(ctx, tenSec, rg[0], []SeriesRead{rd}); err != nil {
				t.Fatal(err)
			}
			check("of one", rd, wants[i])
		}
	}
	if err := r.ReadMany(ctx, tenSec, first, []SeriesRead{{Path: "rv.one", Col: "median", Vals: make([]float64, 3)}}); err == nil {
		t.Error("ReadMany of an unknown column did not fail")
	}
}

// versions checks that a stored point never goes backwards: a row is
// replaced by the same or a newer version of the batch that carries it, never
// by an older one (a redelivered partial of a coarse bin after its final).
func versions(ctx context.Context, t *testing.T, s Store) {
	t.Helper()
	r := s.(Reader)
	const bin = 1700000040 // a minute bin: partials at 1700000050.., final at 1700000100
	at := func(flush int64, final bool, path string, vals ...float64) *rollup.Batch {
		return &rollup.Batch{Source: "agg-v", Resolution: oneMin, Flush: flush, Final: final, Points: []rollup.Point{pt(path, bin, vals...)}}
	}
	for _, tc := range []struct {
		name    string
		writes  [][]*rollup.Batch // one Write each
		sum     float64
		count   uint64
		comment string
	}{
		{"newer then older", [][]*rollup.Batch{{at(1700000070, false, "v.a", 1, 2, 3)}, {at(1700000050, false, "v.a", 1)}},
			6, 3, "the older partial, written second, replaced the newer"},
		{"final then redelivered partial", [][]*rollup.Batch{{at(1700000100, true, "v.b", 1, 2, 3, 4)}, {at(1700000060, false, "v.b", 1, 2)}},
			10, 4, "a redelivered partial replaced the final"},
		{"older after newer in one write", [][]*rollup.Batch{{at(1700000100, true, "v.c", 5, 5), at(1700000090, false, "v.c", 5)}},
			10, 2, "the older row of the same write replaced the newer"},
		{"older then newer", [][]*rollup.Batch{{at(1700000050, false, "v.d", 1)}, {at(1700000100, true, "v.d", 1, 7)}},
			8, 2, "a newer version did not replace the older"},
		{"same version twice", [][]*rollup.Batch{{at(1700000080, false, "v.e", 2, 2)}, {at(1700000080, false, "v.e", 2, 2)}},
			4, 2, "a redelivery of the same version changed the value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.writes {
				if err := s.Write(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			path := tc.writes[0][0].Points[0].Path
			got, err := r.Read(ctx, path, oneMin, bin, bin+60)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Sum != tc.sum || got[0].Count != tc.count {
				t.Errorf("%s = %+v, want sum %v count %d: %s", path, got, tc.sum, tc.count, tc.comment)
			}
		})
	}
}

// horizonSuite checks a new store's horizons: kept (tracked) from its
// creation, each the largest span raised, whatever the order, and kept
// across Init.
func horizonSuite(ctx context.Context, t *testing.T, s Store, bs BlockStore) {
	t.Helper()
	h, err := bs.Horizons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Tracked || len(h.Spans) != 0 {
		t.Fatalf("a new store's horizons = %+v; want none, tracked", h)
	}
	a0, a1, b0 := ShardHorizon(0, 4), ShardHorizon(1, 4), ShardHorizon(0, 8)
	for _, r := range []struct {
		k    HorizonKey
		span int64
	}{{HorizonKey{10, a0}, 1700006400}, {HorizonKey{10, a0}, 1699999200}, {HorizonKey{60, a0}, 1699977600}, {HorizonKey{10, a1}, 1700013600},
		{HorizonKey{600, ""}, 1699776000}, {HorizonKey{60, a0}, 1700020800}, {HorizonKey{10, b0}, 1699992000}} {
		if err := bs.RaiseHorizon(ctx, r.k, r.span); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err = bs.Horizons(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[HorizonKey]int64{{10, a0}: 1700006400, {10, a1}: 1700013600, {60, a0}: 1700020800, {600, ""}: 1699776000, {10, b0}: 1699992000}
	if !h.Tracked || !maps.Equal(h.Spans, want) {
		t.Errorf("horizons after raising = %+v; want %v (the largest of each), tracked", h, want)
	}
	// Shard 0 of 4: its own, the store-wide, and the other count's (not
	// shard 1 of 4's).
	if got, want := h.For(0, 4), map[int64]int64{10: 1700006400, 60: 1700020800, 600: 1699776000}; !maps.Equal(got, want) {
		t.Errorf("horizons for shard 0 of 4 = %v, want %v", got, want)
	}
	if got, want := h.For(2, 4), map[int64]int64{10: 1699992000, 600: 1699776000}; !maps.Equal(got, want) {
		t.Errorf("horizons for shard 2 of 4 = %v, want %v", got, want)
	}
}

func TestSQLiteStore(t *testing.T) {
	s, err := Open(Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	suite(t, s)
}

func TestMariaDBStore(t *testing.T) {
	_, dsn := testenv.MySQL(t)
	s, err := Open(Config{Driver: "mysql", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	suite(t, s)
}

func TestCassandraStore(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	_, ks := testenv.Cassandra(t) // a keyspace of its own, dropped at the end
	s, err := Open(Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: map[string]string{"keyspace": ks}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	suite(t, s)
	// Blocks carry their resolution's TTL (an hour for the 10 s points)
	// and their version as the write timestamp.
	sess, _ := testenv.Cassandra(t)
	var ttl int
	var ts int64
	q := "SELECT TTL(data), WRITETIME(data) FROM " + ks + ".blocks_10s WHERE parent = ? AND span = ? AND bucket = 0 AND path = ? AND source = ?"
	if err := sess.Query(q, "a.b", SpanOf(tenSec, 1700000000), "a.b.c", "agg-b").Scan(&ttl, &ts); err != nil {
		t.Fatal(err)
	}
	if ttl <= 3500 || ttl > 3600 {
		t.Errorf("TTL %d s, want about 3600", ttl)
	}
	if want := int64(1700000010) * 1e6; ts != want {
		t.Errorf("write timestamp %d, want the version %d", ts, want)
	}
	allTime(t, s.(Reader))
}

// allTime checks that a read of all time (a dump) finds what a read of the
// range finds.
func allTime(t *testing.T, r Reader) {
	t.Helper()
	ctx := context.Background()
	want, err := r.Read(ctx, "a.b.c", tenSec, 1700000000, 1700000020)
	if err != nil {
		t.Fatal(err)
	}
	for _, rng := range [][2]int64{{math.MinInt32, math.MaxInt32}, {math.MinInt64, math.MaxInt64}, {0, 2e9}} {
		got, err := r.Read(ctx, "a.b.c", tenSec, rng[0], rng[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("reading [%d, %d): %+v, want %+v", rng[0], rng[1], got, want)
		}
	}
}

// TestCassandraStoreBuckets runs the suite on a keyspace whose partitions
// are split in buckets, then checks that the count is fixed by the
// keyspace's creation.
func TestCassandraStoreBuckets(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	_, ks := testenv.Cassandra(t)
	open := func(opts map[string]string) Store {
		opts["keyspace"] = ks
		s, err := Open(Config{Driver: "cassandra", DSN: strings.Join(hosts, ","), Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open(map[string]string{"partition_buckets": "3"})
	suite(t, s)
	allTime(t, s.(Reader))
	manyPartitions(t, s)
	ctx := context.Background()
	err := open(map[string]string{"partition_buckets": "2"}).Init(ctx)
	if err == nil || !strings.Contains(err.Error(), "options.partition_buckets 2: keyspace "+ks+" was created with 3") {
		t.Errorf("another bucket count: %v, want a refusal naming both", err)
	}
	again := open(map[string]string{})
	if err := again.Init(ctx); err != nil {
		t.Fatal(err)
	}
	allTime(t, again.(Reader))
	if _, err := Open(Config{Driver: "cassandra", DSN: "x", Options: map[string]string{"partition_buckets": "65"}}); err == nil ||
		!strings.Contains(err.Error(), "options.partition_buckets") {
		t.Errorf("partition_buckets 65: %v, want an error", err)
	}
}

func TestFileStore(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "metrics")
	s, err := Open(Config{Driver: "file", DSN: prefix, Options: map[string]string{"max_file_size": "200"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	final := &rollup.Batch{Source: "a", Resolution: tenSec, Flush: 1700000010, Final: true, Points: []rollup.Point{pt("x.y", 1700000000, 1, 3), pt("x.z", 1700000000, 2)}}
	partial := &rollup.Batch{Source: "a", Resolution: oneMin, Points: []rollup.Point{pt("x.y", 1699999980, 9)}}
	for i := 0; i < 3; i++ {
		if err := s.Write(ctx, []*rollup.Batch{final, partial}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(prefix + "_10s*")
	if len(files) < 2 {
		t.Fatalf("no rotation at 200 bytes: %v", files)
	}
	var lines []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6", len(lines))
	}
	want := "x.y\t4\t2\t1\t3\t2\t10\t1700000000000000000\t3600000000000\ta\t1700000010000000"
	found := false
	for _, l := range lines {
		found = found || l == want
	}
	if !found {
		t.Errorf("no line %q in %q", want, lines)
	}
	if m, _ := filepath.Glob(prefix + "_60s*"); len(m) != 0 {
		t.Errorf("partial batches were written: %v", m)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{Driver: "oracle"}); err == nil || !strings.Contains(err.Error(), "unknown storage driver") {
		t.Errorf("unknown driver: %v", err)
	}
	if _, err := Open(Config{Driver: "sqlite", Options: map[string]string{"table": "Bad-Name"}}); err == nil {
		t.Error("bad table name accepted")
	}
	if _, err := Open(Config{Driver: "file"}); err == nil {
		t.Error("file without dsn accepted")
	}
}

// TestSQLiteRefusesOtherSchema opens a database whose schema_version is not
// this build's: Init refuses it (no migration before 1.0).
func TestSQLiteRefusesOtherSchema(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "old.db")
	s, err := Open(Config{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	s.(*sqlStore).db.MustExec(`UPDATE metrics_meta SET value = 1 WHERE name = 'schema_version'`)
	if err := s.Init(ctx); err == nil || !strings.Contains(err.Error(), "schema_version 1") {
		t.Fatalf("Init of a schema_version 1 database: %v", err)
	}
}

// TestSQLiteRefusesRowStoreDatabase opens a database the row store (schema 1,
// before blocks, no metrics_meta) wrote: Init refuses it rather than read it
// as empty.
func TestSQLiteRefusesRowStoreDatabase(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "rows.db")
	s, err := Open(Config{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.(*sqlStore).db.MustExec(`CREATE TABLE metrics_10s (path TEXT, time INTEGER, source TEXT, sum REAL)`)
	if err := s.Init(context.Background()); err == nil || !strings.Contains(err.Error(), "metrics_10s holds one row per point") {
		t.Fatalf("Init of a row-store database: %v", err)
	}
}

// TestSQLiteHorizonsOfAnOlderStore: a store created before horizons were
// kept (no marker row) reports them untracked, so every block is read
// before its first write, even after a horizon is raised.
func TestSQLiteHorizonsOfAnOlderStore(t *testing.T) {
	ctx := context.Background()
	dsn := "file:" + filepath.Join(t.TempDir(), "old.db")
	s, err := Open(Config{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	db := s.(*sqlStore).db
	if _, err := db.ExecContext(ctx, `DELETE FROM `+s.(*sqlStore).table+`_meta WHERE name = 'horizons'`); err != nil {
		t.Fatal(err)
	}
	bs := s.(BlockStore)
	k := HorizonKey{10, ShardHorizon(3, 8)}
	if err := bs.RaiseHorizon(ctx, k, 1700006400); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil { // not a new store: no marker is added
		t.Fatal(err)
	}
	if h, err := bs.Horizons(ctx); err != nil || h.Tracked || h.Spans[k] != 1700006400 {
		t.Errorf("horizons = %+v, err %v; want the raised one, untracked", h, err)
	}
}

// manyPartitions reads with ReadMany 60 series of 60 parents over 30 spans:
// queries split by (parent, bucket) pairs and by spans (readPartitions),
// every value where it was written.
func manyPartitions(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	const series, spans = 60, 30
	start := SpanOf(tenSec, 1600000000)
	span := SpanSeconds(tenSec)
	b := &rollup.Batch{Source: "agg-a", Resolution: tenSec, Flush: 1600000000, Seq: 1}
	for i := range series {
		for j := range spans {
			// one point a span, at a different step of each
			b.Points = append(b.Points, pt(fmt.Sprintf("mp%02d.x.v", i), start+int64(j)*span+int64((i+j)%720)*10, float64(i*1000+j)))
		}
	}
	if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
		t.Fatal(err)
	}
	n := spans * span / 10
	reads := make([]SeriesRead, series)
	for i := range reads {
		reads[i] = SeriesRead{Path: fmt.Sprintf("mp%02d.x.v", i), Col: "sum", Vals: make([]float64, n)}
	}
	if err := s.(Reader).ReadMany(ctx, tenSec, start, reads); err != nil {
		t.Fatal(err)
	}
	for i, rd := range reads {
		got := 0
		for k, v := range rd.Vals {
			if math.IsNaN(v) {
				continue
			}
			got++
			j := k / int(span/10)
			if want := float64(i*1000 + j); v != want || k%int(span/10) != (i+j)%720 {
				t.Fatalf("%s: step %d = %v, want %v at step %d of span %d", rd.Path, k, v, want, (i+j)%720, j)
			}
		}
		if got != spans {
			t.Fatalf("%s: %d values, want %d", rd.Path, got, spans)
		}
	}
}
