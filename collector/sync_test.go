package collector_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// monday is a Monday midnight: the org's last 24 hours are a Sunday without deployments, so an
// idle second sync has no deployment links left to re-read.
var monday = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

type env struct {
	org *gitlabsim.Org
	srv *gitlabsim.Server
	cfg *config.Config
}

func newEnv(t testing.TB, gen gitlabsim.GenOptions, so gitlabsim.ServerOptions) *env {
	t.Helper()
	org := gitlabsim.Generate(gen)
	srv := gitlabsim.NewServer(org, so)
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.Bots.Usernames = org.BotUsernames()
	return &env{org: org, srv: srv, cfg: cfg}
}

func (e *env) options() collector.Options {
	return collector.Options{
		BaseURL:      e.srv.URL(),
		Token:        gitlabsim.DefaultToken,
		Groups:       []string{e.org.TopGroup()},
		Since:        time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Config:       e.cfg,
		Now:          e.org.Now,
		RetryWaitMin: time.Millisecond,
	}
}

func (e *env) sync(t testing.TB, st *store.Store) collector.Summary {
	t.Helper()
	sum, err := collector.Sync(context.Background(), st, e.options())
	if err != nil {
		t.Fatalf("sync: %v (failed: %+v)", err, sum.Failed)
	}
	return sum
}

// smallOrg is quick to generate and sync, for the tests that sync many times.
func smallOrg(seed int64) gitlabsim.GenOptions {
	return gitlabsim.GenOptions{Seed: seed, End: monday, Days: 10, Services: 4, Scale: 0.5}
}

func TestFullSyncEqualsTruth(t *testing.T) {
	t.Parallel()
	// Two weeks of the full-size organisation: every kind of project the generator makes.
	e := newEnv(t, gitlabsim.GenOptions{Seed: 1, End: monday, Days: 14}, gitlabsim.ServerOptions{})
	st := storetest.New(t)
	sum := e.sync(t, st)
	truth := e.org.Truth()
	checkTruth(t, st, truth, e.cfg)
	// The organisation must exercise what the sync has to get right: commits over several
	// pages, API-created deployments (no deployable), MRs into other branches.
	var paged, api, other int
	for _, m := range truth.MergeRequests {
		if m.CommitCount > 100 {
			paged++
		}
		if m.MergedAt != nil && !m.InScope {
			other++
		}
	}
	for _, d := range truth.Deployments {
		if d.API {
			api++
		}
	}
	if paged == 0 || api == 0 || other == 0 {
		t.Errorf("the generated organisation lacks cases: %d MRs with >100 commits, %d API deployments, %d merged into other branches", paged, api, other)
	}
	if sum.ProjectsTotal != len(truth.Projects) || sum.ProjectsDone != sum.ProjectsTotal || sum.ProjectsFailed != 0 {
		t.Errorf("summary projects %d/%d, failed %d; truth has %d", sum.ProjectsDone, sum.ProjectsTotal, sum.ProjectsFailed, len(truth.Projects))
	}
	if sum.MergeRequests != int64(len(truth.MergeRequests)) || sum.Deployments != int64(len(truth.Deployments)) ||
		sum.Pipelines != int64(len(truth.Pipelines)) {
		t.Errorf("summary counts MRs %d deployments %d pipelines %d; truth %d %d %d", sum.MergeRequests, sum.Deployments,
			sum.Pipelines, len(truth.MergeRequests), len(truth.Deployments), len(truth.Pipelines))
	}
	if sum.Requests != e.srv.Requests() {
		t.Errorf("counted %d requests, the server saw %d", sum.Requests, e.srv.Requests())
	}
	syncs, err := st.ProjectSyncs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range syncs {
		if ps.OKAt == nil || ps.Error != "" || ps.Requests == 0 || ps.Cursors[store.ResourceMergeRequests].IsZero() {
			t.Errorf("sync status of %s: %+v", ps.Project.Path, ps)
		}
	}
}

