package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/consthash/consthash/pkg/rollup"
)

// cassandraStore keeps points in one table partitioned by (path, resolution,
// bucket) so no partition grows without bound (a bucket holds pointsPerBucket
// steps), clustered by (time, source), written USING TTL from the batch's
// resolution, with TimeWindowCompactionStrategy; and a path index
// partitioned by parent, so children are one partition read.
type cassandraStore struct {
	cluster  *gocql.ClusterConfig
	session  *gocql.Session
	keyspace string
	repl     string
	queues   int
	group    int // rows of different partitions per unlogged batch (1: one statement per partition)
	mu       sync.Mutex
	known    map[string]bool
	fresh    []string
}

func (s *cassandraStore) TakeNewPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.fresh
	s.fresh = nil
	return out
}

// rootParent stands for "no parent" in the path index: Cassandra refuses an
// empty partition key.
const rootParent = "\x00"

func parentKey(p string) string {
	if p == "" {
		return rootParent
	}
	return p
}

// pointsPerBucket is how many steps one partition holds: a day at 10 s.
const pointsPerBucket = 8640

func openCassandra(cfg Config) (*cassandraStore, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("dsn: give the contact points, e.g. cassandra1:9042,cassandra2:9042")
	}
	s := &cassandraStore{keyspace: "consthash", repl: "{'class': 'SimpleStrategy', 'replication_factor': 1}", queues: 64,
		known: map[string]bool{}}
	if k := cfg.Options["keyspace"]; k != "" {
		s.keyspace = k
	}
	if r := cfg.Options["replication"]; r != "" {
		s.repl = r
	}
	s.group = 1
	if g := cfg.Options["batch_partitions"]; g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("options.batch_partitions %q: want a positive number", g)
		}
		s.group = n
	}
	if q := cfg.Options["write_queues"]; q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("options.write_queues %q: want a positive number", q)
		}
		s.queues = n
	}
	c := gocql.NewCluster(strings.Split(cfg.DSN, ",")...)
	c.Consistency = gocql.One
	c.Timeout = 30 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.WriteTimeout = 30 * time.Second
	c.MaxWaitSchemaAgreement = time.Minute
	c.NumConns = 2
	if v := cfg.Options["consistency"]; v != "" {
		cl, err := gocql.ParseConsistencyWrapper(v)
		if err != nil {
			return nil, fmt.Errorf("options.consistency %q: %w", v, err)
		}
		c.Consistency = cl
	}
	s.cluster = c
	return s, nil
}

