package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/consthash/consthash/pkg/rollup"
)

// sqlStore keeps a block table per resolution, `{table}_blocks_{seconds}s`,
// one row per (path, span, source) holding the pkg/block encoding of the
// span's points, a path table `{table}_paths` (path, parent, leaf) and
// `{table}_meta`, whose schema_version row records the format.
// MySQL/MariaDB and SQLite share it; only the upsert differs.
type sqlStore struct {
	db      *sqlx.DB
	mysql   bool
	table   string
	mu      sync.Mutex
	tables  map[int64]bool
	known   map[string]bool // paths already in the index: true for a leaf
	fresh   []string        // paths added to the index since TakeNewPaths
	maxRows int
	stmts   sync.Map // query text -> *sql.Stmt, prepared once (reads are many and small)
	horizon horizonCache
	// txMu makes the transactions that write the path index (Write,
	// WriteBlocks, IndexPaths) one at a time: two side by side deadlock in
	// MySQL on the paths table's unique key (INSERT IGNORE's locks), and
	// SQLite writes one transaction at a time anyway.
	txMu sync.Mutex
}

// prepared returns the statement for q, preparing it on first use.
func (s *sqlStore) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (s *sqlStore) TakeNewPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.fresh
	s.fresh = nil
	return out
}

func openSQL(cfg Config) (*sqlStore, error) {
	s := &sqlStore{mysql: cfg.Driver == "mysql", table: "metrics", tables: map[int64]bool{}, known: map[string]bool{}, maxRows: 500}
	if t := cfg.Options["table"]; t != "" {
		for _, c := range t {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return nil, fmt.Errorf("options.table %q: use lowercase letters, digits and _", t)
			}
		}
		s.table = t
	}
	dsn := cfg.DSN
	if s.mysql {
		mc, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("dsn: %w", err)
		}
		mc.ParseTime = true
		dsn = mc.FormatDSN()
	} else if !strings.Contains(dsn, "_pragma") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(1073741824)"
	}
	db, err := sqlx.Open(cfg.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.Driver, err)
	}
	if !s.mysql {
		// One writer at a time is how SQLite works best; readers (query-api)
		// may ask for more connections, which WAL lets read side by side.
		conns := 1
		if v := cfg.Options["connections"]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("options.connections %q: want a positive number", v)
			}
			conns = n
		}
		db.SetMaxOpenConns(conns)
		// Keep them all: database/sql keeps 2 idle by default, and opening
		// one (its pragmas, its mmap) cost a read more than its query.
		db.SetMaxIdleConns(conns)
	}
	s.db = db
	return s, nil
}

