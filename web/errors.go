package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
)

// UserError is a problem with the request that the user can fix: its message is shown as is.
type UserError struct {
	Status  int
	Field   string // the query parameter at fault, if any
	Message string
}

func (e *UserError) Error() string { return e.Message }

// StatusCode lets echo's middleware (request logging) see the status.
func (e *UserError) StatusCode() int { return e.Status }

func badRequestf(field, format string, args ...any) error {
	return &UserError{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &UserError{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

// userError turns the errors a user can cause into a *UserError; anything else is nil.
func userError(err error) *UserError {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue
	}
	var fe *metrics.FilterError
	if errors.As(err, &fe) {
		status := http.StatusBadRequest
		if fe.NotFound {
			status = http.StatusNotFound
		}
		return &UserError{Status: status, Field: fe.Field, Message: fe.Message}
	}
	var sc echo.HTTPStatusCoder
	if errors.As(err, &sc) && sc.StatusCode() >= 400 && sc.StatusCode() < 500 {
		switch sc.StatusCode() {
		case http.StatusNotFound:
			return &UserError{Status: http.StatusNotFound, Message: "There is no page at this address. The pages are listed in the menu above."}
		case http.StatusMethodNotAllowed:
			return &UserError{Status: http.StatusMethodNotAllowed, Message: "Pacer's pages only answer GET requests."}
		default:
			return &UserError{Status: sc.StatusCode(), Message: http.StatusText(sc.StatusCode())}
		}
	}
	return nil
}

// handleError is echo's error handler: user errors are shown as they are (a page, or a
// fragment for an HTMX request); anything else is logged with the request and shown as a
// generic message.
func (s *Server) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		// A streamed response (a CSV) failed half-way: the status is sent; log only.
		s.log.Error("web: response failed after it started", "method", c.Request().Method, "uri", c.Request().RequestURI, "error", err)
		return
	}
	ue := userError(err)
	if ue == nil {
		if errors.Is(err, context.Canceled) || errors.Is(c.Request().Context().Err(), context.Canceled) {
			// The client went away; nobody is left to answer.
			s.log.Debug("web: request canceled", "uri", c.Request().RequestURI)
			return
		}
		s.log.Error("web: request failed", "method", c.Request().Method, "uri", c.Request().RequestURI, "error", err)
		ue = &UserError{Status: http.StatusInternalServerError,
			Message: "Something went wrong on our side while preparing this page. It has been logged; try again, and if it keeps happening, check the server log."}
	} else if ue.Status >= 500 {
		s.log.Error("web: request failed", "method", c.Request().Method, "uri", c.Request().RequestURI, "error", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ue.Status)
		return
	}
	heading := http.StatusText(ue.Status)
	switch ue.Status {
	case http.StatusBadRequest:
		heading = "That filter does not work"
		if ue.Field != "" {
			heading = "Bad value for “" + ue.Field + "”"
		}
	case http.StatusNotFound:
		heading = "Not found"
	}
	if err := s.r.errorPage(c, ue.Status, heading, ue.Message); err != nil {
		s.log.Error("web: render error page", "error", err)
		_ = c.String(ue.Status, ue.Message)
	}
}
