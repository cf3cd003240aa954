package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/views"
)

// filterParams are the filter bar's parameters, which every dashboard page reads (was is the
// period the form showed, see parseQuery).
var filterParams = []string{"period", "from", "to", "service", "team", "by", "was"}

// Parameters of the list pages, beyond the filters.
var (
	mrListParams = []string{"rework", "unapproved", "deployed", "cycle_min", "cycle_max", "category",
		"approvals_below", "author", "q", "sort", "limit", "after"}
	deploymentListParams = []string{"rework", "rollback", "change_failure", "outside_window", "weekday", "hour", "id",
		"q", "sort", "limit", "after"}
)

// accepts refuses a request naming a parameter the route does not read: a typo (?servce=) or a
// filter the page does not have (?author= where there is none) would otherwise be ignored in
// silence and show every row. The answer is a 400 naming the parameter and the accepted ones.
// A route that reads a new parameter lists it here, in the route table.
func accepts(groups ...[]string) echo.MiddlewareFunc {
	var names []string
	for _, g := range groups {
		for _, n := range g {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			var unknown []string
			for k := range c.Request().URL.Query() {
				if !slices.Contains(names, k) {
					unknown = append(unknown, k)
				}
			}
			if len(unknown) == 0 {
				return next(c)
			}
			slices.Sort(unknown)
			k := truncate(unknown[0], 40)
			what := "takes no parameters"
			if len(names) > 0 {
				what = "accepts " + strings.Join(names, ", ")
			}
			return &UserError{Status: http.StatusBadRequest,
				Message: "This page has no parameter “" + k + "”: " + c.Request().URL.Path + " " + what + "."}
		}
	}
}

// privacy hands the views the [privacy] rule through the request's context: with authors
// hidden, every table leaves names out whichever handler built it.
func (s *Server) privacy(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.Privacy.ShowAuthors() {
		return next
	}
	return func(c *echo.Context) error {
		req := c.Request()
		c.SetRequest(req.WithContext(views.WithoutAuthors(req.Context())))
		return next(c)
	}
}