func (s *sqlStore) Init(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("reaching the database: %w", err)
	}
	path := "VARCHAR(512) NOT NULL"
	if !s.mysql {
		path = "TEXT NOT NULL"
	}
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_paths (path %s, parent %s, leaf INTEGER NOT NULL, PRIMARY KEY (path))`, s.table, path, path)
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("creating the path table: %w", err)
	}
	// SQLite lists children from this index alone, in path order; InnoDB's
	// keys cannot hold two 512-character columns, so MySQL indexes parent.
	idx := fmt.Sprintf(`CREATE INDEX %s_paths_parent ON %s_paths (parent)`, s.table, s.table)
	if !s.mysql {
		idx = fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_paths_children ON %s_paths (parent, path, leaf)`, s.table, s.table)
	}
	if _, err := s.db.ExecContext(ctx, idx); err != nil && !isDuplicateIndex(err) {
		return fmt.Errorf("indexing the path table: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	return s.initEvents(ctx)
}

// checkSchema records SchemaVersion in `{table}_meta` on first use and
// refuses a database that holds another (no migration before 1.0).
func (s *sqlStore) checkSchema(ctx context.Context) error {
	name := "VARCHAR(64) NOT NULL"
	ins := "INSERT OR IGNORE"
	if s.mysql {
		ins = "INSERT IGNORE"
	}
	// A database of the row store (schema 1: a table {table}_{s}s of one row
	// per point, no {table}_meta) would read as empty: refuse it.
	list := fmt.Sprintf(`SELECT name FROM sqlite_master WHERE type = 'table' AND (name = '%[1]s_meta' OR name GLOB '%[1]s_[0-9]*s')`, s.table)
	if s.mysql {
		list = fmt.Sprintf(`SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND (table_name = '%[1]s_meta' OR table_name REGEXP '^%[1]s_[0-9]+s$')`, s.table)
	}
	var names []string
	if err := s.db.SelectContext(ctx, &names, list); err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	if len(names) > 0 && !slices.Contains(names, s.table+"_meta") {
		return fmt.Errorf("table %s holds one row per point (schema 1), this build reads blocks (schema %d): no migration before 1.0, use a new database or options.table", names[0], SchemaVersion)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_meta (name %s, value BIGINT NOT NULL, PRIMARY KEY (name))`, s.table, name)); err != nil {
		return fmt.Errorf("recording the schema version: %w", err)
	}
	res, err := s.db.ExecContext(ctx, fmt.Sprintf(`%s INTO %s_meta (name, value) VALUES ('schema_version', %d)`, ins, s.table, SchemaVersion))
	if err != nil {
		return fmt.Errorf("recording the schema version: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		// A new store: its horizons are kept from now (BlockStore.Horizons).
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`%s INTO %s_meta (name, value) VALUES ('%s', 1)`, ins, s.table, horizonsName)); err != nil {
			return fmt.Errorf("recording the schema version: %w", err)
		}
	}
	var v int64
	if err := s.db.GetContext(ctx, &v, fmt.Sprintf(`SELECT value FROM %s_meta WHERE name = 'schema_version'`, s.table)); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if v != SchemaVersion {
		return fmt.Errorf("%s_meta: schema_version %d, this build reads %d (no migration before 1.0: use a new database or options.table)", s.table, v, SchemaVersion)
	}
	return nil
}

func isDuplicateIndex(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1061
}

// ensureTable creates the block table of a resolution, `{table}_blocks_{s}s`.
func (s *sqlStore) ensureTable(ctx context.Context, seconds int64) error {
	s.mu.Lock()
	done := s.tables[seconds]
	s.mu.Unlock()
	if done {
		return nil
	}
	path, source, data := "VARCHAR(512) NOT NULL", "VARCHAR(128) NOT NULL", "MEDIUMBLOB NOT NULL"
	if !s.mysql {
		path, source, data = "TEXT NOT NULL", "TEXT NOT NULL", "BLOB NOT NULL"
	}
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (path %s, span BIGINT NOT NULL, source %s, data %s,
		version BIGINT NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (path, span, source))`,
		s.blockTable(seconds), path, source, data)
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("creating table %s: %w", s.blockTable(seconds), err)
	}
	s.mu.Lock()
	s.tables[seconds] = true
	s.mu.Unlock()
	return nil
}

func (s *sqlStore) blockTable(seconds int64) string {
	return fmt.Sprintf("%s_blocks_%ds", s.table, seconds)
}

// sqlQuerier is a transaction or the database.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Write merges the finite points of the batches into their blocks: in one
// transaction it reads the blocks the points fall in (MySQL: FOR UPDATE, so
// concurrent writers of one block take turns; SQLite: a writer that lost the
// race fails to commit and its write is retried), merges (blockUpdate.apply),
// writes back what changed and adds new paths to the index.
func (s *sqlStore) Write(ctx context.Context, batches []*rollup.Batch) error {
	ups, keys := groupBlocks(batches)
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys { // before the transaction: SQLite has one connection
		if err := s.ensureTable(ctx, k.Res.Seconds()); err != nil {
			return err
		}
	}
	return s.indexTx(ctx, func(tx *sqlx.Tx) error {
		stored, err := s.readBlocks(ctx, tx, keys, s.mysql)
		if err != nil {
			return err
		}
		rows, err := mergeBlocks(ups, keys, stored)
		if err != nil {
			return err
		}
		return s.commitBlocks(ctx, tx, rows)
	})
}

