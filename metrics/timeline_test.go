package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// timelineFixture builds the cases of the timeline's rules in acme/api (project 1), plus a
// project the scoped engine does not see:
//
//   - !1: a commit before opening, approved by bob, shipped by deployment 1 and linked again
//     by deployment 2 (the same environment: not counted).
//   - !2: deployment 3 ran its branch at its head before the merge (a deploy before merge);
//     bob's comment came after that; deployment 4 links it after the merge (not counted).
//   - !3: its first commit is after opening; linked only by the first deployment of
//     production-eu, 11 days after its merge (the 7-day rule); never reviewed.
//   - !4: no commits; notes by its author, a bot, and bob after the merge.
func timelineFixture(t *testing.T) (*fixture, *Engine) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.project(2, "acme/secret")
	f.user(1, "alice", false)
	f.user(2, "bob", false)
	f.user(9, "ci-bot", true)
	f.env(10, 1, "production", "production")
	f.env(11, 1, "production-eu", "production")
	f.env(12, 1, "staging", "staging")
	f.env(20, 2, "production", "production")

	f.mr(mrSpec{project: 1, iid: 1, title: "Add <b>search</b>", created: at(0), merged: at(3 * hour)})
	f.commit(1, 1, "c1", at(-hour))
	f.note(1, 1, "approved", 2, "bob", at(2*hour))
	f.deploy(1, 1, 10, "d1", at(4*hour), 1)
	f.deploy(2, 1, 10, "d2", at(5*hour), 1)
	f.deploy(6, 1, 12, "d6", at(4*hour), 1) // staging: not production, left out

	f.mr(mrSpec{project: 1, iid: 2, title: "Try in production", source: "feat-2", created: at(day), merged: at(day + 5*hour)})
	f.exec(`UPDATE merge_requests SET sha = 'abc123' WHERE project_id = 1 AND iid = 2`)
	f.commit(1, 2, "c2", at(day-hour))
	f.deploy(3, 1, 10, "ABC123", at(day+2*hour))
	f.exec(`UPDATE deployments SET ref = 'feat-2' WHERE id = 3`)
	f.note(1, 2, "comment", 2, "bob", at(day+3*hour))
	f.deploy(4, 1, 10, "d4", at(day+6*hour), 2)

	f.mr(mrSpec{project: 1, iid: 3, title: "Old change", created: at(-20 * day), merged: at(-10 * day)})
	f.commit(1, 3, "c3", at(-19*day))
	f.deploy(5, 1, 11, "d5", at(hour), 3)

	f.mr(mrSpec{project: 1, iid: 4, title: "No commits", created: at(2 * day), merged: at(2*day + 2*hour)})
	f.note(1, 4, "comment", 1, "alice", at(2*day+hour))
	f.note(1, 4, "comment", 9, "ci-bot", at(2*day+hour))
	f.note(1, 4, "comment", 2, "bob", at(3*day))

	f.mr(mrSpec{project: 2, iid: 1, title: "Secret", author: "cid", authorID: 3, created: at(0), merged: at(hour)})
	f.note(2, 1, "approved", 2, "bob", at(hour-60))
	return f, f.engine(nil, t0.Add(10*24*time.Hour))
}

