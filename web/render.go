package web

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// renderer writes pages: the whole document for normal, boosted and history-restore requests,
// and only the page body for other HTMX requests (a filter change).
type renderer struct {
	assets  *assets
	version string
	now     func() time.Time // the engine's clock, for reading the filters of an error page
	// store, when set, gives the layout the time of the last sync.
	store *store.Store
}

// isFragment says whether the request wants only the swappable page body.
func isFragment(r *http.Request) bool {
	h := r.Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}

// meta is the layout's data for a page answering query q.
func (r *renderer) meta(c *echo.Context, q *query, title, nav string, hidden ...views.Hidden) views.PageMeta {
	eng := engineOf(c)
	services, err := eng.Services(c.Request().Context()) // the select is a convenience; a failure shows an empty list
	q.loc = displayZone(c)
	m := views.PageMeta{
		Title:   title,
		Nav:     nav,
		Assets:  r.assets.views(),
		Filters: q.filterBar(c.Request().URL.Path, services, visibleTeams(c), hidden...),
		Query:   q.Encode(),
		Version: r.version,
	}
	if err == nil && len(services) == 0 && nav != views.NavOverview { // the overview explains it in its own body
		m.Notice = ptr(nothingSynced())
	} else if n := outsideTeam(eng.Config(), q); n != nil {
		m.Notice = n
	}
	return m
}

// outsideTeam explains an empty view whose services are all outside the team it also asks
// for: both filters apply, so nothing can match. Only a team made of services can say so; a
// team of authors may well have worked on any service.
func outsideTeam(cfg *config.Config, q *query) *views.Empty {
	if q.Team == "" || len(q.Services) == 0 || cfg == nil {
		return nil
	}
	for _, t := range cfg.Teams {
		if t.Name != q.Team {
			continue
		}
		if len(t.Authors) > 0 {
			return nil
		}
		for _, s := range q.Services {
			if slices.Contains(t.Services, s) {
				return nil
			}
		}
		verb := " is not"
		if len(q.Services) > 1 {
			verb = " are not"
		}
		return &views.Empty{
			Title: strings.Join(q.Services, ", ") + verb + " part of team " + q.Team,
			Body:  "The service and team filters both apply, so nothing matches. Choose All teams, or one of the team's services: " + strings.Join(t.Services, ", ") + ".",
		}
	}
	return nil
}

// nothingSynced explains a database without projects: every page is empty until a sync.
func nothingSynced() views.Empty {
	return views.Empty{
		Title: "Nothing has been synced yet",
		Body:  "This database has no GitLab projects. Sync some history and the dashboard fills in:",
		Steps: []string{
			"export PACER_GITLAB_TOKEN=… (a token with read_api)",
			"pacer sync --gitlab-url https://gitlab.example.com --group your-group",
			"or try Pacer on a generated organisation: pacer demo",
		},
		Link: views.Link{Label: "Sync status", Href: "/sync"},
	}
}