// WriteBlocks upserts whole blocks (BlockStore): a stored block is replaced
// by one of the same or a newer version only.
func (s *sqlStore) WriteBlocks(ctx context.Context, rows []BlockRow) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if err := s.ensureTable(ctx, r.Res.Seconds()); err != nil {
			return err
		}
	}
	return s.indexTx(ctx, func(tx *sqlx.Tx) error { return s.commitBlocks(ctx, tx, rows) })
}

// indexTx runs fn in a transaction (rolled back unless fn commits it), one
// such transaction at a time (txMu).
func (s *sqlStore) indexTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// commitBlocks writes rows and indexes their paths in tx, commits, and
// remembers the paths it added.
func (s *sqlStore) commitBlocks(ctx context.Context, tx *sqlx.Tx, rows []BlockRow) error {
	raise := s.horizon.toRaise(rows)
	for k, span := range raise {
		if _, err := tx.ExecContext(ctx, s.raiseSQL(), horizonName(k), span); err != nil {
			return fmt.Errorf("raising the horizon %s in %s_meta: %w", horizonName(k), s.table, err)
		}
	}
	if err := s.writeBlocks(ctx, tx, rows); err != nil {
		return err
	}
	newPaths := make(map[string]bool, len(rows))
	for _, r := range rows {
		newPaths[r.Path] = true
	}
	added, err := s.index(ctx, tx, newPaths)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	s.horizon.done(raise)
	s.added(added)
	return nil
}

// added remembers paths a committed transaction added to the index.
func (s *sqlStore) added(added []indexEntry) {
	s.mu.Lock()
	s.fresh = append(s.fresh, remember(s.known, added)...)
	s.mu.Unlock()
}

// IndexPaths adds the paths the index does not hold yet, in one transaction
// (BlockStore).
func (s *sqlStore) IndexPaths(ctx context.Context, paths []string) error {
	want := make(map[string]bool, len(paths))
	s.mu.Lock()
	for _, p := range paths {
		if !s.known[p] {
			want[p] = true
		}
	}
	s.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	return s.indexTx(ctx, func(tx *sqlx.Tx) error {
		added, err := s.index(ctx, tx, want)
		if err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		s.added(added)
		return nil
	})
}

// maxStatementBytes bounds the block data of one multi-row statement, well
// under MySQL's default max_allowed_packet (16 MiB on MariaDB, 64 MiB on 8.0).
const maxStatementBytes = 4 << 20

// writeBlocks upserts rows in multi-row statements of up to maxRows rows and
// maxStatementBytes of data.
func (s *sqlStore) writeBlocks(ctx context.Context, q sqlQuerier, rows []BlockRow) error {
	bySeconds := map[int64][]*BlockRow{}
	var order []int64
	for i := range rows {
		secs := rows[i].Res.Seconds()
		if _, ok := bySeconds[secs]; !ok {
			order = append(order, secs)
		}
		bySeconds[secs] = append(bySeconds[secs], &rows[i])
	}
	for _, secs := range order {
		rs := bySeconds[secs]
		for len(rs) > 0 {
			n, size := 0, 0
			for n < len(rs) && n < s.maxRows && (n == 0 || size+len(rs[n].Data) <= maxStatementBytes) {
				size += len(rs[n].Data)
				n++
			}
			chunk := rs[:n]
			rs = rs[n:]
			var b strings.Builder
			fmt.Fprintf(&b, "INSERT INTO %s (path, span, source, data, version, expires) VALUES ", s.blockTable(secs))
			args := make([]any, 0, len(chunk)*6)
			for i, r := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?)")
				args = append(args, r.Path, r.Span, r.Source, r.Data, r.Version, blockExpires(r.BlockKey))
			}
			b.WriteString(s.upsert(secs))
			if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("writing %d blocks to %s: %w", len(chunk), s.blockTable(secs), err)
			}
		}
	}
	return nil
}