func TestIdleSyncMakesAtMostThreeRequestsPerProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(2), gitlabsim.ServerOptions{})
	st := storetest.New(t)
	e.sync(t, st)
	before := dump(t, st)
	truth := e.org.Truth()
	projects := int64(len(truth.Projects))
	// Deployments finished in the last 24 hours have their MRs read again on every sync
	// (GitLab links them asynchronously; SPEC section 2).
	recent := int64(0)
	for _, d := range truth.Deployments {
		if truth.Now.Sub(d.FinishedAt) < 24*time.Hour {
			recent++
		}
	}
	idle := func(opt collector.Options, allowed int64) {
		t.Helper()
		e.srv.ResetCounters()
		sum, err := collector.Sync(context.Background(), st, opt)
		if err != nil {
			t.Fatal(err)
		}
		byRoute := e.srv.RequestsByRoute()
		perProject := int64(0)
		for route, n := range byRoute {
			if strings.Contains(route, "/projects/{id}/") {
				perProject += n
			} else if route != "GET /api/v4/groups/{id}/projects" || n != 1 {
				t.Errorf("idle sync: %d requests to %s", n, route)
			}
		}
		if perProject > allowed {
			t.Errorf("idle sync made %d project requests for %d projects, want at most %d: %v", perProject, projects, allowed, byRoute)
		}
		if sum.Details != 0 || sum.Coverage != 0 {
			t.Errorf("idle sync fetched details: %+v", sum.Progress)
		}
		// Only when environments were last listed may change.
		withoutEnvCursor := func(d map[string][]string) map[string][]string {
			d["cursors"] = slices.DeleteFunc(d["cursors"], func(r string) bool { return strings.Contains(r, "|environments|") })
			return d
		}
		if diff := diffDumps(withoutEnvCursor(before), withoutEnvCursor(dump(t, st))); diff != "" {
			t.Errorf("idle sync changed the data:\n%s", diff)
		}
	}
	idle(e.options(), 3*projects+recent)
	// A day later (nothing happened in GitLab): the recent links are read a last time, and
	// environments once a day; after that, three requests per project.
	later := e.options()
	later.Now = func() time.Time { return e.org.Now().Add(25 * time.Hour) }
	idle(later, 3*projects+recent+projects)
	idle(later, 3*projects)
	syncs, _ := st.ProjectSyncs(context.Background())
	for _, ps := range syncs {
		if ps.Requests > 3 {
			t.Errorf("%s: %d requests", ps.Project.Path, ps.Requests)
		}
	}
}

func TestIncrementalSyncPicksUpExactlyTheChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(3), gitlabsim.ServerOptions{})
	st := storetest.New(t)
	e.sync(t, st)
	for _, step := range []time.Duration{3 * time.Hour, 50 * time.Hour} {
		e.org.Advance(step)
		e.sync(t, st)
		checkTruth(t, st, e.org.Truth(), e.cfg)
		if t.Failed() {
			t.Fatalf("after advancing %v", step)
		}
	}
	// Incremental really is incremental: a fresh database synced now ends the same.
	fresh := storetest.New(t)
	e.sync(t, fresh)
	if diff := diffDumps(dump(t, fresh), dump(t, st)); diff != "" {
		t.Errorf("incremental differs from a full sync:\n%s", diff)
	}
}

func TestFaultsDoNotChangeTheResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(4), gitlabsim.ServerOptions{})
	clean := storetest.New(t)
	e.sync(t, clean)
	e.srv.SetFaults(gitlabsim.Faults{Seed: 9, Drop: 0.04, RateLimit: 0.04, ServerError: 0.05, Slow: 0.02,
		SlowBy: 20 * time.Millisecond, RetryAfter: -1})
	faulty := storetest.New(t)
	sum := e.sync(t, faulty)
	if sum.RateLimitWaits == 0 {
		t.Errorf("no rate-limit waits counted under 429 faults: %+v", sum.Progress)
	}
	if diff := diffDumps(dump(t, clean), dump(t, faulty)); diff != "" {
		t.Errorf("faults changed the result:\n%s", diff)
	}
	checkTruth(t, faulty, e.org.Truth(), e.cfg)
}

// cancelAfter cancels a context once n requests have been sent through it.
type cancelAfter struct {
	next   http.RoundTripper
	n      int64
	sent   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.sent.Add(1) == c.n {
		c.cancel()
	}
	return c.next.RoundTrip(r)
}

func TestCancelledSyncResumesToTheSameResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 5, End: monday, Days: 5, Services: 3, Scale: 0.5}, gitlabsim.ServerOptions{})
	clean := storetest.New(t)
	total := e.sync(t, clean).Requests
	want := dump(t, clean)
	seeds := 10
	if testing.Short() {
		seeds = 4
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		n := 1 + r.Int64N(total)
		t.Run(fmt.Sprintf("after_%d_of_%d_requests", n, total), func(t *testing.T) {
			st := storetest.New(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opt := e.options()
			opt.HTTPClient = &http.Client{Transport: &cancelAfter{next: http.DefaultTransport, n: n, cancel: cancel}}
			sum, err := collector.Sync(ctx, st, opt)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled sync returned %v", err)
			}
			// Projects cut short are neither done nor failed: the summary must not count them
			// as synced.
			syncs, err := st.ProjectSyncs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			finished := 0
			for _, ps := range syncs {
				if ps.OKAt != nil {
					finished++
				}
			}
			if sum.ProjectsDone != finished || sum.ProjectsFailed != 0 {
				t.Errorf("cancelled sync: %d projects done, %d failed; %d finished", sum.ProjectsDone, sum.ProjectsFailed, finished)
			}
			e.sync(t, st)
			if diff := diffDumps(want, dump(t, st)); diff != "" {
				t.Fatalf("resumed sync differs from a clean one:\n%s", diff)
			}
		})
	}
}

