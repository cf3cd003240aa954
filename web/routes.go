package web

import (
	"github.com/labstack/echo/v5"
)

// routes is the one route table: every area, mounted with its dependencies.
func (s *Server) routes(e *echo.Echo, a *assets) error {
	status := &syncStatus{store: s.store, r: s.r}

	e.GET("/sync", status.show)
	e.GET("/static/*", a.serve)
	e.GET("/healthz", s.healthz)
	e.HEAD("/healthz", s.healthz)
	return nil
}
