package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var hxGet = regexp.MustCompile(`hx-get="([^"]+)"`)

// The polled sections answer 204 while what they show is unchanged, the section when it moved
// (a new refresh of the facts, a new sync state), and send a browser without HTMX to the page.
func TestLiveSectionsAnswer204UntilSomethingChanges(t *testing.T) {
	f := newFixture(t)
	page := f.get("/?period=4w", false)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `id="headline"`) {
		t.Fatalf("overview: %d", page.Code)
	}
	var live string
	for _, m := range hxGet.FindAllStringSubmatch(page.Body.String(), -1) {
		if strings.HasPrefix(m[1], "/overview/headline") {
			live = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if live == "" || !strings.Contains(live, "period=4w") {
		t.Fatalf("the headline polls %q", live)
	}
	if rec := f.get(live, true); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("unchanged headline: %d %q", rec.Code, rec.Body)
	}
	// New facts: a refresh that commits moves the generation.
	f.exec(`UPDATE merge_requests SET title = 'Renamed' WHERE project_id = 1 AND iid = 2`)
	if err := f.eng.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec := f.get(live, true)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="headline"`) || strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("moved headline: %d %s", rec.Code, rec.Body)
	}
	next := hxGet.FindStringSubmatch(rec.Body.String())
	if next == nil || strings.ReplaceAll(next[1], "&amp;", "&") == live {
		t.Fatalf("the new section polls the old version: %v", next)
	}
	if rec := f.get(strings.ReplaceAll(next[1], "&amp;", "&"), true); rec.Code != http.StatusNoContent {
		t.Fatalf("the new version: %d", rec.Code)
	}
	if rec := f.get(live, false); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?period=4w" {
		t.Errorf("the headline without HTMX: %d %s", rec.Code, rec.Header().Get("Location"))
	}

	page = f.get("/sync", false)
	m := hxGet.FindStringSubmatch(page.Body.String()[strings.Index(page.Body.String(), `id="sync-live"`)-10:])
	if m == nil || !strings.HasPrefix(m[1], "/sync/live?v=") {
		t.Fatalf("the sync status polls %v", m)
	}
	if rec := f.get(m[1], true); rec.Code != http.StatusNoContent {
		t.Fatalf("unchanged sync status: %d", rec.Code)
	}
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (1, 1, 2, 2, '', 1)`)
	if rec := f.get(m[1], true); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="sync-live"`) || !strings.Contains(rec.Body.String(), "state-ok") {
		t.Fatalf("moved sync status: %d", rec.Code)
	}
	if rec := f.get("/sync/live?v=x&other=1", true); rec.Code != http.StatusBadRequest {
		t.Errorf("an unknown parameter: %d", rec.Code)
	}
}
