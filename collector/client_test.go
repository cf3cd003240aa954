package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestBackoffHonoursRetryAfterThenResetThenExponential(t *testing.T) {
	var c counters
	resp := func(code int, h map[string]string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	reset := strconv.FormatInt(time.Now().Add(20*time.Second).Unix(), 10)
	if d := c.backoff(time.Second, time.Minute, 0, resp(429, map[string]string{"Retry-After": "7", "RateLimit-Reset": reset})); d != 7*time.Second {
		t.Errorf("Retry-After 7 with a reset: waited %v", d)
	}
	date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
	if d := c.backoff(time.Second, time.Minute, 0, resp(429, map[string]string{"Retry-After": date})); d < 3*time.Second || d > 6*time.Second {
		t.Errorf("Retry-After as a date 5 s ahead: waited %v", d)
	}
	if d := c.backoff(time.Millisecond, time.Minute, 0, resp(429, map[string]string{"RateLimit-Reset": reset})); d < 18*time.Second || d > 21*time.Second {
		t.Errorf("RateLimit-Reset 20 s ahead: waited %v", d)
	}
	// A 503 carries RateLimit-Reset as information only: it must not make us wait for it.
	if d := c.backoff(time.Millisecond, time.Minute, 0, resp(503, map[string]string{"RateLimit-Reset": reset})); d > 10*time.Millisecond {
		t.Errorf("503 waited %v for an informational reset", d)
	}
	if d := c.backoff(time.Second, time.Minute, 0, resp(429, map[string]string{"Retry-After": "86400"})); d != rateLimitWaitMax {
		t.Errorf("a day's Retry-After: waited %v, want the cap %v", d, rateLimitWaitMax)
	}
	for attempt, hi := range []time.Duration{100, 200, 400, 800} {
		d := c.backoff(100*time.Millisecond, time.Minute, attempt, nil)
		if d < hi*time.Millisecond/2 || d > hi*time.Millisecond {
			t.Errorf("attempt %d: %v, want in [%v, %v]", attempt, d, hi*time.Millisecond/2, hi*time.Millisecond)
		}
	}
	if d := c.backoff(time.Second, 3*time.Second, 10, nil); d > 3*time.Second {
		t.Errorf("cap exceeded: %v", d)
	}
	if c.rateLimitWaits.Load() != 4 {
		t.Errorf("rate-limit waits %d, want 4", c.rateLimitWaits.Load())
	}
}

func TestCheckRetry(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		resp *http.Response
		err  error
		want bool
	}{
		{"429", &http.Response{StatusCode: 429}, nil, true},
		{"502", &http.Response{StatusCode: 502}, nil, true},
		{"501", &http.Response{StatusCode: 501}, nil, false},
		{"404", &http.Response{StatusCode: 404}, nil, false},
		{"reset by peer", nil, errors.New("read tcp: connection reset by peer"), true},
		{"EOF", nil, io.ErrUnexpectedEOF, true},
		{"refused", nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{"no such host", nil, &net.DNSError{Err: "no such host", Name: "gitlab.invalid", IsNotFound: true}, false},
	}
	for _, c := range cases {
		if got, _ := checkRetry(ctx, c.resp, c.err); got != c.want {
			t.Errorf("%s: retry %v, want %v", c.name, got, c.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := checkRetry(cancelled, &http.Response{StatusCode: 500}, nil); got || err == nil {
		t.Errorf("retried after cancellation")
	}
}

func TestLimiterAdoptsTheServersLimitAndHoldsWhenExhausted(t *testing.T) {
	var c counters
	l := newAdaptiveLimiter(4, &c)
	if l.lim.Limit() != rate.Inf {
		t.Fatalf("starts limited: %v", l.lim.Limit())
	}
	h := http.Header{}
	h.Set("RateLimit-Limit", "600")
	l.observe(&http.Response{StatusCode: 200, Header: h})
	if got := float64(l.lim.Limit()); got < 6.5 || got > 6.7 {
		t.Fatalf("600/min gives %v/s, want 66%% of 10/s", got)
	}
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(5*time.Second).Unix(), 10))
	l.observe(&http.Response{StatusCode: 200, Header: h})
	// Held until the reset, seconds away: a short deadline runs out first.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || c.rateLimitWaits.Load() != 1 {
		t.Fatalf("did not hold until the reset: %v, %d waits", err, c.rateLimitWaits.Load())
	}
}

func TestTransportBoundsRequestsInFlight(t *testing.T) {
	var now, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		w.Write([]byte("[]"))
	}))
	defer srv.Close()
	var c counters
	gl, err := newClient(Options{BaseURL: srv.URL, Concurrency: 3}, &c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items := make([]int, 12)
	if err := parallel(ctx, 12, items, func(ctx context.Context, _ int) error {
		_, _, err := getJSON[[]struct{}](ctx, gl, "projects/1/pipelines", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if peak.Load() > 3 || c.requests.Load() != 12 {
		t.Fatalf("peak in flight %d (want <= 3), requests %d", peak.Load(), c.requests.Load())
	}
}

func TestParseCoverage(t *testing.T) {
	for in, want := range map[string]any{`"83.4"`: 83.4, `null`: nil, `""`: nil, `91`: 91.0, `"abc"`: nil, `"100.0"`: 100.0, `"101"`: nil} {
		got := parseCoverage(json.RawMessage(in))
		if (got == nil) != (want == nil) || got != nil && *got != want.(float64) {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}

func TestCoverageMatters(t *testing.T) {
	day0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	best := map[time.Time]time.Time{day0: at(15, 0)}
	cases := []struct {
		name             string
		created, updated time.Time
		want             bool
	}{
		{"updated before the best finished", at(14, 0), at(14, 30), false},
		{"updated after the best finished", at(14, 50), at(15, 5), true},
		{"a day without a best", at(14, 0).Add(24 * time.Hour), at(14, 10).Add(24 * time.Hour), true},
		{"spans midnight", at(23, 50).Add(-24 * time.Hour), at(0, 10), true},
	}
	for _, c := range cases {
		if got := coverageMatters(store.Pipeline{CreatedAt: c.created, UpdatedAt: c.updated}, best); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A connection dropped halfway through a body is retried like any transport error, not
// reported as broken JSON.
func TestBodyCutShortIsRetried(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`[{"id": 1, "ii`))
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte(`[{"iid": 7, "project_id": 3}]`))
	}))
	defer srv.Close()
	var c counters
	gl, err := newClient(Options{BaseURL: srv.URL, Concurrency: 2, RetryWaitMin: time.Millisecond}, &c)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := getJSON[[]struct {
		IID int64 `json:"iid"`
	}](context.Background(), gl, "projects/3/deployments/1/merge_requests", nil)
	if err != nil || len(got) != 1 || got[0].IID != 7 || n.Load() != 2 {
		t.Fatalf("got %+v, %v after %d requests", got, err, n.Load())
	}
}

func TestHTTPStatusOfClientGoErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/v4/status/"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(`{"message": "nope"}`))
	}))
	defer srv.Close()
	var c counters
	gl, err := newClient(Options{BaseURL: srv.URL, Concurrency: 1}, &c)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{401, 403, 404, 400} {
		_, _, err := getJSON[struct{}](context.Background(), gl, "status/"+strconv.Itoa(code), nil)
		if got := httpStatus(err); got != code {
			t.Errorf("status %d read as %d (%v)", code, got, err)
		}
	}
}

// A URL that reaches a sign-in page or a proxy rather than GitLab's API answers 200 with HTML;
// the error must say to check --gitlab-url, not just "invalid character '<'".
func TestNotGitLabAnswerSaysToCheckTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Sign in</body></html>")
	}))
	defer srv.Close()
	st := storetest.New(t)
	_, err := Sync(context.Background(), st, Options{BaseURL: srv.URL, Token: "t", Groups: []string{"acme"}, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "--gitlab-url") {
		t.Fatalf("err %v", err)
	}
}

func TestRevertedSHAs(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want []string
	}{
		{"Revert \"Add cache\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n", []string{"0123456789abcdef0123456789abcdef01234567"}},
		{"Revert two\n\nThis reverts commit ABCDEF1.\nThis reverts commit abcdef1.\nThis reverts commit 89abcde0.", []string{"abcdef1", "89abcde0"}},
		{"Mentions This reverts commit abc (too short) and reverts commit 0123456789", nil},
		{"", nil},
	} {
		got := RevertedSHAs(tc.msg)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("RevertedSHAs(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
