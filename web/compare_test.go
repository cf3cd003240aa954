package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestComparePage(t *testing.T) {
	f := securityFixture(t) // a team, api-team
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	for _, htmx := range []bool{false, true} {
		rec := f.get("/compare?"+rng, htmx)
		if rec.Code != http.StatusOK {
			t.Fatalf("/compare: %d\n%s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		mustContain(t, body, "Compare", "Side by side", "MRs delivered", "Cycle time p50", "Deploys per day", "Change failure rate",
			"Rework rate", "Recovery p50", "Coverage", "Unapproved", "Tech-debt share",
			"acme/<wbr>api", "acme/<wbr>web", "n = 4 MRs", "n = 2 deployments", "81.5%", "93%", "50%", // acme/api: 1 of 2 deployments a change failure
			`href="/merge-requests?from=2026-03-02&amp;period=custom&amp;service=acme%2Fapi&amp;to=2026-03-15"`,
			`href="/deployments?change_failure=true&amp;from=2026-03-02&amp;period=custom&amp;service=acme%2Fapi&amp;to=2026-03-15"`,
			`href="/merge-requests?category=tech+debt&amp;from=2026-03-02&amp;period=custom&amp;service=acme%2Fweb&amp;to=2026-03-15"`,
			`aria-sort="ascending"`, "sort=-cycle", "16 Feb – 1 Mar 2026")
		if htmx == strings.Contains(body, "<html") {
			t.Errorf("htmx %v: wrong document shape", htmx)
		}
	}
	// Sorted by cycle time, largest first: acme/web (4d 17h) before acme/api (4d 9h).
	body := f.get("/compare?"+rng+"&sort=-cycle", false).Body.String()
	if a, w := strings.Index(body, `service=acme%2Fapi&amp;to=2026-03-15">acme/`), strings.Index(body, `service=acme%2Fweb&amp;to=2026-03-15">acme/`); a < 0 || w < 0 || w > a {
		t.Errorf("sort=-cycle: acme/web should come first (%d, %d)", w, a)
	}
	mustContain(t, body, `aria-sort="descending"`, "sort=cycle")
	// Teams.
	body = f.get("/compare?"+rng+"&of=teams", true).Body.String()
	mustContain(t, body, "api-team", "n = 4 MRs", `href="/?from=2026-03-02&amp;period=custom&amp;team=api-team&amp;to=2026-03-15"`)
	for q, want := range map[string]int{"of=people": http.StatusBadRequest, "sort=speed": http.StatusBadRequest, "sort=-name": http.StatusOK} {
		if rec := f.get("/compare?"+q, false); rec.Code != want {
			t.Errorf("/compare?%s: %d, want %d", q, rec.Code, want)
		}
	}
}

// The menu leads to the compare view, with the page's filters.
func TestCompareIsLinked(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/", "/merge-requests?period=4w"} {
		if !strings.Contains(f.get(p, false).Body.String(), `href="/compare?period=`) {
			t.Errorf("%s does not link to /compare", p)
		}
	}
	mustContain(t, f.get("/compare", false).Body.String(), `<a href="/compare?period=12w" aria-current="page">Compare</a>`)
}

// /compare reads the engine's figures over each range as one period, through the figure cache
// as every page does: two computations for the services (the range and the one before), two
// per team, none for the same view again (sorted another way, or as an HTMX swap).
func TestCompareGoesThroughTheFigureCache(t *testing.T) {
	f := securityFixture(t)
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	cost := func(path string, htmx bool) int64 {
		t.Helper()
		before := f.eng.FigureComputations()
		if rec := f.get(path, htmx); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, rec.Code, rec.Body)
		}
		return f.eng.FigureComputations() - before
	}
	if n := cost("/compare?"+rng, false); n != 2 {
		t.Errorf("/compare of the services ran %d figure computations, want 2", n)
	}
	for _, p := range []string{"/compare?" + rng, "/compare?" + rng + "&sort=-cycle", "/compare?" + rng + "&sort=coverage"} {
		for _, htmx := range []bool{false, true} {
			if n := cost(p, htmx); n != 0 {
				t.Errorf("%s again (htmx %v) ran %d figure computations, want 0", p, htmx, n)
			}
		}
	}
	if n := cost("/compare?"+rng+"&of=teams", false); n != 2 {
		t.Errorf("/compare of one team ran %d figure computations, want 2", n)
	}
	if n := cost("/compare?"+rng+"&of=teams&sort=-merged", true); n != 0 {
		t.Errorf("/compare of the teams again ran %d figure computations, want 0", n)
	}
	// An overview of the same range costs one, its weeks; the compare view no more than twice that.
	if n := cost("/?"+rng, false); n != 1 {
		t.Errorf("the overview ran %d figure computations, want 1", n)
	}
	// Nothing is computed item by item: the compare view's figures are the export's.
	body := f.get("/export/metrics.csv?period=custom&from=2026-03-02&to=2026-03-08&service=acme/api", false).Body.String()
	if !strings.Contains(body, "2026-W10,acme/api,cycle_time_p50_seconds,") {
		t.Fatalf("the metrics export lacks acme/api's cycle time:\n%s", body)
	}
}

