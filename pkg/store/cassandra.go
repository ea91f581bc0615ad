package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/consthash/consthash/pkg/rollup"
)

// cassandraStore keeps blocks in a table per resolution,
// `blocks_{seconds}s (path, span, source, data)`, partitioned by path and
// clustered by (span, source), written USING TTL from the resolution and
// with the block's version as the write timestamp, compacted by
// TimeWindowCompactionStrategy with the span as window; a path index
// partitioned by parent, so children are one partition read; and `meta`,
// whose schema_version row records the format.
type cassandraStore struct {
	cluster    *gocql.ClusterConfig
	session    *gocql.Session
	keyspace   string
	repl       string
	queues     int
	group      int // blocks per unlogged batch (1: one statement each)
	groupBytes int // and block bytes per batch (a larger block goes alone)
	mu         sync.Mutex
	tables     map[int64]bool
	known      map[string]bool
	fresh      []string
	horizon    horizonCache
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

func openCassandra(cfg Config) (*cassandraStore, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("dsn: give the contact points, e.g. cassandra1:9042,cassandra2:9042")
	}
	s := &cassandraStore{keyspace: "consthash", repl: "{'class': 'SimpleStrategy', 'replication_factor': 1}", queues: 16,
		group: 10, groupBytes: 40 << 10, known: map[string]bool{}, tables: map[int64]bool{}}
	if k := cfg.Options["keyspace"]; k != "" {
		s.keyspace = k
	}
	if r := cfg.Options["replication"]; r != "" {
		s.repl = r
	}
	if g := cfg.Options["batch_partitions"]; g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("options.batch_partitions %q: want a positive number", g)
		}
		s.group = n
	}
	if g := cfg.Options["batch_bytes"]; g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("options.batch_bytes %q: want a positive number of bytes", g)
		}
		s.groupBytes = n
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
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.paths (parent text, path text, leaf boolean, branch boolean, PRIMARY KEY (parent, path))`, s.keyspace),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.meta (name text PRIMARY KEY, value bigint)`, s.keyspace),
	} {
		if err := sess.Query(q).ExecContext(ctx); err != nil {
			sess.Close()
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	applied, err := sess.Query(fmt.Sprintf(`INSERT INTO %s.meta (name, value) VALUES ('schema_version', %d) IF NOT EXISTS`, s.keyspace, SchemaVersion)).
		MapScanCASContext(ctx, map[string]any{})
	if err != nil {
		sess.Close()
		return fmt.Errorf("creating the schema: %w", err)
	}
	if applied {
		// A new keyspace: its horizons are kept from now (BlockStore.Horizons).
		if err := sess.Query(fmt.Sprintf(`INSERT INTO %s.meta (name, value) VALUES ('%s', 1)`, s.keyspace, horizonsName)).ExecContext(ctx); err != nil {
			sess.Close()
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	var v int64
	if err := sess.Query(fmt.Sprintf(`SELECT value FROM %s.meta WHERE name = 'schema_version'`, s.keyspace)).
		Consistency(gocql.Serial).ScanContext(ctx, &v); err != nil {
		sess.Close()
		return fmt.Errorf("reading the schema version: %w", err)
	}
	sess.Close()
	if v != SchemaVersion {
		return fmt.Errorf("%s.meta: schema_version %d, this build reads %d (no migration before 1.0: use a new keyspace)", s.keyspace, v, SchemaVersion)
	}
	c := *s.cluster
	c.Keyspace = s.keyspace
	s.session, err = c.CreateSession()
	if err != nil {
		return fmt.Errorf("connecting to keyspace %s: %w", s.keyspace, err)
	}
	return nil
}

// ensureTable creates the block table of a resolution: TWCS with windows of
// one span (spans are whole minutes: 720 steps of whole seconds), so a
// window's SSTables hold blocks of one span and expire together.
func (s *cassandraStore) ensureTable(ctx context.Context, seconds int64) error {
	if s.session == nil {
		return errNotInit
	}
	s.mu.Lock()
	done := s.tables[seconds]
	s.mu.Unlock()
	if done {
		return nil
	}
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS blocks_%ds (path text, span bigint, source text, data blob,
		PRIMARY KEY (path, span, source))
		WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'MINUTES', 'compaction_window_size': %d}`,
		seconds, seconds*BlockPoints/60)
	if err := s.session.Query(q).ExecContext(ctx); err != nil {
		return fmt.Errorf("creating table blocks_%ds: %w", seconds, err)
	}
	s.mu.Lock()
	s.tables[seconds] = true
	s.mu.Unlock()
	return nil
}

// Write merges the finite points of the batches into their blocks: it reads
// the blocks the points fall in, merges (blockUpdate.apply) and writes back
// what changed. There is no transaction: two writers merging into one block
// at the same moment can lose one's points, so a series must have one writer
// at a time (docs/storage-blocks.md).
func (s *cassandraStore) Write(ctx context.Context, batches []*rollup.Batch) error {
	if s.session == nil {
		return errNotInit
	}
	ups, keys := groupBlocks(batches)
	if len(keys) == 0 {
		return nil
	}
	stored, err := s.ReadBlocks(ctx, keys)
	if err != nil {
		return err
	}
	rows, err := mergeBlocks(ups, keys, stored)
	if err != nil {
		return err
	}
	return s.WriteBlocks(ctx, rows)
}

// WriteBlocks writes each block USING TTL (its resolution's, counted from
// this write: the last write of a span comes near its end) AND TIMESTAMP
// (its version), so the newest version wins whatever order writes arrive
// in, with no lightweight transaction. Blocks are spread over write_queues
// goroutines by a hash of the path and go batch_partitions (10) at a time,
// up to batch_bytes (40 KiB) of block data, per unlogged batch: a statement
// each took twice the time (BenchmarkPersistBlocks), and Cassandra refuses
// a batch above batch_size_fail_threshold (50 KiB by default) and warns of
// one over more than 10 partitions.
func (s *cassandraStore) WriteBlocks(ctx context.Context, rows []BlockRow) error {
	if s.session == nil {
		return errNotInit
	}
	if len(rows) == 0 {
		return nil
	}
	// The horizons first: a block beyond the stored horizon is not read
	// before its first write.
	raise := s.horizon.toRaise(rows)
	for k, span := range raise {
		if err := s.RaiseHorizon(ctx, k, span); err != nil {
			return err
		}
	}
	s.horizon.done(raise)
	queues := make([][]*BlockRow, s.queues)
	leaves := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		if err := s.ensureTable(ctx, r.Res.Seconds()); err != nil {
			return err
		}
		h := fnv.New32a()
		h.Write([]byte(r.Path))
		q := h.Sum32() % uint32(s.queues)
		queues[q] = append(queues[q], r)
		leaves[r.Path] = true
	}
	insert := func(r *BlockRow) (string, []any) {
		return fmt.Sprintf(`INSERT INTO blocks_%ds (path, span, source, data) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`, r.Res.Seconds()),
			[]any{r.Path, r.Span, r.Source, r.Data, int(r.Res.TTL / time.Second), r.Version}
	}
	var wg sync.WaitGroup
	errs := make(chan error, s.queues)
	for _, q := range queues {
		if len(q) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := 0; start < len(q); {
				end, size := start+1, len(q[start].Data)
				for end < len(q) && end-start < s.group && size+len(q[end].Data) <= s.groupBytes {
					size += len(q[end].Data)
					end++
				}
				chunk := q[start:end]
				start = end
				var err error
				if len(chunk) == 1 {
					stmt, args := insert(chunk[0])
					err = s.session.Query(stmt, args...).ExecContext(ctx)
				} else {
					batch := s.session.Batch(gocql.UnloggedBatch)
					for _, r := range chunk {
						stmt, args := insert(r)
						batch.Query(stmt, args...)
					}
					err = batch.ExecContext(ctx)
				}
				if err != nil {
					errs <- fmt.Errorf("writing %d blocks (%s ...): %w", len(chunk), chunk[0].Path, err)
					return
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

// Horizons reads the horizon rows of the meta table (BlockStore).
func (s *cassandraStore) Horizons(ctx context.Context) (Horizons, error) {
	if s.session == nil {
		return Horizons{}, errNotInit
	}
	var names []string
	var values []int64
	it := s.session.Query(`SELECT name, value FROM meta`).IterContext(ctx)
	var n string
	var v int64
	for it.Scan(&n, &v) {
		names, values = append(names, n), append(values, v)
	}
	if err := it.Close(); err != nil {
		return Horizons{}, fmt.Errorf("reading the horizons from %s.meta: %w", s.keyspace, err)
	}
	return parseHorizons(names, values), nil
}

// RaiseHorizon writes span with the write timestamp span × 10⁶: of the
// values written, the newest timestamp (the largest span) wins, with no
// read and no lightweight transaction (BlockStore).
func (s *cassandraStore) RaiseHorizon(ctx context.Context, k HorizonKey, span int64) error {
	if s.session == nil {
		return errNotInit
	}
	if err := s.session.Query(`INSERT INTO meta (name, value) VALUES (?, ?) USING TIMESTAMP ?`, horizonName(k), span, span*1e6).
		ExecContext(ctx); err != nil {
		return fmt.Errorf("raising the horizon %s in %s.meta: %w", horizonName(k), s.keyspace, err)
	}
	return nil
}

// readPaths is how many partitions (paths) one block query asks for.
const readPaths = 50

// ReadBlocks selects the blocks of keys with multi-partition queries of up
// to readPaths paths (`path IN ? AND span IN ? AND source IN ?`), a few at a
// time, keeping the rows asked for; the version is the write timestamp.
func (s *cassandraStore) ReadBlocks(ctx context.Context, keys []BlockKey) ([]BlockRow, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	type id struct {
		path   string
		span   int64
		source string
	}
	type query struct {
		secs                   int64
		paths, sources         []string
		spans                  []int64
		want                   map[id]BlockKey
		seenP, seenS, seenSpan map[any]bool
	}
	var queries []*query
	open := map[int64]*query{}
	for _, k := range keys {
		secs := k.Res.Seconds()
		if err := s.ensureTable(ctx, secs); err != nil {
			return nil, err
		}
		q := open[secs]
		if q == nil || len(q.paths) >= readPaths && !q.seenP[k.Path] {
			q = &query{secs: secs, want: map[id]BlockKey{}, seenP: map[any]bool{}, seenS: map[any]bool{}, seenSpan: map[any]bool{}}
			open[secs] = q
			queries = append(queries, q)
		}
		q.want[id{k.Path, k.Span, k.Source}] = k
		if !q.seenP[k.Path] {
			q.seenP[k.Path] = true
			q.paths = append(q.paths, k.Path)
		}
		if !q.seenSpan[k.Span] {
			q.seenSpan[k.Span] = true
			q.spans = append(q.spans, k.Span)
		}
		if !q.seenS[k.Source] {
			q.seenS[k.Source] = true
			q.sources = append(q.sources, k.Source)
		}
	}
	var mu sync.Mutex
	var out []BlockRow
	var firstErr error
	work := make(chan *query)
	var wg sync.WaitGroup
	for range min(len(queries), 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				stmt := fmt.Sprintf(`SELECT path, span, source, data, WRITETIME(data) FROM blocks_%ds WHERE path IN ? AND span IN ? AND source IN ?`, q.secs)
				it := s.session.Query(stmt, q.paths, q.spans, q.sources).PageSize(1000).IterContext(ctx)
				var got []BlockRow
				var i id
				var data []byte
				var version int64
				for it.Scan(&i.path, &i.span, &i.source, &data, &version) {
					if k, ok := q.want[i]; ok {
						got = append(got, BlockRow{BlockKey: k, Data: data, Version: version})
					}
					data = nil // Scan reuses a non-nil slice
				}
				err := it.Close()
				mu.Lock()
				out = append(out, got...)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("reading %d blocks from blocks_%ds: %w", len(q.want), q.secs, err)
				}
				mu.Unlock()
			}
		}()
	}
	for _, q := range queries {
		work <- q
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// IndexPaths adds the paths the index does not hold yet (BlockStore).
func (s *cassandraStore) IndexPaths(ctx context.Context, paths []string) error {
	if s.session == nil {
		return errNotInit
	}
	leaves := make(map[string]bool, len(paths))
	for _, p := range paths {
		leaves[p] = true
	}
	return s.index(ctx, leaves)
}

func (s *cassandraStore) index(ctx context.Context, leaves map[string]bool) error {
	s.mu.Lock()
	add := newIndexEntries(leaves, s.known)
	s.mu.Unlock()
	// leaf and branch are separate columns set by plain updates: a path that
	// is both keeps both, with no lightweight transaction. Children of one
	// parent share a partition, so they go in unlogged batches of up to
	// indexBatch, write_queues of them at a time: one after another, the
	// 200,000 new paths of a cold start held the writer's every persist.
	byParent := map[string][]indexEntry{}
	for _, e := range add {
		byParent[e.parent] = append(byParent[e.parent], e)
	}
	type job struct {
		parent string
		es     []indexEntry
	}
	var jobs []job
	for parent, es := range byParent {
		for chunk := range slices.Chunk(es, indexBatch) {
			jobs = append(jobs, job{parent, chunk})
		}
	}
	work := make(chan job)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(s.queues, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				batch := s.session.Batch(gocql.UnloggedBatch)
				for _, e := range j.es {
					col := "branch"
					if e.leaf {
						col = "leaf"
					}
					batch.Query("UPDATE paths SET "+col+" = true WHERE parent = ? AND path = ?", parentKey(j.parent), e.path)
				}
				if err := batch.ExecContext(ctx); err != nil {
					select {
					case errs <- fmt.Errorf("indexing children of %q: %w", j.parent, err):
					default:
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	s.mu.Lock()
	s.fresh = append(s.fresh, remember(s.known, add)...)
	s.mu.Unlock()
	return nil
}

// indexBatch bounds the path index rows of one unlogged batch (one
// partition: the children of one parent).
const indexBatch = 50

// errNotInit is returned when a Cassandra store is used before Init.
var errNotInit = fmt.Errorf("cassandra store: Init was not called")

func (s *cassandraStore) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	return s.ReadColumn(ctx, path, res, from, until, "")
}

// ReadColumn reads the blocks of path whose spans overlap [from, until) (one
// partition, in (span, source) order) and decodes the points in the range.
func (s *cassandraStore) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	if _, ok := columnSQL[col]; !ok {
		return nil, fmt.Errorf("reading %s: unknown column %q", path, col)
	}
	rr := rangeReader{path: path, from: from, until: until, col: col}
	if _, err := s.scanBlocks(ctx, path, res, from, until, func(source, data []byte) (bool, error) {
		return true, rr.add(string(source), data)
	}); err != nil {
		return nil, err
	}
	return rr.points(), nil
}

// ReadMany reads the blocks of up to readPaths paths (partitions) a query
// (`path IN ?`, each partition in (span, source) order), one query after
// the other (callers read side by side), and decodes them onto the reads'
// values while a path's blocks come from one producer; a path with several
// is read again alone and merged (manyFiller).
func (s *cassandraStore) ReadMany(ctx context.Context, res rollup.Resolution, start int64, reads []SeriesRead) error {
	if s.session == nil {
		return errNotInit
	}
	m, err := newManyFiller(res, start, reads)
	if err != nil || m.end <= start {
		return err
	}
	if err := s.ensureTable(ctx, res.Seconds()); err != nil {
		return err
	}
	q := fmt.Sprintf(`SELECT path, source, data FROM blocks_%ds WHERE path IN ? AND span >= ? AND span < ?`, res.Seconds())
	paths := m.paths()
	for len(paths) > 0 {
		chunk := paths[:min(len(paths), readPaths)]
		paths = paths[len(chunk):]
		it := s.session.Query(q, chunk, SpanOf(res, start), m.end).PageSize(1000).IterContext(ctx)
		var path, source, data []byte
		for it.Scan(&path, &source, &data) {
			if err := m.add(path, source, data); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("reading %d series (%s ...): %w", len(chunk), chunk[0], err)
		}
	}
	return m.readAgain(ctx, res, s.scanBlocks)
}

// scanBlocks calls fn with the blocks of path whose spans overlap [from,
// until), in (span, source) order (one partition's clustering order), until
// fn returns false (then so does scanBlocks). fn's slices are reused by the
// next block.
func (s *cassandraStore) scanBlocks(ctx context.Context, path string, res rollup.Resolution, from, until int64, fn func(source, data []byte) (bool, error)) (bool, error) {
	if s.session == nil {
		return false, errNotInit
	}
	if from >= until {
		return true, nil
	}
	if err := s.ensureTable(ctx, res.Seconds()); err != nil {
		return false, err
	}
	q := fmt.Sprintf(`SELECT source, data FROM blocks_%ds WHERE path = ? AND span >= ? AND span < ?`, res.Seconds())
	it := s.session.Query(q, path, SpanOf(res, from), until).PageSize(100).IterContext(ctx)
	var source, data []byte
	for it.Scan(&source, &data) {
		more, err := fn(source, data)
		if err != nil || !more {
			it.Close()
			return false, err
		}
	}
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
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
