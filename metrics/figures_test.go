package metrics

import (
	"math"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestFiguresPerPeriod checks percentiles over items (never a mean of means), rates with their
// n, deploys per day over the requested range and a running period, the deploy window, day
// periods, and that rows with n = 0 are left out.
func TestFiguresPerPeriod(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.project(2, "acme/b")
	f.user(3, "carol", false)
	f.env(10, 1, "production", "production")
	f.env(20, 2, "production", "production")
	tue := 1*day + 12*hour
	// Cycle time = merged - created here (no commits, not deployed).
	f.mr(mrSpec{project: 1, iid: 1, created: at(tue - 1*hour), merged: at(tue), labels: []string{"bug"}})
	f.mr(mrSpec{project: 1, iid: 2, created: at(tue - 2*hour), merged: at(tue)})
	f.mr(mrSpec{project: 1, iid: 3, created: at(tue - 3*hour), merged: at(tue)})
	f.mr(mrSpec{project: 2, iid: 1, created: at(tue - 10*hour), merged: at(tue)})
	f.note(2, 1, "approved", 3, "carol", at(tue-hour))
	// Deployments, times in UTC; the window is 09:00-17:30 in Paris (UTC+1 in early March).
	f.deploy(1, 1, 10, "a", at(8*hour+30*60))          // Mon 09:30 Paris: in
	f.deploy(2, 1, 10, "b", at(16*hour+45*60))         // Mon 17:45 Paris: out
	f.deploy(3, 1, 10, "c", at(5*day+10*hour))         // Saturday: out
	f.deploy(4, 2, 20, "d", at(2*day+16*hour+30*60-1)) // Wed 17:29:59: in
	f.deploy(5, 2, 20, "e", at(3*day+16*hour+30*60))   // Thu 17:30:00: out (the end is exclusive)
	later := t0.Add(20 * 24 * time.Hour)
	window := cfgFrom(t, "[deploy_window]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"09:00\"\nend = \"17:30\"\ntimezone = \"Europe/Paris\"\n")
	e := f.engine(window, later)

	figs, err := e.Figures(f.ctx, Filter{From: date("2026-03-02"), To: date("2026-03-08")})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		service, metric string
		value           float64
		n               int
	}
	want := []row{
		{AllServices, MergedMRs, 4, 4},
		{AllServices, CycleTimeP50, 9000, 4},  // 1h 2h 3h 10h: 2.5h, not the mean of medians (6h)
		{AllServices, CycleTimeP75, 17100, 4}, // numpy: 17100
		{AllServices, CycleTimeP90, 28440, 4}, // numpy: 28440
		{AllServices, CodingTimeP50, 0, 4},
		{AllServices, PickupTimeP50, 9000, 4}, // not reviewed: pickup = merged - created
		{AllServices, ReviewTimeP50, 0, 4},
		{AllServices, Deployments, 5, 5},
		{AllServices, DeploysPerDay, 5.0 / 7, 5},
		{AllServices, ReworkRate, 0, 5},
		{AllServices, ChangeFailureRate, 0, 5},
		{AllServices, MRReworkRate, 0.25, 4},
		{AllServices, UnapprovedRate, 0.75, 4},
		{AllServices, OutOfWindowRate, 0.6, 5},
		{AllServices, TechDebtShare, 0, 4},
		{"acme/a", MergedMRs, 3, 3},
		{"acme/a", CycleTimeP50, 7200, 3},
		{"acme/a", CycleTimeP75, 9000, 3},
		{"acme/a", CycleTimeP90, 10080, 3},
		{"acme/a", CodingTimeP50, 0, 3},
		{"acme/a", PickupTimeP50, 7200, 3},
		{"acme/a", ReviewTimeP50, 0, 3},
		{"acme/a", Deployments, 3, 3},
		{"acme/a", DeploysPerDay, 3.0 / 7, 3},
		{"acme/a", ReworkRate, 0, 3},
		{"acme/a", ChangeFailureRate, 0, 3},
		{"acme/a", MRReworkRate, 1.0 / 3, 3},
		{"acme/a", UnapprovedRate, 1, 3},
		{"acme/a", OutOfWindowRate, 2.0 / 3, 3},
		{"acme/a", TechDebtShare, 0, 3},
		{"acme/b", MergedMRs, 1, 1},
		{"acme/b", CycleTimeP50, 36000, 1},
		{"acme/b", CycleTimeP75, 36000, 1},
		{"acme/b", CycleTimeP90, 36000, 1},
		{"acme/b", CodingTimeP50, 0, 1},
		{"acme/b", PickupTimeP50, 32400, 1}, // approved after 9h: the approval is the review
		{"acme/b", ReviewTimeP50, 3600, 1},
		{"acme/b", Deployments, 2, 2},
		{"acme/b", DeploysPerDay, 2.0 / 7, 2},
		{"acme/b", ReworkRate, 0, 2},
		{"acme/b", ChangeFailureRate, 0, 2},
		{"acme/b", MRReworkRate, 0, 1},
		{"acme/b", UnapprovedRate, 0, 1},
		{"acme/b", OutOfWindowRate, 0.5, 2},
		{"acme/b", TechDebtShare, 0, 1},
	}
	if len(figs) != len(want) {
		for _, fg := range figs {
			t.Logf("%s %s %s %v %d", fg.Period, fg.Service, fg.Metric, fg.Value, fg.N)
		}
		t.Fatalf("got %d figures, want %d (no deploy time, recovery or coverage: their n is 0)", len(figs), len(want))
	}
	for i, w := range want {
		g := figs[i]
		if g.Period != "2026-W10" || !g.Start.Equal(t0) || g.Service != w.service || g.Metric != w.metric || !approx(g.Value, w.value) || g.N != w.n {
			t.Errorf("row %d: got %s %s %s %v n=%d, want %s %s %v n=%d", i, g.Period, g.Service, g.Metric, g.Value, g.N, w.service, w.metric, w.value, w.n)
		}
	}

	// Only part of the week in the range: Wednesday to Sunday is 5 days, with 3 deployments.
	figs, err = e.Figures(f.ctx, Filter{From: date("2026-03-04"), To: date("2026-03-08")})
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-W10", AllServices, DeploysPerDay); !approx(fg.Value, 0.6) || fg.N != 3 {
		t.Errorf("deploys per day over Wed-Sun: %v n=%d, want 0.6 n=3", fg.Value, fg.N)
	}
	if hasFigure(figs, "2026-W10", AllServices, MergedMRs) {
		t.Error("MRs delivered on Tuesday are outside a range starting Wednesday")
	}

	// A running week: on Thursday evening, Monday to Thursday have elapsed (4 days, 4 deployments).
	e.SetClock(func() time.Time { return t0.Add(3*24*time.Hour + 18*time.Hour) })
	figs, err = e.Figures(f.ctx, Filter{From: date("2026-03-02")})
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-W10", AllServices, DeploysPerDay); !approx(fg.Value, 1) || fg.N != 4 {
		t.Errorf("running week: %v n=%d, want 1 n=4", fg.Value, fg.N)
	}

	// Days, and no window configured: no out_of_window_rate.
	plain := New(f.st, nil)
	plain.SetClock(func() time.Time { return later })
	figs, err = plain.Figures(f.ctx, Filter{From: date("2026-03-02"), To: date("2026-03-02"), By: Day})
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-03-02", AllServices, DeploysPerDay); fg.Value != 2 || fg.N != 2 {
		t.Errorf("day: %v n=%d, want 2 n=2", fg.Value, fg.N)
	}
	for _, fg := range figs {
		if fg.Metric == OutOfWindowRate {
			t.Fatal("out_of_window_rate without a window")
		}
		if fg.Period != "2026-03-02" {
			t.Fatalf("figure outside the range: %+v", fg)
		}
	}
}

