package metrics

import (
	"testing"
	"time"
)

// setMR sets what the ships and revert rules read and mrSpec does not: the head SHA and the
// merge commit SHA.
func (f *fixture) setMR(project, iid int64, sha, mergeSHA string) {
	f.exec(`UPDATE merge_requests SET sha = ?, merge_commit_sha = ? WHERE project_id = ? AND iid = ?`, sha, mergeSHA, project, iid)
}

// setRef sets a deployment's ref (fixture deployments have none).
func (f *fixture) setRef(id int64, ref string) {
	f.exec(`UPDATE deployments SET ref = ? WHERE id = ?`, ref, id)
}

func (f *fixture) authoredCommit(project, iid int64, sha string, authored int64, author, reverts string) {
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at, author, reverts) VALUES (?, ?, ?, ?, ?, ?)`,
		project, iid, sha, authored, author, reverts)
}

func refIIDs(d *Deployment) []int64 {
	var out []int64
	for _, r := range d.MergeRequests {
		out = append(out, r.IID)
	}
	return out
}

// TestDeployBeforeMerge checks SPEC section 3's "ships": a deployment of the MR's source
// branch at its head SHA between created_at and merged_at ships it; GitLab's later link of the
// same MR to the next deployment of that environment is ignored; review ends at the pre-merge
// deployment and the deploy stage is 0; the four stages add up to the cycle time.
func TestDeployBeforeMerge(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.user(2, "bob", false)
	f.env(10, 1, "production", "production")
	f.env(11, 1, "production/eu", "production")
	T := 2 * day
	// MR 1: opened T, reviewed T+30m, deployed from its branch T+1h, merged T+2h.
	f.mr(mrSpec{project: 1, iid: 1, source: "feat-1", created: at(T), merged: at(T + 2*hour)})
	f.setMR(1, 1, "h1", "m1")
	f.commit(1, 1, "c1", at(T-hour))
	f.note(1, 1, "approved", 2, "bob", at(T+30*60))
	// MR 2: reviewed only after its pre-merge deployment (a review of an MR in production).
	f.mr(mrSpec{project: 1, iid: 2, source: "feat-2", created: at(T), merged: at(T + 3*hour)})
	f.setMR(1, 2, "h2", "m2")
	f.note(1, 2, "comment", 2, "bob", at(T+2*hour+30*60))
	// MR 3: its branch was deployed, but at another SHA; and once before it was opened.
	f.mr(mrSpec{project: 1, iid: 3, source: "feat-3", created: at(T + hour), merged: at(T + 4*hour)})
	f.setMR(1, 3, "h3", "m3")

	f.deploy(1, 1, 10, "base", at(T-day))       // the environment's first deployment
	f.deploy(2, 1, 10, "h1", at(T+hour))        // deploy before merge of MR 1
	f.deploy(3, 1, 10, "h2", at(T+2*hour))      // deploy before merge of MR 2
	f.deploy(4, 1, 10, "old3", at(T+2*hour+60)) // feat-3 at another SHA: ships nothing
	f.deploy(5, 1, 10, "h3", at(T+30*60))       // feat-3 at its head, but before MR 3 was opened
	f.deploy(6, 1, 10, "m3", at(T+day), 1, 2, 3)
	f.deploy(7, 1, 11, "m3", at(T+day+hour), 1, 3) // another production environment
	f.setRef(2, "feat-1")
	f.setRef(3, "feat-2")
	f.setRef(4, "feat-3")
	f.setRef(5, "feat-3")
	e := f.engine(nil, t0.Add(30*24*time.Hour))

	mrs := f.mrs(e, Filter{})
	m1, m2, m3 := mrs[100001], mrs[100002], mrs[100003]
	if m1 == nil || m2 == nil || m3 == nil {
		t.Fatalf("MRs missing: %v", mrs)
	}
	if ptrSec(m1.DeployedAt) != T+hour || !m1.BeforeMerge || ptrInt(m1.DeploySeconds) != 0 {
		t.Errorf("MR 1: deployed %d before merge %v deploy %v", ptrSec(m1.DeployedAt), m1.BeforeMerge, m1.DeploySeconds)
	}
	// coding 1h, pickup 30m, review 30m (to the deployment), deploy 0: cycle 2h.
	if m1.CodingSeconds != hour || m1.PickupSeconds != 30*60 || m1.ReviewSeconds != 30*60 || m1.CycleSeconds != 2*hour {
		t.Errorf("MR 1 stages %d %d %d cycle %d", m1.CodingSeconds, m1.PickupSeconds, m1.ReviewSeconds, m1.CycleSeconds)
	}
	// Reviewed after its deployment: pickup runs to review_end, review 0.
	if ptrSec(m2.DeployedAt) != T+2*hour || m2.PickupSeconds != 2*hour || m2.ReviewSeconds != 0 || m2.CycleSeconds != 2*hour {
		t.Errorf("MR 2: deployed %d pickup %d review %d cycle %d", ptrSec(m2.DeployedAt), m2.PickupSeconds, m2.ReviewSeconds, m2.CycleSeconds)
	}
	if ptrSec(m3.DeployedAt) != T+day || m3.BeforeMerge || ptrInt(m3.DeploySeconds) != T+day-(T+4*hour) {
		t.Errorf("MR 3: deployed %d before merge %v deploy %v", ptrSec(m3.DeployedAt), m3.BeforeMerge, m3.DeploySeconds)
	}
	for _, m := range []*MergeRequest{m1, m2, m3} {
		sum := m.CodingSeconds + m.PickupSeconds + m.ReviewSeconds + ptrInt(m.DeploySeconds)
		if sum != m.CycleSeconds {
			t.Errorf("MR %d: stages add to %d, cycle %d", m.IID, sum, m.CycleSeconds)
		}
	}

	deps := f.deployments(e, Filter{})
	for id, want := range map[int64][]int64{1: nil, 2: {1}, 3: {2}, 4: nil, 5: nil, 6: {3}, 7: {1, 3}} {
		if g := refIIDs(deps[id]); !equalInts(g, want) {
			t.Errorf("deployment %d counts MRs %v, want %v", id, g, want)
		}
	}
	if r := deps[2].MergeRequests; len(r) != 1 || !r[0].BeforeMerge || deps[2].Ref != "feat-1" {
		t.Errorf("deployment 2: %+v", deps[2])
	}
	if r := deps[7].MergeRequests; len(r) != 2 || r[0].BeforeMerge {
		t.Errorf("deployment 7: %+v", r)
	}
}

// TestChangeFailureBlamedThroughReverts checks the blame rule: a rework deployment shipping a
// revert blames the deployment that first shipped the reverted MR (three deployments earlier
// here), two fixes in a row make one change failure, a revert of an MR never deployed blames
// the deployment before, and a rollback after a deploy before merge blames that deployment.
func TestChangeFailureBlamedThroughReverts(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "production", "production")
	T := 2 * day
	mr := func(iid int64, title, source string, merged int64) {
		f.mr(mrSpec{project: 1, iid: iid, title: title, source: source, created: at(merged - hour), merged: at(merged)})
		f.setMR(1, iid, "head"+itoa(iid), "merge"+itoa(iid))
		f.commit(1, iid, "c"+itoa(iid), at(merged-2*hour))
	}
	mr(1, "Add cache", "cache", T)
	mr(2, "Tune pool", "pool", T+hour)
	mr(3, "New page", "page", T+2*hour)
	mr(4, `Revert "Add cache"`, "revert-merge1", T+3*hour) // the title rule
	mr(5, "Hotfix: cache again", "hotfix/cache", T+4*hour) // names MR 1's merge commit
	f.authoredCommit(1, 5, "c5b", at(T+3*hour), "dev@example.com", "merge1")
	mr(6, "Drafted", "drafted", T+4*hour+30*60) // merged, never deployed
	mr(7, `Revert "Drafted"`, "revert-x", T+5*hour)
	mr(8, "Risky", "risky", T+7*hour) // deployed before merge, then rolled back

	f.deploy(1, 1, 10, "s0", at(T-day))
	f.deploy(2, 1, 10, "merge1", at(T+10*60), 1)
	f.deploy(3, 1, 10, "merge2", at(T+hour+10*60), 2)
	f.deploy(4, 1, 10, "merge3", at(T+2*hour+10*60), 3)
	f.deploy(5, 1, 10, "merge4", at(T+3*hour+10*60), 4) // reverts MR 1: blames 2, not 4
	f.deploy(6, 1, 10, "merge5", at(T+4*hour+10*60), 5) // reverts MR 1 again: 2 stays one failure
	f.deploy(7, 1, 10, "merge7", at(T+5*hour+10*60), 7) // reverts an MR never deployed: blames 6
	f.deploy(8, 1, 10, "head8", at(T+6*hour))           // deploy before merge of MR 8
	f.setRef(8, "risky")
	f.deploy(9, 1, 10, "merge7", at(T+6*hour+20*60)) // rollback to the version before
	e := f.engine(nil, t0.Add(30*24*time.Hour))
	deps := f.deployments(e, Filter{})

	type want struct {
		rework, cf, rollback bool
		blames, blamedBy     int64
		recovery             int64
	}
	for id, w := range map[int64]want{
		2: {cf: true, blamedBy: 5, recovery: 3 * hour},
		3: {},
		4: {},
		5: {rework: true, blames: 2},
		6: {rework: true, blames: 2, cf: true, blamedBy: 7, recovery: hour},
		7: {rework: true, blames: 6},
		8: {cf: true, blamedBy: 9, recovery: 20 * 60},
		9: {rework: true, rollback: true, blames: 8},
	} {
		d := deps[id]
		got := want{rework: d.Rework, cf: d.ChangeFailure, rollback: d.Rollback, blames: d.Blames, blamedBy: d.BlamedBy, recovery: ptrInt(d.RecoverySeconds)}
		if !w.cf {
			w.recovery = ptrInt(nil)
		}
		if got != w {
			t.Errorf("deployment %d: got %+v, want %+v", id, got, w)
		}
	}
	if r := deps[5].MergeRequests; len(r) != 1 || !equalInts(r[0].Reverts, []int64{1}) {
		t.Errorf("deployment 5's MR reverts %+v, want MR 1", r)
	}
	figs, err := e.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// 9 deployments: 5 rework (5, 6, 7, 9 and none else), 3 change failures (2, 6, 8).
	if g := figure(t, figs, "2026-W10", AllServices, ChangeFailureRate); !approx(g.Value, 3.0/9) || g.N != 9 {
		t.Errorf("change failure rate %v n=%d, want 3/9", g.Value, g.N)
	}
	if g := figure(t, figs, "2026-W10", AllServices, ReworkRate); !approx(g.Value, 4.0/9) || g.N != 9 {
		t.Errorf("rework rate %v n=%d, want 4/9", g.Value, g.N)
	}
}

// TestInvestmentAndAuthorDays checks the built-in categories (first match wins) and the
// tech-debt effort share: an author-day shared by three MRs counts a third for each.
func TestInvestmentAndAuthorDays(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.project(2, "acme/web")
	T := 2 * day
	f.mr(mrSpec{project: 1, iid: 1, title: "Add export", created: at(T), merged: at(T + hour)})
	f.mr(mrSpec{project: 1, iid: 2, title: "refactor(api): split store", created: at(T), merged: at(T + hour)})
	f.mr(mrSpec{project: 2, iid: 3, title: "Bump", source: "deps/bump-x", created: at(T), merged: at(T + hour)})
	f.mr(mrSpec{project: 2, iid: 4, title: "Hotfix login", labels: []string{"chore"}, created: at(T), merged: at(T + hour)})
	// ann works on MRs 1, 2 and 3 on day T-1 (a third each); bob on MR 1 only, that day and the next.
	f.authoredCommit(1, 1, "a1", at(T-day+hour), "ann@example.com", "")
	f.authoredCommit(1, 2, "a2", at(T-day+2*hour), "ann@example.com", "")
	f.authoredCommit(2, 3, "a3", at(T-day+3*hour), "ann@example.com", "")
	f.authoredCommit(1, 1, "b1", at(T-day+hour), "bob@example.com", "")
	f.authoredCommit(1, 1, "b2", at(T-day+5*hour), "bob@example.com", "") // same author-day
	f.authoredCommit(1, 1, "b3", at(T), "bob@example.com", "")
	e := f.engine(nil, t0.Add(30*24*time.Hour))

	cats := map[int64]string{}
	for _, m := range f.mrs(e, Filter{}) {
		cats[m.IID] = m.Category
	}
	// MR 4 is rework by its title before its chore label makes it tech debt.
	if cats[1] != "feature" || cats[2] != "tech debt" || cats[3] != "tech debt" || cats[4] != "rework" {
		t.Errorf("categories %v", cats)
	}
	figs, err := e.Figures(f.ctx, Filter{By: Day})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, "2026-03-04", AllServices, TechDebtShare); !approx(g.Value, 0.5) || g.N != 4 {
		t.Errorf("tech debt share %v n=%d, want 2/4", g.Value, g.N)
	}
	// Day T-1 (2026-03-03): ann's day is a third feature, two thirds tech debt; bob's is feature.
	if g := figure(t, figs, "2026-03-03", AllServices, TechDebtEffort); !approx(g.Value, (2.0/3)/2) || g.N != 2 {
		t.Errorf("effort share %v n=%d, want 1/3 of 2 author-days", g.Value, g.N)
	}
	// acme/api holds MRs 1 and 2 of ann's day (two thirds of it) and bob's day.
	if g := figure(t, figs, "2026-03-03", "acme/api", TechDebtEffort); !approx(g.Value, (1.0/3)/(2.0/3+1)) || g.N != 2 {
		t.Errorf("acme/api effort share %v n=%d", g.Value, g.N)
	}
	if g := figure(t, figs, "2026-03-03", "acme/web", TechDebtEffort); !approx(g.Value, 1) || g.N != 1 {
		t.Errorf("acme/web effort share %v n=%d", g.Value, g.N)
	}
	if g := figure(t, figs, "2026-03-04", AllServices, TechDebtEffort); !approx(g.Value, 0) || g.N != 1 {
		t.Errorf("day T effort share %v n=%d", g.Value, g.N)
	}

	// A sync that changes one project rebuilds the author-days it shares with the other.
	f.exec(`DELETE FROM mr_commits WHERE project_id = 2`)
	f.exec(`UPDATE merge_requests SET updated_at = updated_at + 1 WHERE project_id = 2`)
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	figs, err = e.Figures(f.ctx, Filter{By: Day})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, "2026-03-03", AllServices, TechDebtEffort); !approx(g.Value, 0.25) || g.N != 2 {
		t.Errorf("after project 2 changed: effort share %v n=%d, want (1/2)/2", g.Value, g.N)
	}
}

// TestFiguresByMonthAndQuarter checks calendar periods: items land in their month, and
// deploys_per_day divides by the days of the month inside the range.
func TestFiguresByMonthAndQuarter(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "production", "production")
	// t0 is Monday 2 March 2026: deployments on 2 and 20 March and 1 April.
	f.deploy(1, 1, 10, "a", at(0))
	f.deploy(2, 1, 10, "b", at(18*day))
	f.deploy(3, 1, 10, "c", at(30*day))
	f.mr(mrSpec{project: 1, iid: 1, created: at(-day), merged: at(hour)})
	e := f.engine(nil, t0.Add(60*24*time.Hour))
	figs, err := e.Figures(f.ctx, Filter{From: t0, To: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), By: Month})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, "2026-03", AllServices, Deployments); g.Value != 2 || !g.Start.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("March: %+v", g)
	}
	if g := figure(t, figs, "2026-03", AllServices, DeploysPerDay); !approx(g.Value, 2.0/30) { // 2-31 March: 30 days in range
		t.Errorf("March deploys per day %v, want 2/30", g.Value)
	}
	if g := figure(t, figs, "2026-04", AllServices, DeploysPerDay); !approx(g.Value, 1.0/30) {
		t.Errorf("April deploys per day %v, want 1/30", g.Value)
	}
	figs, err = e.Figures(f.ctx, Filter{By: Quarter})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, "2026-Q1", AllServices, Deployments); g.Value != 2 {
		t.Errorf("Q1: %+v", g)
	}
	if g := figure(t, figs, "2026-Q2", AllServices, Deployments); g.Value != 1 {
		t.Errorf("Q2: %+v", g)
	}
	if err := e.Validate(f.ctx, Filter{By: "year"}); err == nil {
		t.Error("by=year accepted")
	}
}
