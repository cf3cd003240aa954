package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
)

// The benchmarks run over a generated organisation: by default 1,000,000 merged MRs and
// 500,000 production deployments over one year in 200 projects, with commits, review notes,
// deployment links and coverage pipelines. PACER_BENCH_MRS scales it (deployments are half).
// The database is generated once, directly in SQL, and kept in the temporary directory.

var benchYear = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) // a Monday

func benchSize() int {
	if v, err := strconv.Atoi(os.Getenv("PACER_BENCH_MRS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// benchEngine opens (generating if needed) the benchmark database with refreshed facts.
func benchEngine(b *testing.B) *Engine {
	b.Helper()
	ctx := context.Background()
	n := benchSize()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("pacer-bench-v%d-%d.db", factsVersion, n))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp"
		os.Remove(tmp)
		os.Remove(tmp + "-wal")
		os.Remove(tmp + "-shm")
		st, err := store.Open(ctx, tmp)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := generateOrg(ctx, st, n); err != nil {
			b.Fatal(err)
		}
		gen := time.Since(start)
		start = time.Now()
		e := New(st, config.Default())
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d MRs in %v, first refresh %v", n, gen.Round(time.Second), time.Since(start).Round(time.Millisecond))
		if _, err := st.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		st.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		os.Remove(tmp + "-wal")
		os.Remove(tmp + "-shm")
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := New(st, config.Default())
	e.SetClock(func() time.Time { return benchYear.AddDate(1, 0, 7) })
	if err := e.ensureFresh(ctx); err != nil {
		b.Fatal(err)
	}
	return e
}

// generateOrg writes a year of a large organisation's raw history straight into the tables.
func generateOrg(ctx context.Context, st *store.Store, nMRs int) error {
	const projects = 200
	r := rand.New(rand.NewPCG(7, 11))
	year := int64(365 * 86400)
	start := benchYear.Unix()
	return st.InTx(ctx, func(tx *sql.Tx) error {
		prep := func(q string) *sql.Stmt {
			s, err := tx.PrepareContext(ctx, q)
			if err != nil {
				panic(err)
			}
			return s
		}
		insProject := prep(`INSERT INTO projects(id, path, name, default_branch, web_url, discovered_at) VALUES (?, ?, ?, 'main', ?, 0)`)
		insUser := prep(`INSERT INTO users(id, username, bot, fetched_at) VALUES (?, ?, ?, 0)`)
		insMR := prep(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
			source_branch, target_branch, created_at, updated_at, merged_at, web_url, sha) VALUES (?, ?, ?, ?, 'merged', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		insCommit := prep(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at, author) VALUES (?, ?, ?, ?, ?)`)
		setRef := prep(`UPDATE deployments SET ref = ? WHERE id = ?`)
		insNote := prep(`INSERT INTO mr_notes(project_id, mr_iid, note_id, kind, author_id, author_username, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		insEnv := prep(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (?, ?, ?, 'production', 1)`)
		insDep := prep(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at, job_url)
			VALUES (?, ?, ?, ?, ?, ?, 'success', ?, ?, ?, ?)`)
		insLink := prep(`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (?, ?, ?)`)
		insPipe := prep(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url)
			VALUES (?, ?, 'main', ?, 'success', ?, ?, ?, ?, '')`)
		const humans, bots = 2000, 20
		for u := 1; u <= humans+bots; u++ {
			name, bot := fmt.Sprintf("dev%d", u), false
			if u > humans {
				name, bot = fmt.Sprintf("renovate%d", u), true
			}
			if _, err := insUser.ExecContext(ctx, u, name, bot); err != nil {
				return err
			}
		}
		var noteID, depID, pipeID int64
		for p := int64(1); p <= projects; p++ {
			path := fmt.Sprintf("acme/group-%d/service-%d", p%10, p)
			if _, err := insProject.ExecContext(ctx, p, path, path, "https://gitlab.example.com/"+path); err != nil {
				return err
			}
			if _, err := insEnv.ExecContext(ctx, p, p, "production"); err != nil {
				return err
			}
			// Deployments first, in time order, so MRs can be linked to the next one.
			nDeps := nMRs / 2 / projects
			depTimes := make([]int64, nDeps)
			for i := range depTimes {
				depTimes[i] = start + r.Int64N(year)
			}
			sort.Slice(depTimes, func(i, j int) bool { return depTimes[i] < depTimes[j] })
			firstDep := depID + 1
			var shas []string
			for i, t := range depTimes {
				depID++
				sha := fmt.Sprintf("%040x", r.Uint64())
				switch x := r.IntN(100); {
				case x < 2 && len(shas) > 0: // a redeploy
					sha = shas[len(shas)-1]
				case x < 3 && len(shas) > 3: // a rollback
					sha = shas[len(shas)-3]
				}
				shas = append(shas, sha)
				if _, err := insDep.ExecContext(ctx, depID, i+1, p, p, "production", sha, t, t, t, ""); err != nil {
					return err
				}
			}
			for iid := int64(1); iid <= int64(nMRs/projects); iid++ {
				created := start + r.Int64N(year) - 3*86400
				merged := created + 3600 + r.Int64N(5*86400)
				author := 1 + r.Int64N(humans)
				if r.IntN(100) < 3 {
					author = humans + 1 + r.Int64N(bots)
				}
				target, labels, title, branch := "main", "[]", fmt.Sprintf("Change %d", iid), fmt.Sprintf("feature/%d", iid)
				if r.IntN(100) < 2 {
					target = "release"
				}
				if r.IntN(100) < 5 {
					labels = `["bug","backend"]`
				}
				if r.IntN(100) < 2 {
					title = "Revert " + title
				} else if r.IntN(100) < 20 {
					title = "refactor: " + title // tech debt
				}
				// One MR in ten is deployed from its branch before the merge, where a deployment
				// falls between its opening and its merge.
				head := fmt.Sprintf("%040x", r.Uint64())
				if k := sort.Search(len(depTimes), func(i int) bool { return depTimes[i] > created }); r.IntN(10) == 0 &&
					k < len(depTimes) && depTimes[k] < merged && target == "main" {
					head = shas[k]
					if _, err := setRef.ExecContext(ctx, branch, firstDep+int64(k)); err != nil {
						return err
					}
				}
				if _, err := insMR.ExecContext(ctx, p, iid, p*1_000_000+iid, title, author, fmt.Sprintf("dev%d", author), labels,
					branch, target, created, merged, merged, fmt.Sprintf("https://gitlab.example.com/%s/-/merge_requests/%d", path, iid), head); err != nil {
					return err
				}
				for c := 0; c < 2; c++ {
					committer := author // one commit in five by a colleague
					if r.IntN(5) == 0 {
						committer = 1 + r.Int64N(humans)
					}
					if _, err := insCommit.ExecContext(ctx, p, iid, fmt.Sprintf("%040x", r.Uint64()), created-r.Int64N(3*86400),
						fmt.Sprintf("dev%d@example.com", committer)); err != nil {
						return err
					}
				}
				reviewer := 1 + (author+1+r.Int64N(humans-2))%humans
				noteID++
				if _, err := insNote.ExecContext(ctx, p, iid, noteID, "comment", reviewer, fmt.Sprintf("dev%d", reviewer), created+r.Int64N(merged-created+86400)); err != nil {
					return err
				}
				if r.IntN(10) < 9 {
					noteID++
					if _, err := insNote.ExecContext(ctx, p, iid, noteID, "approved", reviewer, fmt.Sprintf("dev%d", reviewer), created+r.Int64N(merged-created)); err != nil {
						return err
					}
				}
				// Shipped by the first deployment after the merge, when there is one.
				k := sort.Search(len(depTimes), func(i int) bool { return depTimes[i] >= merged })
				if k < len(depTimes) {
					if _, err := insLink.ExecContext(ctx, firstDep+int64(k), p, iid); err != nil {
						return err
					}
				}
			}
			for d := int64(0); d < 365; d++ {
				for k := int64(0); k < 2; k++ {
					pipeID++
					t := start + d*86400 + 3600 + r.Int64N(80000)
					if _, err := insPipe.ExecContext(ctx, pipeID, p, fmt.Sprintf("%040x", r.Uint64()), t, t, t, 60+r.Float64()*35); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
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
