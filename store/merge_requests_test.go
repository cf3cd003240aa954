package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
func ptr(t time.Time) *time.Time {
	return &t
}

func TestDeriveReview(t *testing.T) {
	const author, alice, bob, botID = 1, 2, 3, 4
	isBot := func(id int64, username string) bool {
		return id == botID || store.IsBotUsername(username, []string{"Renovate"})
	}
	note := func(id int64, kind store.NoteKind, who int64, name string, min int) store.MRNote {
		return store.MRNote{ID: id, Kind: kind, AuthorID: who, AuthorUsername: name, CreatedAt: at(min)}
	}
	merged := at(100)
	cases := []struct {
		name             string
		in               store.ReviewInput
		first            time.Time
		earliest         *time.Time
		review, approval *time.Time
	}{
		{
			name:  "no commits, no notes: first commit is created_at",
			in:    store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged},
			first: at(0),
		},
		{
			name: "earliest authored instant wins, across offsets",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, Commits: []store.MRCommit{
				{SHA: "b", AuthoredAt: at(-30).In(time.FixedZone("x", 5*3600))},
				{SHA: "a", AuthoredAt: at(-90).In(time.FixedZone("y", -7*3600))},
				{SHA: "c", AuthoredAt: at(-10)},
			}},
			first: at(-90), earliest: ptr(at(-90)),
		},
		{
			name: "commit after created_at falls back to created_at",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, Commits: []store.MRCommit{
				{SHA: "a", AuthoredAt: at(5)},
			}},
			first: at(0), earliest: ptr(at(5)),
		},
		{
			name: "author, bots and late notes do not count; approval later withdrawn still counts",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, IsBot: isBot, Notes: []store.MRNote{
				note(1, store.NoteComment, author, "me", 1),
				note(2, store.NoteComment, botID, "flagged", 2),
				note(3, store.NoteApproved, 9, "project_7_bot_abc", 3),
				note(4, store.NoteComment, 10, "renovate", 4),
				note(5, store.NoteApproved, alice, "alice", 50),
				note(6, store.NoteUnapproved, alice, "alice", 60),
				note(7, store.NoteComment, bob, "bob", 70),
				note(8, store.NoteComment, bob, "bob", 101),
			}},
			first: at(0), review: ptr(at(50)), approval: ptr(at(50)),
		},
		{
			name: "comment before approval is the first review",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, Notes: []store.MRNote{
				note(2, store.NoteApproved, alice, "alice", 40),
				note(1, store.NoteComment, bob, "bob", 20),
			}},
			first: at(0), review: ptr(at(20)), approval: ptr(at(40)),
		},
		{
			name: "approval exactly at merge counts, after does not",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, Notes: []store.MRNote{
				note(1, store.NoteApproved, alice, "alice", 100),
				note(2, store.NoteApproved, bob, "bob", 99),
			}},
			first: at(0), review: ptr(at(99)), approval: ptr(at(99)),
		},
		{
			name: "only notes after the merge: unreviewed, unapproved",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), MergedAt: &merged, Notes: []store.MRNote{
				note(1, store.NoteApproved, alice, "alice", 101),
				note(2, store.NoteComment, bob, "bob", 102),
			}},
			first: at(0),
		},
		{
			name: "unmerged MR: no merge bound",
			in: store.ReviewInput{AuthorID: author, CreatedAt: at(0), Notes: []store.MRNote{
				note(1, store.NoteComment, bob, "bob", 500),
			}},
			first: at(0), review: ptr(at(500)),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := store.DeriveReview(c.in)
			if !f.FirstCommitAt.Equal(c.first) {
				t.Errorf("first commit %v, want %v", f.FirstCommitAt, c.first)
			}
			eq := func(what string, got, want *time.Time) {
				if (got == nil) != (want == nil) || got != nil && !got.Equal(*want) {
					t.Errorf("%s %v, want %v", what, got, want)
				}
			}
			eq("earliest commit", f.EarliestCommitAt, c.earliest)
			eq("first review", f.FirstReviewAt, c.review)
			eq("first approval", f.FirstApprovalAt, c.approval)
		})
	}
}

func TestBotRule(t *testing.T) {
	rule := store.BotRule(map[int64]store.User{5: {ID: 5, Username: "deploybot", Bot: true}, 6: {ID: 6, Username: "jo"}}, []string{"Renovate-Bot"})
	for _, c := range []struct {
		id   int64
		name string
		want bool
	}{
		{5, "deploybot", true}, {6, "jo", false}, {7, "project_12_bot_5f2a", true}, {8, "group_3_bot", true},
		{9, "service_account_ci", true}, {10, "renovate-bot", true}, {11, "myproject_12_bot", false},
	} {
		if got := rule(c.id, c.name); got != c.want {
			t.Errorf("%d %s: %v, want %v", c.id, c.name, got, c.want)
		}
	}
}

