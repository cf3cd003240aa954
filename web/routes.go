package web

import (
	"github.com/labstack/echo/v5"
)

// routes is the one route table: every area, mounted with its dependencies.
func (s *Server) routes(e *echo.Echo, a *assets) error {
	pages := &dashboard{engine: s.engine, store: s.store, cfg: s.cfg, r: s.r}
	lists := &itemLists{engine: s.engine, store: s.store, cfg: s.cfg, r: s.r}
	export := &exporter{engine: s.engine}
	status := &syncStatus{store: s.store, r: s.r}

	e.GET("/", pages.overview)
	e.GET("/cycle-time", pages.cycleTime)
	e.GET("/cycle-time/slowest", pages.slowestSection) // a section, swapped in by HTMX
	e.GET("/releases", pages.releases)
	e.GET("/rework", pages.rework)
	e.GET("/coverage", pages.coverage)
	e.GET("/approvals", pages.approvals)
	e.GET("/investment", pages.investment)
	e.GET("/agreements", pages.agreements)

	e.GET("/merge-requests", lists.mergeRequests)
	e.GET("/deployments", lists.deployments)

	e.GET("/export/:file", export.csv)

	e.GET("/sync", status.show)
	e.GET("/digest", newDigestPreview(s).show)

	e.GET("/static/*", a.serve)
	e.GET("/healthz", s.healthz)
	return nil
}
