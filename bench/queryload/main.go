// Command queryload writes bench/query.sh's data set, the same points twice:
// as whisper files (for graphite-web and go-carbon's carbonserver) and into a
// consthash store (for query-api). Every value comes from one formula, so the
// two sides hold the same data without a file between them.
//
//	queryload --end 1764500000 --whisper /tmp/q/whisper
//	queryload --end 1764500000 --driver sqlite --dsn file:/tmp/q/consthash.db
//	queryload --end 1764500000 --driver cassandra --dsn 127.0.0.1:9042 --keyspace bq123
//	queryload --driver cassandra --dsn 127.0.0.1:9042 --keyspace bq123 --drop
//
// The data set, ending at --end (a multiple of 60):
//   - bench.render.sNN: 100 series (--render-series), one day at 10 s (8,640 points each), whisper archive 10s:2d;
//   - bench.wide.wNNNN: --wide series over --wide-days at --wide-step (1,000 × 7 days at 1 min:
//     10,080 points each, 10.08 million in all), whisper archive <step>:30d;
//   - bench.find.III.JJJ.KKK: fanout³ leaves for find, one point each, whisper archive 1m:1m.
//
// The store gets each set at the resolution query-api's times = ["10s:2d", "1m:30d"] read it at:
// render and find at 10s:2d, wide at <step>:30d.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/consthash/consthash/pkg/rollup"
	"github.com/consthash/consthash/pkg/store"
)

// config is the command line.
type config struct {
	End          int64
	Whisper      string
	Driver       string
	DSN          string
	Keyspace     string
	Drop         bool
	Exists       bool
	Fanout       int
	RenderSeries int
	WideSeries   int
	WideDays     int
	WideStep     time.Duration
	BatchSize    int
	LastAt       string
}

// Validate names the flag that is wrong.
func (c config) Validate() error {
	switch {
	case !c.Drop && !c.Exists && c.End <= 0:
		return errors.New("--end: give the data set's end, unix seconds")
	case c.End%60 != 0:
		return fmt.Errorf("--end %d: want a multiple of 60", c.End)
	case !c.Drop && !c.Exists && c.Whisper == "" && c.Driver == "":
		return errors.New("give --whisper DIR, --driver and --dsn, or both")
	case c.Driver != "" && c.DSN == "":
		return errors.New("--dsn: needed with --driver")
	case c.Drop && (c.Driver != "cassandra" || c.Keyspace == ""):
		return errors.New("--drop: drops --keyspace of --driver cassandra, give both")
	case c.Exists && (c.Driver != "cassandra" || c.Keyspace == ""):
		return errors.New("--exists: looks for --keyspace of --driver cassandra, give both")
	case c.Fanout < 0 || c.Fanout > 1000:
		return fmt.Errorf("--fanout %d: want 0..1000", c.Fanout)
	case c.RenderSeries < 1 || c.RenderSeries > 100:
		return fmt.Errorf("--render-series %d: want 1..100", c.RenderSeries)
	case c.WideSeries < 0 || c.WideSeries > 10000:
		return fmt.Errorf("--wide-series %d: want 0..10000", c.WideSeries)
	case c.WideDays < 1 || c.WideDays > 29:
		return fmt.Errorf("--wide-days %d: want 1..29 (the wide archive keeps 30 days)", c.WideDays)
	case c.WideStep < time.Minute || c.WideStep%time.Minute != 0 || (24*time.Hour)%c.WideStep != 0:
		return fmt.Errorf("--wide-step %s: want whole minutes dividing a day", c.WideStep)
	case c.BatchSize < 1:
		return fmt.Errorf("--batch %d: want at least 1", c.BatchSize)
	case c.LastAt != "bin-end" && c.LastAt != "arrival":
		return fmt.Errorf("--last-at %q: want bin-end or arrival", c.LastAt)
	}
	return nil
}