// TestServicesMonorepoAndTeams checks service naming, grouping, the monorepo split, and team
// filters by services and by authors, on figures and on item lists.
func TestServicesMonorepoAndTeams(t *testing.T) {
	f := newFixture(t)
	for id, path := range map[int64]string{1: "acme/pay-api", 2: "acme/pay-worker", 3: "acme/mono", 4: "acme/web"} {
		f.project(id, path)
	}
	f.user(8, "dave", false)
	f.env(10, 1, "production", "production")
	f.env(20, 2, "production", "production")
	f.env(30, 3, "production/checkout", "production")
	f.env(31, 3, "production/search", "production")
	f.env(32, 3, "production/other", "production")
	f.env(40, 4, "production", "production")
	tue := day + 12*hour
	mr := func(p, iid int64, author string) {
		s := mrSpec{project: p, iid: iid, created: at(tue - hour), merged: at(tue)}
		if author == "dave" {
			s.author, s.authorID = "dave", 8
		}
		f.mr(s)
	}
	mr(1, 1, "")
	mr(2, 1, "dave")
	mr(3, 1, "") // first deployed to checkout, then search
	mr(3, 2, "") // search
	mr(3, 3, "") // never deployed: the project's own name
	mr(3, 4, "") // deployed to an environment no service claims
	mr(4, 1, "dave")
	mr(4, 2, "")
	f.deploy(10, 1, 10, "a", at(2*day), 1)
	f.deploy(20, 2, 20, "b", at(2*day), 1)
	f.deploy(30, 3, 30, "c", at(2*day), 1)
	f.deploy(31, 3, 31, "d", at(3*day), 1, 2)
	f.deploy(32, 3, 32, "e", at(3*day), 4)
	f.deploy(40, 4, 40, "f", at(3*day), 1)
	for id, cov := range map[int64]float64{1: 80, 2: 60, 3: 70, 4: 90} {
		f.pipeline(100+id, id, "main", "success", at(tue), cov)
	}
	cfg := cfgFrom(t, `
[[service]]
name = "payments"
projects = ["acme/pay-api", "acme/pay-worker"]

[[service]]
name = "checkout"
projects = ["acme/mono"]
environments = ["production/checkout"]

[[service]]
name = "search"
projects = ["acme/mono"]
environments = ["production/search"]

[[team]]
name = "money"
services = ["payments", "checkout"]

[[team]]
name = "people"
authors = ["Dave"]
`)
	e := f.engine(cfg, t0.Add(30*24*time.Hour))
	services, err := e.Services(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme/mono", "acme/web", "checkout", "payments", "search"}; !equalStrings(services, want) {
		t.Errorf("services %v, want %v", services, want)
	}
	if got := e.Teams(); !equalStrings(got, []string{"money", "people"}) {
		t.Errorf("teams %v", got)
	}

	mrService := map[int64]string{}
	for k, m := range f.mrs(e, Filter{}) {
		mrService[k] = m.Service
	}
	wantMR := map[int64]string{100001: "payments", 200001: "payments", 300001: "checkout", 300002: "search",
		300003: "acme/mono", 300004: "acme/mono", 400001: "acme/web", 400002: "acme/web"}
	for k, w := range wantMR {
		if mrService[k] != w {
			t.Errorf("MR %d: service %q, want %q", k, mrService[k], w)
		}
	}
	wantDep := map[int64]string{10: "payments", 20: "payments", 30: "checkout", 31: "search", 32: "acme/mono", 40: "acme/web"}
	for id, d := range f.deployments(e, Filter{}) {
		if d.Service != wantDep[id] {
			t.Errorf("deployment %d: service %q, want %q", id, d.Service, wantDep[id])
		}
	}

	type counts struct{ merged, deployments int }
	figuresBy := func(flt Filter) (map[string]counts, map[string]Figure) {
		t.Helper()
		figs, err := e.Figures(f.ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]counts{}
		cov := map[string]Figure{}
		for _, fg := range figs {
			c := out[fg.Service]
			switch fg.Metric {
			case MergedMRs:
				c.merged = fg.N
			case Deployments:
				c.deployments = fg.N
			case CoveragePercent:
				cov[fg.Service] = fg
			}
			out[fg.Service] = c
		}
		return out, cov
	}
	got, cov := figuresBy(Filter{})
	wantAll := map[string]counts{"all": {8, 6}, "payments": {2, 2}, "checkout": {1, 1}, "search": {1, 1}, "acme/mono": {2, 1}, "acme/web": {2, 1}}
	if !equalCounts(got, wantAll) {
		t.Errorf("everything: %v, want %v", got, wantAll)
	}
	// Coverage: the monorepo's value counts for each service split out of it, once for "all".
	for s, w := range map[string]float64{"all": 75, "payments": 70, "checkout": 70, "search": 70, "acme/mono": 70, "acme/web": 90} {
		if !approx(cov[s].Value, w) {
			t.Errorf("coverage of %s: %v, want %v", s, cov[s].Value, w)
		}
	}
	if cov["all"].N != 4 || cov["payments"].N != 2 {
		t.Errorf("coverage n: all %d payments %d", cov["all"].N, cov["payments"].N)
	}

	money := map[string]counts{"all": {3, 3}, "payments": {2, 2}, "checkout": {1, 1}}
	if got, _ := figuresBy(Filter{Services: []string{"payments", "checkout"}}); !equalCounts(got, money) {
		t.Errorf("services payments+checkout: %v, want %v", got, money)
	}
	got, cov = figuresBy(Filter{Team: "money"})
	if !equalCounts(got, money) {
		t.Errorf("team money: %v, want %v", got, money)
	}
	if !approx(cov["all"].Value, 70) || cov["all"].N != 3 {
		t.Errorf("team money coverage: %+v", cov["all"])
	}
	got, cov = figuresBy(Filter{Team: "people"})
	if want := map[string]counts{"all": {2, 2}, "payments": {1, 1}, "acme/web": {1, 1}}; !equalCounts(got, want) {
		t.Errorf("team of authors: %v, want %v", got, want)
	}
	if len(cov) != 0 {
		t.Errorf("a team of authors has no coverage: %v", cov)
	}
	if got, _ := figuresBy(Filter{Team: "people", Services: []string{"acme/web"}}); !equalCounts(got, map[string]counts{"all": {1, 1}, "acme/web": {1, 1}}) {
		t.Errorf("team of authors within a service: %v", got)
	}
	if got, _ := figuresBy(Filter{Team: "money", Services: []string{"acme/web"}}); len(got) != 0 {
		t.Errorf("a service outside the team: %v", got)
	}
	if n := len(f.mrs(e, Filter{Team: "people"})); n != 2 {
		t.Errorf("team people MRs: %d, want 2", n)
	}
	deps := f.deployments(e, Filter{Team: "people"})
	if len(deps) != 2 || deps[20] == nil || deps[40] == nil {
		t.Errorf("team people deployments: %v", deps)
	}
	if n := len(f.deployments(e, Filter{Team: "money"})); n != 3 {
		t.Errorf("team money deployments: %d, want 3", n)
	}
}

