// Package storetest gives tests a real, migrated SQLite file.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pacer-dev/pacer/store"
)

// New opens a fresh, migrated database in the test's temporary directory and closes it at
// the end of the test.
func New(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "pacer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
