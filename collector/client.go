package collector

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"
)

// APIBaseURL turns the instance URL a user gives (https://gitlab.example.com, with or without a
// trailing slash or /api/v4) into the REST v4 base URL client-go wants.
func APIBaseURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("the GitLab URL is empty (give the instance URL, such as https://gitlab.example.com)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not a GitLab URL (give the instance URL, such as https://gitlab.example.com)", withoutSecrets(s))
	}
	if u.User != nil {
		return "", fmt.Errorf("the GitLab URL must not carry credentials; put the token in PACER_GITLAB_TOKEN")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: the GitLab URL takes no query or fragment (the token goes in PACER_GITLAB_TOKEN)", withoutSecrets(s))
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v4")
	u.Path = strings.TrimRight(p, "/") + "/api/v4/"
	u.RawPath = ""
	return u.String(), nil
}

// withoutSecrets is a URL as it may be shown in an error: without its query and fragment, where
// a ?private_token= would sit, and without user:password@. It works on text that does not parse.
func withoutSecrets(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?…"
	}
	rest, scheme := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i+3], s[i+3:]
	}
	host := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host = rest[:i]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		rest = "…@" + rest[i+1:]
	}
	return scheme + rest
}

// Retry policy. GitLab answers 429 with Retry-After (and RateLimit-Reset); both are honoured,
// bounded so that a bogus header cannot stall a sync for hours.
const (
	defaultRetryMax     = 10
	defaultRetryWaitMin = 250 * time.Millisecond
	retryWaitMax        = 30 * time.Second
	rateLimitWaitMax    = 10 * time.Minute
	requestTimeout      = 2 * time.Minute
)

// counters are the sync-wide request figures, updated from every goroutine.
type counters struct {
	requests       atomic.Int64
	rateLimitWaits atomic.Int64
}

type projectCounterKey struct{}

// withProjectCounter makes the transport count the requests made with ctx into n, so each
// project's sync status can say how many requests it cost.
func withProjectCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, projectCounterKey{}, n)
}

// transport wraps the HTTP transport: it bounds the requests in flight across the whole sync,
// counts them, reads the whole body (so a connection dropped mid-body is a transport error the
// retry policy sees, not a JSON error after it), and feeds rate-limit headers to the limiter.
type transport struct {
	next     http.RoundTripper
	inflight chan struct{}
	counts   *counters
	limiter  *adaptiveLimiter
	prefix   string // the instance's path below the host ("/gitlab"), or ""
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.inflight <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-t.inflight }()
	if t.prefix != "" && req.URL.Path == gitlab.GraphQLAPIEndpoint {
		// client-go sends GraphQL to /api/graphql at the host's root, whatever the base URL;
		// an instance under a path (https://example.com/gitlab) serves it below that path.
		r := req.Clone(req.Context())
		r.URL.Path = t.prefix + gitlab.GraphQLAPIEndpoint
		r.URL.RawPath = ""
		req = r
	}
	t.counts.requests.Add(1)
	if n, ok := req.Context().Value(projectCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	t.limiter.observe(resp)
	return resp, nil
}

// adaptiveLimiter paces requests below the server's advertised limit. It starts unlimited
// (GitLab self-managed has throttling off by default) and adopts RateLimit-Limit, a per-minute
// figure, whenever a response carries it, keeping a margin for other clients of the same
// token. When RateLimit-Remaining reaches zero it holds every request until RateLimit-Reset.
type adaptiveLimiter struct {
	lim    *rate.Limiter
	burst  int
	counts *counters

	mu        sync.Mutex
	perMinute float64
	holdUntil time.Time
}

func newAdaptiveLimiter(burst int, counts *counters) *adaptiveLimiter {
	return &adaptiveLimiter{lim: rate.NewLimiter(rate.Inf, burst), burst: burst, counts: counts}
}

// rateLimitShare is the part of the advertised limit Pacer uses, as client-go's own limiter does.
const rateLimitShare = 0.66

func (l *adaptiveLimiter) observe(resp *http.Response) {
	h := resp.Header
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, err := strconv.ParseFloat(h.Get("RateLimit-Limit"), 64); err == nil && v > 0 && v != l.perMinute {
		l.perMinute = v
		l.lim.SetLimit(rate.Limit(v * rateLimitShare / 60))
		l.lim.SetBurst(max(1, min(l.burst, int(v*rateLimitShare/60))))
	}
	if rem, err := strconv.Atoi(h.Get("RateLimit-Remaining")); err == nil && rem <= 0 && resp.StatusCode != http.StatusTooManyRequests {
		if reset, ok := resetTime(h); ok && reset.After(l.holdUntil) {
			l.holdUntil = reset
		}
	}
}

