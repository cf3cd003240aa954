package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestSyncBadInputIsOneLineExit2AndTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	db := storetest.DSN(t)
	badConfig := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badConfig, []byte("gitlab_url = \"https://g.example\"\nnope = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token := map[string]string{"PACER_GITLAB_TOKEN": "glpat-secret-value"}
	withEnv := func(extra map[string]string) map[string]string {
		m := map[string]string{"PACER_GITLAB_TOKEN": "glpat-secret-value"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, token, "frobnicate"},
		{"no url", []string{"--group", "acme"}, token, "--gitlab-url"},
		{"bad url", []string{"--gitlab-url", "gitlab.example.com", "--group", "acme"}, token, "not a GitLab URL"},
		{"bad url from env", []string{"--group", "acme"}, withEnv(map[string]string{"PACER_GITLAB_URL": "ftp://x"}), "not a GitLab URL"},
		{"nothing to sync", []string{"--gitlab-url", "https://g.example"}, token, "nothing to sync"},
		{"bad since", []string{"--gitlab-url", "https://g.example", "--group", "acme", "--since", "2026-13-01"}, token, "--since"},
		{"bad since from env", []string{"--gitlab-url", "https://g.example", "--group", "acme"}, withEnv(map[string]string{"PACER_SINCE": "yesterday"}), "--since"},
		{"bad concurrency", []string{"--gitlab-url", "https://g.example", "--group", "acme", "--concurrency", "0"}, token, "--concurrency"},
		{"bad api", []string{"--gitlab-url", "https://g.example", "--group", "acme", "--api", "soap"}, token, "--api"},
		{"bad api from env", []string{"--gitlab-url", "https://g.example", "--group", "acme"}, withEnv(map[string]string{"PACER_API": "soap"}), "--api"},
		{"no token", []string{"--gitlab-url", "https://g.example", "--group", "acme"}, nil, "PACER_GITLAB_TOKEN"},
		{"bad config", []string{"--config", badConfig, "--group", "acme"}, token, "nope"},
		{"missing config", []string{"--config", filepath.Join(dir, "missing.toml"), "--group", "acme"}, token, "missing.toml"},
		{"stray argument", []string{"--gitlab-url", "https://g.example", "--group", "acme", "extra"}, token, "extra"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"sync", "--db", db}, c.args...)
			err := run(context.Background(), args, mapEnv(c.env), &out, &errOut)
			var msg bytes.Buffer
			if code := exitCode(err, &msg); code != 2 {
				t.Fatalf("exit %d (%v), want 2", code, err)
			}
			// Everything written to stderr, the flag package's own output included.
			line := errOut.String() + msg.String()
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, c.want) {
				t.Fatalf("message %q, want one line mentioning %q", line, c.want)
			}
			if strings.Contains(line+errOut.String()+out.String(), "glpat-secret-value") {
				t.Fatal("the token was printed")
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Fatalf("the database was created or touched: %v", err)
			}
		})
	}
}

func TestSyncAgainstTheSimulator(t *testing.T) {
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 11, Days: 10, Services: 3, Scale: 0.5,
		End: time.Now().UTC().Truncate(24 * time.Hour)})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	db := storetest.DSN(t)
	env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_GITLAB_URL": srv.URL() + "/api/v4/"})
	cfgPath := filepath.Join(t.TempDir(), "pacer.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("[bots]\nusernames = %q\n", org.BotUsernames())), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"sync", "--group", org.TopGroup(), "--db", db, "--since", "2000-01-01", "--config", cfgPath}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("sync: %v\nstdout %s\nstderr %s", err, out.String(), errOut.String())
	}
	truth := org.Truth()
	if !strings.Contains(out.String(), "synced ") || !strings.Contains(out.String(), " requests") ||
		!strings.Contains(out.String(), "read through ") {
		t.Errorf("summary %q", out.String())
	}
	if !strings.Contains(errOut.String(), "project synced") || strings.Contains(errOut.String(), gitlabsim.DefaultToken) {
		t.Errorf("log %q", errOut.String())
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	st.DB.QueryRow(`SELECT count(*) FROM merge_requests`).Scan(&n)
	if n != len(truth.MergeRequests) {
		t.Errorf("%d merge requests stored, the organisation has %d", n, len(truth.MergeRequests))
	}
	// The sync derives the facts itself, so the first page after it is not the one that pays.
	var facts, inScope int
	st.DB.QueryRow(`SELECT count(*) FROM mr_facts`).Scan(&facts)
	for _, mr := range truth.MergeRequests {
		if mr.InScope && !mr.Bot {
			inScope++
		}
	}
	if facts == 0 || facts != inScope {
		t.Errorf("%d MR facts derived after sync, want the %d merged in-scope MRs", facts, inScope)
	}

	// A project that does not exist: the others sync, the exit is 1 and names it.
	out.Reset()
	errOut.Reset()
	err = run(context.Background(), []string{"sync", "--group", org.TopGroup(), "--project", "acme/nowhere", "--db", db}, env, &out, &errOut)
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), "acme/nowhere") {
		t.Fatalf("exit %d, message %q", code, msg.String())
	}
	if !strings.Contains(out.String(), "failed: acme/nowhere") {
		t.Errorf("summary does not name the failed project: %q", out.String())
	}

	// Nothing found at all (a typo in the only group): the summary says so, not "0 of 0".
	out.Reset()
	errOut.Reset()
	err = run(context.Background(), []string{"sync", "--group", "acme-typo", "--db", db}, env, &out, &errOut)
	msg.Reset()
	if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), "acme-typo") || strings.Contains(msg.String(), "kept") {
		t.Fatalf("exit %d, message %q", code, msg.String())
	}
	if !strings.HasPrefix(out.String(), "found no project to sync") || !strings.Contains(out.String(), "failed: acme-typo") {
		t.Errorf("summary when nothing was found: %q", out.String())
	}
}

