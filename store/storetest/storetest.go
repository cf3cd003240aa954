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
