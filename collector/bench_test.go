package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store/storetest"
)

// BenchmarkFullSyncRequestsPerMR syncs a generated 90-day organisation from scratch and reports
// REST requests per merge request: all of them, and those of the merge-request path alone
// (list, commits, notes, approvals, user look-ups). Run with -v to see requests by route.
func BenchmarkFullSyncRequestsPerMR(b *testing.B) {
	e := newEnv(b, gitlabsim.GenOptions{Seed: 1, End: monday, Days: 90}, gitlabsim.ServerOptions{})
	mrs := len(e.org.Truth().MergeRequests)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st := storetest.New(b)
		e.srv.ResetCounters()
		before := processCPU(b)
		b.StartTimer()
		e.sync(b, st)
		b.StopTimer()
		cpu += processCPU(b) - before
		b.StartTimer()
	}
	b.StopTimer()
	// CPU of the whole process (collector, SQLite and the in-process simulator): less noisy
	// than wall time on a shared machine.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	reportRoutes(b, e.srv.RequestsByRoute(), mrs)
}

// processCPU is the user plus system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRoutes(b *testing.B, byRoute map[string]int64, mrs int) {
	var total, mrPath int64
	var lines []string
	for route, n := range byRoute {
		total += n
		if strings.Contains(route, "/merge_requests") && !strings.Contains(route, "/deployments/") || strings.Contains(route, "/users/") {
			mrPath += n
		}
		lines = append(lines, fmt.Sprintf("%8d  %.3f/MR  %s", n, float64(n)/float64(mrs), route))
	}
	sort.Strings(lines)
	b.Logf("%d merge requests; requests by route:\n%s", mrs, strings.Join(lines, "\n"))
	b.ReportMetric(float64(total)/float64(mrs), "requests/MR")
	b.ReportMetric(float64(mrPath)/float64(mrs), "mr-path-requests/MR")
	b.ReportMetric(float64(mrs), "MRs")
}

// BenchmarkFullSync10kMRs20msLatency syncs an organisation of about 10,000 merge requests from a
// simulator that adds 20 ms to every request, and reports the wall time beside the bound
// requests × latency ÷ concurrency, and the peak heap in use during the sync (the simulator's
// organisation, generated beforehand, included).
func BenchmarkFullSync10kMRs20msLatency(b *testing.B) {
	const latency = 20 * time.Millisecond
	e := newEnv(b, gitlabsim.GenOptions{Seed: 1, End: monday, Days: 190}, gitlabsim.ServerOptions{Latency: latency})
	mrs := len(e.org.Truth().MergeRequests)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st := storetest.New(b)
		e.srv.ResetCounters()
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		opt := e.options()
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * collector.DefaultConcurrency
		busy := &busyTransport{next: tr}
		opt.HTTPClient = &http.Client{Transport: busy}
		_, err := collector.Sync(context.Background(), st, opt)
		wall := time.Since(start)
		b.StopTimer()
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		requests := e.srv.Requests()
		conc := collector.DefaultConcurrency
		bound := time.Duration(requests) * latency / time.Duration(conc)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(base.HeapInuse)/(1<<20), "heap-before-MiB")
		b.ReportMetric(float64(requests), "requests")
		// Requests in flight on average: below the concurrency means the sync left slots
		// idle; at the concurrency with wall > bound means requests took longer than the
		// added latency (CPU: the simulator runs in this process).
		b.ReportMetric(float64(busy.total.Load())/float64(wall), "avg-in-flight")
		b.StartTimer()
	}
	b.StopTimer()
	reportRoutes(b, e.srv.RequestsByRoute(), mrs)
}

// busyTransport sums the time requests spend in flight.
type busyTransport struct {
	next  http.RoundTripper
	total atomic.Int64 // nanoseconds
}

func (b *busyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := b.next.RoundTrip(r)
	b.total.Add(int64(time.Since(start)))
	return resp, err
}

// BenchmarkSyncRESTvsGraphQL syncs one organisation from scratch through REST and through
// GraphQL, from a simulator that adds 20 ms to every request and allows 2,000 requests a minute
// (GitLab.com's authenticated limit; Pacer paces itself at 66% of it), and reports requests per
// MR, all and of the merge-request part (listing, commits, notes, approvals, authors; GraphQL
// queries count there), the wall time, and the bound requests ÷ the paced rate. Its size is
// PACER_BENCH_MRS (about; default 10000); PACER_BENCH_RATE changes the limit (0: none).
func BenchmarkSyncRESTvsGraphQL(b *testing.B) {
	const latency = 20 * time.Millisecond
	mrs := envInt(b, "PACER_BENCH_MRS", 10000)
	rate := envInt(b, "PACER_BENCH_RATE", 2000)
	// 190 days of the default organisation have about 10,000 MRs; more MRs come from more
	// activity over the same days.
	gen := gitlabsim.GenOptions{Seed: 1, End: monday, Days: 190, Scale: float64(mrs) / 10000}
	so := gitlabsim.ServerOptions{Latency: latency, RateLimit: rate}
	if rate == 0 {
		so.RateLimit = gitlabsim.DefaultRateLimit
	}
	e := newEnv(b, gen, so)
	n := len(e.org.Truth().MergeRequests)
	for _, api := range []string{collector.APIREST, collector.APIGraphQL} {
		b.Run(api, func(b *testing.B) {
			for range b.N {
				st := storetest.New(b)
				e.srv.ResetCounters()
				opt := e.options()
				opt.API = api
				count := &routeCounter{next: http.DefaultTransport}
				opt.HTTPClient = &http.Client{Transport: count}
				start := time.Now()
				sum, err := collector.Sync(context.Background(), st, opt)
				wall := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				total, mrPart := float64(sum.Requests), float64(count.mrPart.Load())
				b.ReportMetric(float64(n), "MRs")
				b.ReportMetric(total/float64(n), "requests/MR")
				b.ReportMetric(mrPart/float64(n), "mr-path-requests/MR")
				b.ReportMetric(float64(count.graphql.Load()), "graphql-requests")
				b.ReportMetric(total, "requests")
				b.ReportMetric(wall.Seconds(), "wall-s")
				if rate > 0 {
					bound := total / (float64(rate) * 0.66 / 60)
					b.ReportMetric(bound, "bound-s")
					b.ReportMetric(wall.Seconds()/bound, "wall/bound")
				}
				b.ReportMetric(float64(sum.RateLimitWaits), "429-waits")
			}
		})
	}
}

func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", key, v, err)
	}
	return n
}

// routeCounter counts the requests of the merge-request part, as the client sends them.
type routeCounter struct {
	next    http.RoundTripper
	mrPart  atomic.Int64
	graphql atomic.Int64
}

func (c *routeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/api/graphql"):
		c.graphql.Add(1)
		c.mrPart.Add(1)
	case strings.Contains(p, "/merge_requests") && !strings.Contains(p, "/deployments/"), strings.Contains(p, "/users/"):
		c.mrPart.Add(1)
	}
	return c.next.RoundTrip(r)
}
