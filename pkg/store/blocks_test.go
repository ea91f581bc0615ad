package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/consthash/consthash/pkg/block"
	"github.com/consthash/consthash/pkg/rollup"
)

// blockPoints returns the points of one block of tenSec: n bins from start,
// every step-th bin, values depending on seed.
func blockPoints(path string, start int64, n, every int, seed float64) []rollup.Point {
	var pts []rollup.Point
	for i := 0; i < n; i += every {
		t := start + int64(i)*tenSec.Seconds()
		p := pt(path, t, seed+float64(i), seed*2+float64(i%7))
		pts = append(pts, p)
	}
	return pts
}

func encode(t *testing.T, pts []rollup.Point) []byte {
	t.Helper()
	data, err := block.Append(nil, tenSec.Seconds(), pts)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// blockSuite is what every BlockStore must do, on top of suite.
func blockSuite(ctx context.Context, t *testing.T, s Store) {
	bs := s.(BlockStore)
	r := s.(Reader)
	span := SpanOf(tenSec, 1700000000)
	n := SpanSeconds(tenSec)
	key := func(path, source string, span int64) BlockKey {
		return BlockKey{Path: path, Res: tenSec, Source: source, Span: span}
	}

	t.Run("round trip", func(t *testing.T) {
		var rows []BlockRow
		for i, k := range []BlockKey{key("blk.rt.a", "s1", span), key("blk.rt.a", "s2", span), key("blk.rt.a", "s1", span+n),
			key("blk.rt.b", "s1", span)} {
			data := encode(t, blockPoints(k.Path, k.Span, BlockPoints, 1+i, float64(i)))
			rows = append(rows, BlockRow{BlockKey: k, Data: data, Version: int64(1000 + i)})
		}
		if err := bs.WriteBlocks(ctx, rows); err != nil {
			t.Fatal(err)
		}
		keys := []BlockKey{key("blk.rt.none", "s1", span), key("blk.rt.a", "s2", span+n)} // absent
		for _, row := range rows {
			keys = append(keys, row.BlockKey)
		}
		got, err := bs.ReadBlocks(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(rows) {
			t.Fatalf("ReadBlocks returned %d blocks, want %d", len(got), len(rows))
		}
		for _, want := range rows {
			i := slices.IndexFunc(got, func(g BlockRow) bool { return g.BlockKey == want.BlockKey })
			if i < 0 {
				t.Errorf("block %+v not read back", want.BlockKey)
				continue
			}
			if !bytes.Equal(got[i].Data, want.Data) || got[i].Version != want.Version {
				t.Errorf("block %+v: read %d bytes version %d, wrote %d bytes version %d", want.BlockKey, len(got[i].Data), got[i].Version, len(want.Data), want.Version)
			}
		}
		// The paths are in the index as leaves.
		nodes, err := r.Children(ctx, "blk.rt")
		if err != nil || fmt.Sprint(nodes) != "[{blk.rt.a true} {blk.rt.b true}]" {
			t.Errorf("Children(blk.rt) = %v, %v", nodes, err)
		}
	})

	t.Run("version conditional", func(t *testing.T) {
		k := key("blk.ver", "s1", span)
		for _, w := range []struct {
			version int64
			seed    float64
			want    float64 // the seed stored after this write
		}{{100, 1, 1}, {50, 2, 1}, {101, 3, 3}, {200, 4, 4}, {199, 5, 4}} {
			// (Not equal versions with different data: SQL replaces, Cassandra
			// keeps the larger blob; a changed block gets a newer version.)
			data := encode(t, blockPoints(k.Path, k.Span, 10, 1, w.seed))
			if err := bs.WriteBlocks(ctx, []BlockRow{{BlockKey: k, Data: data, Version: w.version}}); err != nil {
				t.Fatal(err)
			}
			got, err := bs.ReadBlocks(ctx, []BlockKey{k})
			if err != nil {
				t.Fatal(err)
			}
			want := encode(t, blockPoints(k.Path, k.Span, 10, 1, w.want))
			if len(got) != 1 || !bytes.Equal(got[0].Data, want) {
				t.Fatalf("after writing version %d (seed %v), the stored block is not seed %v's", w.version, w.seed, w.want)
			}
		}
	})

	t.Run("IndexPaths", func(t *testing.T) {
		ix := s.(Indexer)
		ix.TakeNewPaths() // what the other cases indexed
		if err := bs.IndexPaths(ctx, []string{"blkix.a.x", "blkix.a.y", "blkix.b", "blkix.b"}); err != nil {
			t.Fatal(err)
		}
		fresh := ix.TakeNewPaths()
		slices.Sort(fresh)
		if want := []string{"blkix", "blkix.a", "blkix.a.x", "blkix.a.y", "blkix.b"}; !slices.Equal(fresh, want) {
			t.Fatalf("new paths %q, want %q", fresh, want)
		}
		// Indexed already: nothing new, nothing written.
		if err := bs.IndexPaths(ctx, []string{"blkix.a.x", "blkix.b"}); err != nil {
			t.Fatal(err)
		}
		if fresh := ix.TakeNewPaths(); len(fresh) != 0 {
			t.Fatalf("indexing known paths again announced %q", fresh)
		}
		// A branch that gets points becomes a leaf too.
		if err := bs.IndexPaths(ctx, []string{"blkix.a"}); err != nil {
			t.Fatal(err)
		}
		for parent, want := range map[string][]Node{
			"blkix":   {{Path: "blkix.a", Leaf: true}, {Path: "blkix.b", Leaf: true}},
			"blkix.a": {{Path: "blkix.a.x", Leaf: true}, {Path: "blkix.a.y", Leaf: true}},
		} {
			got, err := r.Children(ctx, parent)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, func(a, b Node) int { return strings.Compare(a.Path, b.Path) })
			if !slices.Equal(got, want) {
				t.Fatalf("children of %s: %+v, want %+v", parent, got, want)
			}
		}
		// Side by side (the writer's shards index while its block writer
		// writes): every path is announced once.
		ix.TakeNewPaths()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				if err := bs.IndexPaths(ctx, []string{"blkix2.a.x", "blkix2.a.y", "blkix2.b"}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		fresh = ix.TakeNewPaths()
		slices.Sort(fresh)
		if want := []string{"blkix2", "blkix2.a", "blkix2.a.x", "blkix2.a.y", "blkix2.b"}; !slices.Equal(fresh, want) {
			t.Fatalf("indexed side by side, new paths %q, want each of %q once", fresh, want)
		}
		// No block was written for them.
		got, err := bs.ReadBlocks(ctx, []BlockKey{key("blkix.a.x", "s1", span), key("blkix.b", "s1", span)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("IndexPaths wrote %d blocks", len(got))
		}
	})

	// Two producers, blocks on both sides of a span boundary; reads whose
	// ranges cross it, start or end inside a block, or fall in one.
	t.Run("reads across spans and sources", func(t *testing.T) {
		path := "blk.read"
		all := map[string][]rollup.Point{}
		var rows []BlockRow
		for i, b := range []struct {
			source string
			span   int64
			every  int
		}{{"s1", span, 1}, {"s1", span + n, 1}, {"s2", span, 3}, {"s2", span + n, 2}, {"s1", span + 3*n, 5}} {
			pts := blockPoints(path, b.span, BlockPoints, b.every, float64(10*i))
			all[b.source] = append(all[b.source], pts...)
			rows = append(rows, BlockRow{BlockKey: key(path, b.source, b.span), Data: encode(t, pts), Version: 1})
		}
		if err := bs.WriteBlocks(ctx, rows); err != nil {
			t.Fatal(err)
		}
		// want merges the producers' points in [from, until) as the row
		// stores did: by time, then source.
		want := func(from, until int64) []rollup.Point {
			var out []rollup.Point
			for _, src := range []string{"s1", "s2"} {
				for _, p := range all[src] {
					if p.Time >= from && p.Time < until {
						out = append(out, p)
					}
				}
			}
			slices.SortStableFunc(out, func(a, b rollup.Point) int { return cmpInt(a.Time, b.Time) })
			merged := out[:0]
			for _, p := range out {
				if m := len(merged); m > 0 && merged[m-1].Time == p.Time {
					merged[m-1].Merge(p)
					continue
				}
				merged = append(merged, p)
			}
			return merged
		}
		for _, tc := range []struct {
			name        string
			from, until int64
		}{
			{"whole", 0, 2e9},
			{"across the boundary", span + n - 1000, span + n + 1000},
			{"inside a block", span + 95, span + 2005},
			{"one bin", span + 30, span + 31},
			{"across a missing span", span + n + 5000, span + 3*n + 100},
			{"before everything", 0, span},
			{"empty range", span + 100, span + 100},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w := want(tc.from, tc.until)
				got, err := r.Read(ctx, path, tenSec, tc.from, tc.until)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(w) {
					t.Fatalf("read %d points, want %d", len(got), len(w))
				}
				for i := range w {
					if got[i] != w[i] {
						t.Fatalf("point %d = %+v, want %+v", i, got[i], w[i])
					}
				}
				if tc.name == "inside a block" && (len(got) == 0 || got[0].Time != span+100 || got[len(got)-1].Time != span+2000) {
					t.Errorf("read %d..%d, want %d..%d", got[0].Time, got[len(got)-1].Time, span+100, span+2000)
				}
				for _, col := range []string{"sum", "max", "last"} {
					cg, err := r.ReadColumn(ctx, path, tenSec, tc.from, tc.until, col)
					if err != nil || len(cg) != len(w) {
						t.Fatalf("ReadColumn %s: %d points (%v), want %d", col, len(cg), err, len(w))
					}
					for i, p := range cg {
						q := w[i]
						keepColumn(&q, col)
						if p != q {
							t.Fatalf("ReadColumn %s [%d] = %+v, want %+v", col, i, p, q)
						}
					}
				}
			})
		}
	})

	// Write merges into a block WriteBlocks made: a point of an older batch
	// at a new time is added, at a stored time it changes nothing; a newer
	// one replaces.
	t.Run("Write merges into blocks", func(t *testing.T) {
		k := key("blk.rmw", "agg", span)
		stored := blockPoints(k.Path, span, 4, 1, 1) // bins 0..3
		if err := bs.WriteBlocks(ctx, []BlockRow{{BlockKey: k, Data: encode(t, stored), Version: 1700000100 * 1e6}}); err != nil {
			t.Fatal(err)
		}
		older := &rollup.Batch{Source: "agg", Resolution: tenSec, Flush: 1700000050, Points: []rollup.Point{
			pt(k.Path, span, 99), pt(k.Path, span+100, 42)}}
		newer := &rollup.Batch{Source: "agg", Resolution: tenSec, Flush: 1700000200, Points: []rollup.Point{pt(k.Path, span+10, 7)}}
		if err := s.Write(ctx, []*rollup.Batch{older}); err != nil {
			t.Fatal(err)
		}
		// Changed with no newer version: the stored version + 1 µs, so
		// Cassandra keeps this write over the one of the same timestamp.
		if rows, err := bs.ReadBlocks(ctx, []BlockKey{k}); err != nil || len(rows) != 1 || rows[0].Version != 1700000100*1e6+1 {
			t.Errorf("after the older batch: %+v, %v, want version %d", rows, err, int64(1700000100*1e6+1))
		}
		if err := s.Write(ctx, []*rollup.Batch{newer}); err != nil {
			t.Fatal(err)
		}
		got, err := r.Read(ctx, k.Path, tenSec, span, span+n)
		if err != nil {
			t.Fatal(err)
		}
		var sums []float64
		for _, p := range got {
			sums = append(sums, p.Sum)
		}
		want := []float64{stored[0].Sum, 7, stored[2].Sum, stored[3].Sum, 42}
		if fmt.Sprint(sums) != fmt.Sprint(want) {
			t.Errorf("sums %v, want %v (stored bin 0 kept against the older batch, bin 1 from the newer, bin 10 added)", sums, want)
		}
		rows, err := bs.ReadBlocks(ctx, []BlockKey{k})
		if err != nil || len(rows) != 1 || rows[0].Version != 1700000200*1e6 {
			t.Errorf("the merged block: %+v, %v, want version %d", rows, err, int64(1700000200*1e6))
		}
	})
}