// advanceOnSecondPage advances the organisation just before the second merge-request listing
// request of a project, that is, after its first page was read.
type advanceOnSecondPage struct {
	next    http.RoundTripper
	project int64
	seen    atomic.Int64
	fn      func()
}

func (h *advanceOnSecondPage) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, fmt.Sprintf("/projects/%d/merge_requests", h.project)) && h.seen.Add(1) == 2 {
		h.fn()
	}
	return h.next.RoundTrip(r)
}

// GitLab keeps changing while a sync pages through it. Offset paging over a list sorted by
// updated_at skips rows when rows already read are updated and move to the end: the rest shift
// one place left and the first row of the next page slides onto the page already read. Nothing
// may be lost: one more sync afterwards must end at the truth.
func TestChangesDuringASyncAreNotLost(t *testing.T) {
	t.Parallel()
	wednesdayNoon := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, gitlabsim.GenOptions{Seed: 12, End: wednesdayNoon, Days: 6, Scale: 3}, gitlabsim.ServerOptions{})
	// The project with the most MRs in the window, so its listing has several pages.
	since := wednesdayNoon.Add(-3 * 24 * time.Hour)
	count := map[int64]int{}
	var busiest int64
	for _, m := range e.org.Truth().MergeRequests {
		if !m.UpdatedAt.Before(since) {
			count[m.ProjectID]++
			if count[m.ProjectID] > count[busiest] {
				busiest = m.ProjectID
			}
		}
	}
	if count[busiest] <= 150 {
		t.Fatalf("the busiest project has %d MRs in the window; the test needs several pages", count[busiest])
	}
	st := storetest.New(t)
	opt := e.options()
	opt.Since = since
	hook := &advanceOnSecondPage{next: http.DefaultTransport, project: busiest, fn: func() { e.org.Advance(4 * time.Hour) }}
	opt.HTTPClient = &http.Client{Transport: hook}
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	if hook.seen.Load() < 2 {
		t.Fatal("the organisation never advanced mid-listing")
	}
	opt = e.options()
	opt.Since = since
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	// Every MR updated in the window is stored, as it is now.
	truth := e.org.Truth()
	n := 0
	for _, w := range truth.MergeRequests {
		if w.UpdatedAt.Before(since) {
			continue
		}
		g, err := st.MergeRequest(context.Background(), w.ProjectID, w.IID)
		if err != nil || g.UpdatedAt.Unix() != w.UpdatedAt.Unix() {
			n++
			if n <= 5 {
				t.Errorf("MR %d!%d: %v, stored updated_at %v, want %v", w.ProjectID, w.IID, err, g.UpdatedAt, w.UpdatedAt)
			}
		}
	}
	if n > 0 {
		t.Errorf("%d MRs lost or stale", n)
	}
}

// --since bounds merge requests and pipelines on a project's first sync; deployments are always
// read in full; later syncs go on from the cursors whatever --since says.
func TestSinceBoundsOnlyTheFirstSyncOfMRsAndPipelines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(9), gitlabsim.ServerOptions{})
	since := monday.Add(-4 * 24 * time.Hour)
	st := storetest.New(t)
	opt := e.options()
	opt.Since = since
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(since time.Time) {
		t.Helper()
		truth := e.org.Truth()
		wantMRs, wantPipelines := 0, 0
		for _, m := range truth.MergeRequests {
			if m.UpdatedAt.After(since) {
				wantMRs++
			}
		}
		for _, p := range truth.Pipelines {
			if p.UpdatedAt.After(since) {
				wantPipelines++
			}
		}
		gotMRs, gotPipelines, gotDeployments := 0, 0, 0
		for _, p := range truth.Projects {
			ms, _ := st.MergeRequests(ctx, p.ID)
			for _, m := range ms {
				if m.UpdatedAt.Before(since) {
					t.Errorf("MR %d!%d updated %v, before --since", m.ProjectID, m.IID, m.UpdatedAt)
				}
			}
			gotMRs += len(ms)
			ps, _ := st.Pipelines(ctx, p.ID)
			gotPipelines += len(ps)
			ds, _ := st.Deployments(ctx, p.ID)
			gotDeployments += len(ds)
		}
		if gotMRs != wantMRs || gotPipelines != wantPipelines || gotDeployments != len(truth.Deployments) {
			t.Errorf("MRs %d, pipelines %d, deployments %d; want %d, %d, %d (all deployments)",
				gotMRs, gotPipelines, gotDeployments, wantMRs, wantPipelines, len(truth.Deployments))
		}
		if wantMRs == len(truth.MergeRequests) || len(truth.Deployments) == 0 {
			t.Fatalf("--since %v excludes nothing; the test needs an older history", since)
		}
	}
	check(since)
	e.org.Advance(30 * time.Hour)
	opt.Since = e.org.Now() // ignored: the cursors exist
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	check(since)
}

func TestFailingProjectIsReportedAndOthersSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(6), gitlabsim.ServerOptions{})
	st := storetest.New(t)
	opt := e.options()
	opt.Projects = []string{"acme/does-not-exist"}
	sum, err := collector.Sync(context.Background(), st, opt)
	if !errors.Is(err, collector.ErrProjectsFailed) || len(sum.Failed) != 1 || sum.Failed[0].Path != "acme/does-not-exist" ||
		!strings.Contains(sum.Failed[0].Err.Error(), "404") {
		t.Fatalf("err %v, failed %+v", err, sum.Failed)
	}
	checkTruth(t, st, e.org.Truth(), e.cfg)

	// A project whose merge requests answer 500 for good fails; the rest sync.
	st2 := storetest.New(t)
	truth := e.org.Truth()
	bad := truth.Projects[0]
	opt = e.options()
	opt.HTTPClient = &http.Client{Transport: failProject{next: http.DefaultTransport, id: bad.ID}}
	sum, err = collector.Sync(context.Background(), st2, opt)
	if !errors.Is(err, collector.ErrProjectsFailed) || len(sum.Failed) != 1 || sum.Failed[0].ID != bad.ID {
		t.Fatalf("err %v, failed %+v", err, sum.Failed)
	}
	syncs, _ := st2.ProjectSyncs(context.Background())
	for _, ps := range syncs {
		failed := ps.Project.ID == bad.ID
		if failed != (ps.Error != "") || failed == (ps.OKAt != nil) {
			t.Errorf("%s: error %q ok_at %v", ps.Project.Path, ps.Error, ps.OKAt)
		}
	}
	// The bad project's deployments and pipelines still came in.
	if deps, _ := st2.Deployments(context.Background(), bad.ID); len(deps) == 0 {
		t.Errorf("the failing project's deployments were not kept")
	}
}

func TestOneBrokenMergeRequestDoesNotHoldBackTheOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(8), gitlabsim.ServerOptions{})
	truth := e.org.Truth()
	var broken gitlabsim.TruthMR
	for _, m := range truth.MergeRequests {
		if m.InScope {
			broken = m
			break
		}
	}
	st := storetest.New(t)
	opt := e.options()
	suffix := fmt.Sprintf("/projects/%d/merge_requests/%d/notes", broken.ProjectID, broken.IID)
	opt.HTTPClient = &http.Client{Transport: failPath{next: http.DefaultTransport, suffix: suffix}}
	sum, err := collector.Sync(context.Background(), st, opt)
	if !errors.Is(err, collector.ErrProjectsFailed) || len(sum.Failed) != 1 || sum.Failed[0].ID != broken.ProjectID {
		t.Fatalf("err %v, failed %+v", err, sum.Failed)
	}
	for _, w := range truth.MergeRequests {
		g, err := st.MergeRequest(context.Background(), w.ProjectID, w.IID)
		if err != nil {
			t.Fatal(err)
		}
		isBroken := w.ProjectID == broken.ProjectID && w.IID == broken.IID
		if w.InScope && g.DetailsCurrent() == isBroken {
			t.Errorf("MR %d!%d: details current %v", w.ProjectID, w.IID, g.DetailsCurrent())
		}
	}
	// Once GitLab answers again, the next sync completes it.
	e.sync(t, st)
	checkTruth(t, st, e.org.Truth(), e.cfg)
}

// An MR deleted between its listing and its details (404) is removed, not counted or retried.
func TestMergeRequestDeletedMidSyncIsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(10), gitlabsim.ServerOptions{})
	var gone gitlabsim.TruthMR
	for _, m := range e.org.Truth().MergeRequests {
		if m.InScope {
			gone = m
			break
		}
	}
	st := storetest.New(t)
	opt := e.options()
	mr := fmt.Sprintf("/projects/%d/merge_requests/%d", gone.ProjectID, gone.IID)
	opt.HTTPClient = &http.Client{Transport: failPath{suffix: mr + "/commits", code: 404,
		next: failPath{suffix: mr, code: 404, next: http.DefaultTransport}}}
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MergeRequest(context.Background(), gone.ProjectID, gone.IID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted MR kept: %v", err)
	}
	if need, _ := st.MergeRequestsNeedingDetails(context.Background(), gone.ProjectID); len(need) != 0 {
		t.Fatalf("%d MRs still need details", len(need))
	}
}

// lostAccess answers 404 to every request about one project once its first merge-request page
// was read, as GitLab does when the token loses access to a project in the middle of a sync.
type lostAccess struct {
	next    http.RoundTripper
	project int64
	listed  atomic.Bool
}