// page renders body inside the layout (or as a fragment) with status. For a fragment the
// canonical URL of the view is pushed into the browser history.
func (r *renderer) page(c *echo.Context, status int, m views.PageMeta, body templ.Component, canonical string) error {
	r.account(c, &m)
	r.synced(c, &m)
	var comp templ.Component
	fragment := isFragment(c.Request())
	if fragment {
		comp = views.Fragment(m, body)
	} else {
		comp = views.Layout(m, body)
	}
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add("Vary", "HX-Request")
	h.Set("Cache-Control", "no-store")
	if fragment && canonical != "" && status == http.StatusOK {
		h.Set("HX-Push-Url", canonical)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// account fills the layout's header from the request's view: the signed-in person and their
// CSRF token, or the warning that the dashboard is open.
func (r *renderer) account(c *echo.Context, m *views.PageMeta) {
	v := viewOf(c)
	if v == nil {
		return
	}
	if v.session != nil {
		p := v.session.Person
		name := p.Name
		if name == "" {
			name = p.Username
		}
		m.Account = &views.Account{Name: name, Username: p.Username, CSRF: v.session.CSRF}
	}
	if v.open {
		m.Open = "nobody signs in, so anyone who can reach this address sees every project. " +
			"Set [auth] mode = \"gitlab\" in the configuration to have people sign in with GitLab (docs/operations.md)."
	}
}

// synced names the display time zone and says when the projects the request may see last
// synced without error (the latest of them), on every page.
func (r *renderer) synced(c *echo.Context, m *views.PageMeta) {
	v := viewOf(c)
	if v == nil {
		return
	}
	loc := displayZone(c)
	m.Zone = loc.String()
	if r.store == nil {
		return
	}
	syncs, err := r.store.ProjectSyncs(c.Request().Context())
	if err != nil {
		return // the line is a convenience; the sync status page shows the error
	}
	var last *time.Time
	running := false
	for _, ps := range syncs {
		if !v.scope.Sees(ps.Project.ID) {
			continue
		}
		running = running || ps.Running()
		if ps.OKAt != nil && (last == nil || ps.OKAt.After(*last)) {
			last = ps.OKAt
		}
	}
	switch {
	case last != nil:
		m.Synced = "Data synced " + formatTime(*last, loc)
	case len(syncs) > 0:
		m.Synced = "No sync has finished yet"
	}
	if running {
		m.Synced += " · a sync is running"
	}
}

// displayZone is the time zone times are shown in: the configuration's timezone.
func displayZone(c *echo.Context) *time.Location {
	if v := viewOf(c); v != nil {
		if cfg := engineOf(c).Config(); cfg != nil && cfg.Location != nil {
			return cfg.Location
		}
	}
	return time.UTC
}

// section writes one section of a page, for HTMX to swap in place.
func (r *renderer) section(c *echo.Context, body templ.Component) error {
	var buf bytes.Buffer
	if err := body.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add("Vary", "HX-Request")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// errorPage shows a user error (or the generic server error) with the filter form, filled
// with what was asked as far as it could be read, so the user can correct it.
func (r *renderer) errorPage(c *echo.Context, status int, heading, message string) error {
	req := c.Request()
	m := views.PageMeta{Title: http.StatusText(status), Assets: r.assets.views(), Version: r.version}
	if viewOf(c) == nil {
		// Outside what the request may see (no route, sign-in pages): no filters to offer.
		m.Filters.Hide = true
	} else if q, err := parseQuery(req.URL.Query(), r.now()); err == nil && status != http.StatusNotFound {
		m = r.meta(c, q, http.StatusText(status), "")
		m.Notice = nil // the error is the message
	} else {
		v := req.URL.Query()
		// The period the request meant, so the form does not fall back to its first option.
		period := truncate(v.Get("period"), 40)
		if period == "" {
			period = defaultPreset
			if v.Get("from") != "" || v.Get("to") != "" {
				period = customPeriod
			}
		}
		m.Filters = views.FilterBar{
			Action: req.URL.Path, Period: period, Presets: presetOptions(),
			From: truncate(v.Get("from"), 40), To: truncate(v.Get("to"), 40), By: v.Get("by"),
			Team: v.Get("team"), Service: v.Get("service"),
		}
		if services, err := engineOf(c).Services(req.Context()); err == nil {
			m.Filters.Services = options(services)
		}
		m.Filters.Teams = options(visibleTeams(c))
		if status == http.StatusNotFound && !knownPath(req.URL.Path) {
			m.Filters.Hide = true
		}
	}
	return r.page(c, status, m, views.ErrorPage(status, heading, message), "")
}

// knownPath says whether path is one of the dashboard's filterable pages.
func knownPath(path string) bool {
	for _, it := range views.NavItems {
		if it.Path == path && it.Key != views.NavSyncStatus && it.Key != views.NavDigest {
			return true
		}
	}
	return false
}

// formatTime writes an instant for a page in the display time zone, named ("2026-03-03
// 11:30 CET"); short and sortable. CSV and the API keep UTC.
func formatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}
