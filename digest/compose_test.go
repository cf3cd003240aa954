package digest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

func figureByLabel(t *testing.T, m views.DigestEmail, label string) views.DigestFigure {
	t.Helper()
	for _, f := range m.Headline {
		if f.Label == label {
			return f
		}
	}
	t.Fatalf("no headline figure %q", label)
	return views.DigestFigure{}
}

func TestComposeEveryone(t *testing.T) {
	f, eng := newFixture(t)
	f.cfg.Display.SmallSample = 1 // the fixture's weeks have a handful of items; colour them all
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), w09, Scope{}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Pacer 2026-W09: cycle time p50 15h 30m, 4 deployments" {
		t.Errorf("subject = %q", m.Subject)
	}
	if m.Dates != "23 Feb – 1 Mar 2026" || m.Scope != "Everyone" {
		t.Errorf("dates %q, scope %q", m.Dates, m.Scope)
	}
	for _, c := range []struct{ label, value, n, vsPrev, tone string }{
		{"Cycle time p50", "15h 30m", "from 4 MRs", "−42%", "good"}, // vs 26h 30m
		{"Cycle time p75", "3d 23h", "from 4 MRs", "+249%", "bad"},  // 95h vs 27h 15m (p75 of 25h, 28h)
		{"Deployments", "4", "", "+100%", "good"},
		{"Deploys per day", "0.57/day", "", "+100%", "good"},
		{"Rework rate", "25%", "from 4 deployments", "+25 pts", "bad"},
		{"Change failure rate", "25%", "from 4 deployments", "+25 pts", "bad"},
		{"Coverage", "76.3%", "from 2 projects", "+1.3 pts", "good"},
	} {
		fg := figureByLabel(t, m, c.label)
		if fg.Value != c.value || fg.N != c.n || fg.VsPrev.Text != c.vsPrev || fg.VsPrev.Tone != c.tone {
			t.Errorf("%s = %q %q, vs last week %q %q; want %q %q, %q %q", c.label, fg.Value, fg.N, fg.VsPrev.Text, fg.VsPrev.Tone, c.value, c.n, c.vsPrev, c.tone)
		}
		if !strings.HasPrefix(fg.URL, "https://pacer.example.com/") || !strings.Contains(fg.URL, "from=2026-02-23") || !strings.Contains(fg.URL, "to=2026-03-01") {
			t.Errorf("%s links to %q", c.label, fg.URL)
		}
	}

	wantHL := []string{
		"Cycle time p50 fell 42% to 15h 30m.",
		"4 deployments, 2 more than last week.",
		"1 rework deployment in payments.",
		"Slipped this week: merged without approval (payments); deployments outside the window (all services, payments).",
	}
	if strings.Join(m.Highlights, "|") != strings.Join(wantHL, "|") {
		t.Errorf("highlights = %q, want %q", m.Highlights, wantHL)
	}
	if m.Preheader != strings.Join(wantHL, " · ") {
		t.Errorf("preheader = %q", m.Preheader)
	}

	// The history starts in W08: the 4-week average is W08's alone, not diluted by empty weeks.
	if fg := figureByLabel(t, m, "Deployments"); fg.VsAvg.Text != "+100%" || !strings.Contains(fg.VsAvg.Title, "(1 week with data)") {
		t.Errorf("deployments vs 4-week average = %+v", fg.VsAvg)
	}

	if len(m.Releases) != 2 || m.Releases[0].Service != "payments" || m.Releases[0].Count != "3" || m.Releases[0].VsPrev.Text != "+200%" ||
		m.Releases[0].Rework != "1 rework" || m.Releases[1].Service != "checkout" || m.Releases[1].VsPrev.Text != "no change" {
		t.Errorf("releases = %+v", m.Releases)
	}
	if !strings.Contains(m.Releases[0].URL, "service=payments") {
		t.Errorf("a service's release row links to %q", m.Releases[0].URL)
	}

	if len(m.Rework) != 1 {
		t.Fatalf("rework = %+v, want one deployment", m.Rework)
	}
	rw := m.Rework[0]
	if rw.Service != "payments" || rw.Reasons != "ships rework MRs" || rw.SHA != "a3" || rw.When != "Tue 24 Feb 13:30 UTC" ||
		!strings.Contains(rw.Failure, "after 2h 30m") || len(rw.MRs) != 1 || rw.MRs[0].Ref != "!3" || !rw.MRs[0].Rework ||
		rw.JobURL != "https://gitlab.example.com/jobs/103" {
		t.Errorf("rework deployment = %+v", rw)
	}
	if m.ReworkNote != "1 of 4 deployments (25%)." {
		t.Errorf("rework note = %q", m.ReworkNote)
	}

	var order []string
	for _, mr := range m.Slowest {
		order = append(order, mr.Ref+" "+mr.Cycle)
	}
	want := "acme/payments-api!4 12d 14h, acme/payments-api!2 1d 2h, acme/checkout!2 5h, acme/payments-api!3 1h 30m"
	if got := strings.Join(order, ", "); got != want {
		t.Errorf("slowest = %s, want %s", got, want)
	}
	if m.Slowest[0].Title != "Slow <b>migration</b>" || m.Slowest[2].Stages != "coding 1h · pickup 3h · review 1h · not deployed" {
		t.Errorf("slowest details: %+v", m.Slowest)
	}

	if len(m.Coverage) != 1 || m.Coverage[0].Service != "payments" || m.Coverage[0].Before != "80%" || m.Coverage[0].After != "82.6%" ||
		m.Coverage[0].Change.Text != "+2.6 pts" || m.CoverageNote != "1 other service unchanged." {
		t.Errorf("coverage = %+v, note %q", m.Coverage, m.CoverageNote)
	}

	if m.Window == nil || m.Window.Count != "1 of 4 deployments finished outside it (25%)." || len(m.Window.Items) != 1 ||
		m.Window.Items[0].When != "Sat 28 Feb 23:00 CET" || m.Window.Window != "Mon–Fri 09:00–17:30 Europe/Paris" {
		t.Errorf("window = %+v", m.Window)
	}
	// The section and its rows open the deployments outside the window, not the whole week.
	if m.Window != nil && len(m.Window.Items) == 1 {
		if u := m.Window.URL; !strings.Contains(u, "/deployments?") || !strings.Contains(u, "outside_window=true") || !strings.Contains(u, "from=2026-02-23") {
			t.Errorf("window section links to %q", u)
		}
		if u := m.Window.Items[0].URL; !strings.Contains(u, "/deployments?") || !strings.Contains(u, "outside_window=true") || !strings.Contains(u, "service=") {
			t.Errorf("window row links to %q", u)
		}
	}
	if m.Quiet || len(m.Notes) != 0 {
		t.Errorf("quiet %v, notes %v", m.Quiet, m.Notes)
	}
}

