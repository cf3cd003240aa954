package metrics_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store/storetest"
)

// listOrg syncs a generated organisation (services, a team, a deploy window) and derives its
// facts.
func listOrg(t *testing.T) (*metrics.Engine, *config.Config, *gitlabsim.Org) {
	t.Helper()
	if testing.Short() {
		t.Skip("syncs a generated organisation")
	}
	// Through the changes to summer time in America (8 March) and Europe (29 March).
	end := time.Date(2026, 4, 6, 0, 0, 0, 0, time.UTC)
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 7, End: end, Days: 60, Services: 10, Scale: 0.3})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	t.Cleanup(srv.Close)
	var paths []string
	for _, p := range org.Truth().Projects {
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	cfg, err := config.Parse("lists.toml", []byte(fmt.Sprintf(`
timezone = "Europe/Paris"

[bots]
usernames = %q

[deploy_window]
days  = ["mon", "tue", "wed", "thu"]
start = "09:00"
end   = "16:30"
timezone = "America/New_York"

[[team]]
name = "core"
services = [%q, %q]
authors = ["alice", "bob", "carol"]
`, org.BotUsernames(), paths[0], paths[1])))
	if err != nil {
		t.Fatal(err)
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
	return e, cfg, org
}

// recentMR orders MRs the most recently delivered first (the lists' tie-breaker).
func recentMR(a, b *metrics.MergeRequest) int {
	return cmp.Or(b.DeliveredAt.Compare(a.DeliveredAt), cmp.Compare(b.ProjectID, a.ProjectID), cmp.Compare(b.IID, a.IID))
}

// mrOrder is each order of the MR list, written out plainly.
func mrOrder(sort string) func(a, b *metrics.MergeRequest) int {
	desc := func(f func(*metrics.MergeRequest) int64) func(a, b *metrics.MergeRequest) int {
		return func(a, b *metrics.MergeRequest) int { return cmp.Or(cmp.Compare(f(b), f(a)), recentMR(a, b)) }
	}
	text := func(f func(*metrics.MergeRequest) string) func(a, b *metrics.MergeRequest) int {
		return func(a, b *metrics.MergeRequest) int {
			return cmp.Or(strings.Compare(strings.ToLower(f(a)), strings.ToLower(f(b))), recentMR(a, b))
		}
	}
	switch sort {
	case "oldest":
		return func(a, b *metrics.MergeRequest) int { return recentMR(b, a) }
	case "slowest":
		return desc(func(m *metrics.MergeRequest) int64 { return m.CycleSeconds })
	case "fastest":
		return desc(func(m *metrics.MergeRequest) int64 { return -m.CycleSeconds })
	case "coding":
		return desc(func(m *metrics.MergeRequest) int64 { return m.CodingSeconds })
	case "pickup":
		return desc(func(m *metrics.MergeRequest) int64 { return m.PickupSeconds })
	case "review":
		return desc(func(m *metrics.MergeRequest) int64 { return m.ReviewSeconds })
	case "deploy":
		return desc(func(m *metrics.MergeRequest) int64 {
			if m.DeploySeconds == nil {
				return -1
			}
			return *m.DeploySeconds
		})
	case "title":
		return text(func(m *metrics.MergeRequest) string { return m.Title })
	case "author":
		return text(func(m *metrics.MergeRequest) string { return m.Author })
	case "service":
		return text(func(m *metrics.MergeRequest) string { return m.Service })
	}
	return recentMR
}

func recentDep(a, b *metrics.Deployment) int {
	return cmp.Or(b.FinishedAt.Compare(a.FinishedAt), cmp.Compare(b.ID, a.ID))
}

func depOrder(sort string) func(a, b *metrics.Deployment) int {
	text := func(f func(*metrics.Deployment) string) func(a, b *metrics.Deployment) int {
		return func(a, b *metrics.Deployment) int {
			return cmp.Or(strings.Compare(strings.ToLower(f(a)), strings.ToLower(f(b))), recentDep(a, b))
		}
	}
	switch sort {
	case "oldest":
		return func(a, b *metrics.Deployment) int { return recentDep(b, a) }
	case "service":
		return text(func(d *metrics.Deployment) string { return d.Service })
	case "environment":
		return text(func(d *metrics.Deployment) string { return d.Environment })
	case "mrs":
		return func(a, b *metrics.Deployment) int {
			return cmp.Or(cmp.Compare(len(b.MergeRequests), len(a.MergeRequests)), recentDep(a, b))
		}
	case "recovery":
		rec := func(d *metrics.Deployment) int64 {
			if d.RecoverySeconds == nil {
				return -1
			}
			return *d.RecoverySeconds
		}
		return func(a, b *metrics.Deployment) int { return cmp.Or(cmp.Compare(rec(b), rec(a)), recentDep(a, b)) }
	}
	return recentDep
}

func randBool(r *rand.Rand) *bool {
	switch r.IntN(4) {
	case 0:
		v := true
		return &v
	case 1:
		v := false
		return &v
	}
	return nil
}

func mrKey(m *metrics.MergeRequest) string { return fmt.Sprintf("%d!%d", m.ProjectID, m.IID) }

// TestKeysetPagesEqualTheUnpagedList reads MR and deployment lists a page at a time, for
// random ranges, services, teams, visibilities, conditions, searches, orders and page sizes,
// and checks that the pages put end to end are the whole list computed plainly from the
// unpaged rows, and that the counts are its length.
func TestKeysetPagesEqualTheUnpagedList(t *testing.T) {
	e, cfg, org := listOrg(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 5))
	now := org.Now()
	services, err := e.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var projects []int64
	for _, p := range org.Truth().Projects {
		projects = append(projects, p.ID)
	}
	var allMRs []*metrics.MergeRequest
	if err := e.MergeRequests(ctx, metrics.Filter{From: time.Unix(0, 0)}, func(m *metrics.MergeRequest) error {
		allMRs = append(allMRs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var authors, words []string
	for _, m := range allMRs {
		authors = append(authors, m.Author)
		words = append(words, strings.Fields(strings.ToLower(m.Title))...)
	}
	categories := e.Categories()
	cycleEdges := append([]int64{0}, metrics.CycleBuckets...)
	checked, pages := 0, 0
	for i := 0; i < 120; i++ {
		eng := e
		services := services
		if r.IntN(4) == 0 {
			eng = e.Scoped(projects[:1+r.IntN(len(projects))])
			if services, err = eng.Services(ctx); err != nil {
				t.Fatal(err)
			}
		}
		f := metrics.Filter{From: now.AddDate(0, 0, -5-r.IntN(70)), To: now.AddDate(0, 0, -r.IntN(20))}
		if f.From.After(f.To) {
			f.From, f.To = f.To, f.From
		}
		switch r.IntN(4) {
		case 0:
			f.Services = []string{services[r.IntN(len(services))]}
		case 1:
			f.Services = []string{services[r.IntN(len(services))], services[r.IntN(len(services))]}
		case 2:
			f.Team = "core"
		}
		// The MR list.
		w := metrics.MRWhere{Rework: randBool(r), Unapproved: randBool(r), Deployed: randBool(r)}
		if r.IntN(3) == 0 {
			lo := cycleEdges[r.IntN(len(cycleEdges))]
			w.CycleMin = &lo
			if r.IntN(2) == 0 { // between bucket edges too
				v := lo + int64(r.IntN(7200))
				w.CycleMin = &v
			}
		}
		if r.IntN(3) == 0 {
			hi := cycleEdges[1+r.IntN(len(cycleEdges)-1)]
			w.CycleMax = &hi
		}
		if r.IntN(4) == 0 {
			w.Category = categories[r.IntN(len(categories))]
		}
		if r.IntN(5) == 0 {
			n := int64(1 + r.IntN(2))
			w.ApprovalsBelow = &n
		}
		if r.IntN(5) == 0 {
			w.Author = strings.ToUpper(authors[r.IntN(len(authors))])
		}
		var word string
		if r.IntN(5) == 0 {
			word = words[r.IntN(len(words))]
		}
		sort := metrics.MROrders[r.IntN(len(metrics.MROrders))]
		var want []*metrics.MergeRequest
		if err := eng.MergeRequests(ctx, f, func(m *metrics.MergeRequest) error {
			switch {
			case w.Rework != nil && m.Rework != *w.Rework, w.Unapproved != nil && m.Unapproved != *w.Unapproved,
				w.Deployed != nil && (m.DeployedAt != nil) != *w.Deployed,
				w.CycleMin != nil && m.CycleSeconds < *w.CycleMin, w.CycleMax != nil && m.CycleSeconds >= *w.CycleMax,
				w.Category != "" && m.Category != w.Category, w.ApprovalsBelow != nil && int64(m.Approvals) >= *w.ApprovalsBelow,
				w.Author != "" && !strings.EqualFold(m.Author, w.Author),
				word != "" && !strings.Contains(strings.ToLower(m.Title), word):
				return nil
			}
			want = append(want, m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.SortStableFunc(want, mrOrder(sort))
		l := metrics.MRList{Where: w, Sort: sort, Limit: 1 + r.IntN(40)}
		if word != "" {
			l.Match = func(m *metrics.MergeRequest) bool { return strings.Contains(strings.ToLower(m.Title), word) }
		}
		var got []*metrics.MergeRequest
		for {
			p, err := eng.MergeRequestPage(ctx, f, l)
			if err != nil {
				t.Fatalf("%+v %+v: %v", f, l, err)
			}
			pages++
			if p.Offset != len(got) || len(p.Rows) > l.Limit || p.Next != "" && len(p.Rows) != l.Limit {
				t.Fatalf("%+v sort %s: a page at offset %d of %d rows after %d rows", f, sort, p.Offset, len(p.Rows), len(got))
			}
			got = append(got, p.Rows...)
			if p.Next == "" {
				break
			}
			l.After = p.Next
		}
		if fmt.Sprint(keys(got, mrKey)) != fmt.Sprint(keys(want, mrKey)) {
			t.Fatalf("filter %+v, where %+v, search %q, sort %s, pages of %d:\n got %v\nwant %v", f, w, word, sort, l.Limit,
				keys(got, mrKey), keys(want, mrKey))
		}
		if word == "" {
			n, err := eng.CountMergeRequests(ctx, f, w)
			if err != nil || n != len(want) {
				t.Fatalf("filter %+v, where %+v: count %d (%v), want %d", f, w, n, err, len(want))
			}
		}

		// The deployment list, with weekday and hour in the display zone.
		dw := metrics.DeploymentWhere{Rework: randBool(r), Rollback: randBool(r), ChangeFailure: randBool(r), OutOfWindow: randBool(r)}
		if r.IntN(3) == 0 {
			wd := r.IntN(7)
			dw.Weekday = &wd
		}
		if r.IntN(3) == 0 {
			h := r.IntN(24)
			dw.Hour = &h
		}
		dsort := metrics.DeploymentOrders[r.IntN(len(metrics.DeploymentOrders))]
		var wantD []*metrics.Deployment
		if err := eng.Deployments(ctx, f, func(d *metrics.Deployment) error {
			local := d.FinishedAt.In(cfg.Location)
			switch {
			case dw.Rework != nil && d.Rework != *dw.Rework, dw.Rollback != nil && d.Rollback != *dw.Rollback,
				dw.ChangeFailure != nil && d.ChangeFailure != *dw.ChangeFailure,
				dw.OutOfWindow != nil && !cfg.DeployWindow.Contains(d.FinishedAt) != *dw.OutOfWindow,
				dw.Weekday != nil && int(local.Weekday()) != *dw.Weekday, dw.Hour != nil && local.Hour() != *dw.Hour:
				return nil
			}
			wantD = append(wantD, d)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(wantD) > 0 && r.IntN(6) == 0 {
			id := wantD[r.IntN(len(wantD))].ID
			dw.ID = &id
			wantD = slices.DeleteFunc(wantD, func(d *metrics.Deployment) bool { return d.ID != id })
		}
		slices.SortStableFunc(wantD, depOrder(dsort))
		dl := metrics.DeploymentList{Where: dw, Location: cfg.Location, Sort: dsort, Limit: 1 + r.IntN(30)}
		var gotD []*metrics.Deployment
		for {
			p, err := eng.DeploymentPage(ctx, f, dl)
			if err != nil {
				t.Fatalf("%+v %+v: %v", f, dl, err)
			}
			pages++
			gotD = append(gotD, p.Rows...)
			if p.Next == "" {
				break
			}
			dl.After = p.Next
		}
		depKey := func(d *metrics.Deployment) string { return fmt.Sprint(d.ID, len(d.MergeRequests)) }
		if fmt.Sprint(keys(gotD, depKey)) != fmt.Sprint(keys(wantD, depKey)) {
			t.Fatalf("filter %+v, where %+v, sort %s:\n got %v\nwant %v", f, dw, dsort, keys(gotD, depKey), keys(wantD, depKey))
		}
		if n, err := eng.CountDeployments(ctx, f, dw, cfg.Location); err != nil || n != len(wantD) {
			t.Fatalf("filter %+v, where %+v: count %d (%v), want %d", f, dw, n, err, len(wantD))
		}
		checked += len(want) + len(wantD)
	}
	if checked < 2000 {
		t.Errorf("only %d rows checked", checked)
	}
	t.Logf("%d rows checked in %d pages", checked, pages)

	// A cursor is checked: cut, or of another order, it is refused.
	p, err := e.MergeRequestPage(ctx, metrics.Filter{From: now.AddDate(0, 0, -30)}, metrics.MRList{Sort: "slowest", Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v", err)
	}
	for _, l := range []metrics.MRList{{Sort: "slowest", After: p.Next[:len(p.Next)/2]}, {Sort: "title", After: p.Next}, {Sort: "sideways"}} {
		var fe *metrics.FilterError
		if _, err := e.MergeRequestPage(ctx, metrics.Filter{From: now.AddDate(0, 0, -30)}, l); !asFilterError(err, &fe) {
			t.Errorf("%+v: %v, want a FilterError", l, err)
		}
	}
}

func asFilterError(err error, fe **metrics.FilterError) bool {
	e, ok := err.(*metrics.FilterError)
	*fe = e
	return ok
}

func keys[T any](items []T, key func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}

// TestTalliesEqualTheRows checks the cycle-time breakdown and the deployments by weekday and
// hour against plain computations over the rows, for random ranges and scopes.
func TestTalliesEqualTheRows(t *testing.T) {
	e, cfg, org := listOrg(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 1))
	now := org.Now()
	services, err := e.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		f := metrics.Filter{From: now.AddDate(0, 0, -10-r.IntN(60)), To: now.AddDate(0, 0, -r.IntN(10)),
			By: []metrics.Period{metrics.Week, metrics.Day, metrics.Month}[r.IntN(3)]}
		switch r.IntN(3) {
		case 0:
			f.Services = []string{services[r.IntN(len(services))]}
		case 1:
			f.Team = "core"
		}
		bd, err := e.CycleTime(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		buckets := make([]int, len(metrics.CycleBuckets)+1)
		stages := map[string][4]int64{}
		cycles := map[string][]int64{}
		if err := e.MergeRequests(ctx, f, func(m *metrics.MergeRequest) error {
			n++
			cycles[m.Service] = append(cycles[m.Service], m.CycleSeconds)
			for b := range buckets {
				lo, hi := int64(0), int64(1<<62)
				if b > 0 {
					lo = metrics.CycleBuckets[b-1]
				}
				if b < len(metrics.CycleBuckets) {
					hi = metrics.CycleBuckets[b]
				}
				if m.CycleSeconds >= lo && m.CycleSeconds < hi {
					buckets[b]++
				}
			}
			key, _ := metrics.PeriodKey(m.DeliveredAt, f.By)
			st := stages[key]
			st[0] += m.CodingSeconds
			st[1] += m.PickupSeconds
			st[2] += m.ReviewSeconds
			if m.DeploySeconds != nil {
				st[3] += *m.DeploySeconds
			}
			stages[key] = st
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if bd.MRs != n || fmt.Sprint(bd.Buckets) != fmt.Sprint(buckets) || fmt.Sprint(bd.Stages) != fmt.Sprint(stages) {
			t.Errorf("%+v: breakdown %d %v %v, rows %d %v %v", f, bd.MRs, bd.Buckets, bd.Stages, n, buckets, stages)
		}
		// Each service's cycle time over the range, as sorting its rows' gives it.
		var perService []metrics.ServiceCycleTime
		for s, v := range cycles {
			slices.Sort(v)
			perService = append(perService, metrics.ServiceCycleTime{Service: s, N: len(v),
				P50: metrics.Percentile(v, 50), P90: metrics.Percentile(v, 90)})
		}
		got := slices.Clone(bd.PerService)
		for _, l := range [][]metrics.ServiceCycleTime{got, perService} {
			slices.SortFunc(l, func(a, b metrics.ServiceCycleTime) int { return strings.Compare(a.Service, b.Service) })
		}
		if !slices.Equal(got, perService) {
			t.Errorf("%+v: per service %+v, rows %+v", f, got, perService)
		}
		for _, loc := range []*time.Location{time.UTC, cfg.Location, mustZone(t, "Asia/Kathmandu"), mustZone(t, "America/St_Johns")} {
			hours, err := e.DeploymentHours(ctx, f, loc)
			if err != nil {
				t.Fatal(err)
			}
			var want [7][24]int
			if err := e.Deployments(ctx, f, func(d *metrics.Deployment) error {
				l := d.FinishedAt.In(loc)
				want[l.Weekday()][l.Hour()]++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if hours != want {
				t.Errorf("%+v in %s: hours %v, rows %v", f, loc, hours, want)
			}
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
