// Package collector pulls GitLab history into the store: projects of the configured groups,
// merge requests with their commits and notes, production deployments with the MRs they
// shipped, and default-branch pipelines with coverage. It speaks GitLab's REST API v4, and
// GraphQL where the instance answers it (batches of MRs, pipelines and deployments per query),
// through one shared client-go client, pages by X-Next-Page, honours Retry-After and RateLimit-*,
// and keeps per-project cursors that move only with the rows they cover, so a sync stopped at
// any point resumes without loss or duplicates. docs/collector.md describes what is fetched when.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/sync/errgroup"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
)

// Options configure one sync.
type Options struct {
	// BaseURL is the GitLab instance URL (https://gitlab.example.com); a trailing /api/v4 is
	// accepted too.
	BaseURL string
	// Token is a personal, group or project access token with the read_api scope. It is sent
	// only to BaseURL and never logged.
	Token string
	// Groups are group full paths whose projects are synced, subgroups included.
	Groups []string
	// Projects are project full paths synced beside the groups' projects.
	Projects []string
	// Since bounds merge requests and pipelines by update time on a project's first sync;
	// zero means 365 days before Now. Later syncs continue from the cursors.
	Since time.Time
	// Concurrency bounds the requests in flight and the projects synced at once; 0 means 8.
	Concurrency int
	// Config supplies the production environment pattern and the configured bots; nil means
	// the defaults.
	Config *config.Config
	// Progress, if set, is called after each step with the running figures. Calls are
	// serialised; it must return quickly.
	Progress func(Progress)
	// Logger receives one line per project and warnings; nil discards them.
	Logger *slog.Logger
	// HTTPClient, if set, carries the requests (its Transport is wrapped, not replaced).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now. The simulator passes its own.
	Now func() time.Time
	// API chooses how merge requests, default-branch pipelines (with their coverage) and the
	// MRs of deployments are read: APIREST (the default, when empty), APIGraphQL, or APIAuto,
	// which probes the instance once and reads through GraphQL where it answers and through
	// REST where not (per project: a project whose GraphQL fails continues on REST). Projects,
	// environments and the deployments themselves are listed through REST either way.
	API string
	// RetryWaitMin is the first wait before retrying a 5xx or a dropped connection (doubling
	// after); 0 means 250 ms. Rate-limit waits follow the server's headers instead.
	RetryWaitMin time.Duration
}

// DefaultConcurrency is the number of requests in flight when Options.Concurrency is 0.
const DefaultConcurrency = 8

// DefaultHistory is how far back a first sync reaches without Since.
const DefaultHistory = 365 * 24 * time.Hour

// Progress is the running state of a sync.
type Progress struct {
	ProjectsTotal  int
	ProjectsDone   int // finished, successfully or not (not those cut short by cancellation)
	ProjectsFailed int
	MergeRequests  int64 // MR rows saved (listed and changed)
	Details        int64 // MRs whose commits and notes were fetched
	Deployments    int64 // production deployments saved
	Links          int64 // deployments whose MRs were fetched
	Pipelines      int64 // default-branch pipelines saved
	Coverage       int64 // pipelines whose coverage was read
	Requests       int64 // HTTP requests sent, retries included
	RateLimitWaits int64 // waits for 429s or an exhausted rate limit
	Elapsed        time.Duration
	// RequestsPerMinute is the request rate measured over the last minute (since the start
	// in the first 10 seconds).
	RequestsPerMinute float64
	// Remaining is the estimated time left: the requests still to make at the measured rate.
	// The requests still to make are estimated from the projects finished so far (their
	// requests per project, scaled by each project's MRs once listed), less those already
	// made; 0 until a project has finished.
	Remaining time.Duration
}

// ProjectFailure is a project (or group) that could not be synced, with why.
type ProjectFailure struct {
	ID   int64 // 0 for a group or a project that was never found
	Path string
	Err  error
}

// Summary is the outcome of a sync.
type Summary struct {
	Progress
	Failed []ProjectFailure
	// APIs says, per project path, how it was read (merge requests, pipelines, the MRs of
	// deployments): "graphql" or "rest" ("rest" also for a project that fell back to REST when
	// GraphQL failed, and the step that failed ran again through REST).
	APIs map[string]string
}

// ErrProjectsFailed is wrapped by Sync's error when some projects or groups failed while
// others synced.
var ErrProjectsFailed = errors.New("some projects failed to sync")

