// Command benchload loads bench/query.sh's data set into a consthash store:
// the render series from a TSV that bench/query_data.py wrote alongside the
// same points in whisper files, and a tree of fanout³ leaves for find
// (bench.find.NNN.NNN.NNN), one point each, as the whisper side has them.
//
//	benchload --dsn file:/tmp/q.db --tsv render.tsv --fanout 100 --resolution 10s:2d
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

func main() {
	driver := flag.String("driver", "sqlite", "store driver")
	dsn := flag.String("dsn", "", "store DSN")
	tsv := flag.String("tsv", "", "render series: path<TAB>time<TAB>value lines")
	fanout := flag.Int("fanout", 100, "find tree: fanout³ leaves")
	times := flag.String("resolution", "10s:2d", "the finest resolution of query-api's times")
	flag.Parse()
	res, err := rollup.ParseTimes([]string{*times})
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.Open(store.Config{Driver: *driver, DSN: *dsn})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		log.Fatal(err)
	}
	started := time.Now()
	b := &rollup.Batch{Source: "bench", Resolution: res[0]}
	n := 0
	flush := func() {
		if err := s.Write(ctx, []*rollup.Batch{b}); err != nil {
			log.Fatal(err)
		}
		n += len(b.Points)
		b.Points = b.Points[:0]
	}
	add := func(path string, t int64, v float64) {
		var p rollup.Point
		p.Path, p.Time = path, t
		p.Add(v, 1)
		b.Points = append(b.Points, p)
		if len(b.Points) == 5000 {
			flush()
		}
	}
	f, err := os.Open(*tsv)
	if err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	var last int64
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		t, err1 := strconv.ParseInt(parts[1], 10, 64)
		v, err2 := strconv.ParseFloat(parts[2], 64)
		if len(parts) != 3 || err1 != nil || err2 != nil {
			log.Fatalf("%s: bad line %q", *tsv, sc.Text())
		}
		add(parts[0], t, v)
		last = max(last, t)
	}
	f.Close()
	for i := range *fanout {
		for j := range *fanout {
			for k := range *fanout {
				add(fmt.Sprintf("bench.find.%03d.%03d.%03d", i, j, k), last, 1)
			}
		}
	}
	flush()
	fmt.Fprintf(os.Stderr, "benchload: %d points in %s\n", n, time.Since(started).Round(time.Millisecond))
}