// blockExpires is when a block's last point has outlived its resolution's
// TTL: the span's end plus the TTL (never, for no TTL).
func blockExpires(k BlockKey) int64 {
	if k.Res.TTL <= 0 {
		return math.MaxInt64
	}
	return k.Span + SpanSeconds(k.Res) + int64(k.Res.TTL/time.Second)
}

// upsert is the conflict clause of a block insert: a stored block is
// replaced only by one of the same or a newer version, so a late write of an
// older block never overwrites a newer one.
func (s *sqlStore) upsert(secs int64) string {
	if s.mysql {
		// Assignments see the columns assigned before them, so version goes
		// last and the others compare with the stored version.
		return " ON DUPLICATE KEY UPDATE data = IF(VALUES(version) >= version, VALUES(data), data), " +
			"expires = IF(VALUES(version) >= version, VALUES(expires), expires), version = GREATEST(version, VALUES(version))"
	}
	return fmt.Sprintf(" ON CONFLICT (path, span, source) DO UPDATE SET data = excluded.data, expires = excluded.expires, "+
		"version = excluded.version WHERE excluded.version >= %s.version", s.blockTable(secs))
}

// ReadBlocks returns the stored blocks of keys (BlockStore), a few queries
// per resolution.
func (s *sqlStore) ReadBlocks(ctx context.Context, keys []BlockKey) ([]BlockRow, error) {
	for _, k := range keys {
		if err := s.ensureTable(ctx, k.Res.Seconds()); err != nil {
			return nil, err
		}
	}
	return s.readBlocks(ctx, s.db, keys, false)
}

// Horizons reads the horizon rows of the meta table (BlockStore).
func (s *sqlStore) Horizons(ctx context.Context) (Horizons, error) {
	var rows []struct {
		Name  string `db:"name"`
		Value int64  `db:"value"`
	}
	if err := s.db.SelectContext(ctx, &rows, fmt.Sprintf(`SELECT name, value FROM %s_meta WHERE name LIKE 'horizon%%'`, s.table)); err != nil {
		return Horizons{}, fmt.Errorf("reading the horizons from %s_meta: %w", s.table, err)
	}
	names, values := make([]string, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		names[i], values[i] = r.Name, r.Value
	}
	return parseHorizons(names, values), nil
}

// RaiseHorizon upserts the larger of the stored horizon and span
// (BlockStore).
func (s *sqlStore) RaiseHorizon(ctx context.Context, k HorizonKey, span int64) error {
	if _, err := s.db.ExecContext(ctx, s.raiseSQL(), horizonName(k), span); err != nil {
		return fmt.Errorf("raising the horizon %s in %s_meta: %w", horizonName(k), s.table, err)
	}
	return nil
}

// raiseSQL upserts a horizon row (name, span), keeping the larger value.
func (s *sqlStore) raiseSQL() string {
	if s.mysql {
		return fmt.Sprintf(`INSERT INTO %s_meta (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = GREATEST(value, VALUES(value))`, s.table)
	}
	return fmt.Sprintf(`INSERT INTO %s_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)`, s.table)
}

// readKeys is how many keys one block query asks for.
const readKeys = 200

