package collector_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store/storetest"
)

// sentLog records when each request was sent, whether it was GraphQL, and its status.
type sentLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []sentRequest
}

type sentRequest struct {
	at      time.Time
	graphql bool
	status  int
}

func (l *sentLog) RoundTrip(r *http.Request) (*http.Response, error) {
	at := time.Now()
	resp, err := l.next.RoundTrip(r)
	s := sentRequest{at: at, graphql: strings.HasSuffix(r.URL.Path, "/api/graphql")}
	if err == nil {
		s.status = resp.StatusCode
	}
	l.mu.Lock()
	l.sent = append(l.sent, s)
	l.mu.Unlock()
	return resp, err
}

// One limiter paces REST and GraphQL together: at a limit of 600 requests a minute (Pacer uses
// 66%, 6.6 a second, with a burst of 6), no second holds more than the pace and the burst allow,
// whichever API the requests use, and GitLab never answers 429. The progress reports the
// measured rate and, once a project is done, the time left.
func TestOneLimiterPacesRESTAndGraphQL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 17, End: monday, Days: 5, Services: 6, Scale: 0.4}, gitlabsim.ServerOptions{RateLimit: 600})
	log := &sentLog{next: http.DefaultTransport}
	opt := e.options()
	opt.API = collector.APIAuto
	opt.HTTPClient = &http.Client{Transport: log}
	var mu sync.Mutex
	var progress []collector.Progress
	opt.Progress = func(p collector.Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	}
	start := time.Now()
	sum, err := collector.Sync(context.Background(), storetest.New(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	gql, rest := 0, 0
	for _, s := range log.sent {
		if s.status == http.StatusTooManyRequests {
			t.Errorf("a 429 at %v", s.at.Sub(start))
		}
		if s.graphql {
			gql++
		} else {
			rest++
		}
	}
	if gql == 0 || rest == 0 || len(log.sent) < 30 {
		t.Fatalf("%d GraphQL and %d REST requests: the test needs both, and more than a few seconds' worth", gql, rest)
	}
	// The limit is learnt from the first answer; from then on, at most 6.6 + a burst of 6 in
	// any second (7 + 6, rounding the pace up).
	for i := 1; i < len(log.sent); i++ {
		n := 0
		for j := i; j < len(log.sent) && log.sent[j].at.Sub(log.sent[i].at) < time.Second; j++ {
			n++
		}
		if n > 13 {
			t.Fatalf("%d requests within a second from %v: not paced", n, log.sent[i].at.Sub(start))
		}
	}
	if min := time.Duration(float64(len(log.sent)-7) / 6.6 * float64(time.Second)); wall < min {
		t.Errorf("%d requests in %v: faster than the pace allows (%v)", len(log.sent), wall, min)
	}
	if sum.RequestsPerMinute <= 0 || sum.RequestsPerMinute > 600 {
		t.Errorf("measured rate %.0f a minute, limit 600", sum.RequestsPerMinute)
	}
	estimated := false
	for _, p := range progress {
		if p.ProjectsDone > 0 && p.ProjectsDone < p.ProjectsTotal && p.Remaining > 0 {
			estimated = true
			if p.Remaining > 10*wall {
				t.Errorf("estimated %v left after %v of a %v sync", p.Remaining, p.Elapsed, wall)
			}
		}
		if p.ProjectsDone == 0 && p.Remaining != 0 {
			t.Errorf("an estimate (%v) before any project finished", p.Remaining)
		}
	}
	if !estimated {
		t.Error("no estimate of the time left while projects remained")
	}
	t.Logf("%d requests (%d GraphQL) in %v", len(log.sent), gql, wall)
}

// 429s with Retry-After, dropped connections and server errors on GraphQL queries as on REST
// requests: waited for and retried (a 503 from GraphQL, GitLab's answer to a query that ran
// out of time, is asked again smaller), and the rows are those of a clean REST sync.
func TestGraphQLFaultsDoNotChangeTheResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(19), gitlabsim.ServerOptions{})
	clean, _ := e.syncWith(t, collector.APIREST, nil)
	e.srv.SetFaults(gitlabsim.Faults{Seed: 21, Drop: 0.05, RateLimit: 0.12, ServerError: 0.05, Slow: 0.02,
		SlowBy: 20 * time.Millisecond, RetryAfter: -1})
	log := &sentLog{}
	faulty, sum := e.syncWith(t, collector.APIGraphQL, func(next http.RoundTripper) http.RoundTripper {
		log.next = next
		return log
	})
	e.srv.SetFaults(gitlabsim.Faults{})
	limited := 0
	for _, s := range log.sent {
		if s.graphql && s.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 || sum.RateLimitWaits < int64(limited) {
		t.Errorf("%d GraphQL queries answered 429, %d rate-limit waits", limited, sum.RateLimitWaits)
	}
	for path, api := range sum.APIs {
		if api != collector.APIGraphQL {
			t.Errorf("%s read through %s", path, api)
		}
	}
	sameResult(t, e, clean, faulty, "graphql under faults")
}
