package benchorg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// Open opens the benchmark database at path (as Prepare made it) for a benchmark: the SQLite
// file itself, or, when PACER_BENCH_POSTGRES names a postgres:// URL, that PostgreSQL database
// holding a copy of it, made with what `pacer migrate` does the first time (it takes minutes at
// a million MRs) and kept for the next runs. The copy carries the derived facts, so both
// databases answer the same questions from the same rows.
func Open(ctx context.Context, path string, logf func(string, ...any)) (*store.Store, error) {
	url := os.Getenv("PACER_BENCH_POSTGRES")
	if url == "" {
		return store.Open(ctx, path)
	}
	if !store.IsURL(url) {
		return nil, fmt.Errorf("PACER_BENCH_POSTGRES is not a postgres:// URL: %s", store.Redact(url))
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dst, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	src, err := store.OpenSQLiteReadOnly(ctx, path)
	if err != nil {
		dst.Close()
		return nil, err
	}
	defer src.Close()
	start := time.Now()
	_, err = src.CopyTo(ctx, dst, false, nil)
	switch {
	case errors.Is(err, store.ErrTargetNotEmpty):
		logf("benchorg: %s holds the copy already", store.Redact(url))
	case err != nil:
		dst.Close()
		return nil, fmt.Errorf("benchorg: copy %s to PostgreSQL: %w", path, err)
	default:
		logf("benchorg: copied %s to %s in %s", path, store.Redact(url), time.Since(start).Round(time.Second))
	}
	return dst, nil
}
