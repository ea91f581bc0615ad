package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/consthash/consthash/pkg/rollup"
)

// sqlStore keeps a table per resolution, `{table}_{seconds}s`, keyed by
// (path, time, source), and a path table `{table}_paths` (path, parent,
// leaf). MySQL/MariaDB and SQLite share it; only the upsert differs.
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
	return nil
}

func isDuplicateIndex(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1061
}

func (s *sqlStore) ensureTable(ctx context.Context, seconds int64) error {
	s.mu.Lock()
	done := s.tables[seconds]
	s.mu.Unlock()
	if done {
		return nil
	}
	path, source := "VARCHAR(512) NOT NULL", "VARCHAR(128) NOT NULL"
	if !s.mysql {
		path, source = "TEXT NOT NULL", "TEXT NOT NULL"
	}
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_%ds (path %s, time BIGINT NOT NULL, source %s,
		sum DOUBLE NOT NULL, min DOUBLE NOT NULL, max DOUBLE NOT NULL, last DOUBLE NOT NULL, last_at BIGINT NOT NULL,
		count BIGINT NOT NULL, expires BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (path, time, source))`,
		s.table, seconds, path, source)
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("creating table %s_%ds: %w", s.table, seconds, err)
	}
	// Tables made before points carried a version get the column (rows
	// already there are version 0, older than any batch). Checked by reading
	// it first, so a reader without ALTER rights is not refused.
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT version FROM %s_%ds WHERE 1 = 0`, s.table, seconds))
	if err == nil {
		err = rows.Close()
	}
	if err != nil {
		q := fmt.Sprintf(`ALTER TABLE %s_%ds ADD COLUMN version BIGINT NOT NULL DEFAULT 0`, s.table, seconds)
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("adding the version column to %s_%ds: %w", s.table, seconds, err)
		}
	}
	s.mu.Lock()
	s.tables[seconds] = true
	s.mu.Unlock()
	return nil
}

// Write upserts every finite point in multi-row statements, one transaction
// per batch group, then adds new paths to the index.
func (s *sqlStore) Write(ctx context.Context, batches []*rollup.Batch) error {
	type row struct {
		b *rollup.Batch
		p *rollup.Point
	}
	bySeconds := map[int64][]row{}
	for _, b := range batches {
		for i := range b.Points {
			if Finite(b.Points[i]) {
				bySeconds[b.Resolution.Seconds()] = append(bySeconds[b.Resolution.Seconds()], row{b, &b.Points[i]})
			}
		}
	}
	for secs := range bySeconds { // before the transaction: SQLite has one connection
		if err := s.ensureTable(ctx, secs); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	newPaths := map[string]bool{}
	for secs, rows := range bySeconds {
		for start := 0; start < len(rows); start += s.maxRows {
			chunk := rows[start:min(start+s.maxRows, len(rows))]
			var q strings.Builder
			fmt.Fprintf(&q, "INSERT INTO %s_%ds (path, time, source, sum, min, max, last, last_at, count, expires, version) VALUES ", s.table, secs)
			args := make([]any, 0, len(chunk)*11)
			for i, r := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				expires := r.p.Time + int64(r.b.Resolution.TTL/time.Second)
				args = append(args, r.p.Path, r.p.Time, r.b.Source, r.p.Sum, r.p.Min, r.p.Max, r.p.Last, r.p.LastAt, int64(r.p.Count), expires, r.b.Version())
				newPaths[r.p.Path] = true
			}
			q.WriteString(s.upsert(secs))
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("writing %d points to %s_%ds: %w", len(chunk), s.table, secs, err)
			}
		}
	}
	added, err := s.index(ctx, tx, newPaths)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	s.mu.Lock()
	remember(s.known, added)
	for _, e := range added {
		s.fresh = append(s.fresh, e.path)
	}
	s.mu.Unlock()
	return nil
}

// upsert is the conflict clause of a point insert: a stored row is replaced
// only by a row of the same or a newer version, so a redelivered older
// partial never overwrites a later value (rollup.Batch.Version).
func (s *sqlStore) upsert(secs int64) string {
	cols := []string{"sum", "min", "max", "last", "last_at", "count", "expires"}
	var q strings.Builder
	if s.mysql {
		// Assignments may see the columns assigned before them, so version
		// goes last and every other column compares with the stored version.
		q.WriteString(" ON DUPLICATE KEY UPDATE ")
		for _, c := range cols {
			fmt.Fprintf(&q, "%s = IF(VALUES(version) >= version, VALUES(%s), %s), ", c, c, c)
		}
		q.WriteString("version = GREATEST(version, VALUES(version))")
		return q.String()
	}
	q.WriteString(" ON CONFLICT (path, time, source) DO UPDATE SET ")
	for _, c := range cols {
		fmt.Fprintf(&q, "%s = excluded.%s, ", c, c)
	}
	fmt.Fprintf(&q, "version = excluded.version WHERE excluded.version >= %s_%ds.version", s.table, secs)
	return q.String()
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

func (s *sqlStore) ReadColumn(ctx context.Context, path string, res rollup.Resolution, from, until int64, col string) ([]rollup.Point, error) {
	cols, ok := columnSQL[col]
	if !ok {
		return nil, fmt.Errorf("reading %s: unknown column %q", path, col)
	}
	if err := s.ensureTable(ctx, res.Seconds()); err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT time, count, %s FROM %s_%ds WHERE path = ? AND time >= ? AND time < ? ORDER BY time`, cols, s.table, res.Seconds())
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	rows, err := st.QueryContext(ctx, path, from, until)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer rows.Close()
	var out []rollup.Point
	for rows.Next() {
		p := rollup.Point{Path: path}
		var count int64
		dst := columnDest(&p, &count, col)
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		p.Count = uint64(count)
		if n := len(out); n > 0 && out[n-1].Time == p.Time {
			out[n-1].Merge(p) // another producer's row of the same bin
			continue
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
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

// Expire deletes rows whose TTL has passed (SQL has no TTL of its own).
func (s *sqlStore) Expire(ctx context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	var secs []int64
	for t := range s.tables {
		secs = append(secs, t)
	}
	s.mu.Unlock()
	var total int64
	for _, t := range secs {
		r, err := s.db.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s_%ds WHERE expires < ?`, s.table, t), now.Unix())
		if err != nil {
			return total, fmt.Errorf("expiring %s_%ds: %w", s.table, t, err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }
