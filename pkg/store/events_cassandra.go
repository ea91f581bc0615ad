package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Cassandra keeps events in `events`, partitioned by 30-day bucket and
// clustered by (when_us, id); `event_buckets` lists the buckets that hold
// any (one partition), `event_ids` maps an ID to its time, and
// `event_tag_names` holds every tag ever stored. IDs are the microsecond
// the event was added, claimed with a lightweight transaction (the next
// free one on a collision), so they are unique across query-api replicas.

// eventBucket is the span of one events partition, in microseconds.
const eventBucket = 30 * 24 * int64(time.Hour/time.Microsecond)

// maxEventScan bounds the rows one Events call reads (tags are matched
// after reading): past it the call fails rather than read on.
const maxEventScan = 1_000_000

func eventBucketOf(when int64) int64 {
	b := when / eventBucket
	if when < 0 && when%eventBucket != 0 {
		b--
	}
	return b
}

// The event tables are created on first use, not by Init: each CREATE
// TABLE waits for schema agreement (seconds on a loaded cluster), which
// writers and the many short-lived test keyspaces would pay for nothing.

// withEventTables runs f, and once more after creating the event tables
// when it failed for want of them.
func (s *cassandraStore) withEventTables(ctx context.Context, f func() error) error {
	if s.session == nil {
		return errNotInit
	}
	err := f()
	// Cassandra 5 says "table X does not exist", earlier ones
	// "unconfigured table X".
	if err == nil || !strings.Contains(err.Error(), "does not exist") && !strings.Contains(err.Error(), "unconfigured table") {
		return err
	}
	if err := s.initEvents(ctx); err != nil {
		return err
	}
	return f()
}

func (s *cassandraStore) InitEvents(ctx context.Context) error {
	if s.session == nil {
		return errNotInit
	}
	return s.initEvents(ctx)
}

