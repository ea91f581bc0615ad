package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
)

type row struct {
	Path  string  `db:"path"`
	Time  int64   `db:"ts"`
	Value float64 `db:"value"`
}

var rows = []row{
	{"a.b.c", 1700000000, 1.5},
	{"a.b.d", 1700000010, -2},
	{"a.ü.日本", 1700000020, 1e300},
}

// sqlRoundTrip creates a table, writes rows, reads them back and drops it:
// the same check for every SQL backend.
func sqlRoundTrip(t *testing.T, db *sqlx.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db.MustExecContext(ctx, `CREATE TABLE points (path VARCHAR(255) NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL, PRIMARY KEY (path, ts))`)
	if _, err := db.NamedExecContext(ctx, `INSERT INTO points (path, ts, value) VALUES (:path, :ts, :value)`, rows); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got []row
	if err := db.SelectContext(ctx, &got, `SELECT path, ts, value FROM points ORDER BY ts`); err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read back %d rows, want %d: %v", len(got), len(rows), got)
	}
	for i := range rows {
		if got[i] != rows[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], rows[i])
		}
	}
	db.MustExecContext(ctx, `DROP TABLE points`)
}

func TestSQLite(t *testing.T) {
	db, _ := SQLite(t)
	sqlRoundTrip(t, db)
}

func TestMariaDB(t *testing.T) {
	db, _ := MySQL(t)
	var version string
	if err := db.Get(&version, "SELECT VERSION()"); err != nil {
		t.Fatalf("version: %v", err)
	}
	t.Logf("server version %s", version)
	sqlRoundTrip(t, db)
}

func TestCassandra(t *testing.T) {
	s, ks := Cassandra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Query(`CREATE TABLE points (path text, ts bigint, value double, PRIMARY KEY (path, ts))`).ExecContext(ctx); err != nil {
		t.Fatalf("create table in %s: %v", ks, err)
	}
	for _, r := range rows {
		if err := s.Query(`INSERT INTO points (path, ts, value) VALUES (?, ?, ?) USING TTL 3600`, r.Path, r.Time, r.Value).ExecContext(ctx); err != nil {
			t.Fatalf("insert %v: %v", r, err)
		}
	}
	for _, want := range rows {
		var got row
		var ttl int
		err := s.Query(`SELECT path, ts, value, TTL(value) FROM points WHERE path = ? AND ts = ?`, want.Path, want.Time).
			ScanContext(ctx, &got.Path, &got.Time, &got.Value, &ttl)
		if err != nil {
			t.Fatalf("select %q: %v", want.Path, err)
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if ttl <= 0 || ttl > 3600 {
			t.Errorf("TTL of %q = %d, want in (0, 3600]", want.Path, ttl)
		}
	}
	if err := s.Query(`DROP TABLE points`).ExecContext(ctx); err != nil {
		t.Fatalf("drop table: %v", err)
	}
}

func TestNATSJetStream(t *testing.T) {
	nc := NATSConn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"}, MaxMsgs: 100})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	want := []string{"one", "two", "three"}
	for _, m := range want {
		if _, err := js.Publish(ctx, "test.rows", []byte(m)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(len(want), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		if err := m.Ack(); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i, got[i], want[i])
		}
	}
	if err := js.DeleteStream(ctx, "TEST"); err != nil {
		t.Fatalf("delete stream: %v", err)
	}
}
