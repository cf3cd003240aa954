// Package storetest gives tests a real, migrated database: a SQLite file in the test's temporary
// directory, or, when PACER_TEST_DIALECT=postgres, a schema of its own on the PostgreSQL server
// PACER_TEST_POSTGRES names (`make test` runs the database suites that way whenever that
// variable is set; `make test-postgres` starts a throwaway server for it).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// Postgres reports whether this test run uses PostgreSQL.
func Postgres() bool { return os.Getenv("PACER_TEST_DIALECT") == "postgres" }

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// server is the PostgreSQL server of the run, or a failed test when none is configured.
func server(t testing.TB) (*url.URL, *sql.DB) {
	t.Helper()
	raw := os.Getenv("PACER_TEST_POSTGRES")
	if raw == "" {
		t.Fatal("PACER_TEST_DIALECT=postgres needs PACER_TEST_POSTGRES=postgres://USER@HOST:PORT/DB (or run make test-postgres)")
	}
	u, err := url.Parse(raw)
	if err != nil || !store.IsURL(raw) {
		t.Fatalf("PACER_TEST_POSTGRES is not a postgres:// URL: %s", store.Redact(raw))
	}
	adminOnce.Do(func() {
		st, err := store.OpenRaw(raw)
		if err != nil {
			adminErr = err
			return
		}
		admin = st
	})
	if adminErr != nil {
		t.Fatalf("PostgreSQL test server: %v", adminErr)
	}
	return u, admin
}

// DSN is a fresh, empty database location for one test, removed at its end: a file path, or a
// postgres:// URL whose search_path is a new schema.
func DSN(t testing.TB) string {
	t.Helper()
	if !Postgres() {
		return filepath.Join(t.TempDir(), "pacer.db")
	}
	return newSchema(t)
}

// PostgresDSN is a fresh PostgreSQL schema for tests that compare the two databases, whatever
// the run's dialect; the test is skipped when PACER_TEST_POSTGRES names no server.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	if os.Getenv("PACER_TEST_POSTGRES") == "" {
		if os.Getenv("PACER_REQUIRE_POSTGRES") != "" {
			t.Fatal("PACER_REQUIRE_POSTGRES is set but PACER_TEST_POSTGRES names no server (run under scripts/with-postgres)")
		}
		t.Skip("PostgreSQL tests skipped: set PACER_TEST_POSTGRES (make test-postgres starts a server)")
	}
	return newSchema(t)
}

func newSchema(t testing.TB) string {
	t.Helper()
	u, db := server(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

// New opens a fresh, migrated database and closes it at the end of the test.
func New(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Clone is a second database holding what st holds, row for row, closed at the end of the
// test: VACUUM INTO a new file on SQLite; on PostgreSQL a new, migrated schema whose tables
// get st's rows (the triggers off while they are copied, as a restore does).
func Clone(t testing.TB, st *store.Store) *store.Store {
	t.Helper()
	ctx := context.Background()
	if st.Dialect() != store.Postgres {
		path := filepath.Join(t.TempDir(), "clone.db")
		if _, err := st.DB.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
			t.Fatal(err)
		}
		c, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := New(t)
	var from, to string
	if err := st.DB.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	if err := c.DB.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&to); err != nil {
		t.Fatal(err)
	}
	tables := Tables(t, c.DB)
	tx, err := c.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmts := []string{`SET LOCAL session_replication_role = replica`}
	for _, tb := range tables {
		stmts = append(stmts, `DELETE FROM `+to+`.`+tb, `INSERT INTO `+to+`.`+tb+` SELECT * FROM `+from+`.`+tb)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			t.Fatalf("clone: %s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Tables names the database's tables (of the test's schema on PostgreSQL), sorted.
func Tables(t testing.TB, db *sql.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if Postgres() {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
