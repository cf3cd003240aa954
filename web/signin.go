package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/views"
)

// signInCookie carries the state of a sign-in under way, so the callback can check that it
// comes back to the browser that started it (no login CSRF). It lives ten minutes, on /auth/.
const signInCookie = "pacer_signin"

// signIn starts a sign-in: it remembers a state and PKCE verifier and sends the browser to
// GitLab's consent page.
func (s *Server) signIn(c *echo.Context) error {
	state, to, err := s.auth.BeginSignIn(c.Request().Context(), c.QueryParam("next"))
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: signInCookie, Value: state, Path: "/auth/", MaxAge: 600,
		HttpOnly: true, Secure: s.access.secure, SameSite: http.SameSiteLaxMode})
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, to)
}

// callback is where GitLab sends the browser back with a code: check the state, exchange the
// code with the PKCE verifier, read the person and their projects, open a session.
func (s *Server) callback(c *echo.Context) error {
	req := c.Request()
	c.SetCookie(&http.Cookie{Name: signInCookie, Value: "", Path: "/auth/", MaxAge: -1,
		HttpOnly: true, Secure: s.access.secure, SameSite: http.SameSiteLaxMode})
	c.Response().Header().Set("Cache-Control", "no-store")
	q := req.URL.Query()
	if e := q.Get("error"); e != "" {
		s.log.Info("sign-in refused at GitLab", "error", truncate(e, 60), "remote", c.RealIP())
		return s.signInProblem(c, http.StatusForbidden, "GitLab did not sign you in",
			"GitLab answered "+truncate(e, 60)+" (for example, the access was denied on its consent page). Try again, or ask who runs Pacer.")
	}
	var cookieState string
	if ck, err := c.Cookie(signInCookie); err == nil {
		cookieState = ck.Value
	}
	done, err := s.auth.FinishSignIn(req.Context(), q.Get("state"), cookieState, q.Get("code"))
	switch {
	case errors.Is(err, auth.ErrStaleSignIn):
		s.log.Warn("sign-in rejected: state mismatch or expired", "remote", c.RealIP())
		return s.signInProblem(c, http.StatusBadRequest, "This sign-in did not start here",
			"The sign-in was started in another browser or tab, or took more than ten minutes, so Pacer cannot trust it. Sign in again.")
	case errors.Is(err, auth.ErrRefused):
		s.log.Warn("sign-in rejected by GitLab", "error", err.Error(), "remote", c.RealIP())
		return s.signInProblem(c, http.StatusForbidden, "GitLab refused the sign-in",
			"GitLab did not accept the code it sent back for this sign-in. Sign in again.")
	case err != nil:
		s.log.Error("sign-in failed", "error", err.Error(), "remote", c.RealIP())
		return s.signInProblem(c, http.StatusBadGateway, "The sign-in did not complete",
			"Pacer could not finish the sign-in with GitLab. It has been logged; try again in a moment.")
	}
	s.setSessionCookie(c, done.Cookie)
	// What is logged: who, how many projects they see, from where. Never the code, the
	// state, the tokens or the session id.
	s.log.Info("sign-in", "user", done.Person.Username, "user_id", done.Person.ID, "projects", done.Projects, "remote", c.RealIP())
	return c.Redirect(http.StatusSeeOther, done.ReturnTo)
}

// signOut ends the session (the CSRF middleware checked the form's token) and says so.
func (s *Server) signOut(c *echo.Context) error {
	req := c.Request()
	if ck, err := c.Cookie(s.access.cookie); err == nil {
		if sess, err := s.auth.Session(req.Context(), ck.Value); err == nil {
			s.log.Info("sign-out", "user", sess.Person.Username, "user_id", sess.Person.ID, "remote", c.RealIP())
		}
		if err := s.auth.SignOut(req.Context(), ck.Value); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, "/auth/signed-out")
}

// signedOut is the page after signing out: it does not send the browser back to GitLab at
// once, which would sign the person in again.
func (s *Server) signedOut(c *echo.Context) error {
	return s.signInPage(c, http.StatusOK, views.SignIn{Heading: "You have signed out",
		Message: "Your Pacer session has ended. Signing out of Pacer does not sign you out of GitLab.", Role: "status"})
}

func (s *Server) signInProblem(c *echo.Context, status int, heading, message string) error {
	return s.signInPage(c, status, views.SignIn{Heading: heading, Message: message, Role: "alert"})
}

func (s *Server) signInPage(c *echo.Context, status int, p views.SignIn) error {
	if p.SignInURL == "" {
		p.SignInURL = "/auth/signin"
		if next := c.QueryParam("next"); next != "" {
			p.SignInURL += "?next=" + url.QueryEscape(auth.LocalPath(next))
		}
	}
	m := views.PageMeta{Title: p.Heading, Assets: s.r.assets.views(), Version: s.r.version, Filters: views.FilterBar{Hide: true}}
	return s.r.page(c, status, m, views.SignInPage(p), "")
}
