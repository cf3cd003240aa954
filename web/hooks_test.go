package web

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

const testSecret = "a-long-enough-webhook-secret-for-tests"

// hookOrg is a small generated organisation behind the GitLab simulator; its clock is on a
// weekday morning, so pulses happen in the current week.
func hookOrg(t testing.TB) (*gitlabsim.Org, *gitlabsim.Server, *config.Config) {
	t.Helper()
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 4, Days: 21, End: time.Date(2026, 3, 25, 9, 0, 0, 0, time.UTC),
		Services: 5, Scale: 0.3})
	sim := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	t.Cleanup(sim.Close)
	cfg := config.Default()
	cfg.Bots.Usernames = org.BotUsernames()
	return org, sim, cfg
}

// livePacer is Pacer serving st over HTTP with webhooks on, its worker fetching from sim.
type livePacer struct {
	st     *store.Store
	eng    *metrics.Engine
	srv    *Server
	http   *httptest.Server
	worker *collector.Webhooks
}

func startLivePacer(t testing.TB, st *store.Store, org *gitlabsim.Org, sim *gitlabsim.Server, cfg *config.Config, run bool) *livePacer {
	t.Helper()
	eng := metrics.New(st, cfg)
	eng.SetClock(org.Now)
	if err := eng.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	w, err := collector.NewWebhooks(st, collector.WebhookOptions{
		Options: collector.Options{BaseURL: sim.URL(), Token: gitlabsim.DefaultToken, Config: cfg, Now: org.Now, RetryWaitMin: time.Millisecond},
		Refresh: eng.Refresh, Settle: 50 * time.Millisecond, Poll: 200 * time.Millisecond, RetryMin: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: st, Engine: eng, Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version: "test", WebhookSecret: testSecret, WebhookQueued: w.Notify, Collectors: w.Collectors()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
		t.Cleanup(func() { cancel(); wg.Wait() })
	}
	return &livePacer{st: st, eng: eng, srv: srv, http: hs, worker: w}
}

func syncOrg(t testing.TB, st *store.Store, org *gitlabsim.Org, sim *gitlabsim.Server, cfg *config.Config) {
	t.Helper()
	if _, err := collector.Sync(context.Background(), st, collector.Options{BaseURL: sim.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{org.TopGroup()}, Config: cfg, Now: org.Now, RetryWaitMin: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

func (p *livePacer) get(t testing.TB, target string) (int, string) {
	t.Helper()
	resp, err := http.Get(p.http.URL + target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// apiMR is the merge request's row in GET /api/v1/merge-requests, or nil.
func (p *livePacer) apiMR(t testing.TB, project string, iid int64) map[string]any {
	t.Helper()
	next := "/api/v1/merge-requests?period=custom&from=2026-03-01&to=2026-03-31"
	for next != "" {
		code, body := p.get(t, next)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, code, body)
		}
		var page struct {
			Data []map[string]any `json:"data"`
			Next *string          `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		for _, row := range page.Data {
			if row["project"] == project && row["iid"] == float64(iid) {
				return row
			}
		}
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
	}
	return nil
}

func projectSyncsOf(t testing.TB, st *store.Store) []store.ProjectSync {
	t.Helper()
	ps, err := st.ProjectSyncs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func countRows(t testing.TB, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// pulseUntil pulses the organisation until a step does what prefix says; it returns the step.
func pulseUntil(t testing.TB, org *gitlabsim.Org, prefix string) string {
	t.Helper()
	for range 6 {
		if what := org.Pulse(org.Now().Add(time.Second)); strings.HasPrefix(what, prefix) {
			return what
		}
	}
	t.Fatalf("no pulse %s", prefix)
	return ""
}

// A merge in the simulator, then the deployment that ships it, reach Pacer by webhook: the
// next GET /api/v1/merge-requests shows the MR merged, then deployed, without any sync in
// between. A hook with the wrong secret is refused with 401, and nothing of it is stored.
func TestWebhookMergeThenDeploymentReachTheAPI(t *testing.T) {
	org, sim, cfg := hookOrg(t)
	st := storetest.New(t)
	syncOrg(t, st, org, sim, cfg)
	p := startLivePacer(t, st, org, sim, cfg, true)
	syncsBefore := projectSyncsOf(t, st)
	ctx := context.Background()

	// The wrong secret first: GitLab's deliveries are refused, nothing is queued or fetched.
	wrong, err := sim.AddHook(org.TopGroup(), p.http.URL+"/hooks/gitlab", "not-the-secret")
	if err != nil {
		t.Fatal(err)
	}
	opened := pulseUntil(t, org, "opened ")
	if err := sim.FlushHooks(ctx); err != nil {
		t.Fatal(err)
	}
	log := sim.HookDeliveries()
	if len(log) == 0 {
		t.Fatal("the simulator sent nothing")
	}
	for _, d := range log {
		if d.HookID != wrong || d.Status != http.StatusUnauthorized || !strings.Contains(d.Response, "X-Gitlab-Token") {
			t.Fatalf("a delivery with the wrong secret: %+v", d)
		}
	}
	if n := countRows(t, st, "webhook_deliveries"); n != 0 {
		t.Fatalf("%d deliveries stored from a hook with the wrong secret", n)
	}
	project, iid := mrOf(t, opened)
	if _, err := st.MergeRequest(ctx, projectID(t, st, project), iid); err == nil {
		t.Fatalf("%s reached the database with the wrong secret", opened)
	}
	req, _ := http.NewRequest(http.MethodPost, p.http.URL+"/hooks/gitlab", strings.NewReader(`{"object_kind":"merge_request"}`))
	req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token at all: %v %v", resp, err)
	}

	// The right secret.
	if _, err := sim.AddHook(org.TopGroup(), p.http.URL+"/hooks/gitlab", testSecret); err != nil {
		t.Fatal(err)
	}
	merged := pulseUntil(t, org, "merged ")
	project, iid = mrOf(t, merged)
	start := time.Now()
	row := waitFor(t, 15*time.Second, func() map[string]any {
		if r := p.apiMR(t, project, iid); r != nil && r["merged_at"] != nil {
			return r
		}
		return nil
	})
	t.Logf("%s: in the API %s after the merge", merged, time.Since(start).Round(time.Millisecond))
	if row["deployed_at"] != nil {
		t.Fatalf("%s is deployed before its deployment: %v", merged, row)
	}
	deployed := pulseUntil(t, org, "deployed ")
	if !strings.HasPrefix(deployed, "deployed "+project+" ") {
		t.Fatalf("the pulse deployed another project: %s", deployed)
	}
	start = time.Now()
	row = waitFor(t, 15*time.Second, func() map[string]any {
		if r := p.apiMR(t, project, iid); r != nil && r["deployed_at"] != nil {
			return r
		}
		return nil
	})
	t.Logf("%s: deployed in the API %s after the deployment (%v)", deployed, time.Since(start).Round(time.Millisecond), row["deployed_at"])
	if got := projectSyncsOf(t, st); !reflect.DeepEqual(got, syncsBefore) {
		t.Fatalf("a sync ran in between:\nbefore %+v\nafter  %+v", syncsBefore, got)
	}
	for _, d := range sim.HookDeliveries() {
		if d.HookID != wrong && d.Status != http.StatusAccepted && d.Status != http.StatusOK {
			t.Errorf("a delivery with the right secret: %+v", d)
		}
	}
}

func waitFor[T any](t testing.TB, limit time.Duration, f func() T) T {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var zero T
		if v := f(); !reflect.DeepEqual(v, zero) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mrOf reads "merged acme/x!12" (or "opened …").
func mrOf(t testing.TB, what string) (string, int64) {
	t.Helper()
	var verb, project string
	var iid int64
	ref := strings.Fields(what)[1]
	i := strings.LastIndex(ref, "!")
	if _, err := fmt.Sscanf(ref[i+1:], "%d", &iid); err != nil || i < 0 {
		t.Fatalf("not an MR step: %q", what)
	}
	verb, project = strings.Fields(what)[0], ref[:i]
	_ = verb
	return project, iid
}

func projectID(t testing.TB, st *store.Store, path string) int64 {
	t.Helper()
	ids, err := st.ProjectIDsByPath(context.Background(), []string{path})
	if err != nil || len(ids) != 1 {
		t.Fatalf("project %s: %v %v", path, ids, err)
	}
	return ids[0]
}

// recorded is a webhook request as GitLab sent it.
type recorded struct {
	header http.Header
	body   []byte
}

// recorder keeps the webhook requests it gets.
type recorder struct {
	mu  sync.Mutex
	got []recorded
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, recorded{header: r.Header.Clone(), body: b})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func post(t testing.TB, url string, r recorded) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// dumpTables is every table's rows, sorted, but for the bookkeeping of writes: the webhook
// queue (which deliveries arrived), the revision counters the triggers move on every write,
// and the facts' generation and markers made of them.
func dumpTables(t testing.TB, db *sql.DB) map[string][]string {
	t.Helper()
	skip := map[string]bool{"webhook_deliveries": true, "project_revisions": true, "fact_state": true, "fact_projects": true}
	tables := storetest.Tables(t, db)
	out := map[string][]string{}
	for _, tb := range tables {
		if skip[tb] {
			continue
		}
		rs, err := db.Query(`SELECT * FROM ` + tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		var lines []string
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%#v", vals))
		}
		rs.Close()
		slices.Sort(lines)
		out[tb] = lines
	}
	return out
}

// A thousand deliveries of the same events, shuffled, repeated (as GitLab resends them and as
// several hooks send them) and late (after the worker fetched them once), leave the database
// as one delivery of each does: every table equal, row for row.
func TestWebhookRepeatsChangeNothing(t *testing.T) {
	org, sim, cfg := hookOrg(t)
	base := storetest.New(t)
	syncOrg(t, base, org, sim, cfg)
	rc := &recorder{}
	rs := httptest.NewServer(rc)
	defer rs.Close()
	if _, err := sim.AddHook(org.TopGroup(), rs.URL, testSecret); err != nil {
		t.Fatal(err)
	}
	org.Advance(2 * time.Hour)
	for range 6 {
		org.Pulse(org.Now().Add(time.Second))
	}
	ctx := context.Background()
	if err := sim.FlushHooks(ctx); err != nil {
		t.Fatal(err)
	}
	events := rc.got
	t.Logf("%d events", len(events))
	if len(events) < 20 {
		t.Fatalf("only %d events", len(events))
	}

	once := startLivePacer(t, storetest.Clone(t, base), org, sim, cfg, false)
	for _, e := range events {
		if code := post(t, once.http.URL+"/hooks/gitlab", e); code != http.StatusAccepted {
			t.Fatalf("delivery: %d", code)
		}
	}
	if _, err := once.worker.Drain(ctx); err != nil {
		t.Fatal(err)
	}

	many := startLivePacer(t, storetest.Clone(t, base), org, sim, cfg, false)
	rnd := rand.New(rand.NewPCG(1, 2))
	var thousand []recorded
	for i := range 1000 {
		e := events[i%len(events)]
		if rnd.IntN(3) == 0 {
			// Another delivery of the same event (a group and a project hook, say).
			e = recorded{header: e.header.Clone(), body: e.body}
			e.header.Set("X-Gitlab-Event-UUID", fmt.Sprintf("other-%d", i))
			e.header.Set("Idempotency-Key", fmt.Sprintf("other-%d", i))
		}
		thousand = append(thousand, e)
	}
	rnd.Shuffle(len(thousand), func(i, j int) { thousand[i], thousand[j] = thousand[j], thousand[i] })
	codes := map[int]int{}
	for i, e := range thousand {
		codes[post(t, many.http.URL+"/hooks/gitlab", e)]++
		if i%250 == 249 {
			// Later deliveries arrive after the worker fetched the objects once already.
			if _, err := many.worker.Drain(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := many.worker.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("answers: %v", codes)
	if codes[http.StatusOK] == 0 || codes[http.StatusAccepted] == 0 || len(codes) != 2 {
		t.Fatalf("answers %v: repeats are 200, new deliveries 202", codes)
	}
	a, b := dumpTables(t, once.st.DB), dumpTables(t, many.st.DB)
	for table, rows := range a {
		if !reflect.DeepEqual(rows, b[table]) {
			t.Errorf("table %s differs: %d rows after one delivery each, %d after a thousand", table, len(rows), len(b[table]))
		}
	}
	if len(a) != len(b) || len(a["merge_requests"]) == 0 || len(a["deployments"]) == 0 {
		t.Fatalf("tables: %d and %d", len(a), len(b))
	}
	// And the events did change something: the database is not the synced one.
	if reflect.DeepEqual(a["merge_requests"], dumpTables(t, base.DB)["merge_requests"]) {
		t.Fatal("the deliveries changed nothing at all")
	}
}

// A fetch that fails is retried with backoff and shows on /sync and /metrics; when GitLab
// answers again it is done and the page says so.
func TestWebhookFailingFetchIsRetriedAndShown(t *testing.T) {
	org, sim, cfg := hookOrg(t)
	st := storetest.New(t)
	syncOrg(t, st, org, sim, cfg)
	p := startLivePacer(t, st, org, sim, cfg, false)
	if _, err := sim.AddHook(org.TopGroup(), p.http.URL+"/hooks/gitlab", testSecret); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	merged := pulseUntil(t, org, "merged ")
	if err := sim.FlushHooks(ctx); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(gitlabsim.Faults{ServerError: 1})
	r, err := p.worker.Drain(ctx)
	if err != nil || r.Retried == 0 || r.Done != 0 {
		t.Fatalf("with GitLab failing: %+v %v", r, err)
	}
	code, page := p.get(t, "/sync")
	project, iid := mrOf(t, merged)
	for _, want := range []string{"Webhooks", "Retrying", fmt.Sprintf("merge request %s!%d", project, iid), "Next attempt", "50"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("/sync while the fetch fails: %d, lacks %q", code, want)
		}
	}
	code, metricsText := p.get(t, "/metrics")
	for _, want := range []string{"pacer_webhook_queue_retrying " + fmt.Sprint(r.Retried), `pacer_webhook_processed_total{event="merge_request",outcome="retry"}`,
		`pacer_webhook_deliveries_total{event="merge_request",outcome="queued"}`} {
		if code != http.StatusOK || !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	sim.SetFaults(gitlabsim.Faults{})
	time.Sleep(250 * time.Millisecond) // RetryMin
	if r, err = p.worker.Drain(ctx); err != nil || r.Done == 0 || r.Retried != 0 {
		t.Fatalf("after GitLab recovered: %+v %v", r, err)
	}
	if _, err := st.MergeRequest(ctx, projectID(t, st, project), iid); err != nil {
		t.Fatalf("%s after the retry: %v", merged, err)
	}
	_, page = p.get(t, "/sync")
	if strings.Contains(page, "Next attempt") || !strings.Contains(page, "Last delivery") {
		t.Errorf("/sync after the retry still lists a failing delivery")
	}
}
