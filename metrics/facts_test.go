package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
)

func cfgFrom(t *testing.T, toml string) *config.Config {
	t.Helper()
	c, err := config.Parse("test.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptrSec(p *time.Time) int64 {
	if p == nil {
		return -1
	}
	return p.Unix() - t0.Unix()
}

func ptrInt(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// TestMergeRequestRules checks first commit, first review, first approval and the stages MR by
// MR, against values worked out by hand from SPEC section 3.
func TestMergeRequestRules(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.user(1, "alice", false)
	f.user(2, "bob", false)
	f.user(3, "carol", false)
	f.user(5, "deploy-helper", true) // GitLab's bot flag
	f.env(10, 1, "production", "production")
	h := hour

	// 1: every stage.
	f.mr(mrSpec{project: 1, iid: 1, created: at(3 * h), merged: at(10 * h)})
	f.commit(1, 1, "c1", at(2*h))
	f.commit(1, 1, "c0", at(0))
	f.note(1, 1, "comment", 2, "bob", at(5*h))
	f.note(1, 1, "approved", 3, "carol", at(7*h))
	// 2: a commit authored after the MR was opened (rebased): first commit is created_at.
	f.mr(mrSpec{project: 1, iid: 2, created: at(4 * h), merged: at(6 * h)})
	f.commit(1, 2, "c2", at(5*h))
	// 3: no commits at all.
	f.mr(mrSpec{project: 1, iid: 3, created: at(1 * h), merged: at(2 * h)})
	// 4: only the author and bots spoke: no review, no approval.
	f.mr(mrSpec{project: 1, iid: 4, created: at(1 * h), merged: at(5 * h)})
	f.note(1, 4, "comment", 1, "alice", at(2*h))
	f.note(1, 4, "comment", 40, "renovate-bot", at(2*h)) // configured as Renovate-Bot
	f.note(1, 4, "approved", 5, "deploy-helper", at(2*h))
	f.note(1, 4, "comment", 41, "project_12_bot_3f2a", at(2*h))
	f.note(1, 4, "approved", 42, "service_account_ci", at(3*h))
	f.note(1, 4, "approved", 1, "alice", at(3*h))
	// 5: reviewed and approved only after the merge.
	f.mr(mrSpec{project: 1, iid: 5, created: at(1 * h), merged: at(3 * h)})
	f.note(1, 5, "comment", 2, "bob", at(4*h))
	f.note(1, 5, "approved", 3, "carol", at(4*h))
	// 6: approved without a comment: the approval is the first review.
	f.mr(mrSpec{project: 1, iid: 6, created: at(1 * h), merged: at(3 * h)})
	f.note(1, 6, "approved", 3, "carol", at(2*h))
	// 7: approval withdrawn before the merge still counts.
	f.mr(mrSpec{project: 1, iid: 7, created: at(1 * h), merged: at(4 * h)})
	f.note(1, 7, "approved", 3, "carol", at(2*h))
	f.note(1, 7, "unapproved", 3, "carol", at(2*h+1800))
	f.note(1, 7, "comment", 2, "bob", at(2*h+2700))
	// 8: approved exactly at the merge instant.
	f.mr(mrSpec{project: 1, iid: 8, created: at(1 * h), merged: at(3 * h)})
	f.note(1, 8, "approved", 3, "carol", at(3*h))
	// Out of scope: another target branch, bot authors (flag and naming), not merged.
	f.mr(mrSpec{project: 1, iid: 9, created: at(1 * h), merged: at(2 * h), target: "release-1"})
	f.mr(mrSpec{project: 1, iid: 10, created: at(1 * h), merged: at(2 * h), authorID: 5, author: "deploy-helper", labels: []string{"hotfix"}})
	f.mr(mrSpec{project: 1, iid: 11, created: at(1 * h), merged: at(2 * h), authorID: 9, author: "group_7_bot_x"})
	f.mr(mrSpec{project: 1, iid: 12, created: at(1 * h)})
	f.deploy(100, 1, 10, "s1", at(12*h), 1, 9, 10, 11)

	e := f.engine(cfgFrom(t, "[bots]\nusernames = [\"Renovate-Bot\"]\n"), t0.Add(30*24*time.Hour))
	got := f.mrs(e, Filter{})
	type want struct {
		firstCommit, review, approval, deployed int64 // seconds after t0; -1 for none
		coding, pickup, reviewS, deploy, cycle  int64
		unapproved                              bool
	}
	wants := map[int64]want{
		1: {0, 5 * h, 7 * h, 12 * h, 3 * h, 2 * h, 5 * h, 2 * h, 12 * h, false},
		2: {4 * h, -1, -1, -1, 0, 2 * h, 0, -1, 2 * h, true},
		3: {1 * h, -1, -1, -1, 0, 1 * h, 0, -1, 1 * h, true},
		4: {1 * h, -1, -1, -1, 0, 4 * h, 0, -1, 4 * h, true},
		5: {1 * h, -1, -1, -1, 0, 2 * h, 0, -1, 2 * h, true},
		6: {1 * h, 2 * h, 2 * h, -1, 0, 1 * h, 1 * h, -1, 2 * h, false},
		7: {1 * h, 2 * h, 2 * h, -1, 0, 1 * h, 2 * h, -1, 3 * h, false},
		8: {1 * h, 3 * h, 3 * h, -1, 0, 2 * h, 0, -1, 2 * h, false},
	}
	if len(got) != len(wants) {
		var iids []int64
		for k := range got {
			iids = append(iids, k%100000)
		}
		t.Fatalf("got MRs %v, want exactly 1-8 (9: other branch, 10 and 11: bots, 12: not merged)", iids)
	}
	for iid, w := range wants {
		m := got[100000+iid]
		if m == nil {
			t.Fatalf("MR %d missing", iid)
		}
		g := want{m.FirstCommitAt.Unix() - t0.Unix(), ptrSec(m.FirstReviewAt), ptrSec(m.FirstApproval), ptrSec(m.DeployedAt),
			m.CodingSeconds, m.PickupSeconds, m.ReviewSeconds, ptrInt(m.DeploySeconds), m.CycleSeconds, m.Unapproved}
		if g != w {
			t.Errorf("MR %d:\n got %+v\nwant %+v", iid, g, w)
		}
		wantDelivered := m.MergedAt
		if m.DeployedAt != nil {
			wantDelivered = *m.DeployedAt
		}
		if !m.DeliveredAt.Equal(wantDelivered) {
			t.Errorf("MR %d delivered %v, want %v", iid, m.DeliveredAt, wantDelivered)
		}
	}

	// The deployment counts MR 1 and MR 9 (shipped, even if not to the default branch), never
	// the bots' MRs, and the bot's hotfix does not make it a rework deployment.
	deps := f.deployments(e, Filter{})
	d := deps[100]
	if d == nil || len(d.MergeRequests) != 2 || d.MergeRequests[0].IID != 1 || d.MergeRequests[1].IID != 9 || d.Rework {
		t.Fatalf("deployment 100: %+v", d)
	}
}

// TestDeployedAtAndFirstDeployment checks the deploy-time rules: the earliest production
// deployment after the merge, the first deployment's 7-day rule, and non-production ignored.
func TestDeployedAtAndFirstDeployment(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "production", "production")
	f.env(11, 1, "prod/eu", "") // no tier: the name pattern decides
	f.env(12, 1, "staging", "staging")
	T := 10 * day // Thursday of 2026-W11
	mr := func(iid, merged int64, labels ...string) {
		f.mr(mrSpec{project: 1, iid: iid, created: at(merged - hour), merged: at(merged), labels: labels})
	}
	mr(1, T-8*day, "hotfix")                    // A: too old for the first deployment
	mr(2, T-6*day)                              // B
	mr(3, T-7*day)                              // C: exactly 7 days: kept
	mr(4, T+2*hour)                             // E: merged after D1 finished
	mr(5, T-30*day)                             // F
	mr(6, T-2*day)                              // G: never deployed
	mr(7, T-hour)                               // H: only on staging
	f.deploy(1, 1, 10, "a", at(T), 1, 2, 3, 4)  // env 10's first deployment
	f.deploy(2, 1, 10, "b", at(T+day), 1, 5)    // second: no 7-day rule
	f.deploy(3, 1, 11, "c", at(T+5*hour), 4, 5) // env 11's first deployment
	f.deploy(4, 1, 12, "d", at(T), 7)           // staging: not production
	e := f.engine(nil, t0.Add(60*24*time.Hour))

	got := f.mrs(e, Filter{})
	wantDeployed := map[int64]int64{1: T + day, 2: T, 3: T, 4: T + 5*hour, 5: T + day, 6: -1, 7: -1}
	for iid, w := range wantDeployed {
		m := got[100000+iid]
		if m == nil {
			t.Fatalf("MR %d missing", iid)
		}
		if g := ptrSec(m.DeployedAt); g != w {
			t.Errorf("MR %d deployed_at %d, want %d", iid, g, w)
		}
		if w == -1 && (m.DeploySeconds != nil || !m.DeliveredAt.Equal(m.MergedAt)) {
			t.Errorf("MR %d never deployed: deploy %v delivered %v", iid, m.DeploySeconds, m.DeliveredAt)
		}
	}
	deps := f.deployments(e, Filter{})
	if len(deps) != 3 {
		t.Fatalf("want the 3 production deployments, got %d", len(deps))
	}
	iids := func(d *Deployment) []int64 {
		var out []int64
		for _, r := range d.MergeRequests {
			out = append(out, r.IID)
		}
		return out
	}
	// E's link to D1, which finished before E was merged, is ignored (only a deploy before merge
	// ships an MR before its merge, and E's branch was not deployed).
	for id, want := range map[int64][]int64{1: {2, 3}, 2: {1, 5}, 3: {4}} {
		if g := iids(deps[id]); !equalInts(g, want) {
			t.Errorf("deployment %d counts MRs %v, want %v", id, g, want)
		}
	}
	// A's hotfix label does not make the first deployment rework (its link is ignored), but it
	// makes the second one rework, so the first is a change failure recovered a day later.
	if deps[1].Rework || !deps[2].Rework || !deps[1].ChangeFailure || ptrInt(deps[1].RecoverySeconds) != day {
		t.Errorf("rework/change failure: d1 %+v d2 %+v", deps[1], deps[2])
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRollbacksReworkAndChangeFailures walks one environment's history by hand.
func TestRollbacksReworkAndChangeFailures(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "production", "production")
	f.env(11, 1, "production/eu", "production")
	T := 8 * day // Tuesday of 2026-W11
	f.mr(mrSpec{project: 1, iid: 1, created: at(T), merged: at(T + 5*hour), labels: []string{"Hotfix"}})
	f.mr(mrSpec{project: 1, iid: 2, created: at(T), merged: at(T + 6*hour), title: "Revert \"Add cache\""})
	f.mr(mrSpec{project: 1, iid: 3, created: at(T), merged: at(T), source: "hotfix/login"})
	f.mr(mrSpec{project: 1, iid: 4, created: at(T), merged: at(T)})
	dep := func(id, env int64, sha string, hours int64, iids ...int64) {
		f.deploy(id, 1, env, sha, at(T+hours*hour), iids...)
	}
	dep(1, 10, "A", 1, 4)
	dep(2, 10, "B", 2)
	dep(3, 10, "B", 3)    // redeploy of the same SHA: not a rollback
	dep(8, 11, "B", 3)    // another environment: not "previous" for env 10
	dep(4, 10, "A", 4)    // back to A, first deployed before B: rollback
	dep(5, 10, "B", 5)    // forward again to B: not a rollback
	dep(6, 10, "C", 6, 1) // ships a hotfix MR
	dep(7, 10, "D", 7, 2) // ships a revert
	dep(9, 11, "E", 8, 3) // rework: env 11's first deployment is a change failure
	f.env(12, 1, "production/us", "production")
	f.mr(mrSpec{project: 1, iid: 5, created: at(T), merged: at(T), labels: []string{"bug"}})
	dep(10, 12, "F", 9, 5) // rework, but nothing came before it in its environment
	e := f.engine(nil, t0.Add(60*24*time.Hour))
	deps := f.deployments(e, Filter{})
	type want struct {
		rollback, rework, cf bool
		recovery             int64
	}
	wants := map[int64]want{
		1:  {false, false, false, -1},
		2:  {false, false, false, -1},
		3:  {false, false, true, hour},
		4:  {true, true, false, -1},
		5:  {false, false, true, hour},
		6:  {false, true, true, hour},
		7:  {false, true, false, -1},
		8:  {false, false, true, 5 * hour},
		9:  {false, true, false, -1},
		10: {false, true, false, -1},
	}
	for id, w := range wants {
		d := deps[id]
		g := want{d.Rollback, d.Rework, d.ChangeFailure, ptrInt(d.RecoverySeconds)}
		if g != w {
			t.Errorf("deployment %d: got %+v want %+v", id, g, w)
		}
	}
	figs, err := e.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(metric string, value float64, n int) {
		t.Helper()
		fg := figure(t, figs, "2026-W11", AllServices, metric)
		if fg.Value != value || fg.N != n {
			t.Errorf("%s = %v (n %d), want %v (n %d)", metric, fg.Value, fg.N, value, n)
		}
	}
	check(Deployments, 10, 10)
	check(ReworkRate, 5.0/10, 10)
	check(ChangeFailureRate, 4.0/10, 10)
	check(RecoveryTimeP50, float64(hour), 4) // 1h, 1h, 1h, 5h
}

func TestReworkMergeRequestRules(t *testing.T) {
	def := newResolver(config.Default())
	cases := []struct {
		labels        []string
		title, branch string
		want          bool
	}{
		{[]string{"Bug"}, "Fix", "feature", true},
		{[]string{"INCIDENT"}, "Fix", "feature", true},
		{[]string{"bugfix"}, "Fix", "feature", false}, // whole names only
		{[]string{"type::bug"}, "Fix", "feature", false},
		{nil, "Revert \"Add cache\"", "feature", true},
		{nil, "HOTFIX: login", "feature", true},
		{nil, "Fix the hotfix", "feature", false},
		{nil, "Fix", "hotfix/login", true},
		{nil, "Fix", "Revert-42", true},
		{nil, "Fix", "hotfixes/login", false},
		{nil, "Fix", "feature/revert-x", false},
		{[]string{"rollback"}, "Fix", "x", true},
	}
	for _, c := range cases {
		if got := def.isRework(c.labels, c.title, c.branch); got != c.want {
			t.Errorf("default rules %v %q %q: %v, want %v", c.labels, c.title, c.branch, got, c.want)
		}
	}
	custom := newResolver(cfgFrom(t, "[rework]\nlabels = [\"P1\"]\ntitles = []\nbranches = [\"^fix/\"]\n"))
	if !custom.isRework([]string{"p1"}, "x", "y") || custom.isRework([]string{"bug"}, "Revert x", "hotfix/x") || !custom.isRework(nil, "x", "fix/a") {
		t.Error("configured rework rules not applied")
	}
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/payments-api")
	f.project(2, "acme/web")
	e := f.engine(cfgFrom(t, `
[[service]]
name = "payments"
projects = ["acme/payments-api"]

[[team]]
name = "money"
services = ["payments"]
`), t0)
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	cases := []struct {
		f        Filter
		field    string
		notFound bool
	}{
		{Filter{From: d("2026-03-05"), To: d("2026-03-01")}, "from", false},
		{Filter{Services: []string{"nope"}}, "service", true},
		{Filter{Services: []string{"acme/payments-api"}}, "service", true}, // grouped into payments
		{Filter{Team: "nobody"}, "team", true},
		{Filter{By: "fortnight"}, "by", false},
		{Filter{From: d("2026-03-01"), To: d("2026-03-01"), Services: []string{"payments", "acme/web", "all"}, Team: "money", By: Day}, "", false},
	}
	for _, c := range cases {
		err := e.Validate(context.Background(), c.f)
		var fe *FilterError
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.f, err)
			}
			continue
		}
		if !errors.As(err, &fe) || fe.Field != c.field || fe.NotFound != c.notFound || fe.Message == "" {
			t.Errorf("%+v: got %#v, want field %s notFound %v", c.f, err, c.field, c.notFound)
		}
	}
	err := e.Validate(context.Background(), Filter{Services: []string{"acme/payments-api"}})
	if err == nil || !contains(err.Error(), `service "payments"`) {
		t.Errorf("a grouped project should point at its service: %v", err)
	}
	if _, err := e.Figures(context.Background(), Filter{Services: []string{"nope"}}); err == nil {
		t.Error("Figures must validate")
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

// TestRefreshIsIdempotentAndFollowsTheConfig: refreshing twice changes nothing, and an engine
// with other rules derives the facts again before answering, without an explicit Refresh.
func TestRefreshIsIdempotentAndFollowsTheConfig(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "production", "production")
	f.mr(mrSpec{project: 1, iid: 1, created: at(0), merged: at(hour)})
	f.mr(mrSpec{project: 1, iid: 2, created: at(0), merged: at(hour), authorID: 7, author: "deps-updater"})
	f.deploy(1, 1, 10, "a", at(2*hour), 1, 2)
	now := t0.Add(10 * 24 * time.Hour)
	e := f.engine(nil, now)
	first, err := e.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	again, err := e.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 || len(first) != len(again) {
		t.Fatalf("figures changed on a second refresh: %d then %d", len(first), len(again))
	}
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("figure %d changed: %+v then %+v", i, first[i], again[i])
		}
	}
	if fg := figure(t, first, "2026-W10", AllServices, MergedMRs); fg.N != 2 {
		t.Fatalf("merged before the bot rule: %d", fg.N)
	}
	botAware := New(f.st, cfgFrom(t, "[bots]\nusernames = [\"deps-updater\"]\n"))
	botAware.SetClock(func() time.Time { return now })
	figs, err := botAware.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-W10", AllServices, MergedMRs); fg.N != 1 {
		t.Errorf("a configured bot must be left out without an explicit refresh: n=%d", fg.N)
	}
	deps := f.deployments(botAware, Filter{})
	if len(deps[1].MergeRequests) != 1 {
		t.Errorf("the bot's MR is still counted by the deployment: %+v", deps[1].MergeRequests)
	}
}

// TestProductionPatternFollowsTheConfig: an environment without a tier is production by the
// configured pattern of the engine, not by the flag the collector stored under the pattern of
// the last sync, so a narrowed pattern applies to the whole history before the next sync.
func TestProductionPatternFollowsTheConfig(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.env(10, 1, "live", "")
	f.exec(`UPDATE environments SET production = 1 WHERE id = 10`) // synced under environments = "^live$"
	f.deploy(1, 1, 10, "a", at(hour))
	now := t0.Add(10 * 24 * time.Hour)
	if deps := f.deployments(f.engine(cfgFrom(t, "[production]\nenvironments = \"^live$\"\n"), now), Filter{}); len(deps) != 1 {
		t.Fatalf("with the pattern matching: %d deployments, want 1", len(deps))
	}
	if deps := f.deployments(f.engine(nil, now), Filter{}); len(deps) != 0 {
		t.Errorf("the default pattern does not match \"live\": %d deployments, want 0", len(deps))
	}
}

// TestIncrementalRefresh: after a sync changed one project, Refresh derives only that project
// again (a tampered fact row of the other project survives), and the result equals a refresh
// from scratch.
func TestIncrementalRefresh(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.project(2, "acme/b")
	f.env(10, 1, "production", "production")
	f.env(20, 2, "production", "production")
	f.mr(mrSpec{project: 1, iid: 1, created: at(0), merged: at(hour)})
	f.mr(mrSpec{project: 2, iid: 1, created: at(0), merged: at(hour)})
	f.deploy(1, 1, 10, "a", at(2*hour), 1)
	now := t0.Add(10 * 24 * time.Hour)
	e := f.engine(nil, now)
	f.exec(`UPDATE mr_facts SET title = 'tampered' WHERE project_id = 1`)

	f.mr(mrSpec{project: 2, iid: 2, created: at(0), merged: at(3 * hour), labels: []string{"bug"}})
	f.deploy(2, 2, 20, "b", at(4*hour), 1, 2)
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	mrs := f.mrs(e, Filter{})
	if len(mrs) != 3 || mrs[100001].Title != "tampered" || mrs[200002] == nil || ptrSec(mrs[200001].DeployedAt) != 4*hour {
		t.Fatalf("incremental refresh: %d MRs, project 1 title %q, %+v", len(mrs), mrs[100001].Title, mrs[200001])
	}
	figs, err := e.Figures(f.ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-W10", AllServices, ReworkRate); fg.Value != 0.5 || fg.N != 2 {
		t.Errorf("packed figures not rebuilt: %+v", fg)
	}
	// Nothing changed: nothing is derived again.
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	if f.mrs(e, Filter{})[100001].Title != "tampered" {
		t.Error("an unchanged project was derived again")
	}
	// A project removed from the database loses its facts.
	f.exec(`DELETE FROM projects WHERE id = 1`)
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	if mrs := f.mrs(e, Filter{}); len(mrs) != 2 || len(f.deployments(e, Filter{})) != 1 {
		t.Errorf("facts of a removed project remain: %d MRs", len(mrs))
	}
	incremental, _ := e.Figures(f.ctx, Filter{})
	f.exec(`DELETE FROM fact_state`)
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	full, _ := e.Figures(f.ctx, Filter{})
	if len(full) != len(incremental) {
		t.Fatalf("incremental %d figures, full %d", len(incremental), len(full))
	}
	for i := range full {
		if full[i] != incremental[i] {
			t.Errorf("figure %d: incremental %+v, full %+v", i, incremental[i], full[i])
		}
	}
}

// TestFactsFollowAFinishedSync: a sync that did not call Refresh is noticed by the next read
// once it has finished (not while it runs).
func TestFactsFollowAFinishedSync(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.mr(mrSpec{project: 1, iid: 1, created: at(0), merged: at(hour)})
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at) VALUES (1, 100, 200, 200)`)
	e := f.engine(nil, t0.Add(10*24*time.Hour))

	f.exec(`UPDATE project_syncs SET started_at = 300, finished_at = NULL`) // a sync is running
	f.mr(mrSpec{project: 1, iid: 2, created: at(0), merged: at(hour)})
	if n := len(f.mrs(e, Filter{})); n != 1 {
		t.Errorf("facts derived while a sync runs: %d MRs", n)
	}
	f.exec(`UPDATE project_syncs SET finished_at = 400, ok_at = 400`)
	if n := len(f.mrs(e, Filter{})); n != 2 {
		t.Errorf("facts not derived after the sync finished: %d MRs", n)
	}
}

// TestRefreshNoticesAnyChangedMR: an MR edited in place (not the project's latest change) is
// derived again.
func TestRefreshNoticesAnyChangedMR(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.mr(mrSpec{project: 1, iid: 1, created: at(0), merged: at(hour)})
	f.mr(mrSpec{project: 1, iid: 2, created: at(day), merged: at(day + hour)})
	e := f.engine(nil, t0.Add(10*24*time.Hour))
	f.exec(`UPDATE merge_requests SET title = 'Revert everything', updated_at = updated_at + 60 WHERE iid = 1`)
	if err := e.Refresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	if m := f.mrs(e, Filter{})[100001]; m.Title != "Revert everything" || !m.Rework {
		t.Errorf("edited MR not derived again: %+v", m)
	}
}
