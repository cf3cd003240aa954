package collector

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
)

// WebhookOptions configure the webhook worker: Options says how to reach GitLab (BaseURL,
// Token, Config, Concurrency, Logger, Now, HTTPClient, RetryWaitMin); Groups, Projects, Since,
// API and Progress are not used.
type WebhookOptions struct {
	Options
	// Refresh derives the facts again after a round wrote something (the metrics engine's
	// Refresh, which derives only the projects whose rows changed); nil: nothing is derived.
	Refresh func(context.Context) error
	// Settle is how long the worker waits after a delivery arrives before it claims the queue,
	// so a burst of events (a merge sends several) is fetched once; 0 means 500 ms.
	Settle time.Duration
	// Poll is how often the queue is looked at without a wake-up (deliveries another process
	// received, retries falling due); 0 means 2 s.
	Poll time.Duration
	// RetryMin is the wait before a failed fetch is tried again, doubling with each failure up
	// to RetryMax; 0 means 10 s and 30 min.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how many fetches of a delivery are tried before it is given up (polling
	// then brings the change); 0 means 10 (about 80 minutes of retries with the defaults).
	MaxAttempts int
	// Keep is how long done and failed deliveries are kept, so a repeat is recognised; 0 means
	// 7 days.
	Keep time.Duration
}

// Defaults of WebhookOptions.
const (
	DefaultWebhookSettle      = 500 * time.Millisecond
	DefaultWebhookPoll        = 2 * time.Second
	DefaultWebhookRetryMin    = 10 * time.Second
	DefaultWebhookRetryMax    = 30 * time.Minute
	DefaultWebhookMaxAttempts = 10
	DefaultWebhookKeep        = 7 * 24 * time.Hour
)

const (
	// webhookBatch is how many deliveries one round claims.
	webhookBatch = 500
	// webhookLease is how long a round may hold its deliveries before another worker may take
	// them over (its process died).
	webhookLease = 5 * time.Minute
	// linkRecheck marks the follow-ups a deployment delivery schedules: GitLab links a
	// deployment's MRs in a job of its own, which may finish after the webhook was sent.
	linkRecheck = "pacer-links-recheck"
	// maxLinkedFetches bounds the linked MRs one deployment delivery fetches; polling brings
	// the rest (an environment's first deployment can link thousands).
	maxLinkedFetches = 50
)

// The facts are derived again once deliveries stop arriving for refreshQuiet, or at the latest
// refreshMaxDefer after the first change that waits for them. On SQLite a refresh holds the one
// write lock while it derives (a tenth to half a second for a large project), and a delivery
// arriving meanwhile waits for it before it can be queued and answered; deferring the refresh
// to a lull keeps bursts answered in milliseconds, and the dashboard within a few seconds.
const (
	refreshQuiet    = 250 * time.Millisecond
	refreshMaxDefer = 2 * time.Second
)

// linkRechecks are when a deployment's links are fetched again, after a delivery found none.
var linkRechecks = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// Webhooks is the webhook worker: it drains the queue POST /hooks/gitlab fills, fetching what
// each delivery names through the API as a sync would (the MR with its commits and notes; the
// pipeline with its coverage; the deployment with its MRs), without moving any sync cursor,
// and derives the facts again. Deliveries of one project that arrive together are fetched in
// one pass, each object once. A fetch that fails is retried with backoff.
type Webhooks struct {
	st    *store.Store
	opt   WebhookOptions
	s     *syncer
	owner string
	wake  chan struct{}

	mu      sync.Mutex  // one round at a time in this process
	loaded  bool        // the user cache is loaded
	dirty   bool        // rows were written and the facts not derived since
	dirtyAt time.Time   // when dirty became set
	waiting []time.Time // arrivals of done deliveries whose facts are not derived yet
	retryAt time.Time   // a refresh failed: not again before this
	pruned  time.Time
	arrival atomic.Int64 // when Notify was last called (Unix nanoseconds)

	processed *prometheus.CounterVec
	delay     prometheus.Histogram
}

