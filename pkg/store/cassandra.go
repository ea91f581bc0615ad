package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/consthash/consthash/pkg/rollup"
)

// cassandraStore keeps blocks in a table per resolution,
// `blocks_{seconds}s (parent, span, bucket, path, source, data)`, a
// partition per (parent, span, bucket) clustered by (path, source): the
// blocks of one span of a parent's children (of one bucket of them,
// partition_buckets) are one partition, so a render of siblings
// (`a.b.*`) reads a partition or two, not one per series, and a partition
// lives in one compaction window. Blocks are written USING TTL from the
// resolution and with the block's version as the write timestamp,
// compacted by TimeWindowCompactionStrategy with the span as window; a path
// index partitioned by parent, so children are one partition read; and
// `meta`, whose rows record the format (schema_version), the bucket count,
// the horizons and the floors (the earliest span written, per resolution).
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
	buckets    int  // partition_buckets: fixed when the keyspace is created
	bucketsSet bool // configured (else the keyspace's count is used)
	known      map[string]bool
	fresh      []string
	horizon    horizonCache
	floor      floorCache
}

func (s *cassandraStore) TakeNewPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.fresh
	s.fresh = nil
	return out
}

// cassandraSchemaVersion is the format recorded in a keyspace's
// schema_version row: 3 is a block partition per (parent, span, bucket)
// (2 was a partition per path, 1 one row per point). A keyspace holding
// another version is refused: there is no migration before 1.0.
const cassandraSchemaVersion = 3

// bucketsName is the meta row of the keyspace's partition bucket count;
// maxBuckets bounds it (a read asks every bucket of each parent).
const (
	bucketsName = "partition_buckets"
	maxBuckets  = 64
)

// blockPartition returns the partition of path's blocks besides the span:
// its parent (the index's: the name before any tags, up to its last dot;
// rootParent for none) and its bucket, an FNV-1a hash of the path modulo
// the bucket count.
func (s *cassandraStore) blockPartition(path string) (string, int) {
	bucket := 0
	if s.buckets > 1 {
		h := fnv.New32a()
		h.Write([]byte(path))
		bucket = int(h.Sum32() % uint32(s.buckets))
	}
	return blockParent(path), bucket
}

