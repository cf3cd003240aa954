package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// syncWith syncs e's organisation into a new database through api, with rt (if not nil)
// wrapping the transport.
func (e *env) syncWith(t testing.TB, api string, wrap func(http.RoundTripper) http.RoundTripper) (*store.Store, collector.Summary) {
	t.Helper()
	st := storetest.New(t)
	opt := e.options()
	opt.API = api
	if wrap != nil {
		opt.HTTPClient = &http.Client{Transport: wrap(http.DefaultTransport)}
	}
	sum, err := collector.Sync(context.Background(), st, opt)
	if err != nil {
		t.Fatalf("sync through %s: %v (failed: %+v)", api, err, sum.Failed)
	}
	return st, sum
}

// exports renders the four CSV exports, by week and by day, over the whole history.
func exports(t testing.TB, e *env, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	eng := metrics.New(st, e.cfg)
	eng.SetClock(e.org.Now)
	if err := eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, by := range []metrics.Period{metrics.Week, metrics.Day} {
		for _, ds := range metrics.Datasets {
			b.WriteString("# " + ds + " by " + string(by) + "\n")
			if err := metrics.WriteCSV(ctx, &b, eng, ds, metrics.Filter{From: time.Unix(0, 0).UTC(), To: e.org.Now(), By: by}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.String()
}

// sameResult requires two synced databases to hold the same rows and give the same exports.
func sameResult(t *testing.T, e *env, want, got *store.Store, what string) {
	t.Helper()
	if d := diffDumps(dump(t, want), dump(t, got)); d != "" {
		t.Errorf("%s: the rows differ from the reference's:\n%s", what, d)
	}
	a, b := exports(t, e, want), exports(t, e, got)
	if a != b {
		al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
		for i := range min(len(al), len(bl)) {
			if al[i] != bl[i] {
				t.Errorf("%s: exports differ from the reference's at line %d:\nreference: %s\n%s: %s", what, i+1, al[i], what, bl[i])
				return
			}
		}
		t.Errorf("%s: exports differ from the reference's in length: %d vs %d lines", what, len(al), len(bl))
	}
	if len(a) < 1000 {
		t.Errorf("%s: the exports are nearly empty (%d bytes)", what, len(a))
	}
}

// countGraphQL counts GraphQL queries and the largest batch of iids asked for in one.
type countGraphQL struct {
	next     http.RoundTripper
	queries  atomic.Int64
	maxBatch atomic.Int64
	batches  sync.Map // size -> count
}

func (c *countGraphQL) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/graphql") {
		c.queries.Add(1)
		if n := batchSize(graphQLVars(r)); n > 0 {
			for {
				m := c.maxBatch.Load()
				if int64(n) <= m || c.maxBatch.CompareAndSwap(m, int64(n)) {
					break
				}
			}
		}
	}
	return c.next.RoundTrip(r)
}

// batchSize is the number of items a GraphQL query asks about: MRs by iid, or deployments
// ($d0, $d1, …) for their MRs.
func batchSize(vars map[string]any) int {
	n := len(vars["iids"].([]any))
	for k := range vars {
		if _, err := strconv.Atoi(strings.TrimPrefix(k, "d")); err == nil && strings.HasPrefix(k, "d") {
			n++
		}
	}
	return n
}

// graphQLVars reads a GraphQL request's variables, leaving its body readable.
func graphQLVars(r *http.Request) map[string]any {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var q struct {
		Variables map[string]any `json:"variables"`
	}
	json.Unmarshal(body, &q)
	if q.Variables == nil {
		q.Variables = map[string]any{}
	}
	if _, ok := q.Variables["iids"].([]any); !ok {
		q.Variables["iids"] = []any{}
	}
	return q.Variables
}

// gqlOrg is an organisation with every case the two paths must agree on: MRs with more than
// 100 commits and more than 100 notes, bots, withdrawn approvals, force pushes, deploys before
// merge.
func gqlOrg(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 3, End: monday, Days: 21}, gitlabsim.ServerOptions{})
	var commits, notes, bots int
	for _, m := range e.org.Truth().MergeRequests {
		if m.CommitCount > 100 {
			commits++
		}
		if m.UserNotesCount > 100 {
			notes++
		}
		if m.Bot {
			bots++
		}
	}
	var before int
	for _, d := range e.org.Truth().Deployments {
		before += len(d.BeforeMergeIIDs)
	}
	if commits == 0 || notes == 0 || bots == 0 || before == 0 {
		t.Fatalf("the organisation lacks cases: %d MRs with >100 commits, %d with >100 notes, %d by bots, %d deployed before merge",
			commits, notes, bots, before)
	}
	return e
}

