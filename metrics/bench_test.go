package metrics

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/internal/benchorg"
	"github.com/pacer-dev/pacer/store"
)

// The benchmarks run over the generated organisation of internal/benchorg: by default
// 1,000,000 merged MRs and 500,000 production deployments over one year in 200 projects.
// PACER_BENCH_MRS scales it (deployments are half). The database is generated once and kept in
// the temporary directory, a copy per facts version for this package's benchmarks.

var benchYear = benchorg.Year

// benchEngine opens (making it if needed) the benchmark database with refreshed facts.
func benchEngine(b *testing.B) *Engine {
	b.Helper()
	ctx := context.Background()
	path, err := benchorg.Prepare(ctx, benchorg.Options{MRs: benchorg.Size(), FactsVersion: factsVersion, Tag: "pages",
		Refresh: func(ctx context.Context, st *store.Store) error { return New(st, config.Default()).Refresh(ctx) },
		Logf:    b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	st, err := benchorg.Open(ctx, path, b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := New(st, config.Default())
	e.SetClock(benchorg.Now)
	if err := e.ensureFresh(ctx); err != nil {
		b.Fatal(err)
	}
	return e
}

func benchFilter() Filter {
	return Filter{From: benchYear, To: benchYear.AddDate(1, 0, -1)}
}

// BenchmarkFiguresYear is the dashboard's heaviest question: every figure, per week and
// service, for a year of the whole organisation.
func BenchmarkFiguresYear(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	var n int
	cpu := cpuTime()
	for b.Loop() {
		e.shared.figures.clear() // the computation, not the cache
		figs, err := e.Figures(ctx, benchFilter())
		if err != nil {
			b.Fatal(err)
		}
		n = len(figs)
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(n), "figures")
}

func BenchmarkFiguresYearByDay(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	f := benchFilter()
	f.By = Day
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		e.shared.figures.clear()
		if _, err := e.Figures(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func BenchmarkFiguresYearOneService(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	f := benchFilter()
	f.Services = []string{"acme/group-7/service-17"}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		e.shared.figures.clear()
		if _, err := e.Figures(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkExportMergeRequestsMonth streams a month of MRs (about 80,000 rows) as CSV.
func BenchmarkExportMergeRequestsMonth(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	f := Filter{From: benchYear.AddDate(0, 6, 0), To: benchYear.AddDate(0, 7, -1)}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := WriteCSV(ctx, io.Discard, e, "merge-requests", f); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRefreshFull derives every fact of the organisation from scratch (the first sync,
// or a changed rule).
func BenchmarkRefreshFull(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := e.st.DB.Exec(`DELETE FROM fact_state`); err != nil {
			b.Fatal(err)
		}
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRefreshOneProject is the refresh after a sync that changed one project (one MR).
func BenchmarkRefreshOneProject(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := e.st.DB.Exec(`UPDATE merge_requests SET updated_at = updated_at + 1 WHERE project_id = 17 AND iid = 1`); err != nil {
			b.Fatal(err)
		}
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRefreshOneProjectChanged is the refresh after a sync that changed the titles of 50
// MRs of one project (as a sync of a page of its MRs would): their facts change, and their
// packed records.
func BenchmarkRefreshOneProjectChanged(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	cpu := cpuTime()
	i := 0
	for b.Loop() {
		i++
		if _, err := e.st.DB.Exec(`UPDATE merge_requests SET title = ?, updated_at = updated_at + 1 WHERE project_id = 17 AND iid <= 50`,
			"refactor: change "+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRefreshNothingChanged is the refresh after a sync that found nothing new.
func BenchmarkRefreshNothingChanged(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	cpu := cpuTime()
	for b.Loop() {
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// reportCPU adds the CPU time per operation (see cpuTime) to the benchmark's figures.
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
