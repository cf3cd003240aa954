package main

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// lockedBuffer is a buffer the command writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingURL = regexp.MustCompile(`(?m)(?:serving on |^)(http://\S+/)`) // the demo prints its URL alone on a line

// start runs a serving command until the test ends; it returns the URL it prints.
func start(t *testing.T, args []string, wait time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	serving := false
	go func() { done <- run(ctx, args, mapEnv(nil), out, errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			// A command stopped before it served (the wait below ran out) fails with the
			// cancellation of whatever it was doing, the demo's sync or metrics refresh;
			// the wait's own failure already says what went wrong.
			if err != nil && (serving || !errors.Is(err, context.Canceled)) {
				t.Errorf("%s: %v", args[0], err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not shut down", args[0])
		}
	})
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if m := servingURL.FindStringSubmatch(out.String()); m != nil {
			serving = true
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("%s ended early: %v\nstdout: %s\nstderr: %s", args[0], err, out, errOut)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s printed no URL in %s\nstdout: %s\nstderr: %s", args[0], wait, out, errOut)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeServesAndShutsDown(t *testing.T) {
	db := storetest.DSN(t)
	url := start(t, []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, 10*time.Second)
	if code, body := get(t, url+"healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	code, body := get(t, url)
	if code != 200 || !strings.Contains(body, "Nothing has been synced yet") {
		t.Fatalf("overview on an empty database: %d", code)
	}
}

func TestServeUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--sync-every", "30s"}, nil, "at least 1m"},
		{[]string{"serve", "--sync-every", "15m"}, nil, "--gitlab-url"},
		{[]string{"serve", "--sync-every", "15m", "--gitlab-url", "https://gitlab.example.com"}, nil, "--group"},
		{[]string{"serve", "--sync-every", "15m", "--gitlab-url", "https://gitlab.example.com", "--group", "acme"}, nil, "PACER_GITLAB_TOKEN"},
		{[]string{"serve", "extra"}, nil, "unexpected argument"},
		{[]string{"serve", "--sync-every", "soon"}, nil, `--sync-every "soon": use a duration`},
	}
	for _, c := range cases {
		var errOut bytes.Buffer
		err := run(context.Background(), c.args, mapEnv(c.env), &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errOut.String(), c.want)
		}
	}
}

func TestServePortInUse(t *testing.T) {
	url := start(t, []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "a.db")}, 10*time.Second)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", addr, "--db", filepath.Join(t.TempDir(), "b.db")}, mapEnv(nil), &bytes.Buffer{}, &errOut)
	if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), "pass --addr") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