func TestGraphQLSyncGivesTheSameRowsAndExportsAsREST(t *testing.T) {
	t.Parallel()
	e := gqlOrg(t)
	e.srv.ResetCounters()
	rest, rsum := e.syncWith(t, collector.APIREST, nil)
	restRoutes := e.srv.RequestsByRoute()
	var gq *countGraphQL
	e.srv.ResetCounters()
	gql, gsum := e.syncWith(t, collector.APIGraphQL, func(next http.RoundTripper) http.RoundTripper {
		gq = &countGraphQL{next: next}
		return gq
	})
	sameResult(t, e, rest, gql, "graphql")
	// Merge requests, their details, authors and pipelines with coverage came through GraphQL:
	// REST was asked for none of them.
	byRoute := e.srv.RequestsByRoute()
	for _, route := range []string{"merge_requests", "merge_requests/{iid}/commits",
		"merge_requests/{iid}/notes", "pipelines", "pipelines/{pipeline_id}", "deployments/{deployment_id}/merge_requests"} {
		if n := byRoute["GET /api/v4/projects/{id}/"+route]; n != 0 || restRoutes["GET /api/v4/projects/{id}/"+route] == 0 {
			t.Errorf("%s: %d requests through GraphQL, %d through REST", route, n, restRoutes["GET /api/v4/projects/{id}/"+route])
		}
	}
	if n := byRoute["GET /api/v4/users/{id}"]; n != 0 || restRoutes["GET /api/v4/users/{id}"] == 0 {
		t.Errorf("user look-ups: %d through GraphQL, %d through REST", n, restRoutes["GET /api/v4/users/{id}"])
	}
	if rsum.Coverage == 0 || gsum.Coverage < rsum.Coverage || gsum.Pipelines != rsum.Pipelines {
		t.Errorf("pipelines: GraphQL %d (coverage of %d), REST %d (coverage of %d)", gsum.Pipelines, gsum.Coverage, rsum.Pipelines, rsum.Coverage)
	}
	if !strings.Contains(exports(t, e, gql), "# coverage by day\nservice,project,date,pipeline_id,sha,coverage_percent\n") {
		t.Error("no coverage export")
	}
	for path, api := range gsum.APIs {
		if api != collector.APIGraphQL {
			t.Errorf("%s was read through %s", path, api)
		}
	}
	if gsum.MergeRequests != rsum.MergeRequests || gsum.Details != rsum.Details {
		t.Errorf("GraphQL summary: %d MRs, details %d; REST: %d, %d", gsum.MergeRequests, gsum.Details, rsum.MergeRequests, rsum.Details)
	}
	if gq.queries.Load() == 0 || gsum.Requests >= rsum.Requests/2 {
		t.Errorf("GraphQL sync made %d requests (%d GraphQL), REST %d", gsum.Requests, gq.queries.Load(), rsum.Requests)
	}
	syncs, err := gql.ProjectSyncs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range syncs {
		if ps.API != collector.APIGraphQL {
			t.Errorf("sync status of %s says %q", ps.Project.Path, ps.API)
		}
	}

	// The next sync through GraphQL, after a few days, lands where REST lands.
	e.org.Advance(3 * 24 * time.Hour)
	for _, st := range []*store.Store{rest, gql} {
		opt := e.options()
		opt.API = collector.APIREST
		if st == gql {
			opt.API = collector.APIGraphQL
		}
		if _, err := collector.Sync(context.Background(), st, opt); err != nil {
			t.Fatal(err)
		}
	}
	sameResult(t, e, rest, gql, "graphql, incremental")
}

