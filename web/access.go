package web

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
)

// accessRules are decided once, when the server is built: whether people sign in, which host
// names are answered, and how the session cookie is set.
type accessRules struct {
	signIn   bool   // people sign in with GitLab
	mode     string // the [auth] mode: "" (none configured), "none" or "gitlab"
	baseHost string // base_url's host name, answered besides the loopback names
	secure   bool   // cookies are Secure: everywhere but plain HTTP on loopback
	cookie   string // the session cookie's name
	maxAge   int    // the session cookie's lifetime in seconds (the absolute expiry)
}

func newAccessRules(cfg *config.Config, a *auth.Service) (accessRules, error) {
	r := accessRules{signIn: a.SignIn(), mode: cfg.Auth.Mode, secure: true, maxAge: int(cfg.Auth.Max.Seconds())}
	if cfg.Auth.SignIn() && !r.signIn {
		return r, errors.New("web: [auth] mode = \"gitlab\" needs an auth service with a provider")
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Host == "" {
			return r, errors.New("web: base_url is not a URL")
		}
		r.baseHost = strings.ToLower(u.Hostname())
		r.secure = !(u.Scheme == "http" && isLoopbackName(r.baseHost))
	} else {
		// No base_url: only loopback names are answered, over plain HTTP.
		r.secure = false
	}
	if r.maxAge <= 0 {
		r.maxAge = int(config.DefaultSessionMax.Seconds())
	}
	r.cookie = "pacer_session"
	if r.secure {
		// __Host- cookies are Secure, for this host only and the whole path: a sibling domain
		// cannot plant or overwrite one.
		r.cookie = "__Host-pacer_session"
	}
	return r, nil
}

// isLoopbackName says whether a host name (no port) is this machine: localhost, a name under
// .localhost, or a loopback address.
func isLoopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// hostOK says whether a Host header names this dashboard.
func (r accessRules) hostOK(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return isLoopbackName(host) || (r.baseHost != "" && host == r.baseHost)
}

// checkHost refuses requests whose Host is neither base_url's host nor a loopback name: a
// page on another site that rebinds its own name to 127.0.0.1 would otherwise read a
// loopback dashboard. /healthz answers any host (probes use the pod's address; it tells
// nothing).
func (s *Server) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		req := c.Request()
		if s.access.hostOK(req.Host) || req.URL.Path == "/healthz" {
			return next(c)
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.String(http.StatusMisdirectedRequest,
			"This Pacer does not answer for this host name. Open it at its base_url, or set base_url in the configuration to the address people use.\n")
	}
}

// view is what one request may see: made once, by the visibility middleware, from the
// session or the machine token. Handlers reach the metrics only through it.
type view struct {
	engine  *metrics.Engine // scoped to what the request may see
	scope   auth.Scope
	session *auth.Session // nil: an open dashboard, or a machine token
	token   string        // the machine token's name, if one was used
	open    bool          // nobody signs in: every page says the dashboard is open
}

const viewKey = "pacer.view"

// viewOf is the request's view; nil outside the routes the visibility middleware guards
// (sign-in pages, static files, errors before routing).
func viewOf(c *echo.Context) *view {
	v, _ := c.Get(viewKey).(*view)
	return v
}

// engineOf is the metrics engine of the request, scoped to the projects it may see. It is the
// only way a handler reaches the metrics.
func engineOf(c *echo.Context) *metrics.Engine {
	v := viewOf(c)
	if v == nil {
		// A route mounted without the visibility middleware: a programming error, caught by
		// the route-walk tests. Never fall back to seeing everything.
		panic("web: " + c.Path() + " is mounted without the visibility middleware")
	}
	return v.engine
}

// visibleTeams are the configured teams a request may choose: a team of services only when it
// has a visible service; a team of authors always (its name says nothing about a project).
func visibleTeams(c *echo.Context) []string {
	e := engineOf(c)
	v := viewOf(c)
	if v.scope.All {
		return e.Teams()
	}
	services, err := e.Services(c.Request().Context())
	if err != nil {
		return nil // the team menu is a convenience
	}
	var out []string
	for _, t := range e.Config().Teams {
		if len(t.Authors) > 0 || slices.ContainsFunc(t.Services, func(s string) bool { return slices.Contains(services, s) }) {
			out = append(out, t.Name)
		}
	}
	return out
}

// Where a route's visibility comes from.
const (
	sessionOnly    = false // pages: a session (or an open dashboard)
	sessionOrToken = true  // data (CSV, API): also a machine token in Authorization: Bearer
)

// visible is the visibility middleware: it makes the request's view from its session or
// machine token, or sends it to sign in. Every route that shows data is mounted with it.
func (s *Server) visible(tokens bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			v, err := s.viewFor(c, tokens)
			if err != nil || v == nil {
				return err
			}
			c.Set(viewKey, v)
			if done, err := s.notModified(c, v); done || err != nil {
				return err
			}
			return next(c)
		}
	}
}

