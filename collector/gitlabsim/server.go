package gitlabsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultToken is the token NewServer accepts when ServerOptions.Token is empty.
const DefaultToken = "glpat-simulator-token"

// DefaultRateLimit is the per-minute request limit the server advertises and enforces when
// ServerOptions.RateLimit is zero: high enough that only injected faults produce 429s.
const DefaultRateLimit = 600000

// ServerOptions configures a Server.
type ServerOptions struct {
	Token string // accepted in PRIVATE-TOKEN or Authorization: Bearer; default DefaultToken
	// ReadOnlyTokens are personal access tokens with the read_api scope only: they read what
	// Token reads, and a write (registering a webhook) answers 403 insufficient_scope.
	ReadOnlyTokens []string
	Latency        time.Duration // added to every request
	Faults         Faults
	RateLimit      int // requests per minute: RateLimit-Limit header and enforced limit; 0 => DefaultRateLimit
	Logf           func(string, ...any)
	// LikeGitLabCom leaves the informational RateLimit-* headers off the Projects, Groups and
	// Users APIs, as GitLab.com does; a client that sizes its limiter from the first response
	// (group projects) then sees no limit.
	LikeGitLabCom bool

	// OAuthApps are the OAuth applications registered from the start (Server.RegisterOAuthApp
	// adds more). Their access tokens act as the person who signed in: see oauth.go.
	OAuthApps []OAuthApp
	// OAuthTokenTTL is the access tokens' lifetime; 0 => DefaultOAuthTokenTTL (GitLab's 2 h).
	OAuthTokenTTL time.Duration
	// OAuthCodeTTL is the authorization codes' lifetime; 0 => DefaultOAuthCodeTTL (10 min).
	OAuthCodeTTL time.Duration

	// DisableGraphQL starts the server without /api/graphql (404, as an instance without it);
	// Server.SetGraphQL flips it at run time.
	DisableGraphQL bool
	// GraphQLNodeCost is the simulated time a GraphQL query spends on each record it returns
	// (a merge request, commit, note, user, pipeline...): the response waits for it, and past
	// GraphQLTimeout the remaining fields time out as GitLab's do. 0: no cost.
	GraphQLNodeCost time.Duration
	// GraphQLTimeout is the GraphQL query budget; 0 => GitLab's 30 s.
	GraphQLTimeout time.Duration
}

// Faults are per-request probabilities of injected failures, drawn from a source seeded with
// Seed. At most one fault hits a request, tried in the order Drop, RateLimit, ServerError, Slow.
type Faults struct {
	Seed        int64
	RateLimit   float64       // 429 with Retry-After and RateLimit-Reset
	ServerError float64       // 500, 502 or 503
	Drop        float64       // the connection is closed without a response
	Slow        float64       // the response is delayed by SlowBy
	SlowBy      time.Duration // default 2s
	RetryAfter  time.Duration // the wait a 429 asks for; default 1s (whole seconds on the wire)
	// BareRateLimit is the share of injected 429s sent without Retry-After and RateLimit-*
	// headers, as GitLab.com sometimes answers: the client has to back off on its own.
	BareRateLimit float64
}

// Server serves an Org over GitLab's REST v4 API on a loopback port.
type Server struct {
	org     *Org
	opt     ServerOptions
	mux     *http.ServeMux
	handler http.Handler
	ln      net.Listener
	srv     *http.Server
	url     string
	oauth   *oauthProvider

	requests   atomic.Int64
	graphqlOff atomic.Bool
	hooks      *hookState // webhooks: hooks.go

	mu          sync.Mutex
	byRoute     map[string]int64
	faults      Faults
	frng        rnd
	windowStart time.Time
	windowCount int
}

// NewServer starts serving o on 127.0.0.1 on a free port. It panics if it cannot listen
// (tests and the demo cannot go on without it).
func NewServer(o *Org, opt ServerOptions) *Server {
	s, err := Listen(o, "127.0.0.1:0", opt)
	if err != nil {
		panic(fmt.Sprintf("gitlabsim: listen on loopback: %v", err))
	}
	return s
}

// Listen starts serving o on addr (host:port), for `pacer simulator`.
func Listen(o *Org, addr string, opt ServerOptions) (*Server, error) {
	s := newServer(o, opt)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "http://" + net.JoinHostPort(host, port)
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func newServer(o *Org, opt ServerOptions) *Server {
	if opt.Token == "" {
		opt.Token = DefaultToken
	}
	if opt.RateLimit <= 0 {
		opt.RateLimit = DefaultRateLimit
	}
	s := &Server{org: o, opt: opt, byRoute: map[string]int64{}, oauth: newOAuthProvider(opt.OAuthApps), hooks: newHookState()}
	s.setFaultsLocked(opt.Faults)
	s.graphqlOff.Store(opt.DisableGraphQL)
	s.mux = http.NewServeMux()
	s.routes()
	s.hookRoutes()
	o.watch(watcher{wants: s.wantsEvents, tell: s.moved})
	s.mux.HandleFunc("POST /api/graphql", s.serveGraphQL)
	s.mux.HandleFunc("GET /api/graphql", s.serveGraphQL)
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// URL is the instance URL, e.g. http://127.0.0.1:PORT; the API is under URL()+"/api/v4".
func (s *Server) URL() string { return s.url }

// Close stops the server and closes open connections.
func (s *Server) Close() {
	s.closeHooks()
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			_ = s.srv.Close()
		}
	}
}

