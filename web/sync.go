package web

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// syncStatus is the sync-status area: per project, the last sync, its error and cursors; and
// the webhooks' queue.
type syncStatus struct {
	store   *store.Store
	r       *renderer
	hooksOn bool // PACER_WEBHOOK_SECRET is set
}

func (h *syncStatus) show(c *echo.Context) error {
	p, err := h.model(c)
	if err != nil {
		return err
	}
	p.Live = "/sync/live?v=" + syncVersion(p)
	m := views.PageMeta{Title: "Sync status", Nav: views.NavSyncStatus, Assets: h.r.assets.views(), Version: h.r.version,
		Filters: views.FilterBar{Hide: true}}
	return h.r.page(c, http.StatusOK, m, views.SyncView(p), "")
}

// model is the sync-status page's content, over the projects the request may see.
func (h *syncStatus) model(c *echo.Context) (views.SyncPage, error) {
	ctx := c.Request().Context()
	projects, err := h.store.ProjectSyncs(ctx)
	if err != nil {
		return views.SyncPage{}, err
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
	if p.Hooks, err = h.hooks(c); err != nil {
		return p, err
	}
	return p, nil
}

// hookProblems is how many failing deliveries the page lists.
const hookProblems = 10

// hooks is the webhooks' part of the page: the queue's figures, the last delivery and the
// failing ones of the projects the request may see.
func (h *syncStatus) hooks(c *echo.Context) (views.SyncHooks, error) {
	out := views.SyncHooks{On: h.hooksOn}
	if !h.hooksOn {
		return out, nil
	}
	scope := viewOf(c).scope
	st, err := h.store.WebhookQueueStatus(c.Request().Context(), hookProblems, scope.Sees)
	if err != nil {
		return out, err
	}
	loc := displayZone(c)
	out.Figures = []views.Option{
		{Label: "Waiting", Value: strconv.FormatInt(st.Queued-st.Retrying, 10)},
		{Label: "Retrying", Value: strconv.FormatInt(st.Retrying, 10)},
		{Label: "Given up", Value: strconv.FormatInt(st.Failed, 10)},
		{Label: "Done (last 7 days)", Value: strconv.FormatInt(st.Done, 10)},
	}
	if st.OldestQueued != nil {
		out.Figures = append(out.Figures, views.Option{Label: "Oldest waiting since", Value: formatTime(*st.OldestQueued, loc)})
	}
	if d := st.Last; d != nil {
		state := d.State
		switch {
		case d.State == store.HookQueued && d.Attempts > 0:
			state = "retrying"
		case d.State == store.HookQueued:
			state = "waiting"
		}
		out.Last = formatTime(d.ReceivedAt, loc) + " · " + d.Describe() + " · " + state
		if d.Outcome != "" {
			out.Last += ": " + d.Outcome
		}
	}
	for _, d := range st.Problems {
		next := "given up; the next sync brings it"
		if d.State == store.HookQueued {
			next = formatTime(d.NextAttemptAt, loc)
		}
		out.Problems = append(out.Problems, views.SyncHookProblem{What: d.Describe(), Received: formatTime(d.ReceivedAt, loc),
			Attempts: strconv.FormatInt(d.Attempts, 10), Next: next, Error: d.LastError})
	}
	return out, nil
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