func main() {
	var c config
	flag.Int64Var(&c.End, "end", 0, "end of the data set, unix seconds, a multiple of 60 (the last point is a step before it)")
	flag.StringVar(&c.Whisper, "whisper", "", "write whisper files under this directory")
	flag.StringVar(&c.Driver, "driver", "", "load a consthash store: sqlite, mysql or cassandra")
	flag.StringVar(&c.DSN, "dsn", "", "the store's DSN")
	flag.StringVar(&c.Keyspace, "keyspace", "", "cassandra: the keyspace (default: the store's)")
	flag.BoolVar(&c.Drop, "drop", false, "cassandra: drop --keyspace and exit")
	flag.BoolVar(&c.Exists, "exists", false, "cassandra: exit 0 if --keyspace has the data set's table, 1 if not (a node started empty)")
	flag.IntVar(&c.Fanout, "fanout", 100, "find tree: fanout³ leaves")
	flag.IntVar(&c.RenderSeries, "render-series", 100, "render set: this many series (a test's fewer)")
	flag.IntVar(&c.WideSeries, "wide-series", 1000, "wide set: this many series")
	flag.IntVar(&c.WideDays, "wide-days", 7, "wide set: this many days")
	flag.DurationVar(&c.WideStep, "wide-step", time.Minute, "wide set: the step (whole minutes)")
	flag.IntVar(&c.BatchSize, "batch", 20000, "points per store write")
	flag.StringVar(&c.LastAt, "last-at", "bin-end", "the stores' last_at of a point: bin-end (a statsd flush: the bin's end, as the aggregator writes it)\n"+
		"or arrival (a graphite line's arrival in nanoseconds: each series' sender at its own phase in the bin, give or take 20 ms)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := c.Validate(); err != nil {
		log.Error("queryload: bad flags", "err", err)
		os.Exit(2)
	}
	if err := run(c, log); err != nil {
		log.Error("queryload", "err", err)
		os.Exit(1)
	}
}

func run(c config, log *slog.Logger) error {
	if c.Drop {
		return dropKeyspace(c.DSN, c.Keyspace)
	}
	if c.Exists {
		return keyspaceExists(c.DSN, c.Keyspace)
	}
	if c.Whisper != "" {
		started := time.Now()
		n, err := writeWhisper(c)
		if err != nil {
			return err
		}
		log.Info("queryload: whisper files written", "dir", c.Whisper, "files", n, "took", time.Since(started).Round(time.Millisecond))
	}
	if c.Driver != "" {
		started := time.Now()
		n, err := load(c)
		if err != nil {
			return err
		}
		took := time.Since(started)
		log.Info("queryload: store loaded", "driver", c.Driver, "points", n, "took", took.Round(time.Millisecond),
			"points_per_s", int(float64(n)/took.Seconds()))
	}
	return nil
}

// series is one set of the data set: its paths, step, points and value.
type series struct {
	name   string
	paths  int
	path   func(k int) string
	step   int64 // seconds
	points int   // per path, ending a step before the end
	value  func(k, i int) float64
	// whisper archive: seconds per point and points kept
	archStep, archPoints int64
	res                  string // the store's resolution
}

func sets(c config) []series {
	wstep := int64(c.WideStep / time.Second)
	return []series{
		{name: "render", paths: c.RenderSeries, path: func(k int) string { return fmt.Sprintf("bench.render.s%02d", k) },
			step: 10, points: 8640, value: func(k, i int) float64 { return float64((i*37+k*11)%1000) / 10 },
			archStep: 10, archPoints: 2 * 8640, res: "10s:2d"},
		{name: "wide", paths: c.WideSeries, path: func(k int) string { return fmt.Sprintf("bench.wide.w%04d", k) },
			step: wstep, points: int(int64(c.WideDays) * 86400 / wstep),
			value:    func(k, i int) float64 { return float64((i*13+k*7)%500) / 4 },
			archStep: wstep, archPoints: 30 * 86400 / wstep, res: fmt.Sprintf("%dm:30d", wstep/60)},
		{name: "find", paths: c.Fanout * c.Fanout * c.Fanout, path: func(k int) string {
			f := c.Fanout
			return fmt.Sprintf("bench.find.%03d.%03d.%03d", k/(f*f), k/f%f, k%f)
		}, step: 60, points: 1, value: func(int, int) float64 { return 1 }, archStep: 60, archPoints: 1, res: "10s:2d"},
	}
}