func TestComposeTeamScope(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), w09, Scope{Team: "money"}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	// payments only: MRs 1h30m, 26h, 302h -> p50 26h; deployments 3.
	if m.Subject != "Pacer 2026-W09 · money: cycle time p50 1d 2h, 3 deployments" {
		t.Errorf("subject = %q", m.Subject)
	}
	if m.Scope != "Team money" || len(m.Releases) != 1 || len(m.Slowest) != 3 {
		t.Errorf("scope %q, releases %+v, slowest %d", m.Scope, m.Releases, len(m.Slowest))
	}
	for _, fg := range m.Headline {
		if !strings.Contains(fg.URL, "team=money") {
			t.Errorf("%s links to %q without the team", fg.Label, fg.URL)
		}
	}
}

func TestComposeQuietWeekAndNoBaseURL(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), Week{2026, 20}, Scope{}, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Quiet || m.Subject != "Pacer 2026-W20: no MRs delivered, no deployments" || len(m.Releases) != 0 || len(m.Slowest) != 0 {
		t.Errorf("quiet week: quiet %v, subject %q, releases %v", m.Quiet, m.Subject, m.Releases)
	}
	if m.DashboardURL != "" || figureByLabel(t, m, "Deployments").URL != "" || len(m.Notes) != 1 {
		t.Errorf("without base_url there should be no links and one note: %q %v", m.DashboardURL, m.Notes)
	}
	if fg := figureByLabel(t, m, "Cycle time p50"); fg.Value != "—" {
		t.Errorf("cycle time of an empty week = %q", fg.Value)
	}
	if a := m.Agreements; !strings.HasPrefix(a.Note, "No agreement could be checked this week") || a.URL != "" || len(a.Changes)+len(a.Broken) != 0 {
		t.Errorf("agreements of an empty week without base_url: %+v", a)
	}
}

