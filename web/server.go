// Package web is Pacer's dashboard: an echo server rendering templ views, with HTMX swapping
// the page body when a filter changes, CSV export of every table and chart, and the sync
// status of each project.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// Options are the server's dependencies.
type Options struct {
	Store  *store.Store
	Engine *metrics.Engine // sees every project; requests get it scoped to what they may see
	Config *config.Config
	// Auth signs people in and checks tokens. Nil: nobody signs in, the dashboard is open
	// (and says so in every page's header).
	Auth    *auth.Service
	Logger  *slog.Logger
	Version string
	// WebhookSecret turns POST /hooks/gitlab on: GitLab's X-Gitlab-Token must equal it
	// (PACER_WEBHOOK_SECRET). Empty: the endpoint is off and says how to turn it on.
	WebhookSecret string
	// WebhookQueued, if set, is called whenever a delivery was queued: it wakes the webhook
	// worker of this process.
	WebhookQueued func()
	// Collectors are more Prometheus collectors /metrics carries (the webhook worker's).
	Collectors []prometheus.Collector
}

// Server is the dashboard's HTTP handler.
type Server struct {
	store *store.Store
	// unscoped sees every project: only the visibility middleware (access.go) reads it, to
	// hand each request the engine scoped to what that request may see.
	unscoped *metrics.Engine
	auth     *auth.Service
	access   accessRules
	cfg      *config.Config
	log      *slog.Logger
	r        *renderer
	echo     *echo.Echo
	hooks    *webhookReceiver
	metrics  []prometheus.Collector // more collectors for /metrics
}

// New builds the server and its route table.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Engine == nil {
		return nil, errors.New("web: a store and a metrics engine are required")
	}
	if o.Config == nil {
		o.Config = o.Engine.Config()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	if o.Auth == nil {
		o.Auth = auth.New(auth.Options{Store: o.Store, Config: o.Config, Logger: o.Logger})
	}
	rules, err := newAccessRules(o.Config, o.Auth)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:    o.Store,
		unscoped: o.Engine,
		auth:     o.Auth,
		access:   rules,
		cfg:      o.Config,
		log:      o.Logger,
		r:        &renderer{assets: a, version: o.Version, now: o.Engine.Now, store: o.Store},
		hooks:    newWebhookReceiver(o.Store, o.Logger, o.WebhookSecret, o.WebhookQueued),
		metrics:  o.Collectors,
	}
	// HEAD answers like GET without the body (monitors and link checkers use it).
	// The client address in the log comes from X-Forwarded-For only when the peer is a proxy
	// on loopback or a private network (echo's default trust); otherwise it is the peer.
	e := echo.NewWithConfig(echo.Config{Logger: o.Logger, Router: echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true}),
		IPExtractor: echo.ExtractIPFromXFFHeader()})
	// Errors are answered inside logRequests, so the log line has the final status; this
	// handler only sees errors from outside that chain.
	e.HTTPErrorHandler = s.handleError
	e.Use(SecurityHeaders(), s.logRequests, middleware.Recover(), s.admit, s.checkHost, s.checkCSRF,
		middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: 1024}))
	s.echo = e
	if err := s.routes(e, a); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// logRequests answers any error through the error handler, then logs one line per request.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			s.handleError(c, err)
		}
		status, size := 0, int64(0)
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil {
			status, size = r.Status, r.Size
		}
		req := c.Request()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		query := req.URL.RawQuery
		if strings.HasPrefix(req.URL.Path, "/auth/") {
			query = "" // the callback's code and state are credentials: never logged
		}
		s.log.Log(req.Context(), level, "http request",
			"method", req.Method,
			"path", req.URL.Path,
			"query", query,
			"status", status,
			"bytes", size,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"htmx", req.Header.Get("HX-Request") == "true",
			"remote", c.RealIP(),
		)
		return nil
	}
}

// healthz answers 200 when the database answers.
func (s *Server) healthz(c *echo.Context) error {
	var one int
	if err := s.store.DB.QueryRowContext(c.Request().Context(), `SELECT 1`).Scan(&one); err != nil {
		s.log.Error("web: health check", "error", err)
		return c.String(http.StatusServiceUnavailable, "database unavailable\n")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(http.StatusOK, "ok\n")
}