// NewWebhooks makes the webhook worker; Run (or Drain) does the work.
func NewWebhooks(st *store.Store, opt WebhookOptions) (*Webhooks, error) {
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
	if opt.Settle <= 0 {
		opt.Settle = DefaultWebhookSettle
	}
	if opt.Poll <= 0 {
		opt.Poll = DefaultWebhookPoll
	}
	if opt.RetryMin <= 0 {
		opt.RetryMin = DefaultWebhookRetryMin
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = DefaultWebhookRetryMax
	}
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = opt.RetryMin
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if opt.Keep <= 0 {
		opt.Keep = DefaultWebhookKeep
	}
	if _, err := APIBaseURL(opt.BaseURL); err != nil {
		return nil, fmt.Errorf("collector: webhooks: %w", err)
	}
	opt.API = APIREST // one object at a time: REST, the complete path
	s := &syncer{opt: opt.Options, st: st, start: time.Now(), apis: map[string]string{},
		gqlBatch: newBatchSizer(gqlDetailsStart, 1, gqlMaxPage), gqlList: newBatchSizer(gqlMaxPage, 1, gqlMaxPage)}
	c, err := newClient(opt.Options, &s.counts)
	if err != nil {
		return nil, err
	}
	s.gl = c
	s.users = newUserCache(s)
	owner := make([]byte, 8)
	rand.Read(owner)
	return &Webhooks{st: st, opt: opt, s: s, owner: hex.EncodeToString(owner), wake: make(chan struct{}, 1),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pacer_webhook_processed_total",
			Help: "Webhook deliveries the worker of this process finished, by event and outcome (done, retry: the fetch failed and is tried again later, failed: given up after every retry).",
		}, []string{"event", "outcome"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pacer_webhook_delay_seconds",
			Help:    "From a webhook delivery's arrival to its objects fetched and the facts derived again (done deliveries only).",
			Buckets: []float64{.25, .5, 1, 2, 5, 10, 30, 60, 300, 1800},
		}),
	}, nil
}

// Collectors are the worker's series for /metrics.
func (w *Webhooks) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.processed, w.delay}
}

// Notify wakes the worker: a delivery was queued. It never blocks.
func (w *Webhooks) Notify() {
	w.arrival.Store(time.Now().UnixNano())
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run drains the queue until ctx ends: after each wake-up (Notify, then Settle), every Poll,
// and when a retry falls due; it derives the facts when deliveries pause (refreshQuiet), at
// most refreshMaxDefer after the first change.
func (w *Webhooks) Run(ctx context.Context) {
	log := w.opt.Logger
	for {
		if _, err := w.drain(ctx); err != nil && ctx.Err() == nil {
			log.Error("webhooks: drain the queue", "error", err)
		}
		wait := w.opt.Poll
		if due, ok := w.refreshDue(); ok {
			if due <= 0 {
				if err := w.refreshNow(ctx); err != nil && ctx.Err() == nil {
					log.Error("webhooks: derive the facts", "error", err)
				}
				continue
			}
			wait = min(wait, due)
		}
		if next, ok, err := w.st.NextWebhookDue(ctx); err == nil && ok {
			if d := time.Until(next); d < wait {
				wait = max(d, 50*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
			t.Stop()
			// Let the rest of a burst arrive: a merge sends an MR event and pipeline events
			// within moments, and they are fetched together.
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.opt.Settle):
			}
		case <-t.C:
		}
	}
}

// refreshDue says, when the facts wait to be derived, how long until they should be: 0 or
// less for now.
func (w *Webhooks) refreshDue() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return 0, false
	}
	now := time.Now()
	if now.Before(w.retryAt) {
		return w.retryAt.Sub(now), true
	}
	quiet := refreshQuiet - now.Sub(time.Unix(0, w.arrival.Load()))
	return min(quiet, refreshMaxDefer-now.Sub(w.dirtyAt)), true
}

func (w *Webhooks) refreshNow(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return nil
	}
	return w.refresh(ctx)
}

// Round is what one Drain did.
type Round struct {
	Deliveries int // deliveries claimed
	Done       int
	Retried    int
	Failed     int
	Fetched    int // objects fetched (each once, however many deliveries named it)
}

