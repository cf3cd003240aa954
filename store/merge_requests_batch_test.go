package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// A batch writes each MR's details with its details_updated_at, skips (and names) MRs whose row
// is gone without writing anything of them, and writes nothing at all when one statement fails.
func TestReplaceMergeRequestDetailsBatch(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	merged := at(60)
	var mrs []store.MergeRequest
	for iid := int64(1); iid <= 3; iid++ {
		mrs = append(mrs, store.MergeRequest{ProjectID: 1, IID: iid, ID: 100 + iid, Title: "t", State: "merged",
			AuthorID: 1, TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(60), MergedAt: &merged})
	}
	if err := s.SaveMergeRequests(ctx, 1, mrs, at(60)); err != nil {
		t.Fatal(err)
	}
	details := func(iid int64, sha string, kind store.NoteKind) store.MergeRequestDetails {
		c := []store.MRCommit{{SHA: sha, AuthoredAt: at(-10), Author: "ann@example.com"}}
		if iid == 2 { // a revert: the SHAs its message names round-trip
			c[0].Reverts = []string{"0123456789abcdef0123456789abcdef01234567", "abcdef1"}
		}
		n := []store.MRNote{{ID: 10 * iid, Kind: kind, AuthorID: 2, AuthorUsername: "bo", CreatedAt: at(20)}}
		return store.MergeRequestDetails{ProjectID: 1, IID: iid, UpdatedAt: at(60), Commits: c, Notes: n,
			Facts: store.DeriveReview(store.ReviewInput{AuthorID: 1, CreatedAt: at(0), MergedAt: &merged, Commits: c, Notes: n})}
	}

	missing, err := s.ReplaceMergeRequestDetailsBatch(ctx, []store.MergeRequestDetails{
		details(1, "a1", store.NoteApproved), details(99, "x", store.NoteComment), details(2, "b1", store.NoteComment)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(missing, []int64{99}) {
		t.Fatalf("missing = %v, want [99]", missing)
	}
	need, err := s.MergeRequestsNeedingDetails(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(need) != 1 || need[0].IID != 3 {
		t.Fatalf("still needing details: %+v, want only !3", need)
	}
	for _, iid := range []int64{1, 2} {
		got, _ := s.MergeRequest(ctx, 1, iid)
		commits, _ := s.MergeRequestCommits(ctx, 1, iid)
		notes, _ := s.MergeRequestNotes(ctx, 1, iid)
		want := details(iid, map[int64]string{1: "a1", 2: "b1"}[iid], "")
		if got.CommitCount != 1 || !reflect.DeepEqual(commits, want.Commits) || len(notes) != 1 || notes[0].ID != 10*iid ||
			got.EarliestCommitAt == nil || !got.EarliestCommitAt.Equal(at(-10)) || got.FirstReviewAt == nil {
			t.Fatalf("!%d: mr %+v commits %+v notes %+v", iid, got, commits, notes)
		}
	}
	if got, _ := s.MergeRequest(ctx, 1, 1); got.FirstApprovalAt == nil || !got.FirstApprovalAt.Equal(at(20)) {
		t.Fatalf("!1 first approval = %v, want %v", got.FirstApprovalAt, at(20))
	}
	if _, err := s.MergeRequest(ctx, 1, 99); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("!99 was created: %v", err)
	}

	// !3's note has a kind the schema rejects: the batch fails and !1's new commit is not kept.
	_, err = s.ReplaceMergeRequestDetailsBatch(ctx, []store.MergeRequestDetails{
		details(1, "a2", store.NoteComment), details(3, "c1", "bogus")})
	if err == nil {
		t.Fatal("a batch with a rejected row must fail")
	}
	commits, _ := s.MergeRequestCommits(ctx, 1, 1)
	if len(commits) != 1 || commits[0].SHA != "a1" {
		t.Fatalf("failed batch left !1 with commits %+v, want a1 only", commits)
	}
	if need, _ := s.MergeRequestsNeedingDetails(ctx, 1); len(need) != 1 || need[0].IID != 3 {
		t.Fatalf("after a failed batch, needing details: %+v, want only !3", need)
	}
	if missing, err := s.ReplaceMergeRequestDetailsBatch(ctx, nil); err != nil || missing != nil {
		t.Fatalf("empty batch: %v %v", missing, err)
	}
}

// Row counts around the multi-row INSERT's chunk size all arrive, in order: a duplicate commit
// keeps its first row (OR IGNORE) and a duplicate note its last (OR REPLACE), as row by row.
func TestReplaceMergeRequestDetailsBatchManyRows(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	counts := []int{0, 1, 63, 64, 65, 129}
	var mrs []store.MergeRequest
	var ds []store.MergeRequestDetails
	for i, n := range counts {
		iid := int64(i + 1)
		mrs = append(mrs, store.MergeRequest{ProjectID: 1, IID: iid, ID: iid, Title: "t", State: "opened",
			TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(5)})
		d := store.MergeRequestDetails{ProjectID: 1, IID: iid, UpdatedAt: at(5)}
		for k := range n {
			d.Commits = append(d.Commits, store.MRCommit{SHA: fmt.Sprintf("c%03d", k), AuthoredAt: at(k)})
			d.Notes = append(d.Notes, store.MRNote{ID: int64(k), Kind: store.NoteComment, AuthorID: 2, AuthorUsername: "bo", CreatedAt: at(k)})
		}
		if n > 0 {
			d.Commits = append(d.Commits, store.MRCommit{SHA: "c000", AuthoredAt: at(999)})
			d.Notes = append(d.Notes, store.MRNote{ID: 0, Kind: store.NoteApproved, AuthorID: 3, AuthorUsername: "cy", CreatedAt: at(0)})
		}
		ds = append(ds, d)
	}
	if err := s.SaveMergeRequests(ctx, 1, mrs, at(5)); err != nil {
		t.Fatal(err)
	}
	if missing, err := s.ReplaceMergeRequestDetailsBatch(ctx, ds); err != nil || len(missing) != 0 {
		t.Fatalf("missing %v, err %v", missing, err)
	}
	for i, n := range counts {
		iid := int64(i + 1)
		commits, err := s.MergeRequestCommits(ctx, 1, iid)
		if err != nil {
			t.Fatal(err)
		}
		notes, err := s.MergeRequestNotes(ctx, 1, iid)
		if err != nil {
			t.Fatal(err)
		}
		if len(commits) != n || len(notes) != n {
			t.Fatalf("!%d: %d commits, %d notes; want %d each", iid, len(commits), len(notes), n)
		}
		for k := range n {
			if commits[k].SHA != fmt.Sprintf("c%03d", k) || !commits[k].AuthoredAt.Equal(at(k)) {
				t.Fatalf("!%d commit %d = %+v", iid, k, commits[k])
			}
		}
		if n > 0 && (notes[0].ID != 0 || notes[0].Kind != store.NoteApproved || notes[0].AuthorID != 3) {
			t.Fatalf("!%d: duplicate note 0 must keep its last row, got %+v", iid, notes[0])
		}
	}
}
