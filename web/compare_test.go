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