// Drain processes every delivery due now, round after round, until none is left (deliveries
// waiting for a retry are left for later), then derives the facts of what it wrote. Tests
// call it; Run defers the derivation to a pause in the deliveries.
func (w *Webhooks) Drain(ctx context.Context) (Round, error) {
	r, err := w.drain(ctx)
	if err != nil {
		return r, err
	}
	return r, w.refreshNow(ctx)
}

// drain processes every delivery due now, without deriving the facts.
func (w *Webhooks) drain(ctx context.Context) (Round, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var total Round
	if !w.loaded {
		if err := w.s.users.load(ctx); err != nil {
			return total, err
		}
		w.loaded = true
	}
	w.prune(ctx)
	for {
		r, err := w.round(ctx)
		total.Deliveries += r.Deliveries
		total.Done += r.Done
		total.Retried += r.Retried
		total.Failed += r.Failed
		total.Fetched += r.Fetched
		if err != nil || r.Deliveries == 0 {
			return total, err
		}
	}
}

// prune forgets old finished deliveries, at most hourly.
func (w *Webhooks) prune(ctx context.Context) {
	now := time.Now()
	if now.Sub(w.pruned) < time.Hour {
		return
	}
	w.pruned = now
	if n, err := w.st.PruneWebhooks(ctx, now.Add(-w.opt.Keep)); err != nil {
		w.opt.Logger.Warn("webhooks: prune old deliveries", "error", err)
	} else if n > 0 {
		w.opt.Logger.Debug("webhooks: pruned old deliveries", "deliveries", n)
	}
}

// refresh derives the facts of what was written; the caller holds w.mu.
func (w *Webhooks) refresh(ctx context.Context) error {
	if w.opt.Refresh != nil {
		if err := w.opt.Refresh(ctx); err != nil {
			w.retryAt = time.Now().Add(5 * time.Second)
			return fmt.Errorf("collector: webhooks: derive the facts: %w", err)
		}
	}
	done := time.Now()
	for _, at := range w.waiting {
		w.delay.Observe(done.Sub(at).Seconds())
	}
	w.dirty, w.waiting = false, nil
	return nil
}

func (w *Webhooks) setDirty() {
	if !w.dirty {
		w.dirty, w.dirtyAt = true, time.Now()
	}
}

// target is one object a round fetches, and what came of it.
type target struct {
	event string
	id    int64
	// deliveries that name it
	deliveries []store.WebhookDelivery
	outcome    string
	err        error
	changed    bool
}

// round claims the due deliveries, fetches what they name per project, derives the facts and
// records the outcomes.
func (w *Webhooks) round(ctx context.Context) (Round, error) {
	now := time.Now()
	claimed, err := w.st.ClaimWebhooks(ctx, w.owner, now, now.Add(webhookLease), webhookBatch)
	if err != nil || len(claimed) == 0 {
		return Round{}, err
	}
	r := Round{Deliveries: len(claimed)}
	// Group by project, then by object: each object is fetched once however many deliveries
	// name it.
	byProject := map[int64]map[string]*target{}
	var order []int64
	for _, d := range claimed {
		ts := byProject[d.ProjectID]
		if ts == nil {
			ts = map[string]*target{}
			byProject[d.ProjectID] = ts
			order = append(order, d.ProjectID)
		}
		key := fmt.Sprintf("%s/%d", d.Event, d.ObjectID)
		t := ts[key]
		if t == nil {
			t = &target{event: d.Event, id: d.ObjectID}
			ts[key] = t
		}
		t.deliveries = append(t.deliveries, d)
	}
	var g errgroup.Group
	g.SetLimit(min(w.opt.Concurrency, len(order)))
	for _, pid := range order {
		targets := byProject[pid]
		g.Go(func() error {
			w.project(ctx, pid, targets)
			return nil
		})
	}
	g.Wait()

	changed := false
	var all []*target
	for _, pid := range order {
		for _, t := range byProject[pid] {
			all = append(all, t)
			changed = changed || t.changed
			r.Fetched++
		}
	}
	if changed {
		w.setDirty()
	}
	finished := time.Now()
	var results []store.WebhookResult
	for _, t := range all {
		for _, d := range t.deliveries {
			res := store.WebhookResult{ID: d.ID, Outcome: t.outcome}
			switch {
			case t.err != nil && ctx.Err() != nil:
				continue // interrupted: the lease runs out and the delivery is tried again
			case t.err != nil:
				res.Err = clipError(t.err.Error())
				if int(d.Attempts)+1 < w.opt.MaxAttempts {
					res.RetryAt = finished.Add(w.backoff(int(d.Attempts) + 1))
					r.Retried++
					w.processed.WithLabelValues(d.Event, "retry").Inc()
				} else {
					res.Outcome = "given up after " + fmt.Sprint(d.Attempts+1) + " attempts; the next sync brings the change"
					r.Failed++
					w.processed.WithLabelValues(d.Event, "failed").Inc()
				}
			default:
				r.Done++
				w.processed.WithLabelValues(d.Event, "done").Inc()
				if !strings.HasPrefix(d.Delivery, linkRecheck) {
					if changed && len(w.waiting) < 10000 {
						w.waiting = append(w.waiting, d.ReceivedAt) // observed once the facts are derived
					} else {
						w.delay.Observe(finished.Sub(d.ReceivedAt).Seconds())
					}
				}
			}
			results = append(results, res)
		}
	}
	if err := w.st.FinishWebhooks(context.WithoutCancel(ctx), w.owner, finished, results); err != nil {
		return r, err
	}
	for _, t := range all {
		if t.err != nil && ctx.Err() == nil {
			w.opt.Logger.Warn("webhooks: fetch failed; it is retried", "object", t.deliveries[0].Describe(), "error", t.err)
		}
	}
	return r, nil
}