func seedProject(t *testing.T, s *store.Store, id int64, path string) {
	t.Helper()
	if err := s.UpsertProject(context.Background(), store.Project{ID: id, Path: path, Name: path, DefaultBranch: "main", DiscoveredAt: t0}); err != nil {
		t.Fatal(err)
	}
}

func TestSaveMergeRequestsIsIdempotentAndKeepsDetails(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	merged := at(60)
	mr := store.MergeRequest{ProjectID: 1, IID: 7, ID: 700, Title: "Add <b>things</b>", State: "merged", AuthorID: 1,
		AuthorUsername: "ann", Labels: []string{"bug", "Backend"}, SourceBranch: "fix/x", TargetBranch: "main",
		CreatedAt: at(0), UpdatedAt: at(61), MergedAt: &merged, SHA: "abc", MergeCommitSHA: "def", WebURL: "https://g/acme/api/-/merge_requests/7"}
	other := store.MergeRequest{ProjectID: 1, IID: 8, ID: 800, Title: "WIP", State: "opened", AuthorID: 2, AuthorUsername: "bo",
		TargetBranch: "main", CreatedAt: at(1), UpdatedAt: at(2)}
	for i := 0; i < 2; i++ {
		if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr, other}, at(61)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	s.DB.QueryRow(`SELECT count(*) FROM merge_requests`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d rows after saving twice", n)
	}
	need, err := s.MergeRequestsNeedingDetails(ctx, 1)
	if err != nil || len(need) != 1 || need[0].IID != 7 {
		t.Fatalf("needing details: %+v, %v (want only the merged MR)", need, err)
	}
	got, err := s.MergeRequest(ctx, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := mr
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}

	facts := store.DeriveReview(store.ReviewInput{AuthorID: 1, CreatedAt: mr.CreatedAt, MergedAt: mr.MergedAt,
		Commits: []store.MRCommit{{SHA: "c1", AuthoredAt: at(-20)}},
		Notes:   []store.MRNote{{ID: 1, Kind: store.NoteApproved, AuthorID: 3, AuthorUsername: "cy", CreatedAt: at(30)}}})
	d := store.MergeRequestDetails{ProjectID: 1, IID: 7, UpdatedAt: mr.UpdatedAt, Facts: facts,
		Commits: []store.MRCommit{{SHA: "c1", AuthoredAt: at(-20)}},
		Notes:   []store.MRNote{{ID: 1, Kind: store.NoteApproved, AuthorID: 3, AuthorUsername: "cy", CreatedAt: at(30)}}}
	if err := s.ReplaceMergeRequestDetails(ctx, d); err != nil {
		t.Fatal(err)
	}
	if need, _ := s.MergeRequestsNeedingDetails(ctx, 1); len(need) != 0 {
		t.Fatalf("details current, still needing: %+v", need)
	}
	// A force push: the MR changes, its listed row is saved again, details become stale but the
	// derived values stay until replaced.
	mr2 := mr
	mr2.UpdatedAt = at(70)
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr2}, at(70)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.MergeRequest(ctx, 1, 7)
	if got.DetailsCurrent() || got.FirstApprovalAt == nil || !got.FirstApprovalAt.Equal(at(30)) || got.CommitCount != 1 {
		t.Fatalf("after change: %+v", got)
	}
	d.UpdatedAt = at(70)
	d.Commits = []store.MRCommit{{SHA: "c2", AuthoredAt: at(-5)}, {SHA: "c3", AuthoredAt: at(-4)}}
	d.Facts = store.DeriveReview(store.ReviewInput{AuthorID: 1, CreatedAt: mr.CreatedAt, MergedAt: mr.MergedAt, Commits: d.Commits})
	d.Notes = nil
	if err := s.ReplaceMergeRequestDetails(ctx, d); err != nil {
		t.Fatal(err)
	}
	commits, _ := s.MergeRequestCommits(ctx, 1, 7)
	notes, _ := s.MergeRequestNotes(ctx, 1, 7)
	got, _ = s.MergeRequest(ctx, 1, 7)
	if len(commits) != 2 || commits[0].SHA != "c2" || len(notes) != 0 || got.FirstApprovalAt != nil ||
		got.EarliestCommitAt == nil || !got.EarliestCommitAt.Equal(at(-5)) || !got.DetailsCurrent() || got.CommitCount != 2 {
		t.Fatalf("replaced: commits %+v notes %+v mr %+v", commits, notes, got)
	}
	if err := s.ReplaceMergeRequestDetails(ctx, store.MergeRequestDetails{ProjectID: 1, IID: 99}); err == nil {
		t.Fatal("details of a missing MR must fail")
	}
}

