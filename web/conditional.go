package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
)

// Every dashboard page and CSV is a function of the derived facts (their generation), the
// request (path, query, whether HTMX asks for a fragment), who asks (the session: pages carry
// its name and CSRF token; or the token, or the open dashboard), the day (which period is still
// running) and this process (its templates and configuration). A reload that names the same
// ETag gets 304 Not Modified without any work beyond reading the generation.
//
// The sync status page and the digest preview also read rows that move without a refresh
// (sync runs, sent digests): they are always answered in full.
var conditionalPaths = map[string]bool{
	"/": true, "/cycle-time": true, "/cycle-time/slowest": true, "/releases": true, "/rework": true,
	"/coverage": true, "/approvals": true, "/investment": true, "/agreements": true,
	"/merge-requests": true, "/deployments": true, "/export/:file": true,
}

// processNonce makes ETags of another process (another build or configuration) differ.
var processNonce = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// notModified answers 304 when the request's If-None-Match names the page as it would be
// rendered now, and otherwise sets the ETag for the response to come. It reports whether the
// response is written.
func (s *Server) notModified(c *echo.Context, v *view) (bool, error) {
	req := c.Request()
	if req.Method != http.MethodGet && req.Method != http.MethodHead || !conditionalPaths[c.Path()] {
		return false, nil
	}
	gen, err := v.engine.Generation(req.Context())
	if err != nil {
		return false, err
	}
	who := "open"
	switch {
	case v.session != nil:
		who = "session:" + v.session.CSRF
	case v.token != "":
		who = "token:" + v.token
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%s|%s|%s|%s|%s|%s", processNonce, gen, v.engine.Now().Format(time.DateOnly),
		v.engine.VisibilityKey(), who, req.URL.RequestURI(), req.Header.Get("HX-Request"), req.Header.Get("HX-History-Restore-Request"))
	etag := `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	hdr := c.Response().Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, no-cache")
	for _, candidate := range strings.Split(req.Header.Get("If-None-Match"), ",") {
		if strings.TrimSpace(candidate) == etag {
			return true, c.NoContent(http.StatusNotModified)
		}
	}
	return false, nil
}
