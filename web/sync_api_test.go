package web

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The sync page says, per project, which API its last sync read through; a project never
// synced, or synced before that was recorded, shows a dash.
func TestSyncPageSaysWhichAPIEachProjectUsed(t *testing.T) {
	f := newFixture(t)
	f.project(3, "acme/legacy")
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests, api) VALUES
		(1, ?, ?, ?, '', 12, 'graphql'), (2, ?, ?, ?, '', 40, 'rest')`,
		testNow.Add(-time.Hour).Unix(), testNow.Add(-50*time.Minute).Unix(), testNow.Add(-50*time.Minute).Unix(),
		testNow.Add(-time.Hour).Unix(), testNow.Add(-50*time.Minute).Unix(), testNow.Add(-50*time.Minute).Unix())
	f.start()
	for _, htmx := range []bool{false, true} {
		body := f.get("/sync", htmx).Body.String()
		mustContain(t, body, `<th scope="col" title="How the last sync read merge requests, pipelines and the MRs of deployments`)
		for project, want := range map[string]string{"acme/api": "GraphQL", "acme/web": "REST", "acme/legacy": "–"} {
			row := regexp.MustCompile(`(?s)<tr><th scope="row" class="name">.{0,200}?` + regexp.QuoteMeta(project) + `</a>.*?</tr>`).FindString(body)
			if row == "" {
				t.Fatalf("no row for %s in\n%s", project, body)
			}
			cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row, -1)
			// State, last sync, last success, requests, API, cursors, error.
			if len(cells) < 5 || !strings.Contains(cells[4][1], want) {
				t.Errorf("htmx=%v: %s: API cell %q, want %q (row %s)", htmx, project, cells[4][1], want, row)
			}
		}
	}
}