// writeWhisper writes one whisper file per path (whisper's format: a header,
// one archive, big-endian points; slot i holds the i-th point, so the
// archive's base is the first point). Files are sparse past the points.
func writeWhisper(c config) (int, error) {
	files := 0
	for _, s := range sets(c) {
		first := c.End - int64(s.points)*s.step
		for k := range s.paths {
			name := filepath.Join(c.Whisper, filepath.FromSlash(strings.ReplaceAll(s.path(k), ".", "/"))+".wsp")
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return files, err
			}
			const header = 16 + 12
			buf := make([]byte, header+12*s.points)
			binary.BigEndian.PutUint32(buf[0:], 1) // average
			binary.BigEndian.PutUint32(buf[4:], uint32(s.archStep*s.archPoints))
			binary.BigEndian.PutUint32(buf[8:], math.Float32bits(0.5))
			binary.BigEndian.PutUint32(buf[12:], 1)
			binary.BigEndian.PutUint32(buf[16:], header)
			binary.BigEndian.PutUint32(buf[20:], uint32(s.archStep))
			binary.BigEndian.PutUint32(buf[24:], uint32(s.archPoints))
			for i := range s.points {
				o := header + 12*i
				binary.BigEndian.PutUint32(buf[o:], uint32(first+int64(i)*s.step))
				binary.BigEndian.PutUint64(buf[o+4:], math.Float64bits(s.value(k, i)))
			}
			if err := writeSparse(name, buf, header+12*s.archPoints); err != nil {
				return files, err
			}
			files++
		}
	}
	return files, nil
}

func writeSparse(name string, buf []byte, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lastAt is the last_at, in unix nanoseconds, of series k's point of the
// bin at t (step seconds) as the aggregator writes it: the bin's end for a
// statsd flush (aggregator: LastAt = binEnd), or a graphite line's arrival:
// series k's sender sends at its own phase in every bin, give or take 20 ms
// (both deterministic, so every store gets the same points). Whisper keeps
// no last_at; a block keeps it exactly (pkg/block).
func lastAt(shape string, k int, t, step int64) int64 {
	if shape == "bin-end" {
		return (t + step) * 1e9
	}
	h := uint64(k)*0x9e3779b97f4a7c15 ^ uint64(t)*0xbf58476d1ce4e5b9
	h ^= h >> 31
	phase := int64(uint64(k)*7919%uint64(step*1000)) * 1e6 // ms into the bin
	jitter := int64(h%40_000_000) - 20_000_000
	return t*1e9 + min(max(phase+jitter, 0), step*1e9-1)
}

// load writes every set into the store, a batch of about c.BatchSize points
// per write, each path's points in time order.
func load(c config) (int, error) {
	cfg := store.Config{Driver: c.Driver, DSN: c.DSN}
	if c.Keyspace != "" {
		cfg.Options = map[string]string{"keyspace": c.Keyspace}
	}
	st, err := store.Open(cfg)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Init(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range sets(c) {
		res, err := rollup.ParseTimes([]string{s.res})
		if err != nil {
			return n, err
		}
		b := &rollup.Batch{Source: "bench", Resolution: res[0]}
		flush := func() error {
			if len(b.Points) == 0 {
				return nil
			}
			if err := st.Write(ctx, []*rollup.Batch{b}); err != nil {
				return fmt.Errorf("writing %s: %w", s.name, err)
			}
			n += len(b.Points)
			b.Points = b.Points[:0]
			return nil
		}
		first := c.End - int64(s.points)*s.step
		for k := range s.paths {
			path := s.path(k)
			for i := range s.points {
				var p rollup.Point
				p.Path, p.Time = path, first+int64(i)*s.step
				p.Add(s.value(k, i), lastAt(c.LastAt, k, p.Time, s.step))
				b.Points = append(b.Points, p)
			}
			if len(b.Points) >= c.BatchSize {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// cassandraSession connects to the nodes of dsn (host:port,...) outside
// any keyspace.
func cassandraSession(dsn string) (*gocql.Session, error) {
	cl := gocql.NewCluster(strings.Split(dsn, ",")...)
	cl.Timeout = time.Minute
	return cl.CreateSession()
}

// keyspaceExists returns an error unless keyspace has the render set's
// table (blocks_10s): scripts/cassandra.sh empties the node when it starts
// it, so a data set loaded before may be gone.
func keyspaceExists(dsn, keyspace string) error {
	s, err := cassandraSession(dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	var n int
	if err := s.Query(`SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'blocks_10s'`,
		keyspace).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("keyspace %s has no data set (no table blocks_10s)", keyspace)
	}
	return nil
}

func dropKeyspace(dsn, keyspace string) error {
	s, err := cassandraSession(dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec()
}
