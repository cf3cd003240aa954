package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
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
// MR: all of them, and by part (the MR part: listing, commits, notes, approvals, authors; the
// deployment part: environments, deployments and the MRs each shipped; the pipeline part:
// pipelines and coverage), GraphQL queries counted in the part they serve; the wall time, and the
// bound requests ÷ the paced rate. Its size is PACER_BENCH_MRS (about; default 10000);
// PACER_BENCH_RATE changes the limit (0: none); PACER_BENCH_NODE_COST is the simulator's
// GraphQL server time per record returned (default 0; "1ms" makes a details page of 25 MRs take
// about a second, as a busy GitLab might); PACER_BENCH_CONCURRENCY is --concurrency (default
// 8); PACER_BENCH_LOG=1 logs a line per project. Select one
// path with -bench 'SyncRESTvsGraphQL/graphql'.
func BenchmarkSyncRESTvsGraphQL(b *testing.B) {
	const latency = 20 * time.Millisecond
	mrs := envInt(b, "PACER_BENCH_MRS", 10000)
	rate := envInt(b, "PACER_BENCH_RATE", 2000)
	var nodeCost time.Duration
	if v := os.Getenv("PACER_BENCH_NODE_COST"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("PACER_BENCH_NODE_COST=%q: %v", v, err)
		}
		nodeCost = d
	}
	// 190 days of the default organisation have about 10,000 MRs; more MRs come from more
	// activity over the same days.
	gen := gitlabsim.GenOptions{Seed: 1, End: monday, Days: 190, Scale: float64(mrs) / 10000}
	so := gitlabsim.ServerOptions{Latency: latency, RateLimit: rate, GraphQLNodeCost: nodeCost}
	if rate == 0 {
		so.RateLimit = gitlabsim.DefaultRateLimit
	}
	genStart := time.Now()
	e := newEnv(b, gen, so)
	truth := e.org.Truth()
	n := len(truth.MergeRequests)
	b.Logf("%d MRs, %d deployments, %d projects generated in %s", n, len(truth.Deployments), len(truth.Projects), time.Since(genStart).Round(time.Millisecond))
	for _, api := range []string{collector.APIREST, collector.APIGraphQL} {
		b.Run(api, func(b *testing.B) {
			for range b.N {
				st := storetest.New(b)
				e.srv.ResetCounters()
				opt := e.options()
				opt.API = api
				opt.Concurrency = envInt(b, "PACER_BENCH_CONCURRENCY", collector.DefaultConcurrency)
				if os.Getenv("PACER_BENCH_LOG") != "" {
					opt.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) // a line per project
				}
				count := &routeCounter{next: http.DefaultTransport}
				opt.HTTPClient = &http.Client{Transport: count}
				before := processCPU(b)
				start := time.Now()
				sum, err := collector.Sync(context.Background(), st, opt)
				wall := time.Since(start)
				cpu := processCPU(b) - before
				if err != nil {
					b.Fatal(err)
				}
				total := float64(sum.Requests)
				b.ReportMetric(float64(n), "MRs")
				b.ReportMetric(total/float64(n), "requests/MR")
				b.ReportMetric(float64(count.mrPart.Load())/float64(n), "mr-part/MR")
				b.ReportMetric(float64(count.deployPart.Load())/float64(n), "deploy-part/MR")
				b.ReportMetric(float64(count.pipelinePart.Load())/float64(n), "pipeline-part/MR")
				b.ReportMetric(float64(count.graphql.Load()), "graphql-requests")
				b.ReportMetric(total, "requests")
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(cpu.Seconds(), "cpu-s")
				if rate > 0 {
					bound := total / (float64(rate) * 0.66 / 60)
					b.ReportMetric(bound, "bound-s")
					b.ReportMetric(wall.Seconds()/bound, "wall/bound")
				}
				b.ReportMetric(float64(sum.RateLimitWaits), "429-waits")
				b.Logf("%s: %s", api, count.summary())
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

// routeCounter counts requests by the part of a sync they serve, as the client sends them;
// a GraphQL query counts in the part its text asks for.
type routeCounter struct {
	next         http.RoundTripper
	mrPart       atomic.Int64
	deployPart   atomic.Int64
	pipelinePart atomic.Int64
	other        atomic.Int64
	graphql      atomic.Int64
	statuses     sync.Map // status code -> *atomic.Int64
	kinds        sync.Map // REST route or GraphQL query kind -> *atomic.Int64
}

func (c *routeCounter) count(kind string) {
	v, _ := c.kinds.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// restRoute is a REST path with its numbers replaced: /api/v4/projects/:n/merge_requests/:n/notes.
func restRoute(p string) string {
	parts := strings.Split(p, "/")
	for i, x := range parts {
		if _, err := strconv.ParseInt(x, 10, 64); err == nil {
			parts[i] = ":n"
		}
	}
	return "REST " + strings.Join(parts, "/")
}

func (c *routeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/api/graphql"):
		c.graphql.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		q := string(body)
		kind := "GraphQL MR listing"
		switch {
		case strings.Contains(q, "deploymentId") && strings.Contains(q, "$after"):
			kind = "GraphQL deployment MRs, follow-up"
		case strings.Contains(q, "deploymentId"):
			kind = "GraphQL deployment MRs"
		case strings.Contains(q, "pipelines("):
			kind = "GraphQL pipelines"
		case strings.Contains(q, "mergeRequest(iid"):
			kind = "GraphQL MR details, follow-up"
		case strings.Contains(q, "$iids"):
			kind = "GraphQL MR details"
		}
		c.count(kind)
		switch {
		case strings.HasPrefix(kind, "GraphQL deployment"):
			c.deployPart.Add(1)
		case kind == "GraphQL pipelines":
			c.pipelinePart.Add(1)
		default:
			c.mrPart.Add(1)
		}
	case strings.Contains(p, "/deployments"), strings.Contains(p, "/environments"):
		c.deployPart.Add(1)
		c.count(restRoute(p))
	case strings.Contains(p, "/merge_requests"), strings.Contains(p, "/users/"):
		c.mrPart.Add(1)
		c.count(restRoute(p))
	case strings.Contains(p, "/pipelines"):
		c.pipelinePart.Add(1)
		c.count(restRoute(p))
	default:
		c.other.Add(1)
		c.count(restRoute(p))
	}
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		v, _ := c.statuses.LoadOrStore(resp.StatusCode, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	return resp, err
}

func (c *routeCounter) summary() string {
	var st []string
	c.statuses.Range(func(k, v any) bool {
		st = append(st, fmt.Sprintf("%d×%d", v.(*atomic.Int64).Load(), k))
		return true
	})
	sort.Strings(st)
	var kinds []string
	c.kinds.Range(func(k, v any) bool {
		kinds = append(kinds, fmt.Sprintf("%8d  %s", v.(*atomic.Int64).Load(), k))
		return true
	})
	sort.Strings(kinds)
	return fmt.Sprintf("MR part %d, deployment part %d, pipeline part %d, other %d requests (%d GraphQL); statuses %s; by kind:\n%s",
		c.mrPart.Load(), c.deployPart.Load(), c.pipelinePart.Load(), c.other.Load(), c.graphql.Load(), strings.Join(st, " "),
		strings.Join(kinds, "\n"))
}
