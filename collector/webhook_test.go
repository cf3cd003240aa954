package collector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// hookEnv is an organisation synced once into st, with a hook that sends its events to a
// receiver that answers 202; queue turns what the simulator sent into queued deliveries, as
// POST /hooks/gitlab does.
type hookEnv struct {
	*env
	st *store.Store
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	e := newEnv(t, gitlabsim.GenOptions{Seed: 11, End: monday.Add(9 * time.Hour), Days: 10, Services: 5, Scale: 0.5}, gitlabsim.ServerOptions{})
	st := storetest.New(t)
	e.sync(t, st)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(rc.Close)
	if _, err := e.srv.AddHook(e.org.TopGroup(), rc.URL, "secret"); err != nil {
		t.Fatal(err)
	}
	return &hookEnv{env: e, st: st}
}

var hookKinds = map[string]string{"Merge Request Hook": store.HookMergeRequest, "Pipeline Hook": store.HookPipeline,
	"Deployment Hook": store.HookDeployment}

// queue waits for the simulator's deliveries and queues those after skip; it returns how many
// there are in all.
func (h *hookEnv) queue(t *testing.T, skip int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.srv.FlushHooks(ctx); err != nil {
		t.Fatal(err)
	}
	log := h.srv.HookDeliveries()
	for _, d := range log[skip:] {
		_, err := h.st.EnqueueWebhook(ctx, store.WebhookDelivery{ID: d.EventUUID, Delivery: d.EventUUID, Event: hookKinds[d.Event],
			ProjectID: d.ProjectID, ObjectID: d.ObjectID, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	return len(log)
}

func (h *hookEnv) worker(t *testing.T, o collector.WebhookOptions) *collector.Webhooks {
	t.Helper()
	o.Options = h.options()
	w, err := collector.NewWebhooks(h.st, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func cursors(t *testing.T, st *store.Store) map[int64]map[store.Resource]time.Time {
	t.Helper()
	syncs, err := st.ProjectSyncs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[store.Resource]time.Time{}
	for _, s := range syncs {
		out[s.Project.ID] = s.Cursors
	}
	return out
}

// What the worker fetches for the events of a moving organisation is what a full sync of it
// stores for those objects: the MRs with their commits, notes and review facts, the production
// deployments with their MRs, the default-branch pipelines with their coverage. No cursor
// moves, and each object is fetched once however many deliveries name it.
func TestWebhookWorkerFetchesWhatASyncWould(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t)
	ctx := context.Background()
	before := cursors(t, h.st)
	h.org.Advance(90 * time.Minute)
	for i := range 9 {
		t.Log(h.org.Pulse(h.org.Now().Add(time.Duration(i+1) * time.Second)))
	}
	n := h.queue(t, 0)
	w := h.worker(t, collector.WebhookOptions{})
	r, err := w.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deliveries: %+v", n, r)
	if r.Deliveries != n || r.Done != n || r.Fetched >= n {
		t.Fatalf("round %+v for %d deliveries: every one done, objects fetched once each", r, n)
	}
	if after := cursors(t, h.st); !reflect.DeepEqual(before, after) {
		t.Fatalf("cursors moved:\nbefore %v\nafter  %v", before, after)
	}

	// A full sync of the organisation as it stands now, into a fresh database.
	full := storetest.New(t)
	h.sync(t, full)
	qs, err := h.st.WebhookDeliveries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, d := range qs {
		if strings.HasPrefix(d.Delivery, "pacer-links-recheck") {
			// GitLab had not linked the deployment's MRs yet: the worker asks again later.
			if d.State != store.HookQueued || !d.NextAttemptAt.After(time.Now()) {
				t.Errorf("link recheck %s: %s, due %v", d.Describe(), d.State, d.NextAttemptAt)
			}
			continue
		}
		if d.State != store.HookDone {
			t.Fatalf("delivery %s: %s %s", d.Describe(), d.State, d.LastError)
		}
		switch d.Event {
		case store.HookMergeRequest:
			got, err1 := h.st.MergeRequest(ctx, d.ProjectID, d.ObjectID)
			want, err2 := full.MergeRequest(ctx, d.ProjectID, d.ObjectID)
			if errors.Is(err2, store.ErrNotFound) {
				continue // the sync's window left it out (or its project is not synced)
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", d.Describe(), err1, err2)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\nwebhook %+v\nsync    %+v", d.Describe(), got, want)
			}
			gc, _ := h.st.MergeRequestCommits(ctx, d.ProjectID, d.ObjectID)
			wc, _ := full.MergeRequestCommits(ctx, d.ProjectID, d.ObjectID)
			gn, _ := h.st.MergeRequestNotes(ctx, d.ProjectID, d.ObjectID)
			wn, _ := full.MergeRequestNotes(ctx, d.ProjectID, d.ObjectID)
			if !reflect.DeepEqual(gc, wc) || !reflect.DeepEqual(gn, wn) {
				t.Errorf("%s: commits or notes differ: %d/%d commits, %d/%d notes", d.Describe(), len(gc), len(wc), len(gn), len(wn))
			}
			checked["merge request"]++
		case store.HookDeployment:
			got, err1 := h.st.DeploymentByID(ctx, d.ObjectID)
			want, err2 := full.DeploymentByID(ctx, d.ObjectID)
			if errors.Is(err1, store.ErrNotFound) && errors.Is(err2, store.ErrNotFound) {
				continue // not a successful production deployment
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", d.Describe(), err1, err2)
			}
			got.LinksFetchedAt, want.LinksFetchedAt = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\nwebhook %+v\nsync    %+v", d.Describe(), got, want)
			}
			gl, _ := h.st.DeploymentMergeRequests(ctx, d.ObjectID)
			wl, _ := full.DeploymentMergeRequests(ctx, d.ObjectID)
			if !reflect.DeepEqual(gl, wl) {
				t.Errorf("%s: links %v, a sync has %v", d.Describe(), gl, wl)
			}
			checked["deployment"]++
		case store.HookPipeline:
			got, err1 := h.st.PipelineByID(ctx, d.ObjectID)
			want, err2 := full.PipelineByID(ctx, d.ObjectID)
			if errors.Is(err1, store.ErrNotFound) && errors.Is(err2, store.ErrNotFound) {
				continue // not on the default branch
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", d.Describe(), err1, err2)
			}
			if got.Status != want.Status || !got.UpdatedAt.Equal(want.UpdatedAt) || got.SHA != want.SHA {
				t.Errorf("%s:\nwebhook %+v\nsync    %+v", d.Describe(), got, want)
			}
			if want.DetailFetched && (!reflect.DeepEqual(got.Coverage, want.Coverage) || !reflect.DeepEqual(got.FinishedAt, want.FinishedAt)) {
				t.Errorf("%s: coverage %v at %v, a sync read %v at %v", d.Describe(), got.Coverage, got.FinishedAt, want.Coverage, want.FinishedAt)
			}
			checked["pipeline"]++
		}
	}
	t.Logf("checked against a full sync: %v", checked)
	if checked["merge request"] == 0 || checked["deployment"] == 0 || checked["pipeline"] == 0 {
		t.Fatalf("too little to compare: %v", checked)
	}
}

// A fetch that fails is retried with backoff, the error kept for the status page; once GitLab
// answers again the delivery is done. One that fails every time is given up.
func TestWebhookWorkerRetries(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t)
	ctx := context.Background()
	h.org.Pulse(h.org.Now().Add(time.Second))
	n := h.queue(t, 0)
	w := h.worker(t, collector.WebhookOptions{RetryMin: 100 * time.Millisecond, MaxAttempts: 3})
	h.srv.SetFaults(gitlabsim.Faults{ServerError: 1})
	before := time.Now()
	r, err := w.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Retried != n || r.Done != 0 {
		t.Fatalf("with GitLab failing: %+v", r)
	}
	st, err := h.st.WebhookQueueStatus(ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != int64(n) || st.Retrying != int64(n) || len(st.Problems) != n || !strings.Contains(st.Problems[0].LastError, "500") &&
		!strings.Contains(st.Problems[0].LastError, "50") {
		t.Fatalf("queue status: %+v", st)
	}
	if next, ok, _ := h.st.NextWebhookDue(ctx); !ok || !next.After(before.Add(100*time.Millisecond)) {
		t.Fatalf("the retry is not scheduled ahead: %v %v", next, ok)
	}
	h.srv.SetFaults(gitlabsim.Faults{})
	time.Sleep(150 * time.Millisecond)
	if r, err = w.Drain(ctx); err != nil || r.Done != n {
		t.Fatalf("after GitLab recovered: %+v %v", r, err)
	}
	if st, _ = h.st.WebhookQueueStatus(ctx, 10, nil); st.Queued != 0 || len(st.Problems) != 0 || st.Done != int64(n) {
		t.Fatalf("queue status after the retry: %+v", st)
	}

	// Failing every time: given up after MaxAttempts.
	h.org.Pulse(h.org.Now().Add(time.Second))
	m := h.queue(t, n)
	h.srv.SetFaults(gitlabsim.Faults{ServerError: 1})
	for range 3 {
		if _, err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st, _ = h.st.WebhookQueueStatus(ctx, 10, nil); st.Failed != int64(m-n) || st.Queued != 0 {
		t.Fatalf("after every retry failed: %+v", st)
	}
}