// The database decides whether the sync is due: the last project sync's start.
func TestSyncJobDue(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	j := syncJob(st, nil, collectorOptionsForTest(), 15*time.Minute)
	now := time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)
	if due, err := j.due(ctx, now.Add(-5*time.Minute)); err != nil || !due {
		t.Fatalf("never synced: due=%v err=%v", due, err)
	}
	// That sync starts a project.
	if _, err := st.DB.Exec(`INSERT INTO projects(id, path, discovered_at) VALUES (1, 'acme/api', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := st.StartProjectSync(ctx, 1, now.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if due, _ := j.due(ctx, now); due {
		t.Error("synced 5 minutes ago with every=15m: not due")
	}
	if due, _ := j.due(ctx, now.Add(10*time.Minute)); !due {
		t.Error("15 minutes after the last sync: due")
	}
}

// A sync that fails before any project starts leaves nothing in the database; the job still
// waits its interval before trying again, instead of retrying on every tick.
func TestSyncJobWaitsAfterAnAttemptThatLeftNoTrace(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	j := syncJob(st, nil, collectorOptionsForTest(), 15*time.Minute)
	now := time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)
	if due, err := j.due(ctx, now); err != nil || !due {
		t.Fatalf("never synced: due=%v err=%v", due, err)
	}
	// (The attempt failed: project_syncs is still empty.)
	if due, _ := j.due(ctx, now.Add(30*time.Second)); due {
		t.Error("due again on the next tick after a failed attempt")
	}
	if due, _ := j.due(ctx, now.Add(15*time.Minute)); !due {
		t.Error("not due a full interval after the failed attempt")
	}
}

func TestRunJobs(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	runs := map[string]int{}
	count := func(name string, err error) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			runs[name]++
			mu.Unlock()
			return err
		}
	}
	jobs := []job{
		{name: "due", due: func(context.Context, time.Time) (bool, error) { return true, nil }, run: count("due", nil)},
		{name: "failing", due: func(context.Context, time.Time) (bool, error) { return true, nil }, run: count("failing", errors.New("boom"))},
		{name: "idle", due: func(context.Context, time.Time) (bool, error) { return false, nil }, run: count("idle", nil)},
		{name: "broken check", due: func(context.Context, time.Time) (bool, error) { return true, errors.New("db gone") }, run: count("broken check", nil)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	runJobs(ctx, log, jobs, time.Now, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if runs["due"] < 2 || runs["failing"] < 2 {
		t.Errorf("due jobs run each tick, a failure does not stop them: %v", runs)
	}
	if runs["idle"] != 0 || runs["broken check"] != 0 {
		t.Errorf("jobs that are not due (or whose check fails) must not run: %v", runs)
	}
}

func TestDemoServesASyncedOrganisation(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo syncs a generated organisation")
	}
	// A small organisation: under -race on a busy machine the sync of the default one can take
	// most of a minute, and a start that outlasts the wait is cancelled mid-way.
	url := start(t, []string{"demo", "--addr", "127.0.0.1:0", "--days", "21", "--scale", "0.2"}, 60*time.Second)
	// Sign-in is on: the dashboard sends the browser to the simulator's sign-in page, which
	// lists the people; the first sees every project.
	b := signInThroughSimulator(t, url)
	code, body := b.get(url)
	if code != 200 || !strings.Contains(body, "Cycle time (median)") || strings.Contains(body, "Nothing has been synced yet") {
		t.Fatalf("overview: %d", code)
	}
	code, body = b.get(url + "sync")
	if code != 200 || !strings.Contains(body, "acme/monolith") || !strings.Contains(body, "state-ok") {
		t.Fatalf("sync status: %d", code)
	}
	// The demo reads the simulator through GraphQL (api = auto), and the page says so.
	if !strings.Contains(body, "<td>GraphQL</td>") || strings.Contains(body, "<td>REST</td>") {
		t.Errorf("the sync page does not say the demo's projects were read through GraphQL")
	}
	// The demo configuration splits the monolith and defines teams.
	_, body = b.get(url + "releases?team=commerce")
	for _, s := range []string{"checkout", "payments", "Deploy window", "Mon, Tue, Wed, Thu 09:00–17:00"} {
		if !strings.Contains(body, s) {
			t.Errorf("releases page lacks %q", s)
		}
	}
}

// signedInClient is a browser-like client with the cookies of a session.
type signedInClient struct {
	t *testing.T
	c *http.Client
}

func (b signedInClient) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b signedInClient) get(u string) (int, string) {
	resp, body := b.do(http.MethodGet, u, nil)
	return resp.StatusCode, body
}

var (
	simHidden = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
	simPerson = regexp.MustCompile(`name="username" value="([^"]+)"`)
)

// signInThroughSimulator opens the dashboard at url, follows it to the simulator's sign-in
// page and signs in as the first person listed there.
func signInThroughSimulator(t *testing.T, dashboard string) signedInClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := signedInClient{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	resp, form := b.do(http.MethodGet, dashboard, nil)
	if resp.Request.URL.Path != "/oauth/authorize" {
		t.Fatalf("the dashboard did not send the browser to sign in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	v := url.Values{}
	for _, m := range simHidden.FindAllStringSubmatch(form, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	person := simPerson.FindStringSubmatch(form)
	if person == nil {
		t.Fatalf("the simulator's sign-in page lists nobody:\n%s", form)
	}
	v.Set("username", person[1])
	resp, _ = b.do(http.MethodPost, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/oauth/authorize", v)
	if resp.StatusCode != 200 || resp.Request.URL.String() != dashboard {
		t.Fatalf("after signing in as %s: %d at %s", person[1], resp.StatusCode, resp.Request.URL)
	}
	return b
}

func TestDemoBadDays(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--days", "3"}, "7 to 730"},
		{[]string{"demo", "--scale", "0"}, "0.05 to 4"},
		{[]string{"demo", "--scale", "NaN"}, "0.05 to 4"},
		{[]string{"demo", "--scale", "40"}, "0.05 to 4"},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), c.args, mapEnv(nil), &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errOut.String())
		}
	}
}

func collectorOptionsForTest() collector.Options {
	return collector.Options{BaseURL: "http://127.0.0.1:1", Token: "t", Groups: []string{"acme"}}
}

// serve derives stale metric facts at start-up, before any page asks for them.
func TestServeDerivesStaleFactsAtStart(t *testing.T) {
	db := storetest.DSN(t)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB.Exec(`INSERT INTO projects(id, path, discovered_at) VALUES (1, 'acme/api', 0)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	start(t, []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, 10*time.Second)
	st, err = store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := st.DB.QueryRow(`SELECT COUNT(*) FROM fact_state`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no facts derived 10 s after start, without a page request")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
