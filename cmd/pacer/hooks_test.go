package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

func hooksSim(t *testing.T) *gitlabsim.Server {
	t.Helper()
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 2, Days: 7, End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Scale: 0.1})
	sim := gitlabsim.NewServer(org, gitlabsim.ServerOptions{ReadOnlyTokens: []string{"glpat-read-only"}})
	t.Cleanup(sim.Close)
	return sim
}

func runHooksCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"hooks"}, args...), mapEnv(env), &out, &errOut)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

// pacer hooks install --dry-run says what it would do and changes nothing; install creates
// the hooks with the secret and Pacer's three events; run again it updates them and adds none.
// list shows them, marked.
func TestHooksInstallAgainstTheSimulator(t *testing.T) {
	sim := hooksSim(t)
	env := map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef"}
	args := []string{"install", "--gitlab-url", sim.URL(), "--group", "acme", "--project", "acme/monolith", "--base-url", "https://pacer.example.com/"}

	code, out, errOut := runHooksCmd(t, env, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "group acme: would create a webhook to https://pacer.example.com/hooks/gitlab") ||
		!strings.Contains(out, "project acme/monolith: would create") || !strings.Contains(out, "Dry run: nothing was changed.") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if hs := sim.Hooks(); len(hs) != 0 {
		t.Fatalf("the dry run created hooks: %+v", hs)
	}

	for i := range 2 {
		code, out, errOut = runHooksCmd(t, env, args...)
		if code != 0 {
			t.Fatalf("install %d: exit %d\n%s%s", i+1, code, out, errOut)
		}
		want := "created webhook"
		if i == 1 {
			want = "updated webhook"
		}
		if strings.Count(out, want) != 2 {
			t.Errorf("install %d: want two lines saying %q:\n%s", i+1, want, out)
		}
	}
	hs := sim.Hooks()
	if len(hs) != 2 {
		t.Fatalf("after two installs: %d hooks, want one on the group and one on the project: %+v", len(hs), hs)
	}
	for _, h := range hs {
		if h.URL != "https://pacer.example.com/hooks/gitlab" || h.Token != env["PACER_WEBHOOK_SECRET"] ||
			strings.Join(h.Events, ",") != "deployment_events,merge_requests_events,pipeline_events" {
			t.Errorf("hook %+v", h)
		}
	}
	if strings.Contains(out+errOut, env["PACER_WEBHOOK_SECRET"]) {
		t.Error("the secret was printed")
	}

	// A new secret: install updates the hooks' token, still two hooks.
	env2 := map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_WEBHOOK_SECRET": "fedcba9876543210fedcba9876543210"}
	if code, out, errOut := runHooksCmd(t, env2, args...); code != 0 {
		t.Fatalf("install with a new secret: exit %d\n%s%s", code, out, errOut)
	}
	if hs := sim.Hooks(); len(hs) != 2 || hs[0].Token != env2["PACER_WEBHOOK_SECRET"] || hs[1].Token != env2["PACER_WEBHOOK_SECRET"] {
		t.Fatalf("after a new secret: %+v", hs)
	}

	code, out, errOut = runHooksCmd(t, env, "list", "--gitlab-url", sim.URL(), "--group", "acme", "--project", "acme/monolith",
		"--base-url", "https://pacer.example.com")
	if code != 0 || strings.Count(out, "https://pacer.example.com/hooks/gitlab (Pacer)") != 2 ||
		!strings.Contains(out, "merge requests, pipelines, deployments") || strings.Contains(out, env["PACER_WEBHOOK_SECRET"]) {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
}

// A token without the api scope is told so plainly, before anything is tried; the dry run
// still shows the plan, with the same warning.
func TestHooksInstallNeedsTheAPIScope(t *testing.T) {
	sim := hooksSim(t)
	env := map[string]string{"PACER_GITLAB_TOKEN": "glpat-read-only", "PACER_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef"}
	args := []string{"install", "--gitlab-url", sim.URL(), "--group", "acme", "--base-url", "https://pacer.example.com"}
	code, out, errOut := runHooksCmd(t, env, args...)
	if code != 1 || !strings.Contains(errOut, "PACER_GITLAB_TOKEN has the scopes read_api, not api: managing webhooks needs a token with the api scope") ||
		strings.Count(errOut, "\n") != 1 {
		t.Fatalf("install with read_api: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runHooksCmd(t, env, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "would create") || !strings.Contains(errOut, "not api") {
		t.Fatalf("dry run with read_api: exit %d\n%s%s", code, out, errOut)
	}
	if len(sim.Hooks()) != 0 {
		t.Fatal("hooks were created with a read_api token")
	}
}

// Bad or missing input is one line, exit 2, nothing tried.
func TestHooksUsageErrors(t *testing.T) {
	full := map[string]string{"PACER_GITLAB_TOKEN": "t", "PACER_WEBHOOK_SECRET": "s3cret-s3cret-s3cret"}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{full, nil, "say install or list"},
		{full, []string{"frob"}, `unknown action "frob"`},
		{full, []string{"install", "--group", "acme", "--base-url", "https://p.example"}, "no GitLab URL"},
		{full, []string{"install", "--gitlab-url", "https://g.example", "--base-url", "https://p.example"}, "nothing to install"},
		{full, []string{"install", "--gitlab-url", "https://g.example", "--group", "acme"}, "no base URL: pass --base-url"},
		{full, []string{"install", "--gitlab-url", "https://g.example", "--group", "acme", "--base-url", "pacer.example.com"}, "is not an http(s) URL"},
		{map[string]string{"PACER_GITLAB_TOKEN": "t"}, []string{"install", "--gitlab-url", "https://g.example", "--group", "acme", "--base-url", "https://p.example"}, "PACER_WEBHOOK_SECRET is not set"},
		{map[string]string{"PACER_WEBHOOK_SECRET": "s3cret-s3cret-s3cret"}, []string{"install", "--gitlab-url", "https://g.example", "--group", "acme", "--base-url", "https://p.example"}, "PACER_GITLAB_TOKEN is not set"},
		{full, []string{"list", "--gitlab-url", "https://g.example", "--group", "acme", "extra"}, `unexpected argument "extra"`},
		{full, []string{"list", "--dry-run"}, "-dry-run"},
	} {
		code, _, errOut := runHooksCmd(t, c.env, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("hooks %v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	code, out, _ := runHooksCmd(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "pacer hooks install --group acme") {
		t.Errorf("pacer hooks -h: exit %d\n%s", code, out)
	}
}

// serve refuses a webhook secret without what the worker needs to fetch.
func TestServeWebhooksNeedGitLab(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PACER_WEBHOOK_SECRET": "s"}, "pass --gitlab-url"},
		{map[string]string{"PACER_WEBHOOK_SECRET": "s", "PACER_GITLAB_URL": "https://g.example"}, "set PACER_GITLAB_TOKEN"},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), []string{"serve", "--db", t.TempDir() + "/p.db"}, mapEnv(c.env), &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("serve with %v: exit %d %q", c.env, code, errOut.String())
		}
	}
}

var liveNowLine = regexp.MustCompile(`(?s)<p class="note live-now">(.*?)</p>`)

// pacer demo keeps its organisation moving and its dashboard up to date by webhook: the
// overview's line for the running week changes within seconds, with no sync, and the sync
// status lists the deliveries.
func TestDemoKeepsMovingByWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo syncs a generated organisation")
	}
	url := start(t, []string{"demo", "--addr", "127.0.0.1:0", "--days", "14", "--scale", "0.1", "--live", "1s"}, 60*time.Second)
	b := signInThroughSimulator(t, url)
	line := func() string {
		code, body := b.get(url)
		m := liveNowLine.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("overview: %d, no live line", code)
		}
		return m[1]
	}
	first := line()
	deadline := time.Now().Add(15 * time.Second)
	for line() == first {
		if time.Now().After(deadline) {
			t.Fatalf("the overview's live line did not change in 15 s: %s", first)
		}
		time.Sleep(250 * time.Millisecond)
	}
	code, body := b.get(url + "sync")
	if code != 200 || !strings.Contains(body, "Last delivery:") || strings.Contains(body, "Webhooks are off") {
		t.Fatalf("sync status: %d", code)
	}
}