// readBlocks selects the blocks of keys: per resolution, up to readKeys keys
// a query, as `path IN (...) AND span IN (...) AND source IN (...)` (the
// primary key's order, so an index range per path), keeping the rows asked
// for. forUpdate locks them (MySQL) for a read-modify-write.
func (s *sqlStore) readBlocks(ctx context.Context, q sqlQuerier, keys []BlockKey, forUpdate bool) ([]BlockRow, error) {
	type id struct {
		path   string
		span   int64
		source string
	}
	bySeconds := map[int64][]BlockKey{}
	var order []int64
	for _, k := range keys {
		secs := k.Res.Seconds()
		if _, ok := bySeconds[secs]; !ok {
			order = append(order, secs)
		}
		bySeconds[secs] = append(bySeconds[secs], k)
	}
	var out []BlockRow
	for _, secs := range order {
		ks := bySeconds[secs]
		for start := 0; start < len(ks); start += readKeys {
			chunk := ks[start:min(start+readKeys, len(ks))]
			want := make(map[id]BlockKey, len(chunk))
			var paths, sources []any
			var spans []any
			seenP, seenS, seenSp := map[string]bool{}, map[string]bool{}, map[int64]bool{}
			for _, k := range chunk {
				want[id{k.Path, k.Span, k.Source}] = k
				if !seenP[k.Path] {
					seenP[k.Path] = true
					paths = append(paths, k.Path)
				}
				if !seenSp[k.Span] {
					seenSp[k.Span] = true
					spans = append(spans, k.Span)
				}
				if !seenS[k.Source] {
					seenS[k.Source] = true
					sources = append(sources, k.Source)
				}
			}
			query := fmt.Sprintf("SELECT path, span, source, data, version FROM %s WHERE path IN (?%s) AND span IN (?%s) AND source IN (?%s)",
				s.blockTable(secs), strings.Repeat(", ?", len(paths)-1), strings.Repeat(", ?", len(spans)-1), strings.Repeat(", ?", len(sources)-1))
			if forUpdate {
				query += " FOR UPDATE"
			}
			args := append(append(paths, spans...), sources...)
			rows, err := q.QueryContext(ctx, query, args...)
			if err != nil {
				return nil, fmt.Errorf("reading %d blocks from %s: %w", len(chunk), s.blockTable(secs), err)
			}
			for rows.Next() {
				var i id
				var r BlockRow
				if err := rows.Scan(&i.path, &i.span, &i.source, &r.Data, &r.Version); err != nil {
					rows.Close()
					return nil, fmt.Errorf("reading blocks from %s: %w", s.blockTable(secs), err)
				}
				k, ok := want[i]
				if !ok {
					continue
				}
				r.BlockKey = k
				out = append(out, r)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("reading blocks from %s: %w", s.blockTable(secs), err)
			}
		}
	}
	return out, nil
}

// index adds paths (leaves) and their parents (branches) not yet known, and
// returns them.
func (s *sqlStore) index(ctx context.Context, tx *sqlx.Tx, paths map[string]bool) ([]indexEntry, error) {
	s.mu.Lock()
	add := newIndexEntries(paths, s.known)
	s.mu.Unlock()
	for start := 0; start < len(add); start += s.maxRows {
		chunk := add[start:min(start+s.maxRows, len(add))]
		var q strings.Builder
		ins := "INSERT OR IGNORE"
		if s.mysql {
			ins = "INSERT IGNORE"
		}
		fmt.Fprintf(&q, "%s INTO %s_paths (path, parent, leaf) VALUES ", ins, s.table)
		args := make([]any, 0, len(chunk)*3)
		for i, e := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			leaf := 0
			if e.leaf {
				leaf = 1
			}
			args = append(args, e.path, e.parent, leaf)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return nil, fmt.Errorf("indexing %d paths: %w", len(chunk), err)
		}
		// A path first seen as a parent that later gets points becomes a leaf too.
		for _, e := range chunk {
			if e.leaf {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s_paths SET leaf = 1 WHERE path = ? AND leaf = 0", s.table), e.path); err != nil {
					return nil, fmt.Errorf("indexing %s: %w", e.path, err)
				}
			}
		}
	}
	return add, nil
}

func (s *sqlStore) Read(ctx context.Context, path string, res rollup.Resolution, from, until int64) ([]rollup.Point, error) {
	return s.ReadColumn(ctx, path, res, from, until, "")
}

// ReadColumn selects the blocks of path whose spans overlap [from, until),
// in (span, source) order, and decodes the points in the range (every field:
// a block is decoded whole or not at all; the others are zeroed after).
func (s *sqlStore) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
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