// Requests counts every request received, whatever its outcome (faults included).
func (s *Server) Requests() int64 { return s.requests.Load() }

// RequestsByRoute counts requests by route pattern, e.g. "GET /api/v4/projects/{id}/merge_requests".
// Requests matching no route count under "unmatched".
func (s *Server) RequestsByRoute() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.byRoute))
	for k, v := range s.byRoute {
		out[k] = v
	}
	return out
}

// ResetCounters sets the request counters back to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	s.byRoute = map[string]int64{}
}

// SetFaults replaces the fault probabilities (and reseeds their source).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f)
}

func (s *Server) setFaultsLocked(f Faults) {
	if f.SlowBy <= 0 {
		f.SlowBy = 2 * time.Second
	}
	if f.RetryAfter < 0 {
		f.RetryAfter = 0
	} else if f.RetryAfter == 0 {
		f.RetryAfter = time.Second
	}
	s.faults = f
	s.frng = newRnd(f.Seed)
}

// Handler is the server's whole HTTP behaviour (auth, faults, rate limit, API), for use
// with another listener.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) logf(format string, args ...any) {
	if s.opt.Logf != nil {
		s.opt.Logf(format, args...)
	}
}

type fault int

const (
	faultNone fault = iota
	faultDrop
	faultRateLimit
	faultServerError
	faultSlow
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		pattern = "unmatched"
	}
	now := time.Now()
	s.mu.Lock()
	s.byRoute[pattern]++
	f := faultNone
	var code int
	switch v := s.frng.Float64(); {
	case v < s.faults.Drop:
		f = faultDrop
	case v < s.faults.Drop+s.faults.RateLimit:
		f = faultRateLimit
	case v < s.faults.Drop+s.faults.RateLimit+s.faults.ServerError:
		f = faultServerError
		code = []int{500, 502, 503}[s.frng.IntN(3)]
	case v < s.faults.Drop+s.faults.RateLimit+s.faults.ServerError+s.faults.Slow:
		f = faultSlow
	}
	bare := f == faultRateLimit && s.faults.BareRateLimit > 0 && s.frng.Float64() < s.faults.BareRateLimit
	faults := s.faults
	if now.Sub(s.windowStart) >= time.Minute {
		s.windowStart = now.Truncate(time.Second)
		s.windowCount = 0
	}
	s.windowCount++
	limited := s.windowCount > s.opt.RateLimit
	remaining := max(s.opt.RateLimit-s.windowCount, 0)
	reset := s.windowStart.Add(time.Minute)
	s.mu.Unlock()

	if s.opt.Latency > 0 && !sleepCtx(r.Context(), s.opt.Latency) {
		return
	}
	h := w.Header()
	if !(s.opt.LikeGitLabCom && quietRoute(pattern)) && !bare {
		h.Set("RateLimit-Name", "throttle_authenticated_api")
		h.Set("RateLimit-Limit", strconv.Itoa(s.opt.RateLimit))
		h.Set("RateLimit-Observed", strconv.Itoa(s.opt.RateLimit-remaining))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	}

	switch {
	case f == faultDrop:
		s.logf("gitlabsim: fault: drop %s", r.URL.Path)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	case f == faultRateLimit || limited:
		wait := faults.RetryAfter
		if limited {
			wait = time.Until(reset)
		}
		secs := int64((wait + time.Second - 1) / time.Second)
		at := now.Add(time.Duration(secs) * time.Second)
		if bare {
			s.logf("gitlabsim: fault: 429 %s without headers", r.URL.Path)
		} else {
			s.logf("gitlabsim: fault: 429 %s (retry after %ds)", r.URL.Path, secs)
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			h.Set("RateLimit-Reset", strconv.FormatInt(at.Unix(), 10))
			h.Set("RateLimit-ResetTime", at.UTC().Format(http.TimeFormat))
			h.Set("RateLimit-Remaining", "0")
		}
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Retry later\n"))
		return
	case f == faultServerError:
		s.logf("gitlabsim: fault: %d %s", code, r.URL.Path)
		if code == 502 {
			h.Set("Content-Type", "text/html")
			w.WriteHeader(code)
			_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
			return
		}
		writeJSON(w, code, map[string]string{"message": fmt.Sprintf("%d %s", code, http.StatusText(code))})
		return
	case f == faultSlow:
		s.logf("gitlabsim: fault: slow %s", r.URL.Path)
		if !sleepCtx(r.Context(), faults.SlowBy) {
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/oauth/") || r.URL.Path == "/api/graphql" {
		s.mux.ServeHTTP(w, r) // these authenticate on their own (the OAuth client; GraphQL takes anonymous requests)
		return
	}
	c, fail := s.authenticate(r)
	if fail != nil {
		if fail.header != "" {
			h.Set("WWW-Authenticate", fail.header)
		}
		writeJSON(w, fail.status, fail.body)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}

// quietRoute says whether GitLab.com leaves the RateLimit headers off a route (the Projects,
// Groups and Users APIs: the project itself, group listings, users).
func quietRoute(pattern string) bool {
	switch pattern {
	case "GET /api/v4/projects/{id}", "GET /api/v4/groups/{id}", "GET /api/v4/groups/{id}/projects",
		"GET /api/v4/users/{id}", "GET /api/v4/user", "GET /api/v4/projects":
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // GitLab sends <, > and & as they are
	_ = enc.Encode(v)
}

// apiError is an error answered as GitLab does: {"message": ...} or, for parameter
// validation, {"error": ...}.
type apiError struct {
	code  int
	field string // "message" or "error"
	text  string
}

func (e *apiError) Error() string { return e.text }

func notFound(what string) *apiError {
	return &apiError{http.StatusNotFound, "message", "404 " + what + " Not Found"}
}

func badParam(name string) *apiError {
	return &apiError{http.StatusBadRequest, "error", name + " is invalid"}
}

func badValue(name string) *apiError {
	return &apiError{http.StatusBadRequest, "error", name + " does not have a valid value"}
}

func badRequest(reason string) *apiError {
	return &apiError{http.StatusBadRequest, "message", "400 Bad request - " + reason}
}

// page is the offset paging of a request: GitLab's page and per_page (default 20, at most 100).
type page struct {
	num, per int
}

func pageOf(r *http.Request) page {
	q := r.URL.Query()
	p := page{num: 1, per: 20}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		p.num = v
	}
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		p.per = min(v, 100)
	}
	return p
}

