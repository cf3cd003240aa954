package web

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// syncStatus is the sync-status area: per project, the last sync, its error and cursors.
type syncStatus struct {
	store *store.Store
	r     *renderer
}

func (h *syncStatus) show(c *echo.Context) error {
	ctx := c.Request().Context()
	projects, err := h.store.ProjectSyncs(ctx)
	if err != nil {
		return err
	}
	p := views.SyncPage{
		Note: "The collector's last run per project, times in " + displayZone(c).String() + "; a cursor is how far each resource has been read.",
		Empty: views.Empty{
			Title: "Nothing has been synced yet",
			Body:  "Pacer has no GitLab projects in this database.",
			Steps: []string{
				"Run pacer sync --gitlab-url https://gitlab.example.com --group your-group (with PACER_GITLAB_TOKEN set to a token with read_api).",
				"Or start pacer serve --sync-every 15m with gitlab_url and groups in the config file, to sync on a schedule.",
				"To try Pacer without GitLab, run pacer demo.",
			},
		},
	}
	failed := 0
	scope := viewOf(c).scope
	for _, ps := range projects {
		if !scope.Sees(ps.Project.ID) {
			continue // the page lists only the projects the request may see
		}
		row := views.SyncRow{Project: ps.Project.Path, URL: ps.Project.WebURL, State: "never", LastRun: "never", LastOK: "never", Error: ps.Error,
			Requests: strconv.FormatInt(ps.Requests, 10), API: apiName(ps.API)}
		if ps.StartedAt != nil {
			row.LastRun = formatTime(*ps.StartedAt, displayZone(c))
			switch {
			case ps.Running():
				row.State = "running"
			case ps.Error != "":
				row.State = "error"
				failed++
			default:
				row.State = "ok"
			}
		}
		if ps.OKAt != nil {
			row.LastOK = formatTime(*ps.OKAt, displayZone(c))
		}
		var names []string
		for r := range ps.Cursors {
			names = append(names, string(r))
		}
		sort.Strings(names)
		for _, n := range names {
			row.Cursors = append(row.Cursors, views.Option{Label: n, Value: formatTime(ps.Cursors[store.Resource(n)], displayZone(c))})
		}
		p.Rows = append(p.Rows, row)
	}
	if failed > 0 {
		p.Note = views.Plural(failed, "project", "projects") + " failed in the last sync; the error is in the last column. What did sync is kept; the next sync retries."
	}
	m := views.PageMeta{Title: "Sync status", Nav: views.NavSyncStatus, Assets: h.r.assets.views(), Version: h.r.version,
		Filters: views.FilterBar{Hide: true}}
	return h.r.page(c, http.StatusOK, m, views.SyncView(p), "")
}

// apiName is how the sync page names the API a project was read through.
func apiName(api string) string {
	switch api {
	case "graphql":
		return "GraphQL"
	case "rest":
		return "REST"
	}
	return ""
}