func TestTimelineRules(t *testing.T) {
	f, all := timelineFixture(t)
	e := all.Scoped([]int64{1})

	tl, err := e.MRTimeline(f.ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tl.Facts == nil || tl.Title != "Add <b>search</b>" || tl.FirstCommitRule != RuleEarliestCommit || tl.ReviewRule != RuleFirstApproval ||
		tl.ReviewEndRule != RuleMerged || tl.DeployRule != RuleDeployed {
		t.Errorf("!1: %+v", tl)
	}
	if len(tl.Deployments) != 2 {
		t.Fatalf("!1 deployments %+v, want 1 and 2 (staging is not production)", tl.Deployments)
	}
	if d := tl.Deployments[0]; d.ID != 1 || !d.Counted || !d.Delivered || !d.Linked {
		t.Errorf("!1 first deployment %+v", d)
	}
	if d := tl.Deployments[1]; d.ID != 2 || d.Counted || !strings.Contains(d.Rule, "only the first deployment of production") {
		t.Errorf("!1 second deployment %+v", d)
	}
	if !tl.Facts.DeployedAt.Equal(tl.Deployments[0].FinishedAt) {
		t.Errorf("!1 deployed_at %v, want deployment 1", tl.Facts.DeployedAt)
	}

	tl, err = e.MRTimeline(f.ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tl.ReviewEndRule != RuleDeployBeforeMerge || tl.ReviewRule != RuleReviewAfterProd || !tl.Facts.BeforeMerge {
		t.Errorf("!2: %+v", tl)
	}
	if len(tl.Deployments) != 2 || !tl.Deployments[0].BeforeMerge || !tl.Deployments[0].Delivered || tl.Deployments[1].Counted {
		t.Errorf("!2 deployments %+v", tl.Deployments)
	}
	if tl.Facts.PickupSeconds != 2*hour || tl.Facts.ReviewSeconds != 0 || *tl.Facts.DeploySeconds != 0 {
		t.Errorf("!2 stages %+v", tl.Facts)
	}

	tl, err = e.MRTimeline(f.ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tl.FirstCommitRule != RuleCommitAfterOpen || tl.ReviewRule != RuleNoReview || tl.DeployRule != RuleNotDeployed {
		t.Errorf("!3: %+v", tl)
	}
	if len(tl.Deployments) != 1 || tl.Deployments[0].Counted || !strings.HasPrefix(tl.Deployments[0].Rule, RuleSevenDays) {
		t.Errorf("!3 deployments %+v", tl.Deployments)
	}

	tl, err = e.MRTimeline(f.ctx, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if tl.FirstCommitRule != RuleNoCommits || tl.ReviewRule != RuleNoReview || len(tl.Notes) != 3 {
		t.Errorf("!4: %+v", tl)
	}
	for i, want := range []string{"by the author", "by a bot", "after the merge"} {
		if tl.Notes[i].Counts || !strings.HasPrefix(tl.Notes[i].Rule, want) {
			t.Errorf("!4 note %d: %+v, want %q", i, tl.Notes[i], want)
		}
	}

	for _, c := range [][2]int64{{2, 1}, {1, 99}} {
		if _, err := e.MRTimeline(f.ctx, c[0], c[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("project %d !%d: %v, want ErrNotFound", c[0], c[1], err)
		}
	}
	if tl, err := all.MRTimeline(f.ctx, 2, 1); err != nil || tl.Title != "Secret" {
		t.Errorf("the unscoped engine: %v %+v", err, tl)
	}
}

func TestReviewsByAndAuthor(t *testing.T) {
	f, all := timelineFixture(t)
	e := all.Scoped([]int64{1})
	rs, total, err := e.ReviewsBy(f.ctx, "BOB", Filter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	// bob: an approval of !1, comments on !2 and !4 in acme/api; the approval in acme/secret is hidden.
	if total != 3 || len(rs) != 2 || rs[0].IID != 4 || rs[1].IID != 2 {
		t.Errorf("reviews %d %+v", total, rs)
	}
	if _, total, _ := all.ReviewsBy(f.ctx, "bob", Filter{}, 10); total != 4 {
		t.Errorf("unscoped reviews %d, want 4", total)
	}
	if _, total, _ := e.ReviewsBy(f.ctx, "alice", Filter{}, 10); total != 0 {
		t.Errorf("alice's comment on her own MR counts as a review given")
	}
	if name, err := e.Author(f.ctx, "BOB"); err != nil || name != "bob" {
		t.Errorf("Author(BOB) = %q, %v", name, err)
	}
	if _, err := e.Author(f.ctx, "cid"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cid is only in a hidden project: %v", err)
	}
	if name, err := all.Author(f.ctx, "cid"); err != nil || name != "cid" {
		t.Errorf("unscoped Author(cid) = %q, %v", name, err)
	}
}