func (s *cassandraStore) Init(ctx context.Context) error {
	sess, err := s.cluster.CreateSession()
	if err != nil {
		return fmt.Errorf("connecting to Cassandra: %w", err)
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s`, s.keyspace, s.repl),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.points (path text, resolution int, bucket bigint, time bigint, source text,
			sum double, min double, max double, last double, last_at bigint, count bigint,
			PRIMARY KEY ((path, resolution, bucket), time, source))
			WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}`, s.keyspace),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.paths (parent text, path text, leaf boolean, branch boolean, PRIMARY KEY (parent, path))`, s.keyspace),
	} {
		if err := sess.Query(q).ExecContext(ctx); err != nil {
			sess.Close()
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	sess.Close()
	c := *s.cluster
	c.Keyspace = s.keyspace
	s.session, err = c.CreateSession()
	if err != nil {
		return fmt.Errorf("connecting to keyspace %s: %w", s.keyspace, err)
	}
	return nil
}

func bucketOf(res rollup.Resolution, t int64) int64 {
	span := res.Seconds() * pointsPerBucket
	return t - ((t%span)+span)%span
}

// Write groups rows by partition into unlogged batches, spread over write
// queues by partition hash so each series is written in order. Each row is
// written with its batch's version as the write timestamp: Cassandra keeps
// the cells of the newest timestamp whatever order writes arrive in, so a
// redelivered older partial never replaces a later value, with no
// lightweight transaction (rollup.Batch.Version).
func (s *cassandraStore) Write(ctx context.Context, batches []*rollup.Batch) error {
	type row struct {
		b *rollup.Batch
		p *rollup.Point
	}
	type part struct {
		path   string
		res    int64
		bucket int64
	}
	if s.session == nil {
		return errNotInit
	}
	parts := map[part][]row{}
	leaves := map[string]bool{}
	for _, b := range batches {
		for i := range b.Points {
			p := &b.Points[i]
			if !Finite(*p) {
				continue
			}
			k := part{p.Path, b.Resolution.Seconds(), bucketOf(b.Resolution, p.Time)}
			parts[k] = append(parts[k], row{b, p})
			leaves[p.Path] = true
		}
	}
	queues := make([][]part, s.queues)
	for k := range parts {
		h := fnv.New32a()
		h.Write([]byte(k.path))
		queues[h.Sum32()%uint32(s.queues)] = append(queues[h.Sum32()%uint32(s.queues)], k)
	}
	insert := `INSERT INTO points (path, resolution, bucket, time, source, sum, min, max, last, last_at, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`
	var wg sync.WaitGroup
	errs := make(chan error, s.queues)
	for _, q := range queues {
		if len(q) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.group > 1 { // several single-row partitions per batch: fewer round trips
				var singles []part
				for _, k := range q {
					if len(parts[k]) == 1 {
						singles = append(singles, k)
					}
				}
				for start := 0; start < len(singles); start += s.group {
					batch := s.session.Batch(gocql.UnloggedBatch)
					for _, k := range singles[start:min(start+s.group, len(singles))] {
						r := parts[k][0]
						batch.Query(insert, k.path, k.res, k.bucket, r.p.Time, r.b.Source, r.p.Sum, r.p.Min, r.p.Max,
							r.p.Last, r.p.LastAt, int64(r.p.Count), int(r.b.Resolution.TTL/time.Second), r.b.Version())
					}
					if err := batch.ExecContext(ctx); err != nil {
						errs <- fmt.Errorf("writing %d partitions: %w", min(s.group, len(singles)-start), err)
						return
					}
				}
			}
			for _, k := range q {
				rows := parts[k]
				if len(rows) == 1 && s.group > 1 {
					continue // written above
				}
				if len(rows) == 1 { // the usual case: one point per series per batch; no batch wrapper
					r := rows[0]
					err := s.session.Query(insert, k.path, k.res, k.bucket, r.p.Time, r.b.Source, r.p.Sum, r.p.Min, r.p.Max,
						r.p.Last, r.p.LastAt, int64(r.p.Count), int(r.b.Resolution.TTL/time.Second), r.b.Version()).ExecContext(ctx)
					if err != nil {
						errs <- fmt.Errorf("writing (%s, %d, %d): %w", k.path, k.res, k.bucket, err)
						return
					}
					continue
				}
				for start := 0; start < len(rows); start += 100 {
					batch := s.session.Batch(gocql.UnloggedBatch)
					for _, r := range rows[start:min(start+100, len(rows))] {
						ttl := int(r.b.Resolution.TTL / time.Second)
						batch.Query(insert, k.path, k.res, k.bucket, r.p.Time, r.b.Source, r.p.Sum, r.p.Min, r.p.Max, r.p.Last,
							r.p.LastAt, int64(r.p.Count), ttl, r.b.Version())
					}
					if err := batch.ExecContext(ctx); err != nil {
						errs <- fmt.Errorf("writing partition (%s, %d, %d): %w", k.path, k.res, k.bucket, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return s.index(ctx, leaves)
}

func (s *cassandraStore) index(ctx context.Context, leaves map[string]bool) error {
	s.mu.Lock()
	add := newIndexEntries(leaves, s.known)
	s.mu.Unlock()
	// leaf and branch are separate columns set by plain updates: a path that
	// is both keeps both, with no lightweight transaction. Children of one
	// parent share a partition, so they go in one unlogged batch.
	byParent := map[string][]indexEntry{}
	for _, e := range add {
		byParent[e.parent] = append(byParent[e.parent], e)
	}
	for parent, es := range byParent {
		for start := 0; start < len(es); start += 200 {
			batch := s.session.Batch(gocql.UnloggedBatch)
			for _, e := range es[start:min(start+200, len(es))] {
				col := "branch"
				if e.leaf {
					col = "leaf"
				}
				batch.Query("UPDATE paths SET "+col+" = true WHERE parent = ? AND path = ?", parentKey(parent), e.path)
			}
			if err := batch.ExecContext(ctx); err != nil {
				return fmt.Errorf("indexing children of %q: %w", parent, err)
			}
		}
	}
	s.mu.Lock()
	remember(s.known, add)
	for _, e := range add {
		s.fresh = append(s.fresh, e.path)
	}
	s.mu.Unlock()
	return nil
}

// errNotInit is returned when a Cassandra store is used before Init.
var errNotInit = fmt.Errorf("cassandra store: Init was not called")

func (s *cassandraStore) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	return s.ReadColumn(ctx, path, res, from, until, "")
}

func (s *cassandraStore) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	cols, ok := columnSQL[col] // CQL selects columns as SQL does
	if !ok {
		return nil, fmt.Errorf("reading %s: unknown column %q", path, col)
	}
	q := `SELECT time, count, ` + cols + ` FROM points WHERE path = ? AND resolution = ? AND bucket = ? AND time >= ? AND time < ?`
	var out []rollup.Point
	for b := bucketOf(res, from); b < until; b += res.Seconds() * pointsPerBucket {
		it := s.session.Query(q, path, res.Seconds(), b, from, until).PageSize(pointsPerBucket).IterContext(ctx)
		p := rollup.Point{Path: path}
		var count int64
		dst := columnDest(&p, &count, col)
		for it.Scan(dst...) {
			p.Count = uint64(count)
			if n := len(out); n > 0 && out[n-1].Time == p.Time {
				out[n-1].Merge(p)
			} else {
				out = append(out, p)
			}
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return out, nil
}

func (s *cassandraStore) Children(ctx context.Context, parent string) ([]Node, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	it := s.session.Query(`SELECT path, leaf FROM paths WHERE parent = ?`, parentKey(parent)).IterContext(ctx)
	var out []Node
	var n Node
	for it.Scan(&n.Path, &n.Leaf) {
		out = append(out, n)
	}
	// Cassandra sorts clustering keys by their bytes; so does SQL's ORDER BY.
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("listing children of %q: %w", parent, err)
	}
	return out, nil
}

// ChildrenOf lists the children of many parents with one multi-partition
// query (the glob is not used: CQL cannot match it).
func (s *cassandraStore) ChildrenOf(ctx context.Context, parents []string, _ string) (map[string][]Node, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	keys := make([]string, len(parents))
	byKey := make(map[string]string, len(parents))
	for i, p := range parents {
		keys[i] = parentKey(p)
		byKey[keys[i]] = p
	}
	it := s.session.Query(`SELECT parent, path, leaf FROM paths WHERE parent IN ?`, keys).PageSize(10000).IterContext(ctx)
	out := make(map[string][]Node, len(parents))
	var key string
	var n Node
	for it.Scan(&key, &n.Path, &n.Leaf) {
		p := byKey[key]
		out[p] = append(out[p], n)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("listing children: %w", err)
	}
	return out, nil
}

func (s *cassandraStore) Close() error {
	if s.session != nil {
		s.session.Close()
	}
	return nil
}