// paginate writes GitLab's offset paging headers, without totals (as GitLab above 10,000
// rows), and returns the requested page of items.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	p := pageOf(r)
	from := (p.num - 1) * p.per
	if from > len(items) {
		from = len(items)
	}
	to := min(from+p.per, len(items))
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(p.num))
	h.Set("X-Per-Page", strconv.Itoa(p.per))
	next, prev := "", ""
	if to < len(items) {
		next = strconv.Itoa(p.num + 1)
	}
	if p.num > 1 {
		prev = strconv.Itoa(p.num - 1)
	}
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(p.per))
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
		return "<" + u.String() + `>; rel="` + rel + `"`
	}
	var links []string
	if prev != "" {
		links = append(links, link(p.num-1, "prev"))
	}
	if next != "" {
		links = append(links, link(p.num+1, "next"))
	}
	links = append(links, link(1, "first"))
	h.Set("Link", strings.Join(links, ", "))
	return items[from:to]
}

// timeParam parses an ISO 8601 time parameter as GitLab accepts them.
func timeParam(r *http.Request, name string) (time.Time, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, badParam(name)
}

func boolParam(r *http.Request, name string) (val, set bool, err error) {
	switch strings.ToLower(r.URL.Query().Get(name)) {
	case "":
		return false, false, nil
	case "true", "1", "yes":
		return true, true, nil
	case "false", "0", "no":
		return false, true, nil
	}
	return false, false, badParam(name)
}

func enumParam(r *http.Request, name, def string, allowed ...string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", badValue(name)
}

// bufferedResponse holds a response built under the org's read lock, so that a slow client
// never holds up Advance.
type bufferedResponse struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.h }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

// handle adapts an error-returning handler that runs under the org's read lock.
func (s *Server) handle(pattern string, fn func(w http.ResponseWriter, r *http.Request, now time.Time) error) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("pagination") == "keyset" {
			// None of the simulated resources supports keyset paging; GitLab refuses it so.
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Keyset pagination is not yet available for this type of request"})
			return
		}
		buf := &bufferedResponse{h: w.Header(), code: http.StatusOK}
		s.org.mu.RLock()
		err := fn(buf, r, s.org.now)
		s.org.mu.RUnlock()
		if err == nil {
			w.WriteHeader(buf.code)
			_, _ = w.Write(buf.body.Bytes())
			return
		}
		if ae, ok := err.(*apiError); ok {
			writeJSON(w, ae.code, map[string]string{ae.field: ae.text})
			return
		}
		s.logf("gitlabsim: %s: %v", r.URL.Path, err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "500 Internal Server Error"})
	})
}
