package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// BenchmarkSyncWritePath is a full sync's writes as the collector makes them, into a fresh
// database: a project's MRs saved a listed page (100) at a time, their details (3 commits, 4
// notes and an approval each) in batches of 100, its production deployments a page at a time
// and the MRs each shipped in batches of 100. One op is one project of 10,000 merged MRs and
// 5,000 deployments; the benchmark reports MRs written per second and what a million would
// take at that pace (the requests to GitLab aside: this is the database's share of a sync).
// PACER_TEST_DIALECT=postgres (with PACER_TEST_POSTGRES) measures PostgreSQL.
//
//	go test -run '^$' -bench SyncWritePath -benchtime 3x ./store
func BenchmarkSyncWritePath(b *testing.B) {
	const nMRs, nDeps, page = 10_000, 5_000, 100
	ctx := context.Background()
	st := storetest.New(b)
	base := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	project := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		project++
		p := store.Project{ID: project, Path: fmt.Sprintf("acme/bench-%d", project), Name: "bench", DefaultBranch: "main",
			WebURL: "https://gitlab.example.com/acme/bench", DiscoveredAt: base}
		if err := st.UpsertProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		env := store.Environment{ID: project, ProjectID: project, Name: "production", Tier: "production", Production: true}
		if err := st.UpsertEnvironments(ctx, project, []store.Environment{env}); err != nil {
			b.Fatal(err)
		}
		at := func(i int) time.Time { return base.Add(time.Duration(i) * 50 * time.Minute) }
		for start := 0; start < nMRs; start += page {
			var mrs []store.MergeRequest
			var ds []store.MergeRequestDetails
			for i := start; i < start+page; i++ {
				created, merged := at(i), at(i).Add(20*time.Hour)
				m := store.MergeRequest{ProjectID: project, IID: int64(i + 1), ID: project*1_000_000 + int64(i),
					Title: fmt.Sprintf("feat: change %d of the bench service", i), State: "merged", AuthorID: int64(i%40 + 1),
					AuthorUsername: fmt.Sprintf("dev%d", i%40+1), Labels: []string{"feature"}, SourceBranch: fmt.Sprintf("change-%d", i),
					TargetBranch: "main", CreatedAt: created, UpdatedAt: merged, MergedAt: &merged,
					SHA: fmt.Sprintf("%040x", i), MergeCommitSHA: fmt.Sprintf("%040x", i+1<<32), WebURL: "https://gitlab.example.com/acme/bench/-/merge_requests/" + fmt.Sprint(i+1),
					UserNotesCount: 3}
				mrs = append(mrs, m)
				d := store.MergeRequestDetails{ProjectID: project, IID: m.IID, UpdatedAt: merged}
				for c := range 3 {
					d.Commits = append(d.Commits, store.MRCommit{SHA: fmt.Sprintf("%039x%d", i, c), AuthoredAt: created.Add(-time.Duration(3-c) * time.Hour), Author: m.AuthorUsername})
				}
				for n := range 4 {
					d.Notes = append(d.Notes, store.MRNote{ID: project*10_000_000 + int64(i*5+n), Kind: store.NoteComment,
						AuthorID: int64((i+n+1)%40 + 1), CreatedAt: created.Add(time.Duration(n+1) * time.Hour)})
				}
				d.Notes = append(d.Notes, store.MRNote{ID: -int64((i+7)%40 + 1), Kind: store.NoteApproved, AuthorID: int64((i+7)%40 + 1), CreatedAt: merged.Add(-time.Hour)})
				first := created.Add(-3 * time.Hour)
				review, approval := created.Add(time.Hour), merged.Add(-time.Hour)
				d.Facts = store.ReviewFacts{EarliestCommitAt: &first, FirstCommitAt: first, FirstReviewAt: &review, FirstApprovalAt: &approval}
				ds = append(ds, d)
			}
			if err := st.SaveMergeRequests(ctx, project, mrs, mrs[len(mrs)-1].UpdatedAt); err != nil {
				b.Fatal(err)
			}
			if missing, err := st.ReplaceMergeRequestDetailsBatch(ctx, ds); err != nil || len(missing) > 0 {
				b.Fatal(missing, err)
			}
		}
		for start := 0; start < nDeps; start += page {
			var deps []store.Deployment
			var ls []store.DeploymentLinks
			for i := start; i < start+page; i++ {
				finished := at(2*i + 1).Add(22 * time.Hour)
				d := store.Deployment{ID: project*1_000_000 + int64(i), IID: int64(i + 1), ProjectID: project, EnvironmentID: env.ID,
					Environment: env.Name, Ref: "main", SHA: fmt.Sprintf("%040x", i+1<<32), Status: "success",
					CreatedAt: finished.Add(-5 * time.Minute), UpdatedAt: finished, FinishedAt: finished,
					JobURL: "https://gitlab.example.com/acme/bench/-/jobs/" + fmt.Sprint(i)}
				deps = append(deps, d)
				ls = append(ls, store.DeploymentLinks{DeploymentID: d.ID, FetchedAt: finished.Add(time.Minute),
					Links: []store.MRLink{{ProjectID: project, IID: int64(2*i + 1)}, {ProjectID: project, IID: int64(2*i + 2)}}})
			}
			if err := st.SaveDeployments(ctx, project, deps, deps[len(deps)-1].FinishedAt); err != nil {
				b.Fatal(err)
			}
			if missing, err := st.ReplaceDeploymentMergeRequestsBatch(ctx, ls); err != nil || len(missing) > 0 {
				b.Fatal(missing, err)
			}
		}
	}
	perSec := float64(nMRs) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "MRs/s")
	b.ReportMetric(1_000_000/perSec, "s/1M-MRs")
}
