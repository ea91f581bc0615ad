// Package store is consthash's storage of rollup points: the one place that
// owns the schema. Writers write batches; query-api reads points merged over
// their producers and finds paths level by level in the path index.
// Drivers: "cassandra", "sqlite" and "mysql" (one sqlx implementation),
// "file" (TSV).
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/consthash/consthash/pkg/rollup"
)

// Config selects and configures a driver (the seed's driver + dsn + options).
type Config struct {
	Driver  string            `toml:"driver"` // cassandra, sqlite, mysql, file
	DSN     string            `toml:"dsn"`
	Options map[string]string `toml:"options"` // per driver, see docs/writer.md
}

// Store is what writers and readers use.
type Store interface {
	// Init creates what the store needs (idempotent).
	Init(ctx context.Context) error
	// Write stores the points of the batches: one row per (path, resolution,
	// time, source), overwritten when written again.
	Write(ctx context.Context, batches []*rollup.Batch) error
	// Close releases the store.
	Close() error
}

// Reader is what query-api reads through; the SQL and Cassandra stores
// implement it (files are write-only). One interface, no optional ones: every
// reader lists many parents at once and reads single columns.
type Reader interface {
	// Read returns the points of path at resolution with from <= time < until,
	// merged over sources, in time order.
	Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error)
	// ReadColumn is Read for fewer columns: its points carry time, count and
	// what col needs ("sum", "min", "max", "last" with its time, "mean": sum
	// and count; "": all, as Read), merged over sources like Read's; other
	// fields are zero. Reading less is faster where decoding rows is the cost
	// (SQLite).
	ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error)
	// ReadMany reads many series of one resolution onto the same steps,
	// without a point per bin, in as few queries as the store allows:
	// reads[i].Vals[j] gets the value that answers reads[i].Col
	// (pkg/bus.Value: "sum", "min", "max", "last", "mean" or "": sum/count)
	// of the bin that starts at start + j×res.Seconds(), merged over sources
	// like ReadColumn's points; bins with no point get NaN. It is how
	// query-api reads a request's series.
	ReadMany(ctx context.Context, res rollup.Resolution, start int64, reads []SeriesRead) error
	// Children returns the direct children of a path prefix ("" for the
	// roots): their full paths and whether each is a leaf (has points).
	Children(ctx context.Context, parent string) ([]Node, error)
	// ChildrenOf lists the children of many parents at once (a glob's level);
	// parents without children are absent. glob, unless "", is an SQLite GLOB
	// pattern over a child's last level (or over its name before ";tags"); a
	// store may use it to skip children that cannot match, so callers still
	// match what they get.
	ChildrenOf(ctx context.Context, parents []string, glob string) (map[string][]Node, error)
}

// SeriesRead is one series of Reader.ReadMany: its path, the column that
// answers it, and the values to fill, one per step.
type SeriesRead struct {
	Path string
	Col  string
	Vals []float64
}

// columnSQL names the columns ReadColumn knows and the fields each needs
// after time and count ("": all of them, for Read).
var columnSQL = map[string]string{"": "sum, min, max, last, last_at", "sum": "sum", "mean": "sum", "min": "min", "max": "max", "last": "last, last_at"}

// Indexer is implemented by stores with a path index: TakeNewPaths returns
// (and forgets) the paths earlier writes added to the index, leaves and
// parents, so a writer can announce them.
type Indexer interface {
	TakeNewPaths() []string
}

// Node is an entry of the path index.
type Node struct {
	Path string
	Leaf bool
}

// ErrUnknownDriver is returned by Open for a driver it does not know.
var ErrUnknownDriver = errors.New("unknown storage driver")

// Open returns the store the configuration names; Init must follow.
func Open(cfg Config) (Store, error) {
	switch cfg.Driver {
	case "sqlite", "mysql":
		return openSQL(cfg)
	case "file":
		return openFile(cfg)
	case "cassandra":
		return openCassandra(cfg)
	}
	return nil, fmt.Errorf("%w %q: want cassandra, sqlite, mysql or file", ErrUnknownDriver, cfg.Driver)
}

// Validate checks cfg without connecting anywhere: the driver, the names and
// values of its options, the form of its DSN. Services call it from their
// configuration's Validate, so --check-config catches a bad option.
func (c Config) Validate() error {
	known := map[string][]string{"sqlite": {"table", "connections"}, "mysql": {"table"}, "file": {"max_file_size"},
		"cassandra": {"keyspace", "replication", "batch_partitions", "batch_bytes", "write_queues", "consistency"}}
	names, ok := known[c.Driver]
	if !ok {
		return fmt.Errorf("%w %q: want cassandra, sqlite, mysql or file", ErrUnknownDriver, c.Driver)
	}
	for k := range c.Options {
		if !slices.Contains(names, k) {
			return fmt.Errorf("options.%s: unknown option of %s (it has %s)", k, c.Driver, strings.Join(names, ", "))
		}
	}
	s, err := Open(c) // opening parses; connecting is Init's
	if err != nil {
		return err
	}
	return s.Close()
}

// Finite reports whether a point can be stored: SQL databases and files take
// no NaN or infinities. Writers count and log the others and store the rest.
func Finite(p rollup.Point) bool {
	for _, v := range []float64{p.Sum, p.Min, p.Max, p.Last} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// parents returns the parents of a dotted path, nearest last: a.b.c gives a, a.b.
func parents(path string) []string {
	name, _, _ := strings.Cut(path, ";") // tags are not levels
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			out = append(out, name[:i])
		}
	}
	return out
}

// indexEntry is a path to add to an index: a leaf (it has points) or a branch.
type indexEntry struct {
	path, parent string
	leaf         bool
}

// newIndexEntries returns the leaves among paths, and their parents, that
// known does not hold yet, each once. known maps an indexed path to whether
// it is indexed as a leaf: a path known as a branch that now has points comes
// back as a leaf, and a path that is a leaf and a parent of another in the
// same batch is one leaf entry.
func newIndexEntries(paths map[string]bool, known map[string]bool) []indexEntry {
	var add []indexEntry
	at := map[string]int{}
	for p := range paths {
		if known[p] {
			continue
		}
		ps := parents(p)
		if i, ok := at[p]; ok {
			add[i].leaf = true
		} else {
			parent := ""
			if len(ps) > 0 {
				parent = ps[len(ps)-1]
			}
			at[p] = len(add)
			add = append(add, indexEntry{p, parent, true})
		}
		for i, par := range ps {
			if _, ok := known[par]; ok {
				continue
			}
			if _, ok := at[par]; ok {
				continue
			}
			pp := ""
			if i > 0 {
				pp = ps[i-1]
			}
			at[par] = len(add)
			add = append(add, indexEntry{par, pp, false})
		}
	}
	return add
}

// remember records added entries in known and returns the paths new to
// it (or new as leaves) to announce. Two writes that index the same path
// side by side (the writer's IndexPaths beside a WriteBlocks) both write its
// rows, which is harmless, and the first to remember it announces it: each
// path is announced once.
func remember(known map[string]bool, added []indexEntry) []string {
	var fresh []string
	for _, e := range added {
		leaf, ok := known[e.path]
		if ok && (leaf || !e.leaf) {
			continue
		}
		known[e.path] = e.leaf
		fresh = append(fresh, e.path)
	}
	return fresh
}

// The stores that answer queries implement the whole Reader, and keep
// blocks.
var (
	_ Reader     = (*sqlStore)(nil)
	_ Reader     = (*cassandraStore)(nil)
	_ BlockStore = (*sqlStore)(nil)
	_ BlockStore = (*cassandraStore)(nil)
)