// Sync pulls every configured project's history into st. Projects are synced concurrently;
// one failing project is reported in Summary.Failed while the others continue. On context
// cancellation it stops promptly; everything committed stays, and the next sync resumes from
// the cursors. The error is nil only when every project synced.
func Sync(ctx context.Context, st *store.Store, opt Options) (Summary, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Config == nil {
		opt.Config = config.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.API == "" {
		opt.API = APIREST
	}
	if _, err := ParseAPI(opt.API); err != nil {
		return Summary{}, fmt.Errorf("collector: %w", err)
	}
	if len(opt.Groups) == 0 && len(opt.Projects) == 0 {
		return Summary{}, errors.New("collector: nothing to sync: give at least one group or project")
	}
	if _, err := APIBaseURL(opt.BaseURL); err != nil {
		return Summary{}, fmt.Errorf("collector: %w", err)
	}
	s := &syncer{opt: opt, st: st, start: time.Now(), apis: map[string]string{}, work: map[int64]*projectWork{},
		gqlBatch: newBatchSizer(gqlDetailsStart, 1, gqlMaxPage), gqlList: newBatchSizer(gqlMaxPage, 1, gqlMaxPage),
		gqlPipelines: newBatchSizer(gqlMaxPage, 1, gqlMaxPage), gqlLinks: newBatchSizer(gqlLinksMax, 1, gqlLinksMax)}
	c, err := newClient(opt, &s.counts)
	if err != nil {
		return Summary{}, err
	}
	s.gl = c
	s.users = newUserCache(s)
	if err := s.users.load(ctx); err != nil {
		return Summary{}, err
	}

	projects, err := s.discover(ctx)
	if err != nil {
		return s.summary(), err
	}
	s.mu.Lock()
	s.progress.ProjectsTotal = len(projects)
	s.mu.Unlock()
	s.report()
	if err := s.chooseAPI(ctx, projects); err != nil {
		return s.summary(), err
	}
	projects = s.largestFirst(ctx, projects)

	work := make(chan store.Project)
	var wg sync.WaitGroup
	for range min(opt.Concurrency, max(len(projects), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				err := s.syncProject(ctx, p)
				s.mu.Lock()
				if w := s.work[p.ID]; w != nil && ctx.Err() == nil {
					w.done = true // for the estimate, also when it failed: its requests were spent
				}
				switch {
				case err == nil:
					s.progress.ProjectsDone++
				case ctx.Err() == nil:
					s.progress.ProjectsDone++
					s.progress.ProjectsFailed++
					s.failed = append(s.failed, ProjectFailure{ID: p.ID, Path: p.Path, Err: err})
				}
				// A project cut short by cancellation is neither done nor failed: the summary
				// of an interrupted sync must not count it as synced.
				s.mu.Unlock()
				s.report()
			}
		}()
	}
feed:
	for _, p := range projects {
		select {
		case work <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()

	sum := s.summary()
	if ctx.Err() != nil {
		return sum, fmt.Errorf("collector: sync interrupted; what was committed is kept: %w", ctx.Err())
	}
	if len(sum.Failed) > 0 {
		var names []string
		for _, f := range sum.Failed {
			names = append(names, f.Path)
		}
		if len(sum.Failed) == 1 {
			return sum, fmt.Errorf("collector: %s failed: %w: %w", names[0], ErrProjectsFailed, sum.Failed[0].Err)
		}
		return sum, fmt.Errorf("collector: %d failed (%s): %w", len(names), strings.Join(names, ", "), ErrProjectsFailed)
	}
	return sum, nil
}

// syncer is the state of one Sync call.
type syncer struct {
	opt    Options
	st     *store.Store
	gl     *gitlab.Client
	users  *userCache
	counts counters
	start  time.Time

	mu       sync.Mutex // guards progress, failed, apis, work and rate; serialises Progress calls
	progress Progress
	failed   []ProjectFailure
	apis     map[string]string
	work     map[int64]*projectWork // projects begun or counted, for the estimate of the time left
	rate     rateWindow

	graphQL  atomic.Bool // merge requests are read through GraphQL (until it fails, with auto)
	gqlBatch *batchSizer // MRs per GraphQL details query
	gqlList  *batchSizer // MRs per GraphQL listing page

	gqlPipelines *batchSizer // pipelines per GraphQL listing page
	gqlLinks     *batchSizer // deployments per GraphQL query for their MRs
	gqlLinksOff  atomic.Bool // the schema has no mergeRequests(deploymentId:): links through REST
}

func (s *syncer) add(f func(p *Progress)) {
	s.mu.Lock()
	f(&s.progress)
	s.mu.Unlock()
	s.report()
}

// snapshot is the progress now; s.mu is held.
func (s *syncer) snapshot() Progress {
	p := s.progress
	p.Requests = s.counts.requests.Load()
	p.RateLimitWaits = s.counts.rateLimitWaits.Load()
	now := time.Now()
	p.Elapsed = now.Sub(s.start)
	rate := s.rate.observe(now, s.start, p.Requests)
	p.RequestsPerMinute = rate * 60
	if p.ProjectsTotal > p.ProjectsDone {
		known := make([]workState, 0, len(s.work))
		for _, w := range s.work {
			known = append(known, w.state())
		}
		p.Remaining = estimateRemaining(known, p.ProjectsTotal, rate)
	}
	return p
}

// begin registers a project's sync for the estimate; its requests are counted in n.
func (s *syncer) begin(id int64, n *atomic.Int64) {
	s.mu.Lock()
	if w := s.work[id]; w != nil {
		w.requests = n
	} else {
		s.work[id] = &projectWork{requests: n}
	}
	s.mu.Unlock()
}

// addMergeRequests counts MRs a project's listing saved.
func (s *syncer) addMergeRequests(id int64, n int) {
	s.mu.Lock()
	if w := s.work[id]; w != nil {
		w.mrs += int64(n)
	}
	s.mu.Unlock()
	s.add(func(pr *Progress) { pr.MergeRequests += int64(n) })
}

// stepDone notes that a project finished a step.
func (s *syncer) stepDone(id int64, step string) {
	if step != stepMergeRequests {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.work[id]; w != nil {
		w.listed = true
	}
}

func (s *syncer) report() {
	if s.opt.Progress == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opt.Progress(s.snapshot())
}

func (s *syncer) summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{Progress: s.snapshot(), Failed: append([]ProjectFailure(nil), s.failed...), APIs: map[string]string{}}
	for k, v := range s.apis {
		sum.APIs[k] = v
	}
	sort.Slice(sum.Failed, func(i, j int) bool { return sum.Failed[i].Path < sum.Failed[j].Path })
	return sum
}

func (s *syncer) fail(path string, err error) {
	s.mu.Lock()
	s.failed = append(s.failed, ProjectFailure{Path: path, Err: err})
	s.mu.Unlock()
}

// now is the sync's clock truncated to seconds, the store's resolution.
func (s *syncer) now() time.Time { return s.opt.Now().UTC().Truncate(time.Second) }

// ranAt is when the sync itself runs, for the status page: the wall clock, not Now. A
// simulator's clock stands still at the end of its history (the demo's midnight), and a sync
// that has just run must not read as one run at 00:00.
func ranAt() time.Time { return time.Now().UTC().Truncate(time.Second) }

// since is where a first sync of MRs and pipelines starts.
func (s *syncer) since() time.Time {
	if !s.opt.Since.IsZero() {
		return s.opt.Since.UTC()
	}
	return s.now().Add(-DefaultHistory)
}

// syncProject syncs one project: merge requests and their details, environments, deployments
// and their MRs, pipelines and coverage. A failing resource does not stop the others; the
// project's errors are joined. Cancellation stops at once.
func (s *syncer) syncProject(ctx context.Context, p store.Project) error {
	var requests atomic.Int64
	ctx = withProjectCounter(ctx, &requests)
	s.begin(p.ID, &requests)
	log := s.opt.Logger.With("project", p.Path)
	started := ranAt()
	if err := s.st.StartProjectSync(ctx, p.ID, started); err != nil {
		return err
	}
	var apiMu sync.Mutex
	api := APIREST
	if s.graphQL.Load() {
		api = APIGraphQL
	}
	current := func() string {
		apiMu.Lock()
		defer apiMu.Unlock()
		return api
	}
	// viaAPI runs a step through GraphQL while the project reads it so, else through REST;
	// with auto, a GraphQL failure REST can stand in for moves the project (and, when GraphQL
	// is unavailable, the rest of the sync) to REST, and the step runs again there from what
	// was committed.
	viaAPI := func(gql, rest func(context.Context, store.Project) error) func(context.Context, store.Project) error {
		return func(ctx context.Context, p store.Project) error {
			if current() != APIGraphQL {
				return rest(ctx, p)
			}
			err := gql(ctx, p)
			if err == nil || ctx.Err() != nil || s.opt.API != APIAuto || !errors.Is(err, errGraphQL) {
				return err
			}
			apiMu.Lock()
			api = APIREST
			apiMu.Unlock()
			if errors.Is(err, errGraphQLUnavailable) && s.graphQL.CompareAndSwap(true, false) {
				log.Warn("GraphQL is unavailable; the sync continues through REST", "err", err)
			} else {
				log.Warn("GraphQL failed; this project continues through REST", "err", err)
			}
			return rest(ctx, p)
		}
	}
	type step struct {
		name string
		run  func(context.Context, store.Project) error
	}
	// Three chains that share nothing but the project: each step needs the one before it in
	// its chain (details the listing, links the deployments, coverage the pipelines). They run
	// side by side, so a project takes as long as its longest chain, not all three: a large
	// project left alone at the end of a sync keeps more requests in flight.
	chains := [][]step{
		{
			{stepMergeRequests, viaAPI(s.syncMergeRequestsGraphQL, s.syncMergeRequests)},
			{"merge request details", viaAPI(s.syncMergeRequestDetailsGraphQL, s.syncMergeRequestDetails)},
		},
		{
			{"deployments", s.syncDeployments},
			{"deployment merge requests", viaAPI(s.syncDeploymentLinksGraphQL, s.syncDeploymentLinks)},
		},
		{
			{"pipelines", viaAPI(s.syncPipelinesGraphQL, s.syncPipelines)},
			{"coverage", s.syncCoverage},
		},
	}
	var errMu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, chain := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range chain {
				if ctx.Err() != nil {
					return
				}
				if err := st.run(ctx, p); err != nil {
					if ctx.Err() != nil {
						return
					}
					log.Warn("sync step failed", "step", st.name, "err", err)
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
				s.stepDone(p.ID, st.name)
			}
		}()
	}
	wg.Wait()
	api = current()
	err := errors.Join(errs...)
	if ctx.Err() != nil {
		err = fmt.Errorf("collector: sync of %s interrupted: %w", p.Path, ctx.Err())
	}
	// The outcome is written even when ctx was cancelled, so the status page shows it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	s.apis[p.Path] = api
	s.mu.Unlock()
	if aerr := s.st.SetProjectSyncAPI(fctx, p.ID, api); aerr != nil && err == nil {
		err = aerr
	}
	if ferr := s.st.FinishProjectSync(fctx, p.ID, ranAt(), requests.Load(), err); ferr != nil && err == nil {
		err = ferr
	}
	if err == nil {
		log.Info("project synced", "api", api, "requests", requests.Load(), "seconds", ranAt().Sub(started).Seconds())
	} else if ctx.Err() == nil {
		log.Error("project failed", "requests", requests.Load(), "err", err)
	}
	return err
}

// stepMergeRequests is the name of the MR listing step.
const stepMergeRequests = "merge requests"

// maxItemFailures is how many items of one step (MRs' details, deployments' links, pipelines'
// coverage) may fail before the step gives up: one broken MR must not hold back the others,
// but a server failing everything should not be retried item by item for hours.
const maxItemFailures = 3

// parallel runs fn for every item with at most n at once. An item that fails does not stop the
// others until maxItemFailures have failed; cancellation stops everything. The failures are
// returned joined.
func parallel[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	failed := 0
	var g errgroup.Group
	g.SetLimit(n)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			err := fn(ctx, it)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				failed++
				errs = append(errs, err)
				if failed >= maxItemFailures {
					cancel()
				}
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	if len(errs) >= maxItemFailures {
		errs = append(errs, fmt.Errorf("collector: gave up after %d failures", len(errs)))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return context.Cause(ctx)
}

// parallelBatches is parallel over batches of items cut as they are sent: each batch takes
// the size size() says when a slot frees up, so a size learnt from the answers so far (the
// GraphQL batch sizers) applies within a project too, not only to the next one. first, if
// set, runs the first batch alone before the others (to learn, from one answer, what the
// instance can do).
func parallelBatches[T any](ctx context.Context, n int, items []T, size func() int, first bool, fn func(context.Context, []T) error) error {
	if len(items) == 0 {
		return nil
	}
	if first {
		k := min(max(size(), 1), len(items))
		if err := fn(ctx, items[:k]); err != nil {
			return err
		}
		items = items[k:]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	failed := 0
	var wg sync.WaitGroup
	slots := make(chan struct{}, n)
send:
	for len(items) > 0 {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break send
		}
		// The size is read once a slot is free: as late as possible.
		k := min(max(size(), 1), len(items))
		batch := items[:k]
		items = items[k:]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := fn(ctx, batch)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				failed++
				errs = append(errs, err)
				if failed >= maxItemFailures {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) >= maxItemFailures {
		errs = append(errs, fmt.Errorf("collector: gave up after %d failures", len(errs)))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return context.Cause(ctx)
}

// secs truncates an instant to the store's resolution (whole seconds, UTC), so facts derived at
// sync time equal facts recomputed from the stored rows.
func secs(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func secsPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := secs(*t)
	return &v
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return secs(*t)
}

func reqOpts(ctx context.Context) []gitlab.RequestOptionFunc {
	return []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)}
}
