package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The SQL stores keep events in `{table}_events` (id, when_us, what, data,
// tags as posted), the tags each event matches in `{table}_event_tags`
// (event_id, tag), and every tag ever stored in `{table}_event_tag_names`
// (graphite-web's tag table, which outlives the events).

// initEvents creates the event tables (idempotent); Init calls it.
func (s *sqlStore) initEvents(ctx context.Context) error {
	id, text, tag, bin := "INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT", "TEXT", ""
	if s.mysql {
		// Tags match byte for byte, as SQLite's (and graphite-web's there).
		id, text, tag, bin = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "MEDIUMTEXT", "VARCHAR(255)", " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	t := s.table
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_events (id %s, when_us BIGINT NOT NULL, what %s NOT NULL, data %s NOT NULL, tags %s NOT NULL)%s`, t, id, text, text, text, bin),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_event_tags (event_id BIGINT NOT NULL, tag %s NOT NULL, PRIMARY KEY (tag, event_id))%s`, t, tag, bin),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_event_tag_names (tag %s NOT NULL, PRIMARY KEY (tag))%s`, t, tag, bin),
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating the event tables: %w", err)
		}
	}
	idx := fmt.Sprintf(`CREATE INDEX %s_events_when ON %s_events (when_us, id)`, t, t)
	if !s.mysql {
		idx = fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_events_when ON %s_events (when_us, id)`, t, t)
	}
	if _, err := s.db.ExecContext(ctx, idx); err != nil && !isDuplicateIndex(err) {
		return fmt.Errorf("indexing the event table: %w", err)
	}
	return nil
}

func (s *sqlStore) InitEvents(ctx context.Context) error { return s.initEvents(ctx) }

func (s *sqlStore) AddEvent(ctx context.Context, e Event) (int64, error) {
	e, err := CheckEvent(e)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storing an event: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s_events (when_us, what, data, tags) VALUES (?, ?, ?, ?)`, s.table),
		e.When, e.What, e.Data, e.Tags)
	if err != nil {
		return 0, fmt.Errorf("storing an event: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("storing an event: %w", err)
	}
	ignore := "INSERT OR IGNORE"
	if s.mysql {
		ignore = "INSERT IGNORE"
	}
	for _, tag := range e.TagSet {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s_event_tags (event_id, tag) VALUES (?, ?)`, s.table), id, tag); err != nil {
			return 0, fmt.Errorf("storing an event's tags: %w", err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`%s INTO %s_event_tag_names (tag) VALUES (?)`, ignore, s.table), tag); err != nil {
			return 0, fmt.Errorf("storing an event's tags: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storing an event: %w", err)
	}
	return id, nil
}

func (s *sqlStore) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	query := fmt.Sprintf(`SELECT id, when_us, what, data, tags FROM %s_events WHERE when_us >= ? AND when_us <= ?`, s.table)
	args := []any{q.From, q.Until}
	if len(q.Tags) > 0 {
		in := strings.TrimSuffix(strings.Repeat("?,", len(q.Tags)), ",")
		sub := fmt.Sprintf(`SELECT event_id FROM %s_event_tags WHERE tag IN (%s) GROUP BY event_id`, s.table, in)
		for _, t := range q.Tags {
			args = append(args, t)
		}
		if !q.Any {
			sub += " HAVING COUNT(*) = ?"
			args = append(args, len(dedup(q.Tags)))
		}
		query += " AND id IN (" + sub + ")"
	}
	query += " ORDER BY when_us, id LIMIT ?"
	args = append(args, q.Limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.When, &e.What, &e.Data, &e.Tags); err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		if len(out) == q.Limit {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyEvents, q.Limit)
		}
		e.TagSet = ParseTagInput(e.Tags)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Event(ctx context.Context, id int64) (Event, bool, error) {
	var e Event
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT id, when_us, what, data, tags FROM %s_events WHERE id = ?`, s.table), id).
		Scan(&e.ID, &e.When, &e.What, &e.Data, &e.Tags)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("reading event %d: %w", id, err)
	}
	e.TagSet = ParseTagInput(e.Tags)
	return e, true, nil
}

func (s *sqlStore) DeleteEvent(ctx context.Context, id int64) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("deleting event %d: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s_events WHERE id = ?`, s.table), id)
	if err != nil {
		return false, fmt.Errorf("deleting event %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("deleting event %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s_event_tags WHERE event_id = ?`, s.table), id); err != nil {
		return false, fmt.Errorf("deleting event %d's tags: %w", id, err)
	}
	return n > 0, tx.Commit()
}

func (s *sqlStore) KnownEventTags(ctx context.Context, tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(tags)), ",")
	args := make([]any, len(tags))
	for i, t := range tags {
		args[i] = t
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT tag FROM %s_event_tag_names WHERE tag IN (%s)`, s.table, in), args...)
	if err != nil {
		return nil, fmt.Errorf("reading event tags: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("reading event tags: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// dedup returns list without repeats.
func dedup(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