// ReadMany selects the blocks of up to readKeys paths a query (`path IN
// (...)`, in (path, span, source) order) and decodes them onto the reads'
// values while a path's blocks come from one producer; a path with several
// is selected again alone and merged (manyFiller).
func (s *sqlStore) ReadMany(ctx context.Context, res rollup.Resolution, start int64, reads []SeriesRead) error {
	m, err := newManyFiller(res, start, reads)
	if err != nil || m.end <= start {
		return err
	}
	if err := s.ensureTable(ctx, res.Seconds()); err != nil {
		return err
	}
	paths := m.paths()
	for len(paths) > 0 {
		chunk := paths[:min(len(paths), readKeys)]
		paths = paths[len(chunk):]
		q := fmt.Sprintf(`SELECT path, source, data FROM %s WHERE path IN (?%s) AND span >= ? AND span < ? ORDER BY path, span, source`,
			s.blockTable(res.Seconds()), strings.Repeat(", ?", len(chunk)-1))
		st, err := s.prepared(ctx, q)
		if err != nil {
			return fmt.Errorf("reading %d series (%s ...): %w", len(chunk), chunk[0], err)
		}
		args := make([]any, 0, len(chunk)+2)
		for _, p := range chunk {
			args = append(args, p)
		}
		args = append(args, SpanOf(res, start), m.end)
		if err := s.scanMany(ctx, st, args, m); err != nil {
			return fmt.Errorf("reading %d series (%s ...): %w", len(chunk), chunk[0], err)
		}
	}
	return m.readAgain(ctx, res, s.scanBlocks)
}

// scanMany feeds the rows of a ReadMany query to m, the driver's bytes in
// place.
func (s *sqlStore) scanMany(ctx context.Context, st *sql.Stmt, args []any, m *manyFiller) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var path, source, data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&path, &source, &data); err != nil {
			return err
		}
		if err := m.add(path, source, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanBlocks calls fn with the blocks of path whose spans overlap [from,
// until), in (span, source) order, until fn returns false (then so does
// scanBlocks). fn's slices are the driver's: valid during the call only.
func (s *sqlStore) scanBlocks(ctx context.Context, path string, res rollup.Resolution, from, until int64, fn func(source, data []byte) (bool, error)) (bool, error) {
	if from >= until {
		return true, nil
	}
	if err := s.ensureTable(ctx, res.Seconds()); err != nil {
		return false, err
	}
	q := fmt.Sprintf(`SELECT source, data FROM %s WHERE path = ? AND span >= ? AND span < ? ORDER BY span, source`, s.blockTable(res.Seconds()))
	st, err := s.prepared(ctx, q)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	rows, err := st.QueryContext(ctx, path, SpanOf(res, from), until)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	defer rows.Close()
	var source, data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&source, &data); err != nil {
			return false, fmt.Errorf("reading %s: %w", path, err)
		}
		more, err := fn(source, data)
		if err != nil || !more {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
}

func (s *sqlStore) Children(ctx context.Context, parent string) ([]Node, error) {
	st, err := s.prepared(ctx, fmt.Sprintf(`SELECT path, leaf FROM %s_paths WHERE parent = ? ORDER BY path`, s.table))
	if err != nil {
		return nil, fmt.Errorf("listing children of %q: %w", parent, err)
	}
	rows, err := st.QueryContext(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("listing children of %q: %w", parent, err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var leaf int
		if err := rows.Scan(&n.Path, &leaf); err != nil {
			return nil, fmt.Errorf("listing children of %q: %w", parent, err)
		}
		n.Leaf = leaf == 1
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing children of %q: %w", parent, err)
	}
	return out, nil
}

// ChildrenOf lists the children of many parents in few queries.
func (s *sqlStore) ChildrenOf(ctx context.Context, parents []string, glob string) (map[string][]Node, error) {
	if glob != "" && !strings.ContainsAny(glob, "*?[") {
		return s.childrenNamed(ctx, parents, glob)
	}
	out := make(map[string][]Node, len(parents))
	filter := ""
	if glob != "" && !s.mysql { // MySQL has no GLOB: it lists every child
		// The child's level is what follows its parent and a dot (the whole
		// path at the root).
		filter = ` AND (substr(path, length(parent) + 1 + (parent <> '')) GLOB ? OR substr(path, length(parent) + 1 + (parent <> '')) GLOB ?)`
	}
	for len(parents) > 0 {
		chunk := parents[:min(len(parents), 500)]
		parents = parents[len(chunk):]
		q := fmt.Sprintf(`SELECT parent, path, leaf FROM %s_paths WHERE parent IN (?%s)%s ORDER BY parent, path`,
			s.table, strings.Repeat(", ?", len(chunk)-1), filter)
		st, err := s.prepared(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("listing children: %w", err)
		}
		args := make([]any, len(chunk), len(chunk)+2)
		for i, p := range chunk {
			args[i] = p
		}
		if filter != "" {
			args = append(args, glob, glob+";*")
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("listing children: %w", err)
		}
		for rows.Next() {
			var parent string
			var n Node
			var leaf int
			if err := rows.Scan(&parent, &n.Path, &leaf); err != nil {
				rows.Close()
				return nil, fmt.Errorf("listing children: %w", err)
			}
			n.Leaf = leaf == 1
			out[parent] = append(out[parent], n)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("listing children: %w", err)
		}
	}
	return out, nil
}

// childrenNamed is ChildrenOf for a level without wildcards (a plain path's
// levels): each parent's child of that name, and of that name with ;tags,
// looked up by path in the primary key, instead of filtering every child of
// the parents (a level of 20,000 counters cost a render 20,000 rows a path).
func (s *sqlStore) childrenNamed(ctx context.Context, parents []string, name string) (map[string][]Node, error) {
	out := make(map[string][]Node, len(parents))
	for len(parents) > 0 {
		chunk := parents[:min(len(parents), 200)]
		parents = parents[len(chunk):]
		want := make(map[string]bool, len(chunk))
		args := make([]any, 0, 3*len(chunk))
		var b strings.Builder
		fmt.Fprintf(&b, `SELECT parent, path, leaf FROM %s_paths WHERE path IN (?%s)`, s.table, strings.Repeat(", ?", len(chunk)-1))
		for _, p := range chunk {
			want[p] = true
			if p != "" {
				p += "."
			}
			args = append(args, p+name)
		}
		for _, p := range chunk {
			if p != "" {
				p += "."
			}
			// name;tags: ';' sorts just before '<'.
			b.WriteString(` OR (path > ? AND path < ?)`)
			args = append(args, p+name+";", p+name+"<")
		}
		b.WriteString(` ORDER BY parent, path`)
		rows, err := s.db.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("listing children named %q: %w", name, err)
		}
		for rows.Next() {
			var parent string
			var n Node
			var leaf int
			if err := rows.Scan(&parent, &n.Path, &leaf); err != nil {
				rows.Close()
				return nil, fmt.Errorf("listing children named %q: %w", name, err)
			}
			if want[parent] {
				n.Leaf = leaf == 1
				out[parent] = append(out[parent], n)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("listing children named %q: %w", name, err)
		}
	}
	return out, nil
}

// Expire deletes the blocks whose last point has outlived its resolution's
// TTL (expires: the span's end + the TTL; SQL has no TTL of its own), and
// returns how many.
func (s *sqlStore) Expire(ctx context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	var secs []int64
	for t := range s.tables {
		secs = append(secs, t)
	}
	s.mu.Unlock()
	var total int64
	for _, t := range secs {
		r, err := s.db.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE expires < ?`, s.blockTable(t)), now.Unix())
		if err != nil {
			return total, fmt.Errorf("expiring %s: %w", s.blockTable(t), err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }
