package metrics_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store/storetest"
)

// TestFiguresEqualGeneratorTruth syncs a generated organisation through the real collector and
// the simulator's REST API, derives the facts, and compares every per-MR and per-deployment
// fact and every figure with values computed here, independently, from the generator's own
// ground truth. The config names services, groups two projects and splits the monolith by
// production environment, and a team is checked too.
func TestFiguresEqualGeneratorTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs a generated organisation")
	}
	end := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 42, End: end, Days: 35, Services: 12, Scale: 0.25})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	t.Cleanup(srv.Close)
	truth := org.Truth()
	t.Logf("organisation at %v", truth.Now)

	paths := map[int64]string{}
	var mono, payAPI, payWorker string
	for _, p := range truth.Projects {
		paths[p.ID] = p.Path
		switch {
		case strings.HasSuffix(p.Path, "/monolith"):
			mono = p.Path
		case strings.HasSuffix(p.Path, "/payments-api"):
			payAPI = p.Path
		case strings.HasSuffix(p.Path, "/payments-worker"):
			payWorker = p.Path
		}
	}
	if mono == "" || payAPI == "" || payWorker == "" {
		t.Fatalf("generated organisation lacks the projects this test names: %v", paths)
	}
	cfg, err := config.Parse("truth.toml", []byte(fmt.Sprintf(`
[bots]
usernames = %q

[[service]]
name = "checkout"
projects = [%q]
environments = ["production/checkout"]

[[service]]
name = "mono-payments"
projects = [%q]
environments = ["production/payments"]

[[service]]
name = "payments"
projects = [%q, %q]

[[team]]
name = "money"
services = ["payments", "checkout"]
`, org.BotUsernames(), mono, mono, payAPI, payWorker)))
	if err != nil {
		t.Fatal(err)
	}
	// The expected service of an item, by the config above.
	serviceOf := func(projectID int64, env string) string {
		p := paths[projectID]
		switch {
		case p == mono && env == "production/checkout":
			return "checkout"
		case p == mono && env == "production/payments":
			return "mono-payments"
		case p == payAPI || p == payWorker:
			return "payments"
		}
		return p
	}

	ctx := context.Background()
	st := storetest.New(t)
	if _, err := collector.Sync(ctx, st, collector.Options{BaseURL: srv.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{org.TopGroup()}, Since: end.AddDate(-1, 0, 0), Config: cfg, Now: org.Now,
		RetryWaitMin: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e := metrics.New(st, cfg)
	e.SetClock(org.Now)
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	checkTruth(t, e, org.Truth(), end, paths, mono, serviceOf, "money")

	// A few days later: the next sync changes some projects; the refresh derives those again
	// and must land on the truth, and on what a refresh from scratch gives.
	org.Advance(3 * 24 * time.Hour)
	if _, err := collector.Sync(ctx, st, collector.Options{BaseURL: srv.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{org.TopGroup()}, Since: end.AddDate(-1, 0, 0), Config: cfg, Now: org.Now,
		RetryWaitMin: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkTruth(t, e, org.Truth(), end, paths, mono, serviceOf, "money")

	incremental := snapshot(t, e, end.AddDate(0, 0, -40))
	if _, err := st.DB.Exec(`DELETE FROM fact_state`); err != nil { // forces a refresh from scratch
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if full := snapshot(t, e, end.AddDate(0, 0, -40)); full != incremental {
		t.Errorf("the incremental refresh differs from a refresh from scratch")
	}
}

// snapshot renders every item and figure the engine answers, for comparing two states.
func snapshot(t *testing.T, e *metrics.Engine, from time.Time) string {
	t.Helper()
	var b strings.Builder
	ctx := context.Background()
	for _, ds := range metrics.Datasets {
		if err := metrics.WriteCSV(ctx, &b, e, ds, metrics.Filter{From: from}); err != nil {
			t.Fatal(err)
		}
	}
	figs, err := e.Figures(ctx, metrics.Filter{From: from, Team: "money", By: metrics.Day})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(&b, figs)
	return b.String()
}

func checkTruth(t *testing.T, e *metrics.Engine, truth *gitlabsim.Truth, end time.Time, paths map[int64]string, mono string, serviceOf func(int64, string) string, teams ...string) {
	t.Helper()
	ctx := context.Background()
	// Deployments: service, and the truth's rework, rollback, change failure, recovery, counts.
	deps := map[int64]truthDep{}
	for _, d := range truth.Deployments {
		w := truthDep{service: serviceOf(d.ProjectID, d.Environment), mrs: len(d.CountedIIDs), rework: d.Rework,
			rollback: d.Rollback, cf: d.ChangeFailure, recovery: -1, finished: d.FinishedAt.Unix(), projectID: d.ProjectID,
			environment: d.Environment, counted: d.CountedIIDs, first: d.First, ref: d.Ref, blames: d.Blames, blamedBy: d.BlamedBy,
			before: d.BeforeMergeIIDs}
		if d.RecoverySeconds != nil {
			w.recovery = *d.RecoverySeconds
		}
		deps[d.ID] = w
	}
	seen := 0
	if err := e.Deployments(ctx, metrics.Filter{From: time.Unix(0, 0)}, func(d *metrics.Deployment) error {
		seen++
		w, ok := deps[d.ID]
		if !ok {
			t.Errorf("deployment %d is not in the truth", d.ID)
			return nil
		}
		rec := int64(-1)
		if d.RecoverySeconds != nil {
			rec = *d.RecoverySeconds
		}
		var iids, before []int64
		for _, m := range d.MergeRequests {
			iids = append(iids, m.IID)
			if m.BeforeMerge {
				before = append(before, m.IID)
			}
			tm, _ := truth.FindMR(d.ProjectID, m.IID)
			if fmt.Sprint(m.Reverts) != fmt.Sprint(tm.Reverts) && (len(m.Reverts) > 0 || len(tm.Reverts) > 0) {
				t.Errorf("deployment %d: MR !%d reverts %v, truth %v", d.ID, m.IID, m.Reverts, tm.Reverts)
			}
			if m.Rework != tm.Rework {
				t.Errorf("deployment %d: MR !%d rework %v, truth %v", d.ID, m.IID, m.Rework, tm.Rework)
			}
		}
		slices.Sort(iids)
		slices.Sort(before)
		if d.Service != w.service || fmt.Sprint(iids) != fmt.Sprint(w.counted) || fmt.Sprint(before) != fmt.Sprint(w.before) ||
			d.Rework != w.rework || d.Rollback != w.rollback || d.ChangeFailure != w.cf || rec != w.recovery ||
			d.FinishedAt.Unix() != w.finished || d.Ref != w.ref || d.Blames != w.blames || d.BlamedBy != w.blamedBy {
			t.Errorf("deployment %d: service %s ref %s mrs %v before merge %v rework %v rollback %v blames %d blamed by %d cf %v recovery %d finished %v; truth %+v",
				d.ID, d.Service, d.Ref, iids, before, d.Rework, d.Rollback, d.Blames, d.BlamedBy, d.ChangeFailure, rec, d.FinishedAt, w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != len(deps) {
		t.Errorf("%d deployments, truth has %d", seen, len(deps))
	}
	rollbacks, cfs := 0, 0
	for _, w := range deps {
		if w.rollback {
			rollbacks++
		}
		if w.cf {
			cfs++
		}
	}
	t.Logf("truth: %d deployments (%d rollbacks, %d change failures), %d MRs", len(deps), rollbacks, cfs, len(truth.MergeRequests))

	// MRs: in scope, human, with the truth's instants; the service of a monolith MR is the one
	// of the deployment that first shipped it.
	mrs := map[[2]int64]truthMR{}
	authorDays := map[[2]int64][]gitlabsim.AuthorDay{}
	for _, m := range truth.MergeRequests {
		if !m.InScope || m.Bot || m.MergedAt == nil {
			continue
		}
		w := truthMR{service: serviceOf(m.ProjectID, ""), firstCommit: m.FirstCommitAt.Unix(), review: unixOr(m.FirstReviewAt),
			approval: unixOr(m.FirstApprovalAt), dep: unixOr(m.DeployedAt), merged: m.MergedAt.Unix(), created: m.CreatedAt.Unix(),
			rework: m.Rework, delivered: m.DeliveredAt.Unix(), coding: m.CodingSeconds, pickup: m.PickupSeconds,
			review2: m.ReviewSeconds, deploy: -1, cycle: m.CycleSeconds, category: m.Category, beforeMerge: m.BeforeMerge}
		if m.DeploySeconds != nil {
			w.deploy = *m.DeploySeconds
		}
		if m.DeployedAt != nil {
			for _, d := range deps {
				if d.projectID == m.ProjectID && d.finished == w.dep && containsInt(d.counted, m.IID) {
					w.service = serviceOf(m.ProjectID, d.environment)
				}
			}
		}
		mrs[[2]int64{m.ProjectID, m.IID}] = w
		authorDays[[2]int64{m.ProjectID, m.IID}] = m.AuthorDays
	}
	seen = 0
	if err := e.MergeRequests(ctx, metrics.Filter{From: time.Unix(0, 0)}, func(m *metrics.MergeRequest) error {
		seen++
		w, ok := mrs[[2]int64{m.ProjectID, m.IID}]
		if !ok {
			t.Errorf("MR %s!%d is not in scope in the truth", m.Project, m.IID)
			return nil
		}
		var dep int64 = -1
		if m.DeployedAt != nil {
			dep = m.DeployedAt.Unix()
		}
		deploy := int64(-1)
		if m.DeploySeconds != nil {
			deploy = *m.DeploySeconds
		}
		got := truthMR{m.Service, m.FirstCommitAt.Unix(), unixOr(m.FirstReviewAt), unixOr(m.FirstApproval), dep,
			m.MergedAt.Unix(), m.CreatedAt.Unix(), m.Rework, m.DeliveredAt.Unix(), m.CodingSeconds, m.PickupSeconds,
			m.ReviewSeconds, deploy, m.CycleSeconds, m.Category, m.BeforeMerge}
		if got != w {
			t.Errorf("MR %s!%d:\n got %+v\ntruth %+v", m.Project, m.IID, got, w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != len(mrs) {
		t.Errorf("%d MRs, truth has %d in scope", seen, len(mrs))
	}
	checkCategoryColumn(t, e, mrs, paths)

	// Figures, computed here from the truth: four whole weeks in the past; weeks cut by a range
	// from a Wednesday to a Tuesday (deploys per day over the days inside the range, coverage
	// cut at the range's end); and ranges reaching past today: the running period counts the
	// days elapsed, periods not begun have no figures, and coverage is carried into the range
	// from before it on days without a pipeline.
	today := truth.Now.UTC().Truncate(24 * time.Hour)
	ranges := []struct {
		from, to time.Time
		by       metrics.Period
	}{
		{end.AddDate(0, 0, -28), end.AddDate(0, 0, -1), metrics.Week},
		{end.AddDate(0, 0, -26), end.AddDate(0, 0, -13), metrics.Week},
		{end.AddDate(0, 0, -12), today.AddDate(0, 0, 10), metrics.Week}, // reaching past today
		{end.AddDate(0, 0, -8), today.AddDate(0, 0, 2), metrics.Day},    // from a Sunday: few pipelines run at weekends
	}
	teamServices := map[string]bool{"payments": true, "checkout": true}
	for _, rg := range ranges {
		for _, team := range append([]string{""}, teams...) {
			checkTruthFigures(t, e, truth, rg.from, rg.to, today, rg.by, team, teamServices, mrs, authorDays, deps, paths, mono, serviceOf)
		}
	}
}

// truthMR and truthDep are the per-item truth the figures are computed from.
type truthMR struct {
	service                                string
	firstCommit, review, approval, dep     int64
	merged, created                        int64
	rework                                 bool
	delivered                              int64
	coding, pickup, review2, deploy, cycle int64 // review2: the review stage; deploy -1 when not deployed
	category                               string
	beforeMerge                            bool
}

type truthDep struct {
	service              string
	mrs                  int
	rework, rollback, cf bool
	recovery             int64
	finished             int64
	projectID            int64
	environment          string
	counted              []int64
	first                bool
	ref                  string
	blames, blamedBy     int64
	before               []int64
}

// checkTruthFigures computes every figure of the range [from, to] (dates, inclusive) by period
// from the truth, with today as the engine's today, and compares it with Figures.
func checkTruthFigures(t *testing.T, e *metrics.Engine, truth *gitlabsim.Truth, from, to, today time.Time, by metrics.Period,
	team string, teamServices map[string]bool, mrs map[[2]int64]truthMR, authorDays map[[2]int64][]gitlabsim.AuthorDay,
	deps map[int64]truthDep, paths map[int64]string,
	mono string, serviceOf func(int64, string) string) {
	t.Helper()
	ctx := context.Background()
	keep := func(service string) bool { return team == "" || teamServices[service] }
	periodDays := 7
	if by == metrics.Day {
		periodDays = 1
	}
	// periodOf is the first day of the period holding t: a Monday, or the day itself.
	periodOf := func(t time.Time) time.Time {
		d := t.UTC().Truncate(24 * time.Hour)
		if by == metrics.Day {
			return d
		}
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
	keyOf := func(start time.Time) string {
		if by == metrics.Day {
			return start.Format(time.DateOnly)
		}
		y, w := start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	}
	rangeEnd := to.AddDate(0, 0, 1)
	inRange := func(sec int64) (string, bool) {
		t := time.Unix(sec, 0).UTC()
		if t.Before(from) || !t.Before(rangeEnd) {
			return "", false
		}
		return keyOf(periodOf(t)), true
	}
	// Days of each period inside the range and begun by today.
	days := map[string]int{}
	for ps := periodOf(from); ps.Before(rangeEnd); ps = ps.AddDate(0, 0, periodDays) {
		for d := ps; d.Before(ps.AddDate(0, 0, periodDays)); d = d.AddDate(0, 0, 1) {
			if !d.Before(from) && d.Before(rangeEnd) && !d.After(today) {
				days[keyOf(ps)]++
			}
		}
	}

	want := map[string]fig{}
	type mrAgg struct {
		cycle, coding, pickup, review, deploy []int64
		rework, unapproved, techDebt          int
	}
	type depAgg struct {
		n, rework, cf int
		recovery      []int64
	}
	mrAggs := map[[2]string]*mrAgg{}
	depAggs := map[[2]string]*depAgg{}
	for _, m := range mrs {
		if !keep(m.service) {
			continue
		}
		delivered := m.delivered
		period, ok := inRange(delivered)
		if !ok {
			continue
		}
		for _, s := range []string{"all", m.service} {
			a := mrAggs[[2]string{period, s}]
			if a == nil {
				a = &mrAgg{}
				mrAggs[[2]string{period, s}] = a
			}
			if m.coding+m.pickup+m.review2+max(m.deploy, 0) != m.cycle || m.cycle != delivered-m.firstCommit {
				t.Errorf("truth: the stages of an MR delivered at %d do not add up: %+v", delivered, m)
			}
			a.cycle = append(a.cycle, m.cycle)
			a.coding = append(a.coding, m.coding)
			a.pickup = append(a.pickup, m.pickup)
			a.review = append(a.review, m.review2)
			if m.deploy >= 0 {
				a.deploy = append(a.deploy, m.deploy)
			}
			if m.rework {
				a.rework++
			}
			if m.category == gitlabsim.CategoryTechDebt {
				a.techDebt++
			}
			if m.approval < 0 {
				a.unapproved++
			}
		}
	}
	for _, d := range deps {
		if !keep(d.service) {
			continue
		}
		period, ok := inRange(d.finished)
		if !ok {
			continue
		}
		for _, s := range []string{"all", d.service} {
			a := depAggs[[2]string{period, s}]
			if a == nil {
				a = &depAgg{}
				depAggs[[2]string{period, s}] = a
			}
			a.n++
			if d.rework {
				a.rework++
			}
			if d.cf {
				a.cf++
				a.recovery = append(a.recovery, d.recovery)
			}
		}
	}
	put := func(k [2]string, metric string, v float64, n int) {
		if n > 0 {
			want[k[0]+" "+k[1]+" "+metric] = fig{v, n}
		}
	}
	for k, a := range mrAggs {
		n := len(a.cycle)
		put(k, metrics.MergedMRs, float64(n), n)
		put(k, metrics.CycleTimeP50, numpyPercentile(a.cycle, 50), n)
		put(k, metrics.CycleTimeP75, numpyPercentile(a.cycle, 75), n)
		put(k, metrics.CycleTimeP90, numpyPercentile(a.cycle, 90), n)
		put(k, metrics.CodingTimeP50, numpyPercentile(a.coding, 50), n)
		put(k, metrics.PickupTimeP50, numpyPercentile(a.pickup, 50), n)
		put(k, metrics.ReviewTimeP50, numpyPercentile(a.review, 50), n)
		put(k, metrics.DeployTimeP50, numpyPercentile(a.deploy, 50), len(a.deploy))
		put(k, metrics.MRReworkRate, float64(a.rework)/float64(n), n)
		put(k, metrics.UnapprovedRate, float64(a.unapproved)/float64(n), n)
		put(k, metrics.TechDebtShare, float64(a.techDebt)/float64(n), n)
	}
	// Tech-debt effort: every author-day of an MR with facts is split equally among the k MRs
	// with a commit by that author that day; it belongs to the period of its day. A row counts
	// the author-days with at least one of its MRs, and divides its MRs' tech-debt parts by its
	// MRs' parts (for "all" without a team: by the number of author-days).
	shares := map[gitlabsim.AuthorDay][][2]int64{}
	for k, days := range authorDays {
		for _, ad := range days {
			shares[ad] = append(shares[ad], k)
		}
	}
	type effAgg struct {
		n         int
		debt, all float64
	}
	effAggs := map[[2]string]*effAgg{}
	for ad, ks := range shares {
		period, ok := inRange(ad.Day.Unix())
		if !ok {
			continue
		}
		k := float64(len(ks))
		rows := map[string]*effAgg{}
		for _, key := range ks {
			m := mrs[key]
			if !keep(m.service) {
				continue
			}
			for _, s := range []string{"all", m.service} {
				a := rows[s]
				if a == nil {
					a = &effAgg{}
					rows[s] = a
				}
				a.all += 1 / k
				if m.category == gitlabsim.CategoryTechDebt {
					a.debt += 1 / k
				}
			}
		}
		for s, r := range rows {
			a := effAggs[[2]string{period, s}]
			if a == nil {
				a = &effAgg{}
				effAggs[[2]string{period, s}] = a
			}
			a.n++
			a.debt += r.debt
			a.all += r.all
			if s == "all" && team == "" {
				a.all += 1 - r.all // every MR of the day is in scope: the whole author-day
			}
		}
	}
	for k, a := range effAggs {
		put(k, metrics.TechDebtEffort, a.debt/a.all, a.n)
	}
	for k, a := range depAggs {
		put(k, metrics.Deployments, float64(a.n), a.n)
		put(k, metrics.DeploysPerDay, float64(a.n)/float64(days[k[0]]), a.n)
		put(k, metrics.ReworkRate, float64(a.rework)/float64(a.n), a.n)
		put(k, metrics.ChangeFailureRate, float64(a.cf)/float64(a.n), a.n)
		put(k, metrics.RecoveryTimeP50, numpyPercentile(a.recovery, 50), len(a.recovery))
	}
	// Coverage: per project the last successful default-branch pipeline with coverage that
	// finished before the period ended (or the range did), however long before; the mean over
	// projects with one. Periods that have not begun have none.
	carried := 0
	for ps := periodOf(from); ps.Before(rangeEnd) && !ps.After(today); ps = ps.AddDate(0, 0, periodDays) {
		cut := ps.AddDate(0, 0, periodDays)
		if rangeEnd.Before(cut) {
			cut = rangeEnd
		}
		last := map[int64]float64{}
		lastAt := map[int64]time.Time{}
		for _, p := range truth.Pipelines {
			if p.Status != "success" || p.Coverage == nil || p.FinishedAt == nil || !p.FinishedAt.Before(cut) {
				continue
			}
			if at, ok := lastAt[p.ProjectID]; !ok || !p.FinishedAt.Before(at) {
				last[p.ProjectID], lastAt[p.ProjectID] = *p.Coverage, *p.FinishedAt
			}
		}
		sums, counts := map[string]float64{}, map[string]int{}
		ids := make([]int64, 0, len(last))
		for id := range last {
			ids = append(ids, id)
			if lastAt[id].Before(from) {
				carried++
			}
		}
		sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
		for _, id := range ids {
			services := []string{serviceOf(id, "")}
			if paths[id] == mono {
				services = append(services, "checkout", "mono-payments")
			}
			counted := false
			for _, s := range services {
				if keep(s) {
					sums[s] += last[id]
					counts[s]++
					counted = true
				}
			}
			if counted {
				sums["all"] += last[id]
				counts["all"]++
			}
		}
		for s, n := range counts {
			want[keyOf(ps)+" "+s+" "+metrics.CoveragePercent] = fig{sums[s] / float64(n), n}
		}
	}

	figs, err := e.Figures(ctx, metrics.Filter{From: from, To: to, Team: team, By: by})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fig{}
	for _, f := range figs {
		got[f.Period+" "+f.Service+" "+f.Metric] = fig{f.Value, f.N}
	}
	name := fmt.Sprintf("%s to %s by %s, team %q", from.Format(time.DateOnly), to.Format(time.DateOnly), by, team)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: figure %s missing (truth %v n=%d)", name, k, w.v, w.n)
			continue
		}
		if g.n != w.n || math.Abs(g.v-w.v) > 1e-9*math.Max(1, math.Abs(w.v)) {
			t.Errorf("%s: %s = %v n=%d, truth %v n=%d", name, k, g.v, g.n, w.v, w.n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: figure %s not in the truth", name, k)
		}
	}
	t.Logf("%s: %d figures equal the truth (%d project coverages carried from before the range)", name, len(want), carried)
}

type fig struct {
	v float64
	n int
}

// numpyPercentile is numpy.percentile's default (linear) on a copy, rounded to the second.
func numpyPercentile(v []int64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	pos := p / 100 * float64(len(s)-1)
	i := int(pos)
	x := float64(s[i])
	if i+1 < len(s) {
		x += (float64(s[i+1]) - float64(s[i])) * (pos - float64(i))
	}
	return math.Round(x)
}

// checkCategoryColumn reads the merge-requests CSV: its last column is category, and each
// row's category is the truth's.
func checkCategoryColumn(t *testing.T, e *metrics.Engine, mrs map[[2]int64]truthMR, paths map[int64]string) {
	t.Helper()
	var b strings.Builder
	if err := metrics.WriteCSV(context.Background(), &b, e, "merge-requests", metrics.Filter{From: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0][len(rows[0])-1] != "category" {
		t.Fatalf("merge-requests CSV: the last column is not category: %v", rows[:min(len(rows), 1)])
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[col["project"]]+"!"+r[col["iid"]]] = r[len(r)-1]
	}
	if len(got) != len(mrs) {
		t.Errorf("merge-requests CSV: %d rows, truth has %d MRs", len(got), len(mrs))
	}
	for k, m := range mrs {
		if c := got[fmt.Sprintf("%s!%d", paths[k[0]], k[1])]; c != m.category {
			t.Errorf("merge-requests CSV: %s!%d category %q, truth %q", paths[k[0]], k[1], c, m.category)
		}
	}
}

func unixOr(t *time.Time) int64 {
	if t == nil {
		return -1
	}
	return t.Unix()
}

func containsInt(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestEdgeCasesEqualTruth builds an organisation by hand with each edge case of SPEC §3's
// ships, blame and author-day rules, checks the truth against values worked out by hand, then
// syncs it through the collector and compares the engine with the truth as above.
func TestEdgeCasesEqualTruth(t *testing.T) {
	end := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	day := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	at := func(d int, hhmm string) time.Time {
		x, err := time.Parse("15:04", hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return day.AddDate(0, 0, d).Add(time.Duration(x.Hour())*time.Hour + time.Duration(x.Minute())*time.Minute)
	}
	commits := func(who string, ts ...time.Time) []gitlabsim.CommitSpec {
		var cs []gitlabsim.CommitSpec
		for _, x := range ts {
			cs = append(cs, gitlabsim.CommitSpec{Author: who, At: x})
		}
		return cs
	}
	sc := gitlabsim.NewScenario(day.AddDate(0, 0, -14))
	mr := func(p *gitlabsim.ScenarioProject, author, title string, d int, created, merged string, extra ...gitlabsim.CommitSpec) *gitlabsim.ScenarioMR {
		return p.MR(gitlabsim.MRSpec{Author: author, Title: title, Created: at(d, created), Merged: at(d, merged),
			Commits: append(commits(author, at(d, created).Add(-time.Hour)), extra...)})
	}

	// 1. A revert of an MR shipped three deployments earlier, then a second fix for the same
	// failure (a git revert of one of its commits): both blame the deployment that shipped it.
	rv := sc.Project("reverts", "anna")
	a := mr(rv, "anna", "Add invoice export", 0, "09:00", "10:00")
	b := mr(rv, "ben", "Add cart totals", 0, "10:30", "11:00")
	c := mr(rv, "anna", "Speed up search ranking", 0, "11:30", "12:00")
	d0 := rv.Deploy("", "main", "1111111111111111111111111111111111111111", at(0, "08:00"))
	d1 := rv.Deploy("", "main", a.MergeSHA(), at(0, "10:30"), a)
	d2 := rv.Deploy("", "main", b.MergeSHA(), at(0, "11:30"), b)
	d3 := rv.Deploy("", "main", c.MergeSHA(), at(0, "12:30"), c)
	r1 := rv.MR(gitlabsim.MRSpec{Author: "ben", Title: `Revert "Add invoice export"`, Branch: "revert-" + a.MergeSHA()[:8],
		Created: at(0, "13:00"), Merged: at(0, "13:20"), Commits: []gitlabsim.CommitSpec{{At: at(0, "12:58"),
			Message: "Revert \"Add invoice export\"\n\nThis reverts commit " + a.MergeSHA() + ".\n"}}})
	d4 := rv.Deploy("", "main", r1.MergeSHA(), at(0, "13:40"), r1)
	r2 := rv.MR(gitlabsim.MRSpec{Author: "anna", Title: "Back out the rest of the invoice export", Branch: "revert/invoice-export",
		Created: at(0, "14:00"), Merged: at(0, "14:30"), Commits: []gitlabsim.CommitSpec{{At: at(0, "13:55"),
			Message: "Revert \"Work on Add invoice export\"\n\nThis reverts commit " + a.CommitSHA(0) + ".\n"}}})
	d5 := rv.Deploy("", "main", r2.MergeSHA(), at(0, "15:00"), r2)

	// 2. A revert whose target was never deployed before: both ship together, so the
	// deployment just before blames.
	nd := sc.Project("never-deployed", "carl")
	e := mr(nd, "carl", "Migrate audit log", 1, "09:00", "10:00")
	f := nd.MR(gitlabsim.MRSpec{Author: "carl", Title: `Revert "Migrate audit log"`, Branch: "fix/audit-log",
		Created: at(1, "10:10"), Merged: at(1, "10:20"), Commits: commits("carl", at(1, "10:05"))})
	n0 := nd.Deploy("", "main", "2222222222222222222222222222222222222222", at(1, "08:00"))
	n1 := nd.Deploy("", "main", f.MergeSHA(), at(1, "11:00"), e, f)

	// 3. A deployment of the branch before created_at, and one of the right branch at another
	// SHA: neither ships; the link after the merge does.
	br := sc.Project("branches", "dora")
	g := br.MR(gitlabsim.MRSpec{Author: "dora", Title: "Add health checks", Branch: "feat-g", Created: at(2, "10:00"),
		Merged: at(2, "12:00"), Commits: commits("dora", at(2, "09:00"))})
	h := br.MR(gitlabsim.MRSpec{Author: "dora", Title: "Cache price lookups", Branch: "feat-h", Created: at(2, "10:30"),
		Merged: at(2, "12:10"), Commits: commits("dora", at(2, "10:00"), at(2, "11:30"))})
	b0 := br.Deploy("", "main", "3333333333333333333333333333333333333333", at(2, "08:00"))
	bPre := br.Deploy("", "feat-g", g.HeadSHA(), at(2, "09:30"))
	bOld := br.Deploy("", "feat-h", h.CommitSHA(0), at(2, "11:00"))
	b1 := br.Deploy("", "main", h.MergeSHA(), at(2, "12:30"), g, h)

	// 4. Deploys before merge: the GitLab link to the next deployment does not count again; a
	// review after the pre-merge deployment does not end pickup.
	bm := sc.Project("before-merge", "emil")
	j := bm.MR(gitlabsim.MRSpec{Author: "emil", Title: "Add SSO callback", Branch: "feat-j", Created: at(3, "13:00"),
		Merged: at(3, "14:12"), Commits: commits("emil", at(3, "12:00")), ApprovedBy: "fay", ApprovedAt: at(3, "13:30")})
	k := bm.MR(gitlabsim.MRSpec{Author: "fay", Title: "Handle refunds", Branch: "feat-k", Created: at(3, "14:20"),
		Merged: at(3, "15:30"), Commits: commits("fay", at(3, "14:00")), ApprovedBy: "emil", ApprovedAt: at(3, "15:20")})
	m0 := bm.Deploy("", "main", "4444444444444444444444444444444444444444", at(3, "08:00"))
	mJ := bm.Deploy("", "feat-j", j.HeadSHA(), at(3, "14:00"))
	m1 := bm.Deploy("", "main", j.MergeSHA(), at(3, "14:30"), j)
	mK := bm.Deploy("", "feat-k", k.HeadSHA(), at(3, "15:00"))
	m2 := bm.Deploy("", "main", k.MergeSHA(), at(3, "15:45"), k)

	// 5. A deploy before merge followed by a rollback to the version before it; the MR is merged
	// anyway and linked again after a later deployment.
	rb := sc.Project("rollback", "gus")
	l := rb.MR(gitlabsim.MRSpec{Author: "gus", Title: "Retry payment webhooks", Branch: "feat-l", Created: at(4, "09:00"),
		Merged: at(4, "10:30"), Commits: commits("gus", at(4, "08:30"))})
	q0 := rb.Deploy("", "main", "5555555555555555555555555555555555555555", at(4, "08:00"))
	qL := rb.Deploy("", "feat-l", l.HeadSHA(), at(4, "10:00"))
	qBack := rb.Deploy("", "main", "5555555555555555555555555555555555555555", at(4, "10:10"))
	q1 := rb.Deploy("", "main", l.MergeSHA(), at(4, "11:00"), l)

	// 6. One MR shipped to two production environments, then a re-deploy of the same SHA.
	two := sc.Project("two-regions", "hana", "production/eu", "production/us")
	nn := mr(two, "hana", "Validate addresses", 5, "09:00", "09:30")
	t0eu := two.Deploy("production/eu", "main", "6666666666666666666666666666666666666666", at(5, "08:00"))
	t0us := two.Deploy("production/us", "main", "6666666666666666666666666666666666666666", at(5, "08:10"))
	teu := two.Deploy("production/eu", "main", nn.MergeSHA(), at(5, "10:00"), nn)
	tus := two.Deploy("production/us", "main", nn.MergeSHA(), at(5, "10:30"), nn)
	teu2 := two.Deploy("production/eu", "main", nn.MergeSHA(), at(5, "11:00"))

	// 7. One author-day shared by three MRs (one of them tech debt), a second author on one of
	// them, the same person's email in another case, and a commit without an email.
	ad := sc.Project("author-days", "ida")
	p1 := ad.MR(gitlabsim.MRSpec{Author: "ida", Title: "Add stock reservations", Created: at(7, "12:00"), Merged: at(7, "16:00"),
		Commits: []gitlabsim.CommitSpec{{At: at(7, "09:00")}, {Author: "jon", At: at(7, "10:00")}}})
	p2 := ad.MR(gitlabsim.MRSpec{Author: "ida", Title: "chore: tidy the tax tables", Created: at(7, "13:00"), Merged: at(7, "16:10"),
		Commits: []gitlabsim.CommitSpec{{At: at(7, "11:00"), Email: "Ida@ACME.example"}}})
	p3 := ad.MR(gitlabsim.MRSpec{Author: "ida", Title: "Fix currency rounding display", Created: at(7, "14:00"), Merged: at(7, "16:20"),
		Commits: []gitlabsim.CommitSpec{{At: at(7, "12:30")}, {Author: "kai", Email: "-", At: at(8, "08:00")}}})
	a0 := ad.Deploy("", "main", "7777777777777777777777777777777777777777", at(7, "08:00"))
	a1 := ad.Deploy("", "main", p3.MergeSHA(), at(8, "10:00"), p1, p2, p3)

	org := sc.Org(end)
	truth := org.Truth()

	// The truth, against the rules worked out by hand.
	dep := func(id int64) gitlabsim.TruthDeployment {
		d, ok := truth.FindDeployment(id)
		if !ok {
			t.Fatalf("deployment %d not in the truth", id)
		}
		return d
	}
	mrOf := func(p *gitlabsim.ScenarioProject, m *gitlabsim.ScenarioMR) gitlabsim.TruthMR {
		x, ok := truth.FindMR(p.ID(), m.IID())
		if !ok {
			t.Fatalf("MR !%d not in the truth", m.IID())
		}
		return x
	}
	expect := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("truth: %s = %v, want %v", what, got, want)
		}
	}
	expect("revert by title reverts", mrOf(rv, r1).Reverts, []int64{a.IID()})
	expect("revert by commit reverts", mrOf(rv, r2).Reverts, []int64{a.IID()})
	expect("first revert blames", dep(d4).Blames, d1)
	expect("second fix blames", dep(d5).Blames, d1)
	expect("blamed by", dep(d1).BlamedBy, d4)
	expect("recovery", *dep(d1).RecoverySeconds, int64(at(0, "13:40").Sub(at(0, "10:30"))/time.Second))
	expect("change failures", []bool{dep(d0).ChangeFailure, dep(d1).ChangeFailure, dep(d2).ChangeFailure, dep(d3).ChangeFailure, dep(d4).ChangeFailure},
		[]bool{false, true, false, false, false})
	expect("revert shipped with its target blames", dep(n1).Blames, n0)
	expect("revert of a never-deployed MR reverts", mrOf(nd, f).Reverts, []int64{e.IID()})
	expect("deploy before created_at ships", dep(bPre).CountedIIDs, []int64{})
	expect("deploy of another SHA ships", dep(bOld).CountedIIDs, []int64{})
	expect("link after the merge counts", dep(b1).CountedIIDs, []int64{g.IID(), h.IID()})
	expect("branch deployments refs", []string{dep(bPre).Ref, dep(b0).Ref}, []string{"feat-g", "main"})
	expect("deploy before merge ships", dep(mJ).BeforeMergeIIDs, []int64{j.IID()})
	expect("next deployment counts again", dep(m1).CountedIIDs, []int64{})
	expect("second deploy before merge ships", dep(mK).CountedIIDs, []int64{k.IID()})
	expect("after the second one", dep(m2).CountedIIDs, []int64{})
	expect("deployed before merge", []any{*mrOf(bm, j).DeployedAt, mrOf(bm, j).BeforeMerge, *mrOf(bm, j).DeploySeconds}, []any{at(3, "14:00"), true, 0})
	expect("pickup and review, reviewed before the deploy", []int64{mrOf(bm, j).PickupSeconds, mrOf(bm, j).ReviewSeconds}, []int64{1800, 1800})
	expect("pickup and review, reviewed after the deploy", []int64{mrOf(bm, k).PickupSeconds, mrOf(bm, k).ReviewSeconds}, []int64{2400, 0})
	expect("rollback after a deploy before merge", []bool{dep(qBack).Rollback, dep(qBack).Rework, dep(qL).ChangeFailure}, []bool{true, true, true})
	expect("rollback blames", dep(qBack).Blames, qL)
	expect("relinked after the rollback", dep(q1).CountedIIDs, []int64{})
	expect("rolled-back MR delivered", *mrOf(rb, l).DeployedAt, at(4, "10:00"))
	expect("two regions", [][]int64{dep(teu).CountedIIDs, dep(tus).CountedIIDs, dep(teu2).CountedIIDs}, [][]int64{{nn.IID()}, {nn.IID()}, {}})
	expect("re-deploy of the same SHA", dep(teu2).Rollback, false)
	expect("two regions deployed at", *mrOf(two, nn).DeployedAt, at(5, "10:00"))
	expect("author-days of the shared MR", len(mrOf(ad, p1).AuthorDays), 2)
	expect("email in another case", mrOf(ad, p2).AuthorDays[0].Identity, "ida@acme.example")
	expect("commit without an email", mrOf(ad, p3).AuthorDays[1].Identity, "kai")
	expect("category", mrOf(ad, p2).Category, gitlabsim.CategoryTechDebt)
	_, _, _, _, _, _ = m0, q0, t0eu, t0us, a0, a1

	paths := map[int64]string{}
	for _, p := range truth.Projects {
		paths[p.ID] = p.Path
	}
	cfg, err := config.Parse("edge.toml", []byte(fmt.Sprintf("[bots]\nusernames = %q\n", org.BotUsernames())))
	if err != nil {
		t.Fatal(err)
	}
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	t.Cleanup(srv.Close)
	ctx := context.Background()
	st := storetest.New(t)
	if _, err := collector.Sync(ctx, st, collector.Options{BaseURL: srv.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{org.TopGroup()}, Since: end.AddDate(-1, 0, 0), Config: cfg, Now: org.Now,
		RetryWaitMin: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	eng := metrics.New(st, cfg)
	eng.SetClock(org.Now)
	if err := eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkTruth(t, eng, truth, end, paths, "", func(id int64, _ string) string { return paths[id] })
}