func blockParent(path string) string {
	name, _, _ := strings.Cut(path, ";")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return rootParent
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
		group: 10, groupBytes: 40 << 10, buckets: 1, floor: floorCache{spanCache[int64]{earliest: true}}, known: map[string]bool{}, tables: map[int64]bool{}}
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
	if b := cfg.Options["partition_buckets"]; b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 || n > maxBuckets {
			return nil, fmt.Errorf("options.partition_buckets %q: want a number from 1 to %d", b, maxBuckets)
		}
		s.buckets, s.bucketsSet = n, true
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
	// Native protocol v4: v5's checksummed segments are read through two more
	// copies by this driver (a third of query-api's allocations per render).
	c.ProtoVersion = 4
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
	applied, err := sess.Query(fmt.Sprintf(`INSERT INTO %s.meta (name, value) VALUES ('schema_version', %d) IF NOT EXISTS`, s.keyspace, cassandraSchemaVersion)).
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
	var v, b int64
	if err := sess.Query(fmt.Sprintf(`SELECT value FROM %s.meta WHERE name = 'schema_version'`, s.keyspace)).
		Consistency(gocql.Serial).ScanContext(ctx, &v); err != nil {
		sess.Close()
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if v != cassandraSchemaVersion {
		sess.Close()
		return fmt.Errorf("%s.meta: schema_version %d, this build reads %d (no migration before 1.0: use a new keyspace)", s.keyspace, v, cassandraSchemaVersion)
	}
	// The bucket count is fixed by the first Init of a keyspace.
	if _, err := sess.Query(fmt.Sprintf(`INSERT INTO %s.meta (name, value) VALUES ('%s', %d) IF NOT EXISTS`, s.keyspace, bucketsName, s.buckets)).
		MapScanCASContext(ctx, map[string]any{}); err != nil {
		sess.Close()
		return fmt.Errorf("creating the schema: %w", err)
	}
	if err := sess.Query(fmt.Sprintf(`SELECT value FROM %s.meta WHERE name = '%s'`, s.keyspace, bucketsName)).
		Consistency(gocql.Serial).ScanContext(ctx, &b); err != nil {
		sess.Close()
		return fmt.Errorf("reading the partition bucket count from %s.meta: %w", s.keyspace, err)
	}
	sess.Close()
	switch {
	case b < 1 || b > maxBuckets:
		return fmt.Errorf("%s.meta: %s %d: want 1 to %d", s.keyspace, bucketsName, b, maxBuckets)
	case s.bucketsSet && int(b) != s.buckets:
		return fmt.Errorf("options.partition_buckets %d: keyspace %s was created with %d, and the count is fixed then (no migration before 1.0: use a new keyspace, or leave the option out)",
			s.buckets, s.keyspace, b)
	}
	s.buckets = int(b)
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
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS blocks_%ds (parent text, span bigint, bucket int, path text, source text, data blob,
		PRIMARY KEY ((parent, span, bucket), path, source))
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
	// And the floors: a scan of a wide range reads the spans from the floor.
	lower := s.floor.toLower(rows)
	for secs, span := range lower {
		if err := s.session.Query(`INSERT INTO meta (name, value) VALUES (?, ?) USING TIMESTAMP ?`, floorName(secs), span, floorStamp(span)).
			ExecContext(ctx); err != nil {
			return fmt.Errorf("lowering the floor %s in %s.meta: %w", floorName(secs), s.keyspace, err)
		}
	}
	s.floor.done(lower)
	// A partition's blocks go to one queue, next to each other: a batch of
	// them is one mutation.
	type row struct {
		*BlockRow
		parent string
		bucket int
	}
	queues := make([][]row, s.queues)
	leaves := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		if err := s.ensureTable(ctx, r.Res.Seconds()); err != nil {
			return err
		}
		parent, bucket := s.blockPartition(r.Path)
		h := fnv.New32a()
		h.Write([]byte(parent))
		h.Write([]byte{byte(bucket)})
		q := (h.Sum32() + uint32(r.Span/SpanSeconds(r.Res))) % uint32(s.queues)
		queues[q] = append(queues[q], row{r, parent, bucket})
		leaves[r.Path] = true
	}
	for _, q := range queues {
		slices.SortFunc(q, func(a, b row) int {
			return cmp.Or(cmpInt(a.Res.Seconds(), b.Res.Seconds()), cmp.Compare(a.parent, b.parent), cmpInt(a.Span, b.Span), a.bucket-b.bucket)
		})
	}
	insert := func(r row) (string, []any) {
		return fmt.Sprintf(`INSERT INTO blocks_%ds (parent, span, bucket, path, source, data) VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`, r.Res.Seconds()),
			[]any{r.parent, r.Span, r.bucket, r.Path, r.Source, r.Data, int(r.Res.TTL / time.Second), r.Version}
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
	names, values, err := s.readMeta(ctx)
	if err != nil {
		return Horizons{}, fmt.Errorf("reading the horizons: %w", err)
	}
	return parseHorizons(names, values), nil
}