// cancelOn cancels a context when a line containing marker is written (the log of the sync).
type cancelOn struct {
	bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.marker) {
		c.cancel()
	}
	return c.Buffer.Write(p)
}

// Ctrl-C right after the projects were found: the summary says the sync was interrupted and
// does not count the projects cut short as synced; the exit status is 130.
func TestInterruptedSyncSummary(t *testing.T) {
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 11, Days: 10, Services: 3, Scale: 0.5,
		End: time.Now().UTC().Truncate(24 * time.Hour)})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	db := storetest.DSN(t)
	env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_GITLAB_URL": srv.URL()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errOut := &cancelOn{marker: "projects discovered", cancel: cancel}
	err := run(ctx, []string{"sync", "--group", org.TopGroup(), "--db", db}, env, &out, errOut)
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 130 {
		t.Fatalf("exit %d (%v), want 130", code, err)
	}
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "0 of 3 projects") {
		t.Errorf("summary of an interrupted sync: %q", out.String())
	}
}

// The live progress line of a large sync is wider than an 80-column terminal; drawn whole, it
// would wrap and every redraw would scroll the screen. It is cut to the terminal's width.
func TestProgressLineFitsTheTerminal(t *testing.T) {
	p := collector.Progress{ProjectsTotal: 1234, ProjectsDone: 1000, MergeRequests: 1234567, Deployments: 123456,
		Pipelines: 1234567, Requests: 12345678, RateLimitWaits: 1234, Elapsed: 3*time.Hour + 25*time.Minute}
	full := progressText(p)
	if utf8.RuneCountInString(full) <= 80 {
		t.Fatalf("the test needs a line wider than 80 columns: %q", full)
	}
	for _, width := range []int{20, 80, 132} {
		got := fitColumns(full, width-1)
		if n := utf8.RuneCountInString(got); n > width-1 || n < width-1 && got != full {
			t.Errorf("width %d: %d columns: %q", width, n, got)
		}
		if !strings.HasPrefix(full, strings.TrimSuffix(got, "…")) {
			t.Errorf("width %d: %q is not a prefix of the line", width, got)
		}
	}
	if got := fitColumns(full, 500); got != full {
		t.Errorf("a wide terminal cut the line: %q", got)
	}
}

// The progress line shows the measured request rate and, once known, the time left, early
// enough in the line that an 80-column terminal keeps it.
func TestProgressLineShowsTheRateAndTheTimeLeft(t *testing.T) {
	p := collector.Progress{ProjectsTotal: 1234, ProjectsDone: 1000, MergeRequests: 1234567, Requests: 12345678,
		RequestsPerMinute: 1318.4, Elapsed: 3*time.Hour + 25*time.Minute, Remaining: 42*time.Minute + 10*time.Second}
	got := fitColumns(progressText(p), 79)
	for _, want := range []string{"projects 1000/1234 · ~42m10s left · 3h25m0s", "12345678 requests (1318/min)"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	p.Remaining = 0
	if got := progressText(p); strings.Contains(got, "left") {
		t.Errorf("no estimate yet, but %q", got)
	}
}

func TestAPILineSaysWhichProjectsUsedREST(t *testing.T) {
	for _, c := range []struct {
		apis map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"a": "graphql", "b": "graphql"}, "read through GraphQL for 2 projects"},
		{map[string]string{"a": "rest"}, "read through REST for 1 project"},
		{map[string]string{"a": "graphql", "c": "rest", "b": "rest"}, "read through GraphQL for 1 project, through REST for 2 (b, c)"},
	} {
		if got := apiLine(c.apis); got != c.want {
			t.Errorf("%v: %q, want %q", c.apis, got, c.want)
		}
	}
}

// A first sync that saves nothing (GitLab refuses the token, cannot be reached, or knows no
// such group) leaves no database file behind; a database that existed before is kept.
func TestRefusedSyncLeavesNoNewDatabase(t *testing.T) {
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 11, Days: 10, Services: 3, Scale: 0.5,
		End: time.Now().UTC().Truncate(24 * time.Hour)})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, c := range []struct {
		name, url, token, group string
		want                    string // in the message
	}{
		{"bad token", srv.URL(), "glpat-wrong", org.TopGroup(), "401"},
		{"unreachable", closed, gitlabsim.DefaultToken, org.TopGroup(), "connection refused"},
		{"unknown group", srv.URL(), gitlabsim.DefaultToken, "acme-typo", "acme-typo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "pacer.db")
			env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": c.token})
			var out, errOut, msg bytes.Buffer
			err := run(context.Background(), []string{"sync", "--gitlab-url", c.url, "--group", c.group, "--db", db}, env, &out, &errOut)
			if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String()+out.String(), c.want) {
				t.Fatalf("exit %d, message %q, output %q: want 1 and %q", code, msg.String(), out.String(), c.want)
			}
			if strings.Contains(msg.String()+out.String()+errOut.String(), c.token) && c.token != gitlabsim.DefaultToken {
				t.Error("the token was printed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("left behind: %v", names)
			}

			// The same failure on a database that existed keeps it.
			st, err := store.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			err = run(context.Background(), []string{"sync", "--gitlab-url", c.url, "--group", c.group, "--db", db}, env, &out, &errOut)
			if code := exitCode(err, &bytes.Buffer{}); code != 1 {
				t.Fatalf("exit %d on the existing database", code)
			}
			if _, err := os.Stat(db); err != nil {
				t.Errorf("the existing database was removed: %v", err)
			}
		})
	}
}