func TestGraphQLTurnedOffMidSyncGivesTheSameResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 5, End: monday, Days: 14}, gitlabsim.ServerOptions{})
	rest, _ := e.syncWith(t, collector.APIREST, nil)
	// The simulator's GraphQL goes away once the first project is done: the projects in
	// flight and those not started yet continue through REST.
	st := storetest.New(t)
	opt := e.options()
	opt.API = collector.APIAuto
	opt.Progress = func(p collector.Progress) {
		if p.ProjectsDone > 0 {
			e.srv.SetGraphQL(false)
		}
	}
	sum, err := collector.Sync(context.Background(), st, opt)
	if err != nil {
		t.Fatalf("sync: %v (failed: %+v)", err, sum.Failed)
	}
	sameResult(t, e, rest, st, "graphql turned off mid-sync")
	n := map[string]int{}
	for _, api := range sum.APIs {
		n[api]++
	}
	if n[collector.APIGraphQL] == 0 || n[collector.APIREST] == 0 {
		t.Errorf("want some projects through each API, got %v", n)
	}
}

// switchOff turns the simulator's GraphQL off just before the n-th GraphQL query.
type switchOff struct {
	next http.RoundTripper
	srv  *gitlabsim.Server
	n    int64
	seen atomic.Int64
}

func (s *switchOff) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/graphql") && s.seen.Add(1) == s.n {
		s.srv.SetGraphQL(false)
	}
	return s.next.RoundTrip(r)
}

// GraphQL going away at any point, in the middle of a project's MR listing, its details, the
// MRs of its deployments or its pipelines, leaves the same rows: the step that failed runs
// again through REST from what was committed, and the projects after it use REST.
func TestGraphQLTurnedOffAtAnyPointGivesTheSameResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(23), gitlabsim.ServerOptions{})
	rest, _ := e.syncWith(t, collector.APIREST, nil)
	all := &countGraphQL{}
	e.syncWith(t, collector.APIAuto, func(next http.RoundTripper) http.RoundTripper {
		all.next = next
		return all
	})
	total := all.queries.Load()
	if total < 12 {
		t.Fatalf("only %d GraphQL queries in a sync", total)
	}
	for _, n := range []int64{2, 3, total / 4, total / 2, total - 2} {
		e.srv.SetGraphQL(true)
		off := &switchOff{srv: e.srv, n: n}
		st, sum := e.syncWith(t, collector.APIAuto, func(next http.RoundTripper) http.RoundTripper {
			off.next = next
			return off
		})
		sameResult(t, e, rest, st, fmt.Sprintf("GraphQL off at query %d of %d", n, total))
		if apis := sum.APIs; len(apis) != len(e.org.Truth().Projects) {
			t.Errorf("off at %d: APIs of %d projects", n, len(apis))
		}
	}
	e.srv.SetGraphQL(true)
}

func TestAutoPicksGraphQLWhereItAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(7), gitlabsim.ServerOptions{})
	for _, tc := range []struct {
		off  bool
		want string
	}{{false, collector.APIGraphQL}, {true, collector.APIREST}} {
		e.srv.SetGraphQL(!tc.off)
		st, sum := e.syncWith(t, collector.APIAuto, nil)
		if len(sum.APIs) != len(e.org.Truth().Projects) {
			t.Errorf("off=%v: APIs of %d projects, want %d", tc.off, len(sum.APIs), len(e.org.Truth().Projects))
		}
		for path, api := range sum.APIs {
			if api != tc.want {
				t.Errorf("off=%v: %s read through %s, want %s", tc.off, path, api, tc.want)
			}
		}
		syncs, err := st.ProjectSyncs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range syncs {
			if ps.API != tc.want {
				t.Errorf("off=%v: the status of %s says %q", tc.off, ps.Project.Path, ps.API)
			}
		}
	}
	// --api graphql where GraphQL does not answer is an error that says what to do.
	e.srv.SetGraphQL(false)
	opt := e.options()
	opt.API = collector.APIGraphQL
	_, err := collector.Sync(context.Background(), storetest.New(t), opt)
	if err == nil || !strings.Contains(err.Error(), "--api auto or rest") {
		t.Errorf("--api graphql without GraphQL: %v", err)
	}
}

// heavyGraphQL answers details queries of more than limit MRs as GitLab answers one too heavy:
// alternately with a complexity error (200 with errors) and a timeout (503).
type heavyGraphQL struct {
	next  http.RoundTripper
	limit int
	n     atomic.Int64
	sizes sync.Map // batch sizes that got through -> true
}