// backoff is the wait before the attempt-th retry.
func (w *Webhooks) backoff(attempt int) time.Duration {
	d := w.opt.RetryMin
	for i := 1; i < attempt && d < w.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.opt.RetryMax)
}

// clipError keeps a stored error message short.
func clipError(s string) string {
	if len(s) > 1000 {
		return s[:1000] + "…"
	}
	return s
}

// project fetches the objects deliveries named in one project: MRs and pipelines first, then
// deployments (whose linked MRs are then fetched unless this round fetched them already).
func (w *Webhooks) project(ctx context.Context, pid int64, targets map[string]*target) {
	p, err := w.st.Project(ctx, pid)
	if errors.Is(err, store.ErrNotFound) {
		for _, t := range targets {
			t.outcome = "not a project Pacer syncs (a sync of its group or --project adds it)"
		}
		return
	}
	if err != nil {
		for _, t := range targets {
			t.err = err
		}
		return
	}
	keys := make([]string, 0, len(targets))
	for k := range targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := w.s
	fetched := map[int64]bool{}
	var mu sync.Mutex
	phase := func(deployments bool) {
		var g errgroup.Group
		g.SetLimit(w.opt.Concurrency)
		for _, k := range keys {
			t := targets[k]
			if (t.event == store.HookDeployment) != deployments {
				continue
			}
			g.Go(func() error {
				switch t.event {
				case store.HookMergeRequest:
					t.outcome, t.changed, t.err = s.hookMergeRequest(ctx, p, t.id)
					mu.Lock()
					fetched[t.id] = true
					mu.Unlock()
				case store.HookPipeline:
					t.outcome, t.changed, t.err = s.hookPipeline(ctx, p, t.id)
				case store.HookDeployment:
					var links []store.MRLink
					t.outcome, t.changed, links, t.err = s.hookDeployment(ctx, p, t.id)
					if t.err == nil {
						mu.Lock()
						var todo []int64
						for _, l := range links {
							if l.ProjectID == p.ID && !fetched[l.IID] {
								fetched[l.IID] = true
								todo = append(todo, l.IID)
							}
						}
						mu.Unlock()
						n, changed, err := s.hookLinkedMergeRequests(ctx, p, todo)
						t.changed = t.changed || changed
						if err != nil {
							t.err = err
						} else if n > 0 {
							t.outcome += fmt.Sprintf("; %d of its merge requests fetched", n)
						}
						if t.err == nil && len(links) == 0 {
							w.recheckLinks(ctx, p, t)
						}
					}
				default:
					t.outcome = "not an event Pacer reads"
				}
				return nil
			})
		}
		g.Wait()
	}
	phase(false)
	phase(true)
}