// initEvents creates the event tables (idempotent).
func (s *cassandraStore) initEvents(ctx context.Context) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS events (bucket bigint, when_us bigint, id bigint, what text, data text, tags text, PRIMARY KEY ((bucket), when_us, id))`,
		`CREATE TABLE IF NOT EXISTS event_buckets (k int, bucket bigint, PRIMARY KEY (k, bucket))`,
		`CREATE TABLE IF NOT EXISTS event_ids (id bigint PRIMARY KEY, when_us bigint)`,
		`CREATE TABLE IF NOT EXISTS event_tag_names (tag text PRIMARY KEY)`,
	} {
		if err := s.session.Query(q).ExecContext(ctx); err != nil {
			return fmt.Errorf("creating the event tables: %w", err)
		}
	}
	return nil
}

func (s *cassandraStore) AddEvent(ctx context.Context, e Event) (int64, error) {
	var out int64
	err := s.withEventTables(ctx, func() (err error) { out, err = s.addEvent(ctx, e); return err })
	return out, err
}

func (s *cassandraStore) addEvent(ctx context.Context, e Event) (int64, error) {
	if s.session == nil {
		return 0, errNotInit
	}
	e, err := CheckEvent(e)
	if err != nil {
		return 0, err
	}
	id := time.Now().UnixMicro()
	for try := 0; ; try, id = try+1, id+1 {
		if try == 16 {
			return 0, fmt.Errorf("storing an event: 16 IDs from %d on are taken", id-16)
		}
		applied, err := s.session.Query(`INSERT INTO event_ids (id, when_us) VALUES (?, ?) IF NOT EXISTS`, id, e.When).
			MapScanCASContext(ctx, map[string]any{})
		if err != nil {
			return 0, fmt.Errorf("storing an event's id: %w", err)
		}
		if applied {
			break
		}
	}
	b := eventBucketOf(e.When)
	for _, q := range []struct {
		cql  string
		args []any
	}{
		{`INSERT INTO events (bucket, when_us, id, what, data, tags) VALUES (?, ?, ?, ?, ?, ?)`, []any{b, e.When, id, e.What, e.Data, e.Tags}},
		{`INSERT INTO event_buckets (k, bucket) VALUES (0, ?)`, []any{b}},
	} {
		if err := s.session.Query(q.cql, q.args...).ExecContext(ctx); err != nil {
			return 0, fmt.Errorf("storing an event: %w", err)
		}
	}
	for _, tag := range e.TagSet {
		if err := s.session.Query(`INSERT INTO event_tag_names (tag) VALUES (?)`, tag).ExecContext(ctx); err != nil {
			return 0, fmt.Errorf("storing an event's tags: %w", err)
		}
	}
	return id, nil
}

func (s *cassandraStore) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	var out []Event
	err := s.withEventTables(ctx, func() (err error) { out, err = s.events(ctx, q); return err })
	return out, err
}

func (s *cassandraStore) events(ctx context.Context, q EventQuery) ([]Event, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	it := s.session.Query(`SELECT bucket FROM event_buckets WHERE k = 0 AND bucket >= ? AND bucket <= ?`,
		eventBucketOf(q.From), eventBucketOf(q.Until)).IterContext(ctx)
	var buckets []int64
	var b int64
	for it.Scan(&b) {
		buckets = append(buckets, b)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("reading event buckets: %w", err)
	}
	var out []Event
	scanned := 0
	for _, b := range buckets {
		it := s.session.Query(`SELECT id, when_us, what, data, tags FROM events WHERE bucket = ? AND when_us >= ? AND when_us <= ?`,
			b, q.From, q.Until).PageSize(5000).IterContext(ctx)
		var e Event
		for it.Scan(&e.ID, &e.When, &e.What, &e.Data, &e.Tags) {
			if scanned++; scanned > maxEventScan {
				it.Close()
				return nil, fmt.Errorf("%w: more than %d read to match the tags", ErrTooManyEvents, maxEventScan)
			}
			e.TagSet = ParseTagInput(e.Tags)
			if !matchTags(e.TagSet, q.Tags, q.Any) {
				continue
			}
			if len(out) == q.Limit {
				it.Close()
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyEvents, q.Limit)
			}
			out = append(out, e)
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
	}
	return out, nil
}

func (s *cassandraStore) Event(ctx context.Context, id int64) (Event, bool, error) {
	var e Event
	var ok bool
	err := s.withEventTables(ctx, func() (err error) { e, ok, err = s.event(ctx, id); return err })
	return e, ok, err
}

func (s *cassandraStore) event(ctx context.Context, id int64) (Event, bool, error) {
	var e Event
	if s.session == nil {
		return e, false, errNotInit
	}
	var when int64
	it := s.session.Query(`SELECT when_us FROM event_ids WHERE id = ?`, id).IterContext(ctx)
	found := it.Scan(&when)
	if err := it.Close(); err != nil || !found {
		return e, false, wrapNonNil(err, "reading event %d", id)
	}
	it = s.session.Query(`SELECT id, when_us, what, data, tags FROM events WHERE bucket = ? AND when_us = ? AND id = ?`,
		eventBucketOf(when), when, id).IterContext(ctx)
	found = it.Scan(&e.ID, &e.When, &e.What, &e.Data, &e.Tags)
	if err := it.Close(); err != nil || !found {
		return e, false, wrapNonNil(err, "reading event %d", id)
	}
	e.TagSet = ParseTagInput(e.Tags)
	return e, true, nil
}

func (s *cassandraStore) DeleteEvent(ctx context.Context, id int64) (bool, error) {
	var out bool
	err := s.withEventTables(ctx, func() (err error) { out, err = s.deleteEvent(ctx, id); return err })
	return out, err
}

func (s *cassandraStore) deleteEvent(ctx context.Context, id int64) (bool, error) {
	e, ok, err := s.event(ctx, id)
	if err != nil || !ok {
		return false, err
	}
	if err := s.session.Query(`DELETE FROM events WHERE bucket = ? AND when_us = ? AND id = ?`, eventBucketOf(e.When), e.When, id).ExecContext(ctx); err != nil {
		return false, fmt.Errorf("deleting event %d: %w", id, err)
	}
	if err := s.session.Query(`DELETE FROM event_ids WHERE id = ?`, id).ExecContext(ctx); err != nil {
		return false, fmt.Errorf("deleting event %d: %w", id, err)
	}
	return true, nil
}

func (s *cassandraStore) KnownEventTags(ctx context.Context, tags []string) ([]string, error) {
	var out []string
	err := s.withEventTables(ctx, func() (err error) { out, err = s.knownEventTags(ctx, tags); return err })
	return out, err
}

func (s *cassandraStore) knownEventTags(ctx context.Context, tags []string) ([]string, error) {
	if s.session == nil {
		return nil, errNotInit
	}
	if len(tags) == 0 {
		return nil, nil
	}
	it := s.session.Query(`SELECT tag FROM event_tag_names WHERE tag IN ?`, dedup(tags)).IterContext(ctx)
	var out []string
	var t string
	for it.Scan(&t) {
		out = append(out, t)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("reading event tags: %w", err)
	}
	return out, nil
}

// wrapNonNil wraps err with what was attempted; nil stays nil.
func wrapNonNil(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