func (h *heavyGraphQL) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/graphql") {
		if n := batchSize(graphQLVars(r)); n > h.limit {
			if h.n.Add(1)%2 == 0 {
				return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Request: r,
					Header: http.Header{"Content-Type": {"application/json"}},
					Body:   io.NopCloser(strings.NewReader(`{"errors":[{"message":"Request timed out. Please try a less complex query or a smaller set of records."}]}`))}, nil
			}
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: r,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"data":null,"errors":[{"message":"Query has complexity of 412, which exceeds max complexity of 250"}]}`))}, nil
		} else if n > 0 {
			h.sizes.Store(n, true)
		}
	}
	return h.next.RoundTrip(r)
}

func TestGraphQLBatchShrinksOnComplexityAndTimeoutErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(9), gitlabsim.ServerOptions{})
	rest, _ := e.syncWith(t, collector.APIREST, nil)
	h := &heavyGraphQL{limit: 6}
	gql, sum := e.syncWith(t, collector.APIGraphQL, func(next http.RoundTripper) http.RoundTripper {
		h.next = next
		return h
	})
	sameResult(t, e, rest, gql, "graphql with heavy batches")
	if h.n.Load() == 0 {
		t.Fatal("no batch was too heavy: the test tests nothing")
	}
	got := 0
	h.sizes.Range(func(k, _ any) bool {
		got++
		if k.(int) > h.limit {
			t.Errorf("a batch of %d got through", k)
		}
		return true
	})
	if got == 0 {
		t.Error("no details batch got through")
	}
	for path, api := range sum.APIs {
		if api != collector.APIGraphQL {
			t.Errorf("%s fell back to %s", path, api)
		}
	}
	// Only the first batches fail: later ones start from the size learnt.
	if fails := h.n.Load(); fails > int64(len(sum.APIs))*4 {
		t.Errorf("%d heavy answers: the batch size was not learnt", fails)
	}
}

// The simulator's own timeout (GitLab's "Timeout on MergeRequest.commits", fields left null),
// tight enough that a listing page of 100 MRs and a details batch of 8 time out: pages and
// batches shrink until they fit, and the rows are REST's.
func TestGraphQLBatchShrinksOnTheSimulatorsTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(11), gitlabsim.ServerOptions{GraphQLNodeCost: time.Millisecond, GraphQLTimeout: 60 * time.Millisecond})
	rest, _ := e.syncWith(t, collector.APIREST, nil)
	gq := &countGraphQL{}
	gql, sum := e.syncWith(t, collector.APIGraphQL, func(next http.RoundTripper) http.RoundTripper {
		gq.next = next
		return gq
	})
	sameResult(t, e, rest, gql, "graphql with the simulator's timeout")
	for path, api := range sum.APIs {
		if api != collector.APIGraphQL {
			t.Errorf("%s fell back to %s", path, api)
		}
	}
	if gq.maxBatch.Load() < 2 {
		t.Errorf("largest batch asked for: %d", gq.maxBatch.Load())
	}
}

// noDeploymentID answers queries that filter merge requests by deploymentId as a GitLab before
// 17.1 does: a schema error.
type noDeploymentID struct {
	next  http.RoundTripper
	asked atomic.Int64
}

func (n *noDeploymentID) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/graphql") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), "deploymentId") {
			n.asked.Add(1)
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: r,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"errors":[{"message":"Field 'mergeRequests' doesn't accept argument 'deploymentId'","locations":[{"line":3,"column":26}],"path":["query","project","d0","deploymentId"],"extensions":{"code":"argumentNotAccepted","name":"mergeRequests","typeName":"Field","argumentName":"deploymentId"}}]}`))}, nil
		}
	}
	return n.next.RoundTrip(r)
}