// errUnauthorized is the answer to a bad or refused bearer token.
func unauthorized(c *echo.Context, msg string) error {
	h := c.Response().Header()
	h.Set("WWW-Authenticate", `Bearer realm="pacer"`)
	h.Set("Cache-Control", "no-store")
	return c.String(http.StatusUnauthorized, msg+"\n")
}

// viewFor decides what the request may see. A nil view with a nil error means the response
// is written (a redirect to sign-in, a 401).
func (s *Server) viewFor(c *echo.Context, tokens bool) (*view, error) {
	req := c.Request()
	ctx := req.Context()
	if h := req.Header.Get("Authorization"); h != "" {
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			return nil, unauthorized(c, "Pacer takes a machine token as Authorization: Bearer TOKEN (pacer token create makes one).")
		}
		if !tokens {
			return nil, unauthorized(c, "Machine tokens open the CSV exports (/export/…); pages need a browser session.")
		}
		name, scope, err := s.auth.Token(ctx, strings.TrimSpace(raw))
		if errors.Is(err, auth.ErrBadToken) {
			return nil, unauthorized(c, "This token is unknown, revoked or expired.")
		}
		if err != nil {
			return nil, err
		}
		return &view{engine: s.scopedEngine(scope), scope: scope, token: name, open: !s.access.signIn}, nil
	}
	if !s.access.signIn {
		return &view{engine: s.unscoped, scope: auth.Everything, open: true}, nil
	}
	var value string
	if ck, err := c.Cookie(s.access.cookie); err == nil {
		value = ck.Value
	}
	sess, err := s.auth.Session(ctx, value)
	if errors.Is(err, auth.ErrNoSession) {
		if value != "" {
			s.clearSessionCookie(c)
		}
		return nil, s.toSignIn(c)
	}
	if err != nil {
		return nil, err
	}
	return &view{engine: s.scopedEngine(sess.Scope), scope: sess.Scope, session: sess}, nil
}

// scopedEngine is the one place an engine is narrowed to a scope.
func (s *Server) scopedEngine(sc auth.Scope) *metrics.Engine {
	if sc.All {
		return s.unscoped
	}
	return s.unscoped.Scoped(sc.ProjectIDs)
}

// toSignIn answers a request without a session: a browser goes to sign in and comes back to
// the page it asked for; HTMX is told to do the same with the whole page; anything else (a
// script) gets 401.
func (s *Server) toSignIn(c *echo.Context) error {
	req := c.Request()
	next := req.URL.RequestURI()
	if req.Header.Get("HX-Request") == "true" {
		if cur, err := url.Parse(req.Header.Get("HX-Current-URL")); err == nil && cur.Path != "" {
			next = cur.RequestURI()
		}
		c.Response().Header().Set("HX-Redirect", "/auth/signin?next="+url.QueryEscape(auth.LocalPath(next)))
		return unauthorized(c, "Sign in to see this page.")
	}
	accept := req.Header.Get("Accept")
	if (req.Method == http.MethodGet || req.Method == http.MethodHead) && strings.Contains(accept, "text/html") {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Redirect(http.StatusSeeOther, "/auth/signin?next="+url.QueryEscape(auth.LocalPath(next)))
	}
	return unauthorized(c, "Sign in at /auth/signin, or send a machine token as Authorization: Bearer TOKEN.")
}

// errForbidden is a state-changing request without its session's CSRF token.
var errForbidden = &UserError{Status: http.StatusForbidden,
	Message: "This form has expired or did not come from this Pacer. Reload the page and try again."}

// checkCSRF guards every state-changing request (any method but GET, HEAD and OPTIONS): it must
// come from this site (Origin, when the browser sends it) and carry its session's CSRF token,
// in the csrf form field or the X-CSRF-Token header. Otherwise: 403.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		req := c.Request()
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if c.Path() == hookPath {
			return next(c) // GitLab's webhooks carry a shared secret instead (web/hooks.go)
		}
		if c.RouteInfo().Method != req.Method {
			return next(c) // no route takes this method here: the answer is a 404 or 405, nothing changes
		}
		if o := req.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !strings.EqualFold(u.Host, req.Host) {
				return errForbidden
			}
		}
		ck, err := c.Cookie(s.access.cookie)
		if err != nil {
			return errForbidden
		}
		sess, err := s.auth.Session(req.Context(), ck.Value)
		if errors.Is(err, auth.ErrNoSession) {
			return errForbidden
		}
		if err != nil {
			return err
		}
		token := req.Header.Get("X-CSRF-Token")
		if token == "" {
			token = c.FormValue("csrf")
		}
		if token == "" || !auth.Equal(token, sess.CSRF) {
			return errForbidden
		}
		return next(c)
	}
}

func (s *Server) setSessionCookie(c *echo.Context, value string) {
	c.SetCookie(&http.Cookie{Name: s.access.cookie, Value: value, Path: "/", MaxAge: s.access.maxAge,
		HttpOnly: true, Secure: s.access.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookie(c *echo.Context) {
	c.SetCookie(&http.Cookie{Name: s.access.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.access.secure, SameSite: http.SameSiteLaxMode})
}
