package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/internal/benchorg"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// BenchmarkPages1M serves every page through the router, as a full document, over the
// generated year of internal/benchorg (1,000,000 merged MRs, 500,000 production deployments,
// 200 projects; PACER_BENCH_MRS scales it), for the last 12 weeks and for the year, without a
// filter, for one service and for a team. Each page is measured twice: "cold" is the first
// request of a facts generation (the generation is moved before each one, as a refresh that
// commits moves it), "warm" a request answered after another for the same generation and
// filter. Sub-benchmarks: RANGE/FILTER/PAGE/cold|warm.
//
//	go test -run '^$' -bench 'Pages1M' -benchtime 3x ./web
func BenchmarkPages1M(b *testing.B) {
	srv, st := bench1MServer(b)
	ctx := context.Background()
	for _, r := range bench1MRanges {
		for _, f := range bench1MFilters {
			for _, p := range bench1MPages {
				path := p.path + sep(p.path) + r.query + f.query
				for _, temp := range []string{"cold", "warm"} {
					b.Run(r.name+"/"+f.name+"/"+p.name+"/"+temp, func(b *testing.B) {
						get1M(b, srv, path) // the facts derived, the database's pages read
						b.ReportAllocs()
						b.ResetTimer()
						for b.Loop() {
							if temp == "cold" {
								b.StopTimer()
								if _, err := st.DB.ExecContext(ctx, `UPDATE fact_state SET generation = generation + 1`); err != nil {
									b.Fatal(err)
								}
								srv.unscoped.Recheck() // as a refresh in this process would
								b.StartTimer()
							}
							get1M(b, srv, path)
						}
					})
				}
			}
		}
	}
}

// BenchmarkExport1M streams the MR and deployment CSVs of 12 weeks and of the year, reporting
// rows per second.
func BenchmarkExport1M(b *testing.B) {
	srv, _ := bench1MServer(b)
	for _, r := range bench1MRanges {
		for _, d := range []string{"merge-requests", "deployments"} {
			b.Run(r.name+"/"+d, func(b *testing.B) {
				rows := 0
				b.ReportAllocs()
				for b.Loop() {
					body := get1M(b, srv, "/export/"+d+".csv?"+strings.TrimPrefix(r.query, "&"))
					rows = strings.Count(body, "\n") - 1
				}
				b.ReportMetric(float64(rows), "rows")
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

var bench1MRanges = []struct{ name, query string }{
	{"12w", "&period=custom&from=2025-10-13&to=2026-01-04"},
	{"year", "&period=custom&from=2025-01-06&to=2026-01-04"},
}

// One project of 200 (0.5% of the MRs), and a team of ten projects and twenty authors.
var bench1MFilters = []struct{ name, query string }{
	{"all", ""},
	{"service", "&service=acme%2Fgroup-7%2Fservice-17"},
	{"team", "&team=platform"},
}

var bench1MPages = []struct{ name, path string }{
	{"overview", "/"},
	{"cycle-time", "/cycle-time"},
	{"releases", "/releases"},
	{"rework", "/rework"},
	{"coverage", "/coverage"},
	{"approvals", "/approvals"},
	{"investment", "/investment"},
	{"agreements", "/agreements"},
	{"merge-requests", "/merge-requests"},
	{"merge-requests-slowest", "/merge-requests?sort=slowest"},
	{"deployments", "/deployments"},
}

const bench1MConfig = `
[[team]]
name     = "platform"
services = ["acme/group-1/service-1", "acme/group-1/service-11", "acme/group-1/service-21", "acme/group-1/service-31",
            "acme/group-1/service-41", "acme/group-1/service-51", "acme/group-1/service-61", "acme/group-1/service-71",
            "acme/group-1/service-81", "acme/group-1/service-91"]
authors  = ["dev1", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "dev9", "dev10",
            "dev11", "dev12", "dev13", "dev14", "dev15", "dev16", "dev17", "dev18", "dev19", "dev20"]
`

func sep(path string) string {
	if strings.Contains(path, "?") {
		return ""
	}
	return "?"
}

// bench1MServer opens the benchmark organisation (making it if needed, which takes minutes)
// and serves it with the benchmark's team, the open dashboard of a loopback server.
func bench1MServer(b *testing.B) (*Server, *store.Store) {
	b.Helper()
	ctx := context.Background()
	path, err := benchorg.Prepare(ctx, benchorg.Options{MRs: benchorg.Size(), FactsVersion: metrics.FactsVersion, Tag: "pages",
		Refresh: func(ctx context.Context, st *store.Store) error {
			return metrics.New(st, config.Default()).Refresh(ctx)
		},
		Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	st, err := benchorg.Open(ctx, path, b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg, err := config.Parse("bench.toml", []byte(bench1MConfig))
	if err != nil {
		b.Fatal(err)
	}
	eng := metrics.New(st, cfg)
	eng.SetClock(benchorg.Now)
	srv, err := New(Options{Store: st, Engine: eng, Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	srv.access.baseHost = "example.com" // httptest.NewRequest's host
	return srv, st
}

func get1M(b *testing.B, srv *Server, path string) string {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, truncate(rec.Body.String(), 300))
	}
	return rec.Body.String()
}

// BenchmarkPagesConcurrent1M serves every page of BenchmarkPages1M (warm) to fifty goroutines
// at once, in process, and reports how often and how long a request waited for a database
// connection (db-waits, db-wait-ns/op): whether requests still wait on each other beyond the
// processors they share.
func BenchmarkPagesConcurrent1M(b *testing.B) {
	srv, st := bench1MServer(b)
	var paths []string
	for _, r := range bench1MRanges {
		for _, f := range bench1MFilters {
			for _, p := range bench1MPages {
				path := p.path + sep(p.path) + r.query + f.query
				get1M(b, srv, path) // warm
				paths = append(paths, path)
			}
		}
	}
	before := st.DB.Stats()
	var next atomic.Int64
	b.SetParallelism(25) // 50 goroutines on 2 processors
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			path := paths[int(next.Add(1))%len(paths)]
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				b.Errorf("%s: %d", path, rec.Code) // not Fatal: this is not the benchmark's goroutine
			}
		}
	})
	after := st.DB.Stats()
	b.ReportMetric(float64(after.WaitCount-before.WaitCount), "db-waits")
	b.ReportMetric(float64(after.WaitDuration-before.WaitDuration)/float64(b.N), "db-wait-ns/op")
	b.ReportMetric(float64(after.MaxOpenConnections), "db-conns")
}
