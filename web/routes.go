package web

import (
	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
)

// routes is the one route table: every area, mounted with its dependencies. Every route that
// shows data is mounted with the visibility middleware, which gives the request its scoped
// engine (engineOf); no area holds an engine that sees more.
func (s *Server) routes(e *echo.Echo, a *assets) error {
	pages := &dashboard{store: s.store, cfg: s.cfg, r: s.r}
	lists := &itemLists{store: s.store, cfg: s.cfg, r: s.r}
	export := &exporter{}
	status := &syncStatus{store: s.store, r: s.r, hooksOn: s.hooks.on}
	preview := &digestPreview{store: s.store, cfg: s.cfg, log: s.log, r: s.r}
	compare := &comparer{cfg: s.cfg, r: s.r}
	authors := &authorPages{cfg: s.cfg, r: s.r}
	timeline := &timelines{cfg: s.cfg, r: s.r}
	doc, err := openAPIDocument(s.access.cookie, !s.access.signIn)
	if err != nil {
		return err
	}
	api := &jsonAPI{log: s.log, openAPI: doc}
	prom := newPrometheusEndpoint(s.store, s.log, append(s.hooks.collectors(), s.metrics...)...)

	page := s.visible(sessionOnly)
	data := s.visible(sessionOrToken)
	// Each route names the query parameters it reads (accepts): any other is a 400.
	filters := accepts(filterParams)
	e.Use(s.privacy)

	e.GET("/", pages.overview, page, filters)
	e.GET("/overview/headline", pages.headlineSection, page, accepts(filterParams, []string{"live"})) // polled by the overview
	e.GET("/cycle-time", pages.cycleTime, page, filters)
	e.GET("/cycle-time/slowest", pages.slowestSection, page, accepts(filterParams, []string{"limit"})) // a section, swapped in by HTMX
	e.GET("/releases", pages.releases, page, filters)
	e.GET("/rework", pages.rework, page, filters)
	e.GET("/coverage", pages.coverage, page, accepts(filterParams, []string{"below_target"}))
	e.GET("/approvals", pages.approvals, page, filters)
	e.GET("/investment", pages.investment, page, filters)
	e.GET("/agreements", pages.agreements, page, filters)
	e.GET("/compare", compare.show, page, accepts(filterParams, []string{"of", "sort"}))

	e.GET("/merge-requests", lists.mergeRequests, page, accepts(filterParams, mrListParams))
	e.GET("/merge-requests/:project/:iid", timeline.show, page, filters)
	e.GET("/deployments", lists.deployments, page, accepts(filterParams, deploymentListParams))
	e.GET("/authors/:username", authors.show, page, filters)

	e.GET("/export/:file", export.csv, data, filters)
	// The JSON API answers like the CSV export, its refusals in JSON; its document holds no data.
	for _, d := range metrics.Datasets {
		e.GET("/api/v1/"+d, api.list(d), s.apiVisible)
	}
	e.GET("/api/v1/openapi.json", api.openAPIDocument)
	e.GET("/metrics", prom.serve, data) // Prometheus

	e.GET("/sync", status.show, page, accepts())
	e.GET("/sync/live", status.live, page, accepts([]string{"v"})) // polled by the sync status
	e.GET("/digest", preview.show, page, accepts([]string{"week", "team", "service", "format"}))

	// Sign-in, when people sign in: open to everyone (the CSRF middleware guards the
	// sign-out POST).
	if s.access.signIn {
		e.GET("/auth/signin", s.signIn)
		e.GET("/auth/callback", s.callback)
		e.POST("/auth/signout", s.signOut)
		e.GET("/auth/signed-out", s.signedOut)
	}

	// GitLab's webhooks: outside sign-in and the CSRF check, guarded by their shared secret.
	e.POST(hookPath, s.hooks.receive)
	e.GET(hookPath, s.hooks.explain, accepts())

	e.GET("/static/*", a.serve)
	e.GET("/healthz", s.healthz)
	return nil
}
