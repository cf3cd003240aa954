package store_test

import (
	"context"
	"testing"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// The revision counters move on every write that changes what the facts read, and stay put when
// the collector saves the same rows again (its overlap window does on every sync).
func TestProjectRevisionsMoveOnChangesOnly(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	seedProject(t, s, 2, "acme/web")
	revision := func(id int64) (rev, pipes int64) {
		t.Helper()
		s.DB.QueryRowContext(ctx, `SELECT revision, pipelines FROM project_revisions WHERE project_id = ?`, id).Scan(&rev, &pipes)
		return rev, pipes
	}
	merged := at(60)
	mr := store.MergeRequest{ProjectID: 1, IID: 7, ID: 700, Title: "t", State: "merged", AuthorID: 1, AuthorUsername: "ann",
		TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(60), MergedAt: &merged}
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr}, at(60)); err != nil {
		t.Fatal(err)
	}
	r1, _ := revision(1)
	if r1 == 0 {
		t.Fatal("a new MR did not move its project's revision")
	}
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr}, at(61)); err != nil {
		t.Fatal(err)
	}
	if r, _ := revision(1); r != r1 {
		t.Errorf("saving the same MR again moved the revision %d -> %d", r1, r)
	}
	mr.UpdatedAt, mr.Title = at(90), "t2"
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr}, at(90)); err != nil {
		t.Fatal(err)
	}
	r2, _ := revision(1)
	if r2 == r1 {
		t.Error("a changed MR did not move the revision")
	}
	if r, _ := revision(2); r != 0 {
		t.Errorf("another project's revision moved: %d", r)
	}
	// Pipelines move their own counter only.
	fin := at(100)
	cov := 91.5
	p := store.Pipeline{ID: 5, ProjectID: 1, Ref: "main", SHA: "abc", Status: "success", CreatedAt: at(95), UpdatedAt: at(100), FinishedAt: &fin, Coverage: &cov}
	if err := s.SavePipelines(ctx, 1, []store.Pipeline{p}, at(100)); err != nil {
		t.Fatal(err)
	}
	if r, pipes := revision(1); r != r2 || pipes == 0 {
		t.Errorf("after a pipeline: revision %d (was %d), pipelines %d", r, r2, pipes)
	}
	// Deleting an MR moves it too (and its commits and notes go with it).
	if err := s.DeleteMergeRequest(ctx, 1, 7); err != nil {
		t.Fatal(err)
	}
	if r, _ := revision(1); r == r2 {
		t.Error("deleting an MR did not move the revision")
	}
}