// recheckLinks queues the follow-ups of a fresh deployment whose links GitLab had not made
// yet when its delivery was fetched.
func (w *Webhooks) recheckLinks(ctx context.Context, p store.Project, t *target) {
	d := t.deliveries[0]
	if strings.HasPrefix(d.Delivery, linkRecheck) {
		return
	}
	dep, err := w.st.DeploymentByID(ctx, t.id)
	if err != nil || w.s.now().Sub(dep.FinishedAt) > time.Hour {
		return // not a stored production deployment, or not fresh: polling does the rest
	}
	now := time.Now().UTC()
	for i, after := range linkRechecks {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d", d.ID, linkRecheck, i)))
		f := store.WebhookDelivery{ID: hex.EncodeToString(sum[:16]), Delivery: fmt.Sprintf("%s %d of %s", linkRecheck, i+1, d.Delivery),
			Event: store.HookDeployment, ProjectID: p.ID, ProjectPath: p.Path, ObjectID: t.id, ReceivedAt: now,
			NextAttemptAt: now.Add(after)}
		if _, err := w.st.EnqueueWebhook(ctx, f); err != nil {
			w.opt.Logger.Warn("webhooks: queue a check of a deployment's links", "deployment", t.id, "error", err)
			return
		}
	}
	t.outcome += "; GitLab had linked no merge requests yet: asked again in 1, 5 and 15 minutes"
}

// hookMergeRequest fetches one MR as a sync would: the MR, and, when it is merged into the
// default branch and its stored commits and notes are not those of this version, its commits
// and notes. A version older than the stored one is not written.
func (s *syncer) hookMergeRequest(ctx context.Context, p store.Project, iid int64) (outcome string, changed bool, err error) {
	what := fmt.Sprintf("%s!%d", p.Path, iid)
	m, _, err := getJSON[*apiMergeRequest](ctx, s.gl, fmt.Sprintf("projects/%d/merge_requests/%d", p.ID, iid), nil)
	if httpStatus(err) == http.StatusNotFound {
		if err := s.confirmGone(ctx, p, "", what, err); err != nil {
			return "", false, err
		}
		if _, serr := s.st.MergeRequest(ctx, p.ID, iid); serr == nil {
			if err := s.st.DeleteMergeRequest(ctx, p.ID, iid); err != nil {
				return "", false, err
			}
			return "deleted in GitLab: removed", true, nil
		}
		return "not in GitLab (deleted)", false, nil
	}
	if err != nil {
		return "", false, explain("get merge request "+what, err)
	}
	if m == nil || m.IID != iid {
		return "", false, fmt.Errorf("collector: get merge request %s: GitLab answered another merge request", what)
	}
	row := mergeRequestRow(p.ID, m)
	if m.Author != nil {
		if err := s.users.ensure(ctx, m.Author.ID, m.Author.Username); err != nil {
			return "", false, err
		}
	}
	stored, serr := s.st.MergeRequest(ctx, p.ID, iid)
	switch {
	case serr == nil && stored.UpdatedAt.After(row.UpdatedAt):
		return "the stored version is newer", false, nil
	case serr != nil && !errors.Is(serr, store.ErrNotFound):
		return "", false, serr
	}
	exists := serr == nil
	sameVersion := exists && stored.UpdatedAt.Equal(row.UpdatedAt)
	if !sameVersion {
		if err := s.st.SaveHookMergeRequest(ctx, row); err != nil {
			return "", false, err
		}
		changed = true
	}
	needsDetails := row.State == "merged" && row.TargetBranch == p.DefaultBranch &&
		!(exists && stored.DetailsUpdatedAt != nil && stored.DetailsUpdatedAt.Equal(row.UpdatedAt))
	if !needsDetails {
		if changed {
			return "saved", true, nil
		}
		return "unchanged", false, nil
	}
	d, ok, err := s.mergeRequestDetails(ctx, p, row)
	if err != nil {
		return "", changed, err
	}
	if !ok {
		if err := s.st.DeleteMergeRequest(ctx, p.ID, iid); err != nil {
			return "", changed, err
		}
		return "deleted in GitLab: removed", true, nil
	}
	missing, err := s.st.ReplaceMergeRequestDetailsBatch(ctx, []store.MergeRequestDetails{d})
	if err != nil {
		return "", changed, err
	}
	if len(missing) > 0 {
		return "", changed, fmt.Errorf("collector: merge request %s was removed while its details were fetched", what)
	}
	return fmt.Sprintf("saved with %d commits and %d review notes", len(d.Commits), len(d.Notes)), true, nil
}