// An instance whose schema cannot filter merge requests by deployment (GitLab before 17.1):
// the MRs of deployments come through REST, everything else still through GraphQL, and the
// rows are REST's.
func TestDeploymentLinksFallBackToRESTWithoutDeploymentID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(13), gitlabsim.ServerOptions{})
	rest, _ := e.syncWith(t, collector.APIREST, nil)
	for _, api := range []string{collector.APIAuto, collector.APIGraphQL} {
		nd := &noDeploymentID{}
		e.srv.ResetCounters()
		gql, sum := e.syncWith(t, api, func(next http.RoundTripper) http.RoundTripper {
			nd.next = next
			return nd
		})
		sameResult(t, e, rest, gql, api+" without deploymentId")
		for path, got := range sum.APIs {
			if got != collector.APIGraphQL {
				t.Errorf("%s: %s was read through %s", api, path, got)
			}
		}
		links := e.srv.RequestsByRoute()["GET /api/v4/projects/{id}/deployments/{deployment_id}/merge_requests"]
		if links == 0 || int(links) < len(e.org.Truth().Deployments)/2 {
			t.Errorf("%s: %d REST requests for deployments' MRs", api, links)
		}
		// Asked once, or once per project already under way when the first answer came.
		if n := nd.asked.Load(); n == 0 || n > int64(collector.DefaultConcurrency) {
			t.Errorf("%s: %d queries with deploymentId", api, n)
		}
	}
}

// An idle sync through GraphQL costs what one through REST does: per project a listing of MRs
// (a query), of deployments (REST) and of pipelines (a query); plus the probe, the count of
// MRs to list and the group's project list once.
func TestIdleGraphQLSyncMakesThreeRequestsPerProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(29), gitlabsim.ServerOptions{})
	st, _ := e.syncWith(t, collector.APIGraphQL, nil)
	before := dump(t, st)
	opt := e.options()
	opt.API = collector.APIGraphQL
	sum, err := collector.Sync(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	projects := int64(len(e.org.Truth().Projects))
	// Plus the count of their MRs, one query per 30 projects (see TestLargestProjectsFirst).
	if want := 3*projects + 3; sum.Requests > want || sum.Details != 0 || sum.Links != 0 {
		t.Errorf("idle GraphQL sync: %d requests for %d projects (want at most %d), %+v", sum.Requests, projects, want, sum.Progress)
	}
	if d := diffDumps(before, dump(t, st)); d != "" {
		t.Errorf("the idle sync changed the data:\n%s", d)
	}
}

// Through GraphQL the projects with the most MRs to list start first (one query counts them),
// so that the largest does not run on alone at the end of the sync.
func TestLargestProjectsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(31), gitlabsim.ServerOptions{})
	var mu sync.Mutex
	var order []string
	seen := map[string]bool{}
	listings := 0
	rec := roundTripper(func(next http.RoundTripper, r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/graphql") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if strings.Contains(string(body), "sort: UPDATED_ASC") {
				mu.Lock()
				listings++
				path, _ := graphQLVars(r)["path"].(string)
				if listings > 1 && !seen[path] { // the first is the probe
					seen[path] = true
					order = append(order, path)
				}
				mu.Unlock()
			}
		}
		return next.RoundTrip(r)
	})
	st := storetest.New(t)
	opt := e.options()
	opt.API = collector.APIGraphQL
	opt.Concurrency = 1
	opt.HTTPClient = &http.Client{Transport: rec.wrap(http.DefaultTransport)}
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	truth := e.org.Truth()
	n := map[int64]int{}
	for _, m := range truth.MergeRequests {
		n[m.ProjectID]++
	}
	byPath := map[string]int{}
	for _, p := range truth.Projects {
		byPath[p.Path] = n[p.ID]
	}
	if len(order) != len(truth.Projects) {
		t.Fatalf("listed %d projects: %v", len(order), order)
	}
	for i := 1; i < len(order); i++ {
		if byPath[order[i]] > byPath[order[i-1]] {
			t.Errorf("%s (%d MRs) started after %s (%d MRs): %v", order[i], byPath[order[i]], order[i-1], byPath[order[i-1]], order)
		}
	}
	if byPath[order[0]] == byPath[order[len(order)-1]] {
		t.Error("all projects have as many MRs: the test tests nothing")
	}
}

// roundTripper is a transport wrapper made of a function.
type roundTripper func(next http.RoundTripper, r *http.Request) (*http.Response, error)

func (f roundTripper) wrap(next http.RoundTripper) http.RoundTripper {
	return transportFunc(func(r *http.Request) (*http.Response, error) { return f(next, r) })
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