// Wait implements gitlab.RateLimiter.
func (l *adaptiveLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	hold := time.Until(l.holdUntil)
	l.mu.Unlock()
	if hold > 0 {
		l.counts.rateLimitWaits.Add(1)
		t := time.NewTimer(min(hold, rateLimitWaitMax))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return l.lim.Wait(ctx)
}

func resetTime(h http.Header) (time.Time, bool) {
	v, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err != nil || v <= 0 {
		return time.Time{}, false
	}
	return time.Unix(v, 0), true
}

// backoff is the wait before retry attempt n+1: Retry-After if the server gave one, else
// RateLimit-Reset, else exponential from min with jitter, capped at max.
func (c *counters) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header, time.Now()); ok {
			c.rateLimitWaits.Add(1)
			return min(d, rateLimitWaitMax)
		}
		// RateLimit-Reset rides on every response; it says when to retry only on a 429.
		if resp.StatusCode == http.StatusTooManyRequests {
			c.rateLimitWaits.Add(1)
			if reset, ok := resetTime(resp.Header); ok {
				return min(max(time.Until(reset), 0)+jitter(minWait), rateLimitWaitMax)
			}
		}
	}
	d := float64(minWait) * math.Pow(2, float64(attempt))
	if d > float64(maxWait) {
		d = float64(maxWait)
	}
	return time.Duration(d)/2 + jitter(time.Duration(d)/2)
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// checkRetry decides which failures are worth another attempt. Every request the collector makes
// only reads (GETs, and GraphQL queries, which are POSTs without side effects), so transport
// errors (a dropped connection, a reset) are retried, unlike client-go's default, which retries
// only errors known to happen before the request was written. Errors that another attempt
// cannot fix fail at once.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var dnsErr *net.DNSError
		var certErr *tls.CertificateVerificationError
		var unknownAuthority x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound,
			errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostErr),
			strings.Contains(err.Error(), "connection refused"),
			strings.Contains(err.Error(), "unsupported protocol scheme"),
			strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			return false, nil
		}
		return true, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case isGraphQL(resp.Request) && (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout):
		// GitLab's answer to a GraphQL query that ran out of its 30 s: asking again for the
		// same would time out again; the caller asks for fewer items instead.
		return false, nil
	case resp.StatusCode == 0, resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// isGraphQL reports whether req is a GraphQL query (POST /api/graphql).
func isGraphQL(req *http.Request) bool {
	return req != nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, gitlab.GraphQLAPIEndpoint)
}

// newClient builds the one client-go client a sync shares.
func newClient(opt Options, counts *counters) (*gitlab.Client, error) {
	base, err := APIBaseURL(opt.BaseURL)
	if err != nil {
		return nil, err
	}
	hc := opt.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection per concurrent request: the default of two idle connections per
		// host makes a concurrent sync open and close connections all the time.
		tr.MaxIdleConnsPerHost = opt.Concurrency * 2
		tr.MaxIdleConns = opt.Concurrency * 4
		hc = &http.Client{Transport: tr, Timeout: requestTimeout}
	} else {
		c := *hc
		hc = &c
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	limiter := newAdaptiveLimiter(opt.Concurrency, counts)
	prefix := ""
	if u, err := url.Parse(base); err == nil {
		prefix = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v4")
	}
	hc.Transport = &transport{next: next, inflight: make(chan struct{}, opt.Concurrency), counts: counts, limiter: limiter,
		prefix: prefix}
	waitMin := opt.RetryWaitMin
	if waitMin <= 0 {
		waitMin = defaultRetryWaitMin
	}
	c, err := gitlab.NewClient(opt.Token,
		gitlab.WithBaseURL(base),
		gitlab.WithHTTPClient(hc),
		gitlab.WithCustomLimiter(limiter),
		gitlab.WithCustomBackoff(counts.backoff),
		gitlab.WithCustomRetry(checkRetry),
		gitlab.WithCustomRetryMax(defaultRetryMax),
		gitlab.WithCustomRetryWaitMinMax(waitMin, retryWaitMax),
		gitlab.WithUserAgent("pacer (+https://github.com/pacer-dev/pacer)"),
	)
	if err != nil {
		return nil, fmt.Errorf("collector: GitLab client: %w", err)
	}
	return c, nil
}

// httpStatus is the HTTP status of a client-go error, or 0. client-go answers a 404 with its
// ErrNotFound sentinel rather than an *ErrorResponse.
func httpStatus(err error) int {
	if errors.Is(err, gitlab.ErrNotFound) {
		return http.StatusNotFound
	}
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// explain turns a failed request into an error that says what to do about it.
func explain(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("collector: %s: %w", what, err)
	}
	switch httpStatus(err) {
	case http.StatusUnauthorized:
		return fmt.Errorf("collector: %s: GitLab rejected the token (401): set PACER_GITLAB_TOKEN to a token with the read_api scope: %w", what, errUnauthorized)
	case http.StatusForbidden:
		return fmt.Errorf("collector: %s: forbidden (403): the token's user needs at least Reporter access: %w", what, err)
	case http.StatusNotFound:
		return fmt.Errorf("collector: %s: not found (404): check the path and that the token's user can see it: %w", what, err)
	case http.StatusTooManyRequests:
		return fmt.Errorf("collector: %s: still rate limited after %d retries (429); try again later or with a lower --concurrency: %w", what, defaultRetryMax, err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("collector: %s: cannot resolve %s: check --gitlab-url: %w", what, dnsErr.Name, err)
	}
	// A 200 that is not the API's JSON: a sign-in page, a proxy or another site answered.
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return fmt.Errorf("collector: %s: the answer is not GitLab's API JSON: check that --gitlab-url is the GitLab instance, not a sign-in page or proxy in front of it: %w", what, err)
	}
	if strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("collector: %s: connection refused: check --gitlab-url and that GitLab is up: %w", what, err)
	}
	return fmt.Errorf("collector: %s: %w", what, err)
}

var errUnauthorized = errors.New("unauthorized")

// nextPage is the next offset page from X-Next-Page, or from the Link header's rel="next"; 0
// when there is none. Totals are never used: GitLab omits them above 10,000 rows.
func nextPage(resp *gitlab.Response) int64 {
	if resp == nil {
		return 0
	}
	if resp.NextPage > 0 {
		return resp.NextPage
	}
	if resp.NextLink != "" {
		if u, err := url.Parse(resp.NextLink); err == nil {
			if p, err := strconv.ParseInt(u.Query().Get("page"), 10, 64); err == nil && p > 0 {
				return p
			}
		}
	}
	return 0
}
