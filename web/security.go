package web

import (
	"github.com/labstack/echo/v5"
)

// dashboardCSP is the Content-Security-Policy of every response. It allows only Pacer's own
// scripts, styles, images and requests: no inline script or style, no style attribute, no
// event-handler attribute, no eval (htmx runs with allowEval off, see views.htmxConfig). The
// charts are inline SVG with presentation attributes, which are markup, not CSS. frame-src
// lets the digest preview show the email from /digest?format=html; form-action keeps forms
// on Pacer (browsers also check the redirects a form submission follows).
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaderValues are the headers every response carries, errors and static files
// included.
var securityHeaderValues = [...]struct{ name, value string }{
	{"Content-Security-Policy", dashboardCSP},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"}, // frame-ancestors, for browsers that predate it
	{"Referrer-Policy", "same-origin"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
}

// SecurityHeaders sets Pacer's security headers on every response. They are set before the
// handler runs, so a handler may replace one for its own response: the digest email answers
// with a policy of its own (inline styles, framed by the preview page only).
func SecurityHeaders() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			h := c.Response().Header()
			for _, s := range securityHeaderValues {
				h.Set(s.name, s.value)
			}
			return next(c)
		}
	}
}
