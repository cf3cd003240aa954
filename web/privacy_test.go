package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/views"
)

// privacyFixture is the fixture with [privacy] authors = false, a team of services and a team
// of authors, and the MRs whose timelines name a commenter (bob) and an approver.
func privacyFixture(t *testing.T, authors bool) *fixture {
	t.Helper()
	f := newFixture(t)
	withTimelineCases(f)
	text := "[[team]]\nname = \"api-team\"\nservices = [\"acme/api\"]\n\n[[team]]\nname = \"pair\"\nauthors = [\"alice\", \"bob\"]\n"
	if !authors {
		text += "\n[privacy]\nauthors = false\n"
	}
	cfg, err := config.Parse("privacy.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	return f
}

// With [privacy] authors = false no dashboard page names a person: not the pages of the menu,
// the lists, an MR's timeline (author, commenters, approvers), the compare view of services or
// of a team made of authors, or the digest preview in HTML and text. With names allowed the
// same pages do name them, so the test can fail.
func TestPrivacyNamesNobodyOnAnyPage(t *testing.T) {
	rng := "period=custom&from=2026-03-02&to=2026-03-22"
	paths := []string{"/merge-requests?" + rng, "/deployments?" + rng, "/merge-requests/1/2", "/merge-requests/2/5",
		"/merge-requests/1/1", "/compare?" + rng, "/compare?" + rng + "&of=teams", "/cycle-time?" + rng,
		"/digest?week=2026-W10", "/digest?week=2026-W10&format=text", "/digest?week=2026-W11&team=pair"}
	for _, it := range views.NavItems {
		paths = append(paths, it.Path+"?"+rng)
	}
	for _, authors := range []bool{true, false} {
		f := privacyFixture(t, authors)
		named := map[string]bool{}
		for _, p := range paths {
			if strings.HasPrefix(p, "/sync?") || strings.HasPrefix(p, "/digest?period") {
				p = strings.Split(p, "?")[0] // pages without the range filter
			}
			for _, htmx := range []bool{false, true} {
				rec := f.get(p, htmx)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: %d\n%s", p, rec.Code, rec.Body)
				}
				body := rec.Body.String()
				for _, name := range []string{"alice", "bob"} {
					if strings.Contains(body, name) {
						named[p] = true
						if !authors {
							i := strings.Index(body, name)
							t.Errorf("%s (htmx %v) names %s: …%s…", p, htmx, name, body[max(0, i-80):min(len(body), i+40)])
						}
					}
				}
			}
		}
		if authors {
			for _, p := range []string{"/merge-requests?" + rng, "/merge-requests/2/5", "/digest?week=2026-W10"} {
				if !named[p] {
					t.Errorf("with names allowed, %s names nobody: the test proves nothing there", p)
				}
			}
		}
	}
}

// The CSV export and the JSON API keep each item's author, as GitLab shows it to anyone who
// may read the project (docs/dashboard.md, "Authors and privacy"): they are the items, not a
// view Pacer builds of a person. No dataset aggregates by person, so no figure names anyone.
func TestPrivacyKeepsTheItemsAuthorInTheExports(t *testing.T) {
	f := privacyFixture(t, false)
	rng := "period=custom&from=2026-03-02&to=2026-03-22"
	if body := f.get("/export/merge-requests.csv?"+rng, false).Body.String(); !strings.Contains(body, ",alice,") {
		t.Errorf("the merge-requests CSV lost its authors:\n%s", body)
	}
	rec := f.get("/api/v1/merge-requests?"+rng, false)
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Data) == 0 {
		t.Fatalf("API: %d %v\n%s", rec.Code, err, rec.Body)
	}
	for _, row := range page.Data {
		if row["author"] != "alice" {
			t.Errorf("API row %v: author %v, want alice", row["iid"], row["author"])
		}
	}
	for _, p := range []string{"/export/metrics.csv?" + rng, "/api/v1/metrics?" + rng, "/export/deployments.csv?" + rng, "/api/v1/deployments?" + rng} {
		rec := f.get(p, false)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", p, rec.Code)
		}
		if body := rec.Body.String(); strings.Contains(body, "alice") || strings.Contains(body, "bob") {
			t.Errorf("%s names a person", p)
		}
	}
}
