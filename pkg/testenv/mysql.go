package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

const mysqlScript = "scripts/mariadb.sh start (it prints the " + EnvMySQLDSN + " to export)"

// MySQL returns a connection to a new, empty database on the MariaDB/MySQL
// server named by CONSTHASH_TEST_MYSQL_DSN, or else, where Docker answers (see
// Docker), on the test process's MariaDB container (mariadb:10.11 through
// testcontainers-go); the database is dropped when the test ends. It also
// returns the DSN of that database, for code under test that opens its own
// connections.
func MySQL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	dsn := os.Getenv(EnvMySQLDSN)
	if dsn == "" {
		derr := Docker()
		if derr != nil {
			missing(t, "MariaDB", EnvMySQLDSN+" is not set and Docker is not available ("+derr.Error()+")", mysqlScript)
		}
		var err error
		if dsn, err = mariadbContainer(); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("cannot parse %s: %v", EnvMySQLDSN, err)
	}
	cfg.DBName = ""
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	admin, err := sqlx.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("cannot open MariaDB connection: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		missing(t, "MariaDB", err.Error(), mysqlScript)
	}
	name := uniqueName("consthash_test")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("cannot create test database %s: %v", name, err)
	}
	cfg.DBName = name
	testDSN := cfg.FormatDSN()
	db, err := sqlx.Open("mysql", testDSN)
	if err != nil {
		t.Fatalf("cannot open test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing test database %s: %v", name, err)
		}
		drop, err := sqlx.Open("mysql", dsnWithoutDB(cfg))
		if err != nil {
			t.Errorf("reopening MariaDB to drop %s: %v", name, err)
			return
		}
		defer drop.Close()
		if _, err := drop.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return db, testDSN
}

func dsnWithoutDB(cfg *mysql.Config) string {
	c := cfg.Clone()
	c.DBName = ""
	return c.FormatDSN()
}