// readMeta returns the rows of the meta table.
func (s *cassandraStore) readMeta(ctx context.Context) (names []string, values []int64, err error) {
	it := s.session.Query(`SELECT name, value FROM meta`).IterContext(ctx)
	var n string
	var v int64
	for it.Scan(&n, &v) {
		names, values = append(names, n), append(values, v)
	}
	if err := it.Close(); err != nil {
		return nil, nil, fmt.Errorf("reading %s.meta: %w", s.keyspace, err)
	}
	return names, values, nil
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

// readPaths is how many paths one block query asks for; readPartitions
// how many partitions (parent × bucket × span) a ReadMany query reads.
const (
	readPaths      = 50
	readPartitions = 500
)

// floorCache remembers the earliest span of each resolution (seconds) a
// store wrote, so that a write lowers the stored floor only when it goes
// earlier.
type floorCache struct{ spanCache[int64] }

// toLower returns, per resolution, the earliest span of rows that is
// before what was lowered.
func (c *floorCache) toLower(rows []BlockRow) map[int64]int64 {
	return c.pending(rows, func(r *BlockRow) int64 { return r.Res.Seconds() })
}

// floorName is the meta row of a resolution's floor: the earliest span
// whose blocks may have been written.
func floorName(secs int64) string { return fmt.Sprintf("floor_%ds", secs) }

// floorStamp is the write timestamp of a floor: the newest write wins, and
// the earliest span must, so the stamp falls as the span rises.
func floorStamp(span int64) int64 { return 1<<62 - span*1e6 }

// spanBounds returns the earliest and the latest span of a resolution whose
// blocks may have been written (its floor and the largest of its
// horizons); ok is false when none was. A bound not stored is left at
// math.MinInt64 or math.MaxInt64.
func (s *cassandraStore) spanBounds(ctx context.Context, secs int64) (lo, hi int64, ok bool, err error) {
	names, values, err := s.readMeta(ctx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reading the floors and horizons: %w", err)
	}
	lo, hi = math.MinInt64, math.MaxInt64
	if i := slices.Index(names, floorName(secs)); i >= 0 {
		lo, ok = values[i], true
	}
	top := int64(math.MinInt64)
	for k, span := range parseHorizons(names, values).Spans {
		if k.Secs == secs {
			top = max(top, span)
		}
	}
	if top != math.MinInt64 {
		hi = top
	}
	return lo, hi, ok, nil
}

// blockQuery is one select of blocks: the partitions of every (parent,
// bucket) × span, the rows of paths (and sources) in them. Paths of other
// parents or buckets find no row in a partition, so one query can ask for
// a few parents' paths at once.
type blockQuery struct {
	secs    int64
	parents []string
	buckets []int
	spans   []int64
	paths   []string
}

// appendNew appends v to list unless it holds it (lists of at most
// readPaths or maxBuckets).
func appendNew[T comparable](list []T, v T) []T {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// groupPaths splits paths into queries of up to readPaths paths, siblings
// (the paths of one partition) together: paths sorted by (parent, bucket,
// path). A query also asks for at most readPaths (parent, bucket) pairs: it
// reads every pair × span, so paths of different parents in different
// buckets start a new one rather than multiply the partitions read.
func (s *cassandraStore) groupPaths(secs int64, paths []string) []*blockQuery {
	type pp struct {
		path, parent string
		bucket       int
	}
	list := make([]pp, len(paths))
	for i, p := range paths {
		parent, bucket := s.blockPartition(p)
		list[i] = pp{p, parent, bucket}
	}
	slices.SortFunc(list, func(a, b pp) int {
		return cmp.Or(cmp.Compare(a.parent, b.parent), a.bucket-b.bucket, cmp.Compare(a.path, b.path))
	})
	var out []*blockQuery
	var q *blockQuery
	for _, p := range list {
		if q == nil || len(q.paths) >= readPaths ||
			len(appendNew(q.parents, p.parent))*len(appendNew(q.buckets, p.bucket)) > readPaths {
			q = &blockQuery{secs: secs}
			out = append(out, q)
		}
		q.parents = appendNew(q.parents, p.parent)
		q.buckets = appendNew(q.buckets, p.bucket)
		q.paths = append(q.paths, p.path)
	}
	return out
}

// ReadBlocks selects the blocks of keys, up to readPaths paths a query
// (`parent IN ? AND span IN ? AND bucket IN ? AND path IN ? AND source IN
// ?`, siblings together), 16 queries at a time, keeping the rows asked for;
// the version is the write timestamp.
func (s *cassandraStore) ReadBlocks(ctx context.Context, keys []BlockKey) ([]BlockRow, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	type id struct {
		path   string
		span   int64
		source string
	}
	want := map[int64]map[id]BlockKey{}
	var secsOrder []int64
	for _, k := range keys {
		secs := k.Res.Seconds()
		if err := s.ensureTable(ctx, secs); err != nil {
			return nil, err
		}
		if want[secs] == nil {
			want[secs] = map[id]BlockKey{}
			secsOrder = append(secsOrder, secs)
		}
		want[secs][id{k.Path, k.Span, k.Source}] = k
	}
	type query struct {
		*blockQuery
		sources []string
	}
	var queries []query
	for _, secs := range secsOrder {
		byPath := map[string][]BlockKey{}
		var paths []string
		for _, k := range want[secs] {
			if byPath[k.Path] == nil {
				paths = append(paths, k.Path)
			}
			byPath[k.Path] = append(byPath[k.Path], k)
		}
		for _, q := range s.groupPaths(secs, paths) {
			var sources []string
			for _, p := range q.paths {
				for _, k := range byPath[p] {
					q.spans = appendNew(q.spans, k.Span)
					sources = appendNew(sources, k.Source)
				}
			}
			queries = append(queries, query{q, sources})
		}
	}
	var mu sync.Mutex
	var out []BlockRow
	var firstErr error
	work := make(chan query)
	var wg sync.WaitGroup
	for range min(len(queries), 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				stmt := fmt.Sprintf(`SELECT path, span, source, data, WRITETIME(data) FROM blocks_%ds WHERE parent IN ? AND span IN ? AND bucket IN ? AND path IN ? AND source IN ?`, q.secs)
				it := s.session.Query(stmt, q.parents, q.spans, q.buckets, q.paths, q.sources).PageSize(1000).IterContext(ctx)
				var got []BlockRow
				var i id
				var data []byte
				var version int64
				for it.Scan(&i.path, &i.span, &i.source, &data, &version) {
					if k, ok := want[q.secs][i]; ok {
						got = append(got, BlockRow{BlockKey: k, Data: data, Version: version})
					}
					data = nil // Scan reuses a non-nil slice
				}
				err := it.Close()
				mu.Lock()
				out = append(out, got...)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("reading the blocks of %d paths from blocks_%ds: %w", len(q.paths), q.secs, err)
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

// ReadMany reads the blocks of up to readPaths paths a query (`parent IN ?
// AND span IN ? AND bucket IN ? AND path IN ?`, siblings together: a
// render of `a.b.*` reads a partition or two), one query after the other
// (callers read side by side), and decodes them onto the reads' values
// while a path's blocks come from one producer; a path with several is
// read again alone and merged (manyFiller).
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
	stmt := fmt.Sprintf(`SELECT path, source, data FROM blocks_%ds WHERE parent IN ? AND span IN ? AND bucket IN ? AND path IN ?`, res.Seconds())
	spans := spansOf(res, start, m.end)
	for _, q := range s.groupPaths(res.Seconds(), m.paths()) {
		// A query reads at most readPartitions partitions: a long range
		// goes a few spans at a time.
		for chunk := range slices.Chunk(spans, max(1, readPartitions/(len(q.parents)*len(q.buckets)))) {
			it := s.session.Query(stmt, q.parents, chunk, q.buckets, q.paths).PageSize(1000).IterContext(ctx)
			var path, source, data []byte
			for it.Scan(&path, &source, &data) {
				if err := m.add(path, source, data); err != nil {
					it.Close()
					return err
				}
			}
			if err := it.Close(); err != nil {
				return fmt.Errorf("reading %d series (%s ...): %w", len(q.paths), q.paths[0], err)
			}
		}
	}
	return m.readAgain(ctx, res, s.scanBlocks)
}

// spansOf returns the span starts of the blocks that overlap [from, until).
func spansOf(res rollup.Resolution, from, until int64) []int64 {
	if from >= until {
		return nil
	}
	n := SpanSeconds(res)
	var out []int64
	for sp := SpanOf(res, from); sp < until; sp += n {
		out = append(out, sp)
	}
	return out
}

// scanSpans is the most spans a scan enumerates without asking the floor
// and the horizons; scanChunk how many spans one of its queries reads.
const (
	scanSpans = 256
	scanChunk = 64
)

// scanBlocks calls fn with the blocks of path whose spans overlap [from,
// until), in (span, source) order, until fn returns false (then so does
// scanBlocks). A range of more than scanSpans spans (a dump reads all
// time) is first narrowed to the resolution's floor and horizons. fn's
// slices are reused by the next block.
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
	n := SpanSeconds(res)
	if d := SpanOf(res, until-1) - SpanOf(res, from); d < 0 || d/n >= scanSpans { // d < 0: it overflowed
		floor, top, ok, err := s.spanBounds(ctx, res.Seconds())
		if err != nil || !ok {
			return err == nil, err
		}
		if top == math.MaxInt64 { // no horizon stored (none is raised before a write): up to now
			top = SpanOf(res, time.Now().Unix()) + n
		}
		from, until = max(from, floor), min(until, top+n)
		if from >= until {
			return true, nil
		}
	}
	parent, bucket := s.blockPartition(path)
	stmt := fmt.Sprintf(`SELECT span, source, data FROM blocks_%ds WHERE parent = ? AND span IN ? AND bucket = ? AND path = ?`, res.Seconds())
	type blk struct {
		span         int64
		source, data []byte
	}
	var got []blk
	for chunk := range slices.Chunk(spansOf(res, from, until), scanChunk) {
		// Partitions come back in token order: sort the chunk's blocks.
		got = got[:0]
		it := s.session.Query(stmt, parent, chunk, bucket, path).PageSize(100).IterContext(ctx)
		var b blk
		for it.Scan(&b.span, &b.source, &b.data) {
			got = append(got, b)
			b = blk{}
		}
		if err := it.Close(); err != nil {
			return false, fmt.Errorf("reading %s: %w", path, err)
		}
		slices.SortFunc(got, func(a, b blk) int { return cmp.Or(cmpInt(a.span, b.span), bytes.Compare(a.source, b.source)) })
		for _, b := range got {
			more, err := fn(b.source, b.data)
			if err != nil || !more {
				return false, err
			}
		}
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