// A change on fewer than [display] small_sample items is shown muted in the compare view, as on
// the cards, with the reason on hover.
func TestCompareMutesSmallSamples(t *testing.T) {
	f := securityFixture(t)
	w11 := week10.AddDate(0, 0, 7).Unix()
	f.mr(1, 10, "Later api change", "feature-10", "[]", w11, w11+3600)
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (1, 10, 'c10', ?)`, w11-3600)
	f.start()
	body := f.get("/compare?period=custom&from=2026-03-09&to=2026-03-15", false).Body.String()
	// acme/api: 1 MR delivered in W11 against 4 in W10.
	mustContain(t, body, `n = 1 MR`, `class="delta small"`, "−75%", "(too few items to judge)", "too few to call it better or worse")
	if strings.Contains(body, `class="delta bad"`) || strings.Contains(body, `class="delta good"`) {
		t.Error("a change on a handful of items is coloured")
	}
}

// Every per-service table leads to the compare view of the same services over the same range,
// sorted by the table's figure; the agreements page leads to its services and to its teams.
func TestPerServiceTablesLinkToCompare(t *testing.T) {
	f := securityFixture(t)
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	link := func(sort string) string {
		return `href="/compare?from=2026-03-02&amp;period=custom&amp;sort=` + sort + `&amp;team=api-team&amp;to=2026-03-15"`
	}
	for page, sort := range map[string]string{"/cycle-time": "-cycle", "/releases": "per_day", "/rework": "-rework",
		"/coverage": "coverage", "/approvals": "-unapproved", "/investment": "tech_debt"} {
		for _, htmx := range []bool{false, true} {
			body := f.get(page+"?"+rng+"&team=api-team&by=month", htmx).Body.String()
			mustContain(t, body, link(sort)+` title="these services side by side, with every headline figure">Compare</a>`)
		}
		// The link leads to the team's services, sorted by that figure.
		body := f.get("/compare?from=2026-03-02&period=custom&sort="+sort+"&team=api-team&to=2026-03-15", false).Body.String()
		if !strings.Contains(body, "acme/<wbr>api") || strings.Contains(body, "acme/<wbr>web") {
			t.Errorf("%s leads to a compare view of other services than the team's", page)
		}
		mustContain(t, body, `aria-sort=`)
	}
	body := f.get("/agreements?"+rng, false).Body.String()
	mustContain(t, body,
		`href="/compare?from=2026-03-02&amp;period=custom&amp;to=2026-03-15" title="side by side, with every headline figure">Compare services</a>`,
		`href="/compare?from=2026-03-02&amp;of=teams&amp;period=custom&amp;to=2026-03-15" title="side by side, with every headline figure">Compare teams</a>`)
}

// The cycle-time page has its per-service table: each service's median over the range (the
// figure the compare view shows), slowest first, with its n and the MRs behind it.
func TestCycleTimePerService(t *testing.T) {
	f := securityFixture(t)
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	body := f.get("/cycle-time?"+rng, false).Body.String()
	i := strings.Index(body, `id="cycle-per-service"`)
	if i < 0 {
		t.Fatal("no cycle-time table per service")
	}
	table := body[i:]
	table = table[:strings.Index(table, "</figure>")]
	mustContain(t, table, "Cycle time per service (slowest first)", "agreed p50 ≤ 2d", ">4d 17h</a>", ">4d 9h</a>",
		`href="/merge-requests?from=2026-03-02&amp;period=custom&amp;service=acme%2Fapi&amp;sort=slowest&amp;to=2026-03-15"`)
	if w, a := strings.Index(table, ">4d 17h<"), strings.Index(table, ">4d 9h<"); w > a {
		t.Error("the slowest service is not first")
	}
	// Both medians are slower than the agreed 48h: both bars are marked.
	if n := strings.Count(table, `class="bar below"`); n != 2 {
		t.Errorf("%d bars marked slower than agreed, want 2", n)
	}
	// The compare view shows the same medians.
	mustContain(t, f.get("/compare?"+rng, false).Body.String(), ">4d 17h</a>", ">4d 9h</a>")
}