func TestComposeUnknownServiceIsAnError(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	_, err := s.Compose(context.Background(), w09, Scope{Services: []string{"nope"}}, "", false)
	if err == nil || !strings.Contains(err.Error(), `unknown service "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestChange(t *testing.T) {
	for _, c := range []struct {
		u        views.Unit
		cur, ref float64
		higher   bool
		text     string
		tone     string
	}{
		{views.UnitSeconds, 90, 100, false, "−10%", "good"},
		{views.UnitSeconds, 110, 100, false, "+10%", "bad"},
		{views.UnitCount, 5, 0, true, "new", "good"},
		{views.UnitCount, 0, 0, true, "no change", ""},
		{views.UnitCount, 1000, 999, true, "no change", ""},
		{views.UnitRatio, 0.25, 0.20, false, "+5 pts", "bad"},
		{views.UnitRatio, 0.2004, 0.2, false, "no change", ""},
		{views.UnitPercent, 80, 82.3, true, "−2.3 pts", "bad"},
	} {
		got := change(c.u, c.cur, c.ref, c.higher, "")
		if got.Text != c.text || got.Tone != c.tone {
			t.Errorf("change(%v, %v, %v) = %q %q, want %q %q", c.u, c.cur, c.ref, got.Text, got.Tone, c.text, c.tone)
		}
	}
}

func TestListsAreCappedWithTheRestCounted(t *testing.T) {
	var this, prev []metrics.Deployment
	start := w09.Start()
	for i := 0; i < 20; i++ {
		svc := fmt.Sprintf("svc%02d", i)
		for k := 0; k <= i; k++ { // svc19 deploys most
			this = append(this, metrics.Deployment{Service: svc, ID: int64(i*100 + k), Environment: "production", FinishedAt: start.Add(time.Duration(i*100+k) * time.Minute)})
		}
		prev = append(prev, metrics.Deployment{Service: svc, FinishedAt: start.Add(-time.Hour)})
	}
	rel, _ := releases(this, prev, links{off: true})
	if len(rel) != releasesMax+1 || rel[0].Service != "svc19" || rel[0].Count != "20" {
		t.Fatalf("releases: %d rows, first %+v", len(rel), rel[0])
	}
	// The last row sums svc04..svc00: 5+4+3+2+1 deployments against 5 last week.
	if last := rel[releasesMax]; last.Service != "5 more services" || last.Count != "15" || last.VsPrev.Text != "+200%" {
		t.Fatalf("rest row = %+v", last)
	}

	var rw []metrics.Deployment
	for i := 0; i < 9; i++ {
		d := metrics.Deployment{Service: "api", ID: int64(i + 1), Environment: "production", Rework: true, FinishedAt: start.Add(time.Duration(i) * time.Hour)}
		for k := 0; k < 8; k++ {
			d.MergeRequests = append(d.MergeRequests, metrics.MRRef{IID: int64(k + 1), Title: "mr", Rework: k == 7})
		}
		rw = append(rw, d)
	}
	items, note, _ := rework(rw, nil, links{off: true})
	if len(items) != reworkListMax || !strings.Contains(note, "3 more are in the dashboard") {
		t.Fatalf("rework: %d items, note %q", len(items), note)
	}
	mrs := items[0].MRs
	if len(mrs) != reworkMRsMax+1 || mrs[0].Ref != "!8" || !mrs[0].Rework || mrs[reworkMRsMax].Title != "and 2 more" {
		t.Fatalf("rework MRs: %+v", mrs)
	}
}

func TestCheckSubscriptions(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	if errs := s.CheckSubscriptions(context.Background()); len(errs) != 0 {
		t.Fatalf("fixture subscriptions: %v", errs)
	}
	f.cfg.Digest.Subscriptions = append(f.cfg.Digest.Subscriptions, config.Subscription{To: []string{"x@example.com"}, Services: []string{"paymnets"}})
	errs := s.CheckSubscriptions(context.Background())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "digest.subscription[2] (x@example.com)") || !strings.Contains(errs[0].Error(), `unknown service "paymnets"`) {
		t.Fatalf("errs = %v", errs)
	}
}

func TestSubjectIsOneLine(t *testing.T) {
	got := subject(figureTable{}, w09, Scope{Team: "money\r\nBcc: victim@example.com"})
	if strings.ContainsAny(got, "\r\n") || !strings.Contains(got, "money  Bcc") {
		t.Fatalf("subject %q", got)
	}
}

// The rework highlight names where most of the rework was, not the first services in
// alphabetical order: with 12 in payments, 11 in checkout and one each elsewhere, a reader
// must see payments and checkout.
func TestReworkHighlightNamesTheServicesWithTheMost(t *testing.T) {
	start := w09.Start()
	var this []metrics.Deployment
	add := func(svc string, n int, rollback bool) {
		for i := 0; i < n; i++ {
			this = append(this, metrics.Deployment{Service: svc, ID: int64(len(this) + 1), Environment: "production",
				Rework: true, Rollback: rollback && i == 0, FinishedAt: start.Add(time.Duration(len(this)) * time.Hour)})
		}
	}
	add("acme/api", 1, false)
	add("acme/web", 1, false)
	add("payments", 12, true)
	add("checkout", 11, false)
	add("billing", 1, false)
	got := strings.Join(highlights(figureTable{}, w09, this, nil, 0, ""), " | ")
	if want := "26 rework deployments in payments, checkout and 3 other services (1 rollback)."; got != want {
		t.Errorf("highlight\n got %q\nwant %q", got, want)
	}

	this = nil
	add("web", 1, false)
	add("api", 2, false)
	add("db", 1, false)
	got = strings.Join(highlights(figureTable{}, w09, this, nil, 0, ""), " | ")
	if want := "4 rework deployments in api, db and web."; got != want {
		t.Errorf("highlight\n got %q\nwant %q", got, want)
	}
}

func agreementChangeLines(a views.DigestAgreements) []string {
	var out []string
	for _, c := range a.Changes {
		out = append(out, fmt.Sprintf("%s · %s [%s] %s -> %s (%s; target %s)", c.Agreement, c.Service, c.Status, c.LastWeek, c.ThisWeek, c.Detail, c.Target))
	}
	return out
}

func agreementBrokenLines(a views.DigestAgreements) []string {
	var out []string
	for _, b := range a.Broken {
		var items []string
		for _, it := range b.Items {
			items = append(items, it.Service+" "+it.Value)
		}
		out = append(out, fmt.Sprintf("%s (%s): %s%s", b.Agreement, b.Target, strings.Join(items, ", "), b.More))
	}
	return out
}

// The agreements of W09 against W08 over the real engine, worked out in fixture_test.go.
func TestComposeAgreementsSlipAndRecover(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), w09, Scope{}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Agreements
	if want := "3 slipped since last week, 3 recovered, 8 still broken; 4 of 15 checks hold."; a.Note != want {
		t.Errorf("note\n got %q\nwant %q", a.Note, want)
	}
	wantChanges := []string{
		"Merged without approval · payments [slipped] 0% -> 33.3% (1 of 3 MRs; target ≤ 5%)",
		"Deployments outside the window · All services [slipped] 0% -> 25% (1 of 4 deployments; target ≤ 5%)",
		"Deployments outside the window · payments [slipped] 0% -> 33.3% (1 of 3 deployments; target ≤ 5%)",
		"Merged without approval · checkout [recovered] 100% -> 0% (0 of 1 MR; target ≤ 5%)",
		"Cycle time p50 · All services [recovered] 1d 2h -> 15h 30m (2 of 4 MRs slower than 1d; target ≤ 1d)",
		"Cycle time p50 · checkout [recovered] 1d 1h -> 5h (0 of 1 MR slower than 1d; target ≤ 1d)",
	}
	if got := agreementChangeLines(a); strings.Join(got, "\n") != strings.Join(wantChanges, "\n") {
		t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(wantChanges, "\n     "))
	}
	wantBroken := []string{
		"Merged without approval (≤ 5%): all services 25%",
		"Coverage (≥ 90%): all services 76.3%, checkout 70%, payments 82.6%",
		"Tech-debt share (20% ± 5 pts): all services 0%, checkout 0%, payments 0%",
		"Cycle time p50 (≤ 1d): payments 1d 2h",
	}
	if got := agreementBrokenLines(a); strings.Join(got, "\n") != strings.Join(wantBroken, "\n") {
		t.Errorf("still broken\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(wantBroken, "\n     "))
	}

	// Links: the section opens the agreements page of the week; each row the items behind it.
	if u := a.URL; !strings.HasPrefix(u, "https://pacer.example.com/agreements?") || !strings.Contains(u, "from=2026-02-23") || !strings.Contains(u, "to=2026-03-01") {
		t.Errorf("section links to %q", u)
	}
	if len(a.Changes) == len(wantChanges) {
		for i, want := range []string{
			"/merge-requests?approvals_below=1&by=week&from=2026-02-23&service=payments&to=2026-03-01",
			"/deployments?by=week&from=2026-02-23&outside_window=true&to=2026-03-01",
			"/deployments?by=week&from=2026-02-23&outside_window=true&service=payments&to=2026-03-01",
			"/agreements?by=week&from=2026-02-23&service=checkout&to=2026-03-01", // recovered: nothing to list
		} {
			if got := a.Changes[i].URL; got != "https://pacer.example.com"+want {
				t.Errorf("change %d links to %q, want %q", i, got, want)
			}
		}
	}
	if len(a.Broken) == len(wantBroken) {
		if got := a.Broken[3].Items[0].URL; !strings.Contains(got, "/merge-requests?") || !strings.Contains(got, "cycle_min=86401") ||
			!strings.Contains(got, "sort=slowest") || !strings.Contains(got, "service=payments") {
			t.Errorf("cycle time link %q", got)
		}
		if got := a.Broken[1].Items[2].URL; !strings.Contains(got, "/coverage?") || !strings.Contains(got, "below_target=true") || !strings.Contains(got, "service=payments") {
			t.Errorf("coverage link %q", got)
		}
		if got := a.Broken[2].Items[0].URL; !strings.Contains(got, "/merge-requests?") || !strings.Contains(got, "category=tech+debt") || strings.Contains(got, "service=") {
			t.Errorf("tech-debt link %q", got)
		}
	}

	// The text part carries the section.
	txt := views.DigestText(m)
	for _, want := range []string{"Agreements\n----------\n", "* Merged without approval · payments [slipped]: 0% last week, 33.3% this week", "Still broken:"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
}

func TestComposeAgreementsOfATeam(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), w09, Scope{Team: "money"}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	// One service in the team: its checks, not the same ones twice under "All services".
	a := m.Agreements
	if want := "2 slipped since last week, 3 still broken; 0 of 5 checks hold."; a.Note != want {
		t.Errorf("note %q, want %q", a.Note, want)
	}
	want := []string{
		"Merged without approval · payments [slipped] 0% -> 33.3% (1 of 3 MRs; target ≤ 5%)",
		"Deployments outside the window · payments [slipped] 0% -> 33.3% (1 of 3 deployments; target ≤ 5%)",
	}
	if got := agreementChangeLines(a); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes %q, want %q", got, want)
	}
	for _, c := range a.Changes {
		if !strings.Contains(c.URL, "team=money") || !strings.Contains(c.URL, "service=payments") {
			t.Errorf("%s links to %q", c.Agreement, c.URL)
		}
	}
	if !strings.Contains(a.URL, "/agreements?") || !strings.Contains(a.URL, "team=money") {
		t.Errorf("section links to %q", a.URL)
	}
}

// week10 adds 2026-W10 (2–8 Mar):
//   - payments !5 `Revert "Ledger export"` (bob): commit 3 Mar 09:00, created 09:30, merged
//     11:00, D105 3 Mar 12:00. D105 is a rework deployment and blames D101, the deployment that
//     first shipped !1 (in W08, before the two weeks the W10 digest reads), not D104 before
//     it. D101's recovery: 3 Mar 12:00 − 17 Feb 14:00 = 13d 22h.
//   - checkout !3 "Deploy first" (carol), branch feature, head sha h3: commit 2 Mar 08:00,
//     created 09:00, deployed by D203 (ref feature, sha h3) at 10:00, merged 11:00; GitLab links
//     it only to D204 (3 Mar 09:00). A deploy before merge: cycle 2h, deploy 0; D204 ships
//     nothing.
func week10(f *fixture) {
	f.mr(1, 5, `Revert "Ledger export"`, "[]", "bob", 2, ts(3, 3, 9, 0), ts(3, 3, 9, 30), ts(3, 3, 11, 0))
	f.deploy(105, 1, 10, "a5", ts(3, 3, 12, 0), 5)
	f.mr(2, 3, "Deploy first", "[]", "carol", 3, ts(3, 2, 8, 0), ts(3, 2, 9, 0), ts(3, 2, 11, 0))
	f.exec(`UPDATE merge_requests SET sha = 'h3' WHERE project_id = 2 AND iid = 3`)
	f.deploy(203, 2, 20, "h3", ts(3, 2, 10, 0))
	f.exec(`UPDATE deployments SET ref = 'feature' WHERE id = 203`)
	f.deploy(204, 2, 20, "m3", ts(3, 3, 9, 0), 3)
}

func TestComposeReworkBlamedThroughARevertAndDeployBeforeMerge(t *testing.T) {
	f, eng := newFixture(t, week10)
	eng.SetClock(func() time.Time { return time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC) })
	if err := eng.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := New(f.st, eng, f.cfg)
	m, err := s.Compose(context.Background(), Week{2026, 10}, Scope{}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rework) != 1 {
		t.Fatalf("rework = %+v, want D105 alone", m.Rework)
	}
	rw := m.Rework[0]
	if want := "Answers the change failure of Tue 17 Feb 14:00 UTC (a1), which shipped !1 (reverted by !5), after 13d 22h."; rw.Failure != want {
		t.Errorf("failure\n got %q\nwant %q", rw.Failure, want)
	}
	if len(rw.MRs) != 1 || rw.MRs[0].Ref != "!5" || rw.MRs[0].Note != "reverts !1" || !rw.MRs[0].Rework {
		t.Errorf("MRs %+v", rw.MRs)
	}
	var first *views.DigestMR
	for i := range m.Slowest {
		if m.Slowest[i].Ref == "acme/checkout!3" {
			first = &m.Slowest[i]
		}
	}
	if first == nil || first.Cycle != "2h" || !strings.HasSuffix(first.Stages, "· deployed before merge") {
		t.Errorf("the deploy-before-merge MR in the slowest list: %+v", first)
	}
	for _, r := range m.Releases {
		if r.Service == "checkout" && r.Count != "2" {
			t.Errorf("checkout releases %+v", r)
		}
	}
}

func TestReworkNamesTheBlamedDeployment(t *testing.T) {
	start := w09.Start()
	at := func(h int) time.Time { return start.Add(time.Duration(h) * time.Hour) }
	rec := int64(3 * 3600)
	failure := metrics.Deployment{ID: 1, ProjectID: 7, Service: "api", Environment: "production", SHA: "aaaaaaaaaaaa", FinishedAt: at(1),
		ChangeFailure: true, BlamedBy: 3, RecoverySeconds: &rec, MergeRequests: []metrics.MRRef{{ProjectID: 7, IID: 10, Title: "Feature"}}}
	fix := metrics.Deployment{ID: 3, ProjectID: 7, Service: "api", Environment: "production", SHA: "cccc", FinishedAt: at(4), Rework: true, Blames: 1,
		MergeRequests: []metrics.MRRef{
			{ProjectID: 7, IID: 12, Title: `Revert "Feature"`, Rework: true, Reverts: []int64{10}},
			{ProjectID: 7, IID: 13, Title: "Watch then merge", BeforeMerge: true},
		}}
	second := metrics.Deployment{ID: 4, ProjectID: 7, Service: "api", Environment: "production", SHA: "dddd", FinishedAt: at(6), Rework: true, Rollback: true, Blames: 1}
	orphan := metrics.Deployment{ID: 5, ProjectID: 7, Service: "api", Environment: "production", SHA: "eeee", FinishedAt: at(8), Rework: true, Blames: 99}
	known := map[int64]metrics.Deployment{1: failure, 3: fix, 4: second, 5: orphan}
	items, _, _ := rework([]metrics.Deployment{fix, second, orphan}, known, links{off: true})
	if len(items) != 3 {
		t.Fatalf("items %+v", items)
	}
	for i, want := range []string{
		"Answers the change failure of Mon 23 Feb 01:00 UTC (aaaaaaaa), which shipped !10 (reverted by !12), after 3h.",
		"Answers the change failure of Mon 23 Feb 01:00 UTC (aaaaaaaa) again; recovery counts to the first fix, Mon 23 Feb 04:00 UTC.",
		"Answers an earlier change failure (deployment 99).",
	} {
		if items[i].Failure != want {
			t.Errorf("item %d failure\n got %q\nwant %q", i, items[i].Failure, want)
		}
	}
	if n := items[0].MRs; len(n) != 2 || n[0].Note != "reverts !10" || n[1].Note != "deployed before merge" {
		t.Errorf("MR notes %+v", n)
	}
}

func TestAgreementsSection(t *testing.T) {
	cfg := fixtureConfig(t)
	ln := links{base: "https://pacer.example.com", week: w09}
	check := func(agreement, metric string, value float64, n, broken int, target float64, holds bool) metrics.AgreementCheck {
		return metrics.AgreementCheck{Agreement: agreement, Metric: metric, Value: value, N: n, Known: n > 0, Target: target, Holds: holds, Broken: broken}
	}
	row := func(service string, prev, cur []metrics.AgreementCheck) metrics.AgreementRow {
		p := metrics.AgreementWeek{Period: w09.Prev().String(), Start: w09.Prev().Start(), Checks: prev}
		c := metrics.AgreementWeek{Period: w09.String(), Start: w09.Start(), Checks: cur}
		return metrics.AgreementRow{Service: service, Current: c, Trend: []metrics.AgreementWeek{p, c}}
	}

	// No rows, or no check with a figure: one line saying why.
	for _, rows := range [][]metrics.AgreementRow{nil, {row(metrics.AllServices, nil, []metrics.AgreementCheck{check(metrics.AgreementApprovals, metrics.UnapprovedRate, 0, 0, 0, 0, false)})}} {
		a := agreements(rows, w09, cfg, ln)
		if !strings.HasPrefix(a.Note, "No agreement could be checked this week") || len(a.Changes) != 0 || len(a.Broken) != 0 {
			t.Errorf("no data: %+v", a)
		}
	}

	// Everything holds: one line.
	ok := []metrics.AgreementCheck{check(metrics.AgreementDeployWindow, metrics.OutOfWindowRate, 0, 5, 0, 0, true)}
	a := agreements([]metrics.AgreementRow{row("api", ok, ok)}, w09, cfg, ln)
	if a.Note != "Nothing slipped this week: the one check holds." || len(a.Changes) != 0 || len(a.Broken) != 0 {
		t.Errorf("all hold: %+v", a)
	}

	// A check without a figure last week that is broken now is news too; one without a figure
	// this week is not counted.
	prev := []metrics.AgreementCheck{check(metrics.AgreementCoverage, metrics.CoveragePercent, 0, 0, 0, 90, false)}
	cur := []metrics.AgreementCheck{check(metrics.AgreementCoverage, metrics.CoveragePercent, 85, 2, 1, 90, false),
		check(metrics.AgreementTechDebt, metrics.TechDebtShare, 0, 0, 0, 0.2, false)}
	a = agreements([]metrics.AgreementRow{row("api", prev, cur)}, w09, cfg, ln)
	if got := agreementChangeLines(a); len(got) != 1 || got[0] != "Coverage · api [broken] — -> 85% (1 of 2 projects under the target; target ≥ 90%)" {
		t.Errorf("new broken: %q", got)
	}
	if a.Note != "1 broken with no figure last week; 0 of 1 check holds." {
		t.Errorf("note %q", a.Note)
	}

	// Many services: the changes and the services of a broken line are capped, the rest counted.
	var rows []metrics.AgreementRow
	for i := 0; i < 14; i++ {
		held := check(metrics.AgreementDeployWindow, metrics.OutOfWindowRate, 0, 4, 0, 0, true)
		slip := check(metrics.AgreementDeployWindow, metrics.OutOfWindowRate, 0.25, 4, 1, 0, false)
		still := check(metrics.AgreementCoverage, metrics.CoveragePercent, 50, 1, 1, 90, false)
		rows = append(rows, row(fmt.Sprintf("svc%02d", i), []metrics.AgreementCheck{held, still}, []metrics.AgreementCheck{slip, still}))
	}
	a = agreements(rows, w09, cfg, ln)
	if len(a.Changes) != agreementChangesMax || a.More != "6 more are in the dashboard." {
		t.Errorf("%d changes, more %q", len(a.Changes), a.More)
	}
	if len(a.Broken) != 1 || len(a.Broken[0].Items) != agreementBrokenMax || a.Broken[0].More != "and 11 more services." {
		t.Errorf("broken %+v", a.Broken)
	}
	if h := agreementHighlight(a); !strings.HasPrefix(h, "Slipped this week: deployments outside the window (svc00, svc01") {
		t.Errorf("highlight %q", h)
	}

	// With more than one approval agreed, the name and the link say how many.
	cfg.Agreements.Approvals = 2
	ap := func(v float64, holds bool) []metrics.AgreementCheck {
		return []metrics.AgreementCheck{check(metrics.AgreementApprovals, metrics.UnapprovedRate, v, 4, int(v*4), 0, holds)}
	}
	a = agreements([]metrics.AgreementRow{row("api", ap(0, true), ap(0.5, false))}, w09, cfg, ln)
	if len(a.Changes) != 1 || a.Changes[0].Agreement != "Merged with fewer than 2 approvals" || !strings.Contains(a.Changes[0].URL, "/merge-requests?approvals_below=2&") {
		t.Errorf("two approvals: %+v", a.Changes)
	}
}

// A large organisation's coverage moves are capped at the biggest, the rest counted.
func TestCoverageMovesAreCapped(t *testing.T) {
	tab := figureTable{w09.String(): {}, w09.Prev().String(): {}}
	for i := 0; i < coverageListMax+3; i++ {
		svc := fmt.Sprintf("svc%02d", i)
		tab[w09.String()][svc] = map[string]metrics.Figure{metrics.CoveragePercent: {Value: 50 + float64(i)}}
		tab[w09.Prev().String()][svc] = map[string]metrics.Figure{metrics.CoveragePercent: {Value: 50}}
	}
	tab[w09.String()]["steady"] = map[string]metrics.Figure{metrics.CoveragePercent: {Value: 70}}
	tab[w09.Prev().String()]["steady"] = map[string]metrics.Figure{metrics.CoveragePercent: {Value: 70}}
	out, note, _ := coverageMoves(tab, w09, links{off: true})
	// svc00 did not move; svc01..svc12 did, the biggest first.
	if len(out) != coverageListMax || out[0].Service != "svc12" || note != "2 more moved less; the dashboard has them. 2 other services unchanged." {
		t.Errorf("%d rows, first %q, note %q", len(out), out[0].Service, note)
	}
}

// A change is coloured only when it counts enough items and leaves the range of the four
// weeks before; otherwise it is muted, and its title says why.
func TestDigestColoursOnlyUnusualChanges(t *testing.T) {
	f, eng := newFixture(t)
	m, err := New(f.st, eng, f.cfg).Compose(context.Background(), w09, Scope{}, f.cfg.BaseURL, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, fg := range m.Headline {
		for _, c := range []views.DigestChange{fg.VsPrev, fg.VsAvg} {
			if c.Tone != "" {
				t.Errorf("%s: %q coloured %s on a small sample", fg.Label, c.Text, c.Tone)
			}
		}
	}
	cycle := figureByLabel(t, m, "Cycle time p50")
	if !strings.Contains(cycle.VsPrev.Title, "n = 4, fewer than 20") {
		t.Errorf("muted change's title = %q", cycle.VsPrev.Title)
	}
	if !strings.Contains(m.Footer, "outside the range of the four weeks before and counts at least 20 items") {
		t.Errorf("footer = %q", m.Footer)
	}

	// The range rule, on a table of weekly values: 10, 14, 12, 11 in the four weeks before.
	spec := headlineSpec{label: "Deployments", metric: metrics.Deployments, unit: views.UnitCount, higherIsBetter: true}
	tab := figureTable{}
	for i, v := range []float64{10, 14, 12, 11} {
		w := w09.Add(-(i + 1)).String()
		tab[w] = map[string]map[string]metrics.Figure{metrics.AllServices: {metrics.Deployments: {Value: v, N: int(v)}}}
	}
	for _, c := range []struct {
		cur  float64
		n    int
		want bool // coloured
	}{
		{13, 40, false}, // inside 10..14
		{14, 40, false}, // on the edge
		{15, 40, true},  // above the range
		{9, 40, true},   // below it
		{30, 5, false},  // far outside, on 5 items
	} {
		why := quietReason(spec, tab, w09, c.cur, c.n, 20)
		if (why == "") != c.want {
			t.Errorf("cur %v on %d items: reason %q, want coloured %v", c.cur, c.n, why, c.want)
		}
	}
}

// [privacy] authors = false: the digest names nobody, in HTML or in text (the slowest MRs keep
// their service and stages); with names allowed, the same digest names the authors.
func TestDigestNamesNobodyWithAuthorsHidden(t *testing.T) {
	names := []string{"alice", "bob", "carol"}
	for _, shown := range []bool{true, false} {
		f, eng := newFixture(t)
		if !shown {
			hide := false
			f.cfg.Privacy.Authors = &hide
		}
		s := New(f.st, eng, f.cfg)
		for _, scope := range []Scope{{}, {Team: "money"}} {
			_, html, text, err := s.Render(context.Background(), w09, scope)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(html, "Slow &lt;b&gt;migration&lt;/b&gt;") || !strings.Contains(text, "Slow <b>migration</b>") {
				t.Fatalf("the slowest MRs are missing (scope %+v)", scope)
			}
			named := 0
			for _, n := range names {
				if strings.Contains(html, n) || strings.Contains(text, n) {
					named++
				}
			}
			switch {
			case shown && named == 0:
				t.Error("with authors shown, the digest names no author: the test proves nothing")
			case !shown && named > 0:
				t.Errorf("with authors hidden, the digest (scope %+v) names %d of %v", scope, named, names)
			}
			if !shown && !strings.Contains(text, "  payments · coding ") {
				t.Errorf("the text digest's slowest MRs lost their service line:\n%s", text)
			}
		}
	}
}