// hookLinkedMergeRequests fetches the MRs a deployment links that this project has not got
// merged yet (GitLab links MRs before their own events may have arrived), at most
// maxLinkedFetches.
func (s *syncer) hookLinkedMergeRequests(ctx context.Context, p store.Project, iids []int64) (n int, changed bool, err error) {
	for _, iid := range iids {
		if n >= maxLinkedFetches {
			break
		}
		m, err := s.st.MergeRequest(ctx, p.ID, iid)
		if err == nil && m.State == "merged" && (m.TargetBranch != p.DefaultBranch || m.DetailsCurrent()) {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, changed, err
		}
		_, c, err := s.hookMergeRequest(ctx, p, iid)
		if err != nil {
			return n, changed, err
		}
		n++
		changed = changed || c
	}
	return n, changed, nil
}

// hookPipeline fetches one pipeline (GET /projects/:id/pipelines/:id has its finish time and
// coverage too) and keeps it when it ran on the default branch.
func (s *syncer) hookPipeline(ctx context.Context, p store.Project, id int64) (outcome string, changed bool, err error) {
	if p.DefaultBranch == "" {
		return "the project has no default branch", false, nil
	}
	type pipelineEntity struct {
		ID         int64           `json:"id"`
		IID        int64           `json:"iid"`
		Ref        string          `json:"ref"`
		SHA        string          `json:"sha"`
		Status     string          `json:"status"`
		Source     string          `json:"source"`
		CreatedAt  *time.Time      `json:"created_at"`
		UpdatedAt  *time.Time      `json:"updated_at"`
		FinishedAt *time.Time      `json:"finished_at"`
		Coverage   json.RawMessage `json:"coverage"`
		WebURL     string          `json:"web_url"`
	}
	what := fmt.Sprintf("pipeline %d of %s", id, p.Path)
	x, _, err := getJSON[pipelineEntity](ctx, s.gl, fmt.Sprintf("projects/%d/pipelines/%d", p.ID, id), nil)
	if httpStatus(err) == http.StatusNotFound {
		if err := s.confirmGone(ctx, p, "", what, err); err != nil {
			return "", false, err
		}
		return "not in GitLab (deleted)", false, nil
	}
	if err != nil {
		return "", false, explain("get "+what, err)
	}
	if x.Ref != p.DefaultBranch {
		return "not a default-branch pipeline", false, nil
	}
	row := store.Pipeline{ID: x.ID, IID: x.IID, ProjectID: p.ID, Ref: x.Ref, SHA: x.SHA, Status: x.Status, Source: x.Source,
		CreatedAt: timeOrZero(x.CreatedAt), UpdatedAt: timeOrZero(x.UpdatedAt), FinishedAt: secsPtr(x.FinishedAt),
		Coverage: parseCoverage(x.Coverage), WebURL: x.WebURL, DetailFetched: true}
	stored, serr := s.st.PipelineByID(ctx, id)
	switch {
	case serr == nil && stored.UpdatedAt.After(row.UpdatedAt):
		return "the stored version is newer", false, nil
	case serr == nil && stored.UpdatedAt.Equal(row.UpdatedAt) && stored.Status == row.Status && stored.DetailFetched &&
		equalTime(stored.FinishedAt, row.FinishedAt) && equalFloat(stored.Coverage, row.Coverage):
		return "unchanged", false, nil
	case serr != nil && !errors.Is(serr, store.ErrNotFound):
		return "", false, serr
	}
	if err := s.st.SaveHookPipeline(ctx, row); err != nil {
		return "", false, err
	}
	if row.Coverage != nil {
		return fmt.Sprintf("saved (%s, coverage %.2f%%)", row.Status, *row.Coverage), true, nil
	}
	return "saved (" + row.Status + ")", true, nil
}

