// Command storedump summarizes what a store holds, through the store's own
// reader (blocks decoded, producers merged as query-api reads them): one TSV
// line per leaf path and resolution,
//
//	seconds  path  sum  count  min  max  bins  first_bin  last_bin  last
//
// (sum and count over every bin, min and max the extremes, last the newest
// bin's last value). bench/pipeline.py checks the stored totals with it.
//
//	storedump --driver sqlite --dsn file:/tmp/x.db --times 10s:1d,1m:7d
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
	"github.com/consthash/consthash/services/query-api/internal/find"
)

func main() {
	driver := flag.String("driver", "sqlite", "store driver")
	dsn := flag.String("dsn", "", "store DSN")
	table := flag.String("table", "", "options.table (SQL) or options.keyspace (Cassandra); empty: the default")
	times := flag.String("times", "", "the resolutions, comma-separated (as in `times`: 10s:1d,1m:7d)")
	workers := flag.Int("workers", 8, "reads at a time")
	flag.Parse()
	res, err := rollup.ParseTimes(strings.Split(*times, ","))
	if err != nil {
		log.Fatal(err)
	}
	cfg := store.Config{Driver: *driver, DSN: *dsn, Options: map[string]string{}}
	switch *driver {
	case "sqlite":
		cfg.Options["connections"] = fmt.Sprint(*workers)
		fallthrough
	case "mysql":
		if *table != "" {
			cfg.Options["table"] = *table
		}
	case "cassandra":
		if *table != "" {
			cfg.Options["keyspace"] = *table
		}
	}
	s, err := store.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		log.Fatal(err)
	}
	r, ok := s.(store.Reader)
	if !ok {
		log.Fatalf("the %s store cannot be read", *driver)
	}
	paths, err := find.Leaves(ctx, r, 0)
	if err != nil {
		log.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for _, rs := range res {
		for range *workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for path := range work {
					pts, err := r.Read(ctx, path, rs, math.MinInt32, math.MaxInt32)
					if err != nil {
						log.Fatal(err)
					}
					if len(pts) == 0 {
						continue
					}
					var sum float64
					var count uint64
					lo, hi := math.Inf(1), math.Inf(-1)
					for _, p := range pts {
						sum += p.Sum
						count += p.Count
						lo, hi = math.Min(lo, p.Min), math.Max(hi, p.Max)
					}
					last := pts[len(pts)-1]
					mu.Lock()
					fmt.Fprintf(out, "%d\t%s\t%v\t%d\t%v\t%v\t%d\t%d\t%d\t%v\n", rs.Seconds(), path, sum, count, lo, hi, len(pts),
						pts[0].Time, last.Time, last.Last)
					mu.Unlock()
				}
			}()
		}
		for _, p := range paths {
			work <- p
		}
		close(work)
		wg.Wait()
		work = make(chan string)
	}
}
