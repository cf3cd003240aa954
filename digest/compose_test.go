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
		"The slowest merge request, acme/payments-api!4, took 12d 14h, over three times the p75.",
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
	if m.Slowest[0].Title != "Slow <b>migration</b>" || m.Slowest[2].Stages != "coding 1h · pickup 4h · review 0s · not deployed" {
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
