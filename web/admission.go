package web

import (
	"runtime"
	"strings"

	"github.com/labstack/echo/v5"
)

// admit lets a few requests at a time do their work (two per processor), the others waiting
// their turn in order. Pages are computed by the processors alone, in a few milliseconds
// each: fifty at once would only take turns on the processors, each finishing fifty times
// later, holding its memory and a database connection meanwhile (the pool has eight). Static
// files and the health check go straight through.
func (s *Server) admit(next echo.HandlerFunc) echo.HandlerFunc {
	slots := make(chan struct{}, 2*max(1, runtime.GOMAXPROCS(0)))
	return func(c *echo.Context) error {
		p := c.Request().URL.Path
		if strings.HasPrefix(p, "/static/") || p == "/healthz" {
			return next(c)
		}
		select {
		case slots <- struct{}{}:
		case <-c.Request().Context().Done():
			return c.Request().Context().Err()
		}
		defer func() { <-slots }()
		return next(c)
	}
}
