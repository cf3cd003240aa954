package metrics_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// BenchmarkRefreshWriterWait rebuilds every fact from scratch while a collector-like writer
// commits a small write every 20 ms, and reports the longest the writer waited for one commit
// and how many of its writes failed. PACER_BENCH_DB names the database: a copy of the metrics
// benchmark's SQLite file, or a postgres:// URL it was copied into with `pacer migrate` (the
// rebuild rewrites its facts).
func BenchmarkRefreshWriterWait(b *testing.B) {
	dsn := os.Getenv("PACER_BENCH_DB")
	if dsn == "" {
		b.Skip("set PACER_BENCH_DB to a copy of the 1M-MR benchmark database or a PostgreSQL URL holding one")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var project int64
	if err := st.DB.QueryRowContext(ctx, `SELECT MIN(id) FROM projects`).Scan(&project); err != nil {
		b.Fatal(err)
	}
	eng := metrics.New(st, config.Default())
	var worst time.Duration
	var writes, failed int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := st.DB.ExecContext(ctx, `UPDATE fact_state SET fingerprint = 'rebuild'`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				t0 := time.Now()
				err := st.SetCursor(ctx, project, store.ResourceEnvironments, t0)
				if d := time.Since(t0); d > worst {
					worst = d
				}
				writes++
				if err != nil {
					failed++
				}
			}
		}()
		if err := eng.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		close(stop)
		wg.Wait()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max-writer-wait-ms")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(failed)/float64(b.N), "failed-writes/op")
}