// hookDeployment fetches one deployment and, when it is a successful production deployment,
// keeps it and fetches its MRs as the sync's link step does.
func (s *syncer) hookDeployment(ctx context.Context, p store.Project, id int64) (outcome string, changed bool, links []store.MRLink, err error) {
	what := fmt.Sprintf("deployment %d of %s", id, p.Path)
	d, _, err := getJSON[*apiDeployment](ctx, s.gl, fmt.Sprintf("projects/%d/deployments/%d", p.ID, id), nil)
	if httpStatus(err) == http.StatusNotFound {
		if err := s.confirmGone(ctx, p, "", what, err); err != nil {
			return "", false, nil, err
		}
		return "not in GitLab (deleted)", false, nil, nil
	}
	if err != nil {
		return "", false, nil, explain("get "+what, err)
	}
	if d == nil || d.Status != "success" || d.Environment == nil {
		status := "unknown"
		if d != nil {
			status = d.Status
		}
		return "status " + status + ": only successful deployments are kept", false, nil, nil
	}
	envs, _, err := s.environments(ctx, p, false)
	if err != nil {
		return "", false, nil, err
	}
	refreshed := false
	env, _, err := s.deploymentEnvironment(ctx, p, envs, &refreshed, d)
	if err != nil {
		return "", false, nil, err
	}
	if !env.Production {
		return "not a production environment (" + env.Name + ")", false, nil, nil
	}
	row := deploymentRow(p, env, d)
	stored, serr := s.st.DeploymentByID(ctx, id)
	switch {
	case serr == nil && stored.UpdatedAt.After(row.UpdatedAt):
		return "the stored version is newer", false, nil, nil
	case serr != nil && !errors.Is(serr, store.ErrNotFound):
		return "", false, nil, serr
	}
	if serr != nil || !sameDeployment(stored, row) {
		if err := s.st.SaveHookDeployment(ctx, row); err != nil {
			return "", false, nil, err
		}
		changed = true
		outcome = "saved"
	} else {
		outcome = "unchanged"
	}
	if serr == nil && stored.LinksFetchedAt != nil && !stored.LinksFetchedAt.Before(stored.FinishedAt.Add(store.LinkRefetchWindow)) {
		// Its links are final: fetched a day after it finished.
		ls, err := s.st.DeploymentMergeRequests(ctx, id)
		return outcome, changed, ls, err
	}
	l, err := s.deploymentLinks(ctx, p, row)
	if err != nil {
		return "", changed, nil, err
	}
	before, err := s.st.DeploymentMergeRequests(ctx, id)
	if err != nil {
		return "", changed, nil, err
	}
	missing, err := s.st.ReplaceDeploymentMergeRequestsBatch(ctx, []store.DeploymentLinks{l})
	if err != nil {
		return "", changed, nil, err
	}
	if len(missing) > 0 {
		return "", changed, nil, fmt.Errorf("collector: %s was removed while its merge requests were fetched", what)
	}
	if !sameLinks(before, l.Links) {
		changed = true
	}
	return fmt.Sprintf("%s; %d merge requests linked", outcome, len(l.Links)), changed, l.Links, nil
}

func sameDeployment(a, b store.Deployment) bool {
	return a.IID == b.IID && a.EnvironmentID == b.EnvironmentID && a.Environment == b.Environment && a.Ref == b.Ref &&
		a.SHA == b.SHA && a.Status == b.Status && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.FinishedAt.Equal(b.FinishedAt) && a.JobURL == b.JobURL
}

func sameLinks(stored, fetched []store.MRLink) bool {
	if len(stored) != len(fetched) {
		return false
	}
	seen := map[store.MRLink]bool{}
	for _, l := range stored {
		seen[l] = true
	}
	for _, l := range fetched {
		if !seen[l] {
			return false
		}
	}
	return true
}

func equalTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func equalFloat(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