func TestMergeRequestsNeedingDetailsFollowsDefaultBranch(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	merged := at(5)
	mrs := []store.MergeRequest{
		{ProjectID: 1, IID: 1, ID: 1, Title: "a", State: "merged", TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(5), MergedAt: &merged},
		{ProjectID: 1, IID: 2, ID: 2, Title: "b", State: "merged", TargetBranch: "develop", CreatedAt: at(0), UpdatedAt: at(5), MergedAt: &merged},
		{ProjectID: 1, IID: 3, ID: 3, Title: "c", State: "closed", TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(5)},
	}
	if err := s.SaveMergeRequests(ctx, 1, mrs, at(5)); err != nil {
		t.Fatal(err)
	}
	need, _ := s.MergeRequestsNeedingDetails(ctx, 1)
	if len(need) != 1 || need[0].IID != 1 {
		t.Fatalf("need %+v", need)
	}
	// The default branch moves to develop: its merged MRs now count and need details.
	if err := s.UpsertProject(ctx, store.Project{ID: 1, Path: "acme/api", DefaultBranch: "develop"}); err != nil {
		t.Fatal(err)
	}
	need, _ = s.MergeRequestsNeedingDetails(ctx, 1)
	if len(need) != 1 || need[0].IID != 2 {
		t.Fatalf("after default branch change: %+v", need)
	}
}

func TestCursorAdvancesOnlyWithItsRowsAndNeverBack(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	if _, ok, _ := s.Cursor(ctx, 1, store.ResourceMergeRequests); ok {
		t.Fatal("cursor before any sync")
	}
	mr := store.MergeRequest{ProjectID: 1, IID: 1, ID: 1, Title: "a", State: "opened", CreatedAt: at(0), UpdatedAt: at(10)}
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{mr}, at(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMergeRequests(ctx, 1, nil, at(5)); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.Cursor(ctx, 1, store.ResourceMergeRequests)
	if err != nil || !ok || !c.Equal(at(10)) {
		t.Fatalf("cursor %v %v %v, want %v", c, ok, err, at(10))
	}
	// A failing page leaves neither rows nor cursor behind.
	bad := mr
	bad.IID, bad.ProjectID = 2, 2
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{{ProjectID: 1, IID: 3, ID: 3, Title: "x", State: "opened", CreatedAt: at(0), UpdatedAt: at(20)}, bad}, at(20)); err == nil {
		t.Fatal("want an error for a row of another project")
	}
	c, _, _ = s.Cursor(ctx, 1, store.ResourceMergeRequests)
	if _, err := s.MergeRequest(ctx, 1, 3); err != store.ErrNotFound || !c.Equal(at(10)) {
		t.Fatalf("failed page left rows or moved the cursor: %v, cursor %v", err, c)
	}
	if err := s.ResetCursor(ctx, 1, store.ResourceMergeRequests); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Cursor(ctx, 1, store.ResourceMergeRequests); ok {
		t.Fatal("cursor survived reset")
	}
}

// A page listed before a webhook fetched a newer version of an MR does not undo it when the
// sync saves it afterwards: the newer row stays, and the cursor still moves.
func TestSaveMergeRequestsKeepsANewerRow(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	merged := at(60)
	newer := store.MergeRequest{ProjectID: 1, IID: 7, ID: 700, Title: "Add things, reviewed", State: "merged", AuthorID: 1,
		AuthorUsername: "ann", TargetBranch: "main", CreatedAt: at(0), UpdatedAt: at(61), MergedAt: &merged}
	if err := s.SaveHookMergeRequest(ctx, newer); err != nil {
		t.Fatal(err)
	}
	older := newer
	older.Title, older.State, older.UpdatedAt, older.MergedAt = "Add things", "opened", at(30), nil
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{older}, at(30)); err != nil {
		t.Fatal(err)
	}
	got, err := s.MergeRequest(ctx, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != newer.Title || got.State != "merged" || !got.UpdatedAt.Equal(at(61)) || got.MergedAt == nil {
		t.Fatalf("the older listing replaced the newer row: %+v", got)
	}
	// The same version saved again, and a newer one, are written.
	newest := newer
	newest.Title, newest.UpdatedAt = "Add things (final)", at(70)
	if err := s.SaveMergeRequests(ctx, 1, []store.MergeRequest{newest}, at(70)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MergeRequest(ctx, 1, 7); got.Title != newest.Title {
		t.Fatalf("a newer listing was not saved: %+v", got)
	}
}