func equalStrings(a, b []string) bool {
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

func equalCounts[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCoverage checks which pipelines count, the last of the day, carrying forward, and the
// mean over projects with a value.
func TestCoverage(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.project(2, "=cmd|' /C calc'!A0") // a hostile path, for the CSV test below
	f.pipeline(1, 1, "main", "success", at(10*hour), 80)
	f.pipeline(2, 1, "main", "success", at(12*hour), 82) // last that day
	f.pipeline(3, 1, "main", "failed", at(13*hour), 99)
	f.pipeline(4, 1, "feature", "success", at(14*hour), 50)
	f.pipeline(5, 1, "main", "success", at(15*hour), nil)
	f.pipeline(6, 2, "main", "success", at(8*day+hour), 60)  // W11 Tuesday
	f.pipeline(7, 1, "main", "success", at(16*day+hour), 85) // W12 Wednesday
	e := f.engine(nil, t0.Add(40*24*time.Hour))
	all := func(flt Filter) map[string]Figure {
		t.Helper()
		figs, err := e.Figures(f.ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Figure{}
		for _, fg := range figs {
			if fg.Service == AllServices {
				if fg.Metric != CoveragePercent {
					t.Fatalf("only coverage expected: %+v", fg)
				}
				out[fg.Period] = fg
			}
		}
		return out
	}
	got := all(Filter{From: date("2026-03-02"), To: date("2026-03-22")})
	for p, w := range map[string]struct {
		v float64
		n int
	}{"2026-W10": {82, 1}, "2026-W11": {71, 2}, "2026-W12": {72.5, 2}} {
		if !approx(got[p].Value, w.v) || got[p].N != w.n {
			t.Errorf("%s: %v n=%d, want %v n=%d", p, got[p].Value, got[p].N, w.v, w.n)
		}
	}
	// Carried into a range that starts later, and cut at the range's end.
	got = all(Filter{From: date("2026-03-09"), To: date("2026-03-17")})
	if len(got) != 2 || !approx(got["2026-W11"].Value, 71) || !approx(got["2026-W12"].Value, 71) {
		t.Errorf("carried forward / cut at the range end: %+v", got)
	}
	// A range reaching past today: no coverage for the periods that have not begun.
	e.SetClock(func() time.Time { return t0.Add(9*24*time.Hour + 12*time.Hour) }) // W11 Wednesday
	got = all(Filter{From: date("2026-03-02"), To: date("2026-03-29")})
	if len(got) != 2 || !approx(got["2026-W11"].Value, 71) || got["2026-W11"].N != 2 {
		t.Errorf("coverage in the future of the clock: %+v", got)
	}
	e.SetClock(func() time.Time { return t0.Add(40 * 24 * time.Hour) })
	// Every day carries the value forward.
	got = all(Filter{From: date("2026-03-02"), To: date("2026-03-04"), By: Day})
	if len(got) != 3 || got["2026-03-04"].Value != 82 {
		t.Errorf("days: %+v", got)
	}
	var rows []CoverageRow
	if err := e.Coverage(f.ctx, Filter{}, func(r *CoverageRow) error { rows = append(rows, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].PipelineID != 2 || rows[0].Percent != 82 || rows[1].PipelineID != 6 || rows[2].PipelineID != 7 ||
		!rows[0].Date.Equal(t0) || rows[0].Service != "acme/a" || rows[0].SHA != "sha2" {
		t.Errorf("coverage rows: %+v", rows)
	}
}

// TestFilterDatesAreDays: a range's dates are calendar days whatever zone they were built in,
// To is inclusive, and today's period counts as one day elapsed.
func TestFilterDatesAreDays(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.env(10, 1, "production", "production")
	f.deploy(1, 1, 10, "a", at(2*day+23*hour+59*60))       // Wednesday 23:59 UTC
	f.deploy(2, 1, 10, "b", at(3*day+hour))                // Thursday 01:00 UTC
	e := f.engine(nil, t0.Add(3*24*time.Hour+2*time.Hour)) // Thursday 02:00 UTC
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone data")
	}
	wed := time.Date(2026, 3, 4, 0, 0, 0, 0, tokyo) // still Tuesday in UTC, but the date is what counts
	figs, err := e.Figures(f.ctx, Filter{From: wed, To: wed, By: Day})
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) == 0 || figs[0].Period != "2026-03-04" || figure(t, figs, "2026-03-04", AllServices, Deployments).N != 1 {
		t.Errorf("Wednesday: %+v", figs)
	}
	figs, err = e.Figures(f.ctx, Filter{From: date("2026-03-05"), By: Day}) // to today, running
	if err != nil {
		t.Fatal(err)
	}
	if fg := figure(t, figs, "2026-03-05", AllServices, DeploysPerDay); fg.Value != 1 || fg.N != 1 {
		t.Errorf("today: %+v", fg)
	}
}

// TestPeriodsAcrossTheYearEnd: ISO weeks belong to the year of their Thursday, so the last
// days of 2026 and the first of 2027 share 2026-W53; days keep their calendar date.
func TestPeriodsAcrossTheYearEnd(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.env(10, 1, "production", "production")
	for i, ts := range []string{"2026-12-28T00:00:00Z", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-01-03T23:59:59Z", "2027-01-04T00:00:00Z"} {
		tm, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatal(err)
		}
		f.deploy(int64(i+1), 1, 10, "s"+itoa(int64(i)), tm.Unix())
	}
	e := f.engine(nil, date("2027-02-01"))
	count := func(by Period) map[string]int {
		t.Helper()
		figs, err := e.Figures(f.ctx, Filter{From: date("2026-12-28"), To: date("2027-01-10"), By: by})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, fg := range figs {
			if fg.Service == AllServices && fg.Metric == Deployments {
				out[fg.Period] = fg.N
			}
		}
		return out
	}
	if got, want := count(Week), map[string]int{"2026-W53": 4, "2027-W01": 1}; !equalCounts(got, want) {
		t.Errorf("weeks: %v, want %v", got, want)
	}
	if got, want := count(Day), map[string]int{"2026-12-28": 1, "2026-12-31": 1, "2027-01-01": 1, "2027-01-03": 1, "2027-01-04": 1}; !equalCounts(got, want) {
		t.Errorf("days: %v, want %v", got, want)
	}
}