func (l *lostAccess) RoundTrip(r *http.Request) (*http.Response, error) {
	prefix := fmt.Sprintf("/api/v4/projects/%d", l.project)
	if l.listed.Load() && (r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/")) {
		return &http.Response{StatusCode: 404, Status: "404 Not Found", Header: http.Header{},
			Body: http.NoBody, Request: r}, nil
	}
	resp, err := l.next.RoundTrip(r)
	if r.URL.Path == prefix+"/merge_requests" {
		l.listed.Store(true)
	}
	return resp, err
}

// A 404 on an MR's commits or notes, or on a deployment's MRs, because the project itself became
// unreadable (access lost, project moved) is a failure of that project, not a deletion: deleting
// the MRs would lose them for good, since the MR cursor has already passed them, and recording a
// recent deployment's MRs as none would make that answer final.
func TestNothingIsDroppedWhenAccessIsLostMidSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 13, End: monday, Days: 5, Services: 3, Scale: 0.5}, gitlabsim.ServerOptions{})
	truth := e.org.Truth()
	inScope := map[int64]int{}
	for _, m := range truth.MergeRequests {
		if m.InScope {
			inScope[m.ProjectID]++
		}
	}
	var victim int64
	for _, p := range truth.Projects {
		if inScope[p.ID] > inScope[victim] {
			victim = p.ID
		}
	}
	lose := func(st *store.Store) {
		t.Helper()
		opt := e.options()
		opt.HTTPClient = &http.Client{Transport: &lostAccess{next: http.DefaultTransport, project: victim}}
		sum, err := collector.Sync(context.Background(), st, opt)
		if !errors.Is(err, collector.ErrProjectsFailed) || len(sum.Failed) != 1 || sum.Failed[0].ID != victim {
			t.Fatalf("err %v, failed %+v", err, sum.Failed)
		}
	}
	st := storetest.New(t)
	lose(st)
	// Access is back: the next sync ends at the truth, every MR included.
	e.sync(t, st)
	checkTruth(t, st, truth, e.cfg)

	// Later, on a working day: the deployments of the last 24 hours have their MRs read again
	// on every sync, and must not be recorded as having none while the project is unreadable.
	e.org.Advance(14 * time.Hour)
	e.sync(t, st)
	e.org.Advance(time.Hour)
	lose(st)
	e.sync(t, st)
	fresh := storetest.New(t)
	e.sync(t, fresh)
	// Only when environments were last listed may differ.
	withoutEnvCursor := func(d map[string][]string) map[string][]string {
		d["cursors"] = slices.DeleteFunc(d["cursors"], func(r string) bool { return strings.Contains(r, "|environments|") })
		return d
	}
	if diff := diffDumps(withoutEnvCursor(dump(t, fresh)), withoutEnvCursor(dump(t, st))); diff != "" {
		t.Errorf("after access was lost and regained:\n%s", diff)
	}
}

// failPath answers code (500 by default) to every request whose path ends with suffix.
type failPath struct {
	next   http.RoundTripper
	suffix string
	code   int
}

func (f failPath) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, f.suffix) {
		code := f.code
		if code == 0 {
			code = 500
		}
		return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{},
			Body: http.NoBody, Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

type failProject struct {
	next http.RoundTripper
	id   int64
}

func (f failProject) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, fmt.Sprintf("/projects/%d/merge_requests", f.id)) {
		return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Header: http.Header{},
			Body: http.NoBody, Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

func TestBadTokenStopsTheSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(7), gitlabsim.ServerOptions{})
	st := storetest.New(t)
	opt := e.options()
	opt.Token = "wrong"
	_, err := collector.Sync(context.Background(), st, opt)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "read_api") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the token leaked into the error: %v", err)
	}
}

func TestAPIBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.example.com":            "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/":           "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/api/v4":     "https://gitlab.example.com/api/v4/",
		"https://gitlab.example.com/api/v4/":    "https://gitlab.example.com/api/v4/",
		"http://127.0.0.1:8929/gitlab":          "http://127.0.0.1:8929/gitlab/api/v4/",
		" https://example.com/gitlab/api/v4/  ": "https://example.com/gitlab/api/v4/",
	} {
		got, err := collector.APIBaseURL(in)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "gitlab.example.com", "ftp://x", "https://user:pw@x.example", "https://x/?a=1", "http://"} {
		if _, err := collector.APIBaseURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A URL carrying a token (GitLab accepts ?private_token=) is refused without echoing the
	// secret: the message ends up on a terminal, in CI logs or in a bug report.
	for _, bad := range []string{
		"https://gitlab.example.com/?private_token=glpat-SECRET",
		"https://gitlab.example.com/api/v4#glpat-SECRET",
		"gitlab.example.com/api/v4?private_token=glpat-SECRET",
		"https://oauth2:glpat-SECRET@gitlab.example.com",
		"https://gitlab.example.com:bad port/?private_token=glpat-SECRET",
		"https://oauth2:glpat-SECRET@gitlab.example.com:bad port/",
	} {
		_, err := collector.APIBaseURL(bad)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// checkTruth compares the store with the generator's ground truth.
func checkTruth(t *testing.T, st *store.Store, truth *gitlabsim.Truth, cfg *config.Config) {
	t.Helper()
	ctx := context.Background()
	projects, err := st.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotP, wantP []string
	for _, p := range projects {
		gotP = append(gotP, fmt.Sprintf("%d %s %s", p.ID, p.Path, p.DefaultBranch))
	}
	for _, p := range truth.Projects {
		wantP = append(wantP, fmt.Sprintf("%d %s %s", p.ID, p.Path, p.DefaultBranch))
	}
	sort.Strings(gotP)
	sort.Strings(wantP)
	if !slices.Equal(gotP, wantP) {
		t.Errorf("projects:\n got %q\nwant %q", gotP, wantP)
	}
	users, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	isBot := store.BotRule(users, cfg.Bots.Usernames)

	var got []store.MergeRequest
	for _, p := range truth.Projects {
		ms, err := st.MergeRequests(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ms...)
	}
	if len(got) != len(truth.MergeRequests) {
		t.Errorf("%d merge requests, truth has %d", len(got), len(truth.MergeRequests))
	}
	byKey := map[[2]int64]store.MergeRequest{}
	for _, m := range got {
		byKey[[2]int64{m.ProjectID, m.IID}] = m
	}
	bad := 0
	for _, w := range truth.MergeRequests {
		g, ok := byKey[[2]int64{w.ProjectID, w.IID}]
		if !ok {
			t.Errorf("MR %d!%d missing", w.ProjectID, w.IID)
			bad++
			continue
		}
		labels := slices.Clone(g.Labels)
		sort.Strings(labels)
		var diffs []string
		cmp := func(what string, a, b any) {
			if fmt.Sprint(a) != fmt.Sprint(b) {
				diffs = append(diffs, fmt.Sprintf("%s: got %v want %v", what, a, b))
			}
		}
		cmp("id", g.ID, w.ID)
		cmp("state", g.State, w.State)
		cmp("title", g.Title, w.Title)
		cmp("draft", g.Draft, w.Draft)
		cmp("author", fmt.Sprint(g.AuthorID, g.AuthorUsername), fmt.Sprint(w.AuthorID, w.Author))
		cmp("bot", isBot(g.AuthorID, g.AuthorUsername), w.Bot)
		cmp("branches", g.SourceBranch+">"+g.TargetBranch, w.SourceBranch+">"+w.TargetBranch)
		cmp("labels", labels, w.Labels)
		cmp("created", g.CreatedAt.Unix(), w.CreatedAt.Unix())
		cmp("updated", g.UpdatedAt.Unix(), w.UpdatedAt.Unix())
		cmp("merged", unix(g.MergedAt), unix(w.MergedAt))
		cmp("closed", unix(g.ClosedAt), unix(w.ClosedAt))
		cmp("merge sha", g.MergeCommitSHA, w.MergeCommitSHA)
		cmp("squash sha", g.SquashCommitSHA, w.SquashCommitSHA)
		cmp("user notes", g.UserNotesCount, w.UserNotesCount)
		// Details are fetched for the MRs the metrics count: merged into the default branch.
		cmp("details current", g.DetailsCurrent(), w.InScope)
		if w.InScope {
			cmp("commits", g.CommitCount, w.CommitCount)
			cmp("earliest commit", unix(g.EarliestCommitAt), unix(w.MinAuthoredAt))
			cmp("first review", unix(g.FirstReviewAt), unix(w.FirstReviewAt))
			cmp("first approval", unix(g.FirstApprovalAt), unix(w.FirstApprovalAt))
			commits, _ := st.MergeRequestCommits(ctx, g.ProjectID, g.IID)
			notes, _ := st.MergeRequestNotes(ctx, g.ProjectID, g.IID)
			f := store.DeriveReview(store.ReviewInput{AuthorID: g.AuthorID, CreatedAt: g.CreatedAt, MergedAt: g.MergedAt,
				Commits: commits, Notes: notes, IsBot: isBot})
			cmp("first commit (recomputed)", f.FirstCommitAt.Unix(), w.FirstCommitAt.Unix())
			cmp("first review (recomputed)", unix(f.FirstReviewAt), unix(w.FirstReviewAt))
			cmp("first approval (recomputed)", unix(f.FirstApprovalAt), unix(w.FirstApprovalAt))
		}
		if len(diffs) > 0 {
			bad++
			if bad <= 5 {
				t.Errorf("MR %d!%d (%s):\n  %s", w.ProjectID, w.IID, w.State, strings.Join(diffs, "\n  "))
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d MRs differ in all", bad)
	}

	// Deployments and their links.
	var gotD []store.Deployment
	for _, p := range truth.Projects {
		ds, err := st.Deployments(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotD = append(gotD, ds...)
	}
	sort.Slice(gotD, func(i, j int) bool { return gotD[i].ID < gotD[j].ID })
	if len(gotD) != len(truth.Deployments) {
		t.Errorf("%d deployments, truth has %d", len(gotD), len(truth.Deployments))
	} else {
		bad = 0
		for i, w := range truth.Deployments {
			g := gotD[i]
			links, _ := st.DeploymentMergeRequests(ctx, g.ID)
			var iids []int64
			for _, l := range links {
				iids = append(iids, l.IID)
			}
			gs := fmt.Sprint(g.ID, g.IID, g.ProjectID, g.EnvironmentID, g.Environment, g.SHA, g.FinishedAt.Unix(), iids)
			ws := fmt.Sprint(w.ID, w.IID, w.ProjectID, w.EnvironmentID, w.Environment, w.SHA, w.FinishedAt.Unix(), w.LinkedIIDs)
			if gs != ws {
				bad++
				if bad <= 5 {
					t.Errorf("deployment:\n got %s\nwant %s", gs, ws)
				}
			}
		}
	}

	// Pipelines, and the coverage rows they give (SPEC section 4).
	var gotPl []store.Pipeline
	for _, p := range truth.Projects {
		ps, err := st.Pipelines(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotPl = append(gotPl, ps...)
	}
	sort.Slice(gotPl, func(i, j int) bool { return gotPl[i].ID < gotPl[j].ID })
	if len(gotPl) != len(truth.Pipelines) {
		t.Errorf("%d pipelines, truth has %d", len(gotPl), len(truth.Pipelines))
	} else {
		for i, w := range truth.Pipelines {
			g := gotPl[i]
			gs := fmt.Sprint(g.ID, g.IID, g.ProjectID, g.SHA, g.Source, g.Status, g.CreatedAt.Unix(), g.UpdatedAt.Unix())
			ws := fmt.Sprint(w.ID, w.IID, w.ProjectID, w.SHA, w.Source, w.Status, w.CreatedAt.Unix(), w.UpdatedAt.Unix())
			if gs != ws {
				t.Errorf("pipeline:\n got %s\nwant %s", gs, ws)
				break
			}
			if g.DetailFetched && (unix(g.FinishedAt) != unix(w.FinishedAt) || fmt.Sprint(deref(g.Coverage)) != fmt.Sprint(deref(w.Coverage))) {
				t.Errorf("pipeline %d detail: finished %v coverage %v, want %v %v", g.ID, g.FinishedAt, deref(g.Coverage), w.FinishedAt, deref(w.Coverage))
			}
		}
	}
	type row struct{ id, pipeline int64 }
	rows := func(ps []coverageInput) map[string]string {
		out := map[string]string{}
		last := map[string]coverageInput{}
		for _, p := range ps {
			if p.status != "success" || p.coverage == nil || p.finished == nil {
				continue
			}
			k := fmt.Sprintf("%d %s", p.project, p.finished.UTC().Format("2006-01-02"))
			if cur, ok := last[k]; !ok || p.finished.Unix() > cur.finished.Unix() || p.finished.Unix() == cur.finished.Unix() && p.id > cur.id {
				last[k] = p
			}
		}
		for k, p := range last {
			out[k] = fmt.Sprintf("pipeline %d: %.2f", p.id, *p.coverage)
		}
		return out
	}
	var gin, win []coverageInput
	for _, g := range gotPl {
		gin = append(gin, coverageInput{g.ID, g.ProjectID, g.Status, g.FinishedAt, g.Coverage})
	}
	for _, w := range truth.Pipelines {
		win = append(win, coverageInput{w.ID, w.ProjectID, w.Status, w.FinishedAt, w.Coverage})
	}
	gr, wr := rows(gin), rows(win)
	if len(gr) != len(wr) {
		t.Errorf("%d coverage rows, truth gives %d", len(gr), len(wr))
	}
	n := 0
	for k, w := range wr {
		if gr[k] != w {
			n++
			if n <= 5 {
				t.Errorf("coverage %s: got %q want %q", k, gr[k], w)
			}
		}
	}
}

type coverageInput struct {
	id, project int64
	status      string
	finished    *time.Time
	coverage    *float64
}

func unix(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// dump renders the synced data, minus the columns that record when the sync ran.
func dump(t testing.TB, st *store.Store) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"projects":       `SELECT id, path, name, default_branch, web_url, archived FROM projects`,
		"users":          `SELECT id, username, name, bot FROM users`,
		"merge_requests": `SELECT * FROM merge_requests`,
		"mr_commits":     `SELECT * FROM mr_commits`,
		"mr_notes":       `SELECT * FROM mr_notes`,
		"environments":   `SELECT * FROM environments`,
		"deployments":    `SELECT id, iid, project_id, environment_id, environment, ref, sha, status, created_at, updated_at, finished_at, job_url, CASE WHEN links_fetched_at IS NULL THEN 1 ELSE 0 END FROM deployments`,
		"links":          `SELECT * FROM deployment_merge_requests`,
		// Which pipelines had their detail read depends on when syncs ran (a day's latest
		// pipeline is read, and superseded by a later one on the next sync); the coverage rows
		// they give must not.
		"pipelines": `SELECT id, iid, project_id, ref, sha, status, source, created_at, updated_at, web_url FROM pipelines`,
		"coverage_rows": `SELECT project_id, finished_at / 86400, id, finished_at, coverage FROM pipelines p
			WHERE status = 'success' AND coverage IS NOT NULL AND finished_at IS NOT NULL AND NOT EXISTS (
				SELECT 1 FROM pipelines q WHERE q.project_id = p.project_id AND q.status = 'success'
					AND q.coverage IS NOT NULL AND q.finished_at / 86400 = p.finished_at / 86400
					AND (q.finished_at > p.finished_at OR q.finished_at = p.finished_at AND q.id > p.id))`,
		"cursors": `SELECT project_id, resource, cursor FROM sync_cursors`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := st.DB.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if i > 0 {
					b.WriteString("|")
				}
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprint(&b, v)
			}
			out[name] = append(out[name], b.String())
		}
		rows.Close()
		sort.Strings(out[name])
	}
	return out
}

func diffDumps(a, b map[string][]string) string {
	var out []string
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x, y := a[n], b[n]
		inY := map[string]bool{}
		for _, r := range y {
			inY[r] = true
		}
		inX := map[string]bool{}
		for _, r := range x {
			inX[r] = true
		}
		shown := 0
		for _, r := range x {
			if !inY[r] && shown < 3 {
				out = append(out, fmt.Sprintf("%s: only in first:  %s", n, r))
				shown++
			}
		}
		for _, r := range y {
			if !inX[r] && shown < 6 {
				out = append(out, fmt.Sprintf("%s: only in second: %s", n, r))
				shown++
			}
		}
		if len(x) != len(y) {
			out = append(out, fmt.Sprintf("%s: %d rows vs %d", n, len(x), len(y)))
		}
	}
	return strings.Join(out, "\n")
}

// recordQueries keeps every request's path and query.
type recordQueries struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []*url.URL
}

func (r *recordQueries) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	u := *req.URL
	r.seen = append(r.seen, &u)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// The parameters GitLab's filters depend on are sent, each once: client-go sends order_by twice
// when both ListOptions.OrderBy and an option struct's OrderBy are set, and GitLab (Rails) then
// uses the last one, which the simulator would not notice.
func TestRequestsCarryGitLabsFilterParametersOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallOrg(14), gitlabsim.ServerOptions{})
	st := storetest.New(t)
	rec := &recordQueries{next: http.DefaultTransport}
	opt := e.options()
	opt.HTTPClient = &http.Client{Transport: rec}
	if _, err := collector.Sync(context.Background(), st, opt); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{ // path pattern -> parameters and values ("*": any)
		`^/api/v4/groups/[^/]+/projects$`: {"include_subgroups": "true", "archived": "false", "with_shared": "false", "per_page": "100"},
		`^/api/v4/projects/\d+/merge_requests$`: {"state": "all", "order_by": "updated_at", "sort": "asc",
			"updated_after": "*", "per_page": "100"},
		`^/api/v4/projects/\d+/deployments$`: {"status": "success", "order_by": "finished_at", "sort": "asc",
			"finished_after": "*", "per_page": "100"},
		`^/api/v4/projects/\d+/pipelines$`: {"ref": "*", "order_by": "updated_at", "sort": "asc", "updated_after": "*",
			"per_page": "100"},
		`^/api/v4/projects/\d+/merge_requests/\d+/(commits|notes)$`: {"per_page": "100"},
	}
	hits := map[string]int{}
	for _, u := range rec.seen {
		q := u.Query()
		for k, vs := range q {
			if len(vs) > 1 && !strings.HasSuffix(k, "[]") {
				t.Errorf("%s sends %s %d times: %q", u.Path, k, len(vs), u.RawQuery)
			}
		}
		for pattern, params := range want {
			if !regexp.MustCompile(pattern).MatchString(u.Path) {
				continue
			}
			hits[pattern]++
			for k, v := range params {
				if got := q.Get(k); got == "" || v != "*" && got != v {
					t.Errorf("%s?%s: %s=%q, want %q", u.Path, u.RawQuery, k, got, v)
				}
			}
			if q.Has("updated_after") && q.Has("finished_after") {
				t.Errorf("%s?%s combines updated_after and finished_after", u.Path, u.RawQuery)
			}
		}
	}
	for pattern := range want {
		if hits[pattern] == 0 {
			t.Errorf("no request matched %s", pattern)
		}
	}
}
