package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestOpenMigratesOnceAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := s.SchemaVersion(ctx)
	if err != nil || v1 < 1 {
		t.Fatalf("version %d, %v", v1, err)
	}
	var mode string
	if err := s.DB.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	var fk int
	if err := s.DB.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d, %v", fk, err)
	}
	// Migration numbers are given out ahead of time, so a branch may lack some: count rows.
	var applied int
	s.DB.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied)
	s.Close()

	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	s.DB.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	if n != applied {
		t.Fatalf("reopening applied migrations again: %d rows, %d before (version %d)", n, applied, v1)
	}
}

func TestOpenExistingRefusesMissingFile(t *testing.T) {
	_, err := store.OpenExisting(context.Background(), filepath.Join(t.TempDir(), "nope.db"))
	if err == nil {
		t.Fatal("want an error for a missing database")
	}
}

func TestStoretestGivesMigratedDB(t *testing.T) {
	s := storetest.New(t)
	if _, err := s.DB.Exec(`INSERT INTO projects(id, path, discovered_at) VALUES (1, 'a/b', 0)`); err != nil {
		t.Fatal(err)
	}
}
