package testenv

import (
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// SQLite opens a fresh SQLite database in a temporary file through the
// pure-Go modernc.org/sqlite driver, and closes it when the test ends. It
// returns the database and the file's path.
func SQLite(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatalf("cannot open SQLite database %s: %v", path, err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("cannot reach SQLite database %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing SQLite database %s: %v", path, err)
		}
	})
	return db, path
}
