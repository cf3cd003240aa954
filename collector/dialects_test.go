package collector_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// One organisation synced into SQLite and into PostgreSQL: the same raw rows, and the four
// exports byte for byte, by week and by day (SPEC §11).
func TestSQLiteAndPostgresGiveIdenticalRowsAndExports(t *testing.T) {
	pg := storetest.PostgresDSN(t)
	t.Parallel()
	e := gqlOrg(t)
	ctx := context.Background()
	open := func(dsn string) *store.Store {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if sum, err := collector.Sync(ctx, st, e.options()); err != nil {
			t.Fatalf("sync into %s: %v (failed: %+v)", st.Dialect(), err, sum.Failed)
		}
		return st
	}
	lite := open(filepath.Join(t.TempDir(), "pacer.db"))
	post := open(pg)
	if lite.Dialect() != store.SQLite || post.Dialect() != store.Postgres {
		t.Fatalf("dialects %s and %s", lite.Dialect(), post.Dialect())
	}
	sameResult(t, e, lite, post, "postgres")
}
