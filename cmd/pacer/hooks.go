package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/web"
)

// hooksUsage is `pacer hooks -h`.
const hooksUsage = `Usage: pacer hooks install --group PATH [--group PATH]... [--project PATH]... [--dry-run] [--base-url URL]
       pacer hooks list [--group PATH]... [--project PATH]...

install creates, or updates when it is there already (it never adds a second one), a GitLab
webhook on each group and project that sends merge request, pipeline and deployment events to
BASE_URL/hooks/gitlab with the secret PACER_WEBHOOK_SECRET; the dashboard then shows a merge
or a deployment within seconds. --dry-run says what it would do and changes nothing.
list shows the webhooks of the groups and projects, Pacer's marked.

The token comes from PACER_GITLAB_TOKEN. Managing webhooks needs the api scope (read_api is
not enough), and Owner of a group or Maintainer of a project; use such a token for this command
only: pacer sync and serve keep their read_api token. Group webhooks need GitLab Premium or
Ultimate; on GitLab Free, install a hook per project with --project.

Install with the same PACER_WEBHOOK_SECRET pacer serve has (openssl rand -hex 32 makes one).
`

// runHooks installs and lists the GitLab webhooks that send events to POST /hooks/gitlab.
func runHooks(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		writeDescription(stdout, "hooks")
		fmt.Fprint(stdout, hooksUsage)
		writeExamples(stdout, "hooks")
		if len(args) == 0 {
			return usagef("hooks: say install or list (see pacer hooks -h)")
		}
		return nil
	}
	// The action may come before or after the flags: pacer hooks install --group acme, or
	// pacer hooks --group acme install.
	fs := newFlagSet("hooks", env, stderr)
	gitlabURL := fs.String("gitlab-url", "", "GitLab instance `URL` (default gitlab_url in the config)")
	var groups, projects stringList
	fs.Var(&groups, "group", "group `PATH` whose webhook to install or list (repeatable; default groups in the config)")
	fs.Var(&projects, "project", "project `PATH` whose webhook to install or list (repeatable; default projects in the config)")
	baseURL := fs.String("base-url", "", "the `URL` GitLab reaches Pacer at; the hook posts to URL/hooks/gitlab (default base_url in the config)")
	dryRun := fs.Bool("dry-run", false, "install: say what would be created or updated, and change nothing")
	fs.Usage = func() {
		writeDescription(fs.Output(), "hooks")
		fmt.Fprint(fs.Output(), hooksUsage+"\nFlags:\n")
		fs.PrintDefaults()
		writeExamples(fs.Output(), "hooks")
	}
	var words []string
	rest := args
	for {
		if err := fs.parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(words) == 0 {
		return usagef("hooks: say install or list (see pacer hooks -h)")
	}
	sub := words[0]
	if sub != "install" && sub != "list" {
		return usagef("hooks: unknown action %q (use install or list; see pacer hooks -h)", sub)
	}
	if len(words) > 1 {
		return usagef("hooks %s: unexpected argument %q (flags only; see pacer hooks -h)", sub, words[1])
	}
	if sub == "list" && *dryRun {
		return usagef("hooks list: --dry-run is for install (list changes nothing)")
	}
	cfg, _, err := fs.loadConfig()
	if err != nil {
		return err
	}
	gl := firstNonEmpty(*gitlabURL, cfg.GitLabURL)
	if gl == "" {
		return usagef("hooks %s: no GitLab URL: pass --gitlab-url https://gitlab.example.com (or set gitlab_url in the config)", sub)
	}
	api, err := collector.APIBaseURL(gl)
	if err != nil {
		return usagef("hooks %s: --gitlab-url: %v", sub, err)
	}
	if len(groups) == 0 && len(projects) == 0 {
		groups, projects = cfg.Groups, cfg.Projects
	}
	if len(groups) == 0 && len(projects) == 0 {
		return usagef("hooks %s: nothing to %s: pass --group PATH or --project PATH (or set groups in the config)", sub, sub)
	}
	base := firstNonEmpty(*baseURL, cfg.BaseURL)
	hookURL := ""
	if base != "" {
		if hookURL, err = webhookURL(base); err != nil {
			return usagef("hooks %s: --base-url: %v", sub, err)
		}
	}
	secret := env("PACER_WEBHOOK_SECRET")
	if sub == "install" {
		switch {
		case hookURL == "":
			return usagef("hooks install: no base URL: pass --base-url https://pacer.example.com (the address GitLab reaches Pacer at) or set base_url in the config")
		case strings.TrimSpace(secret) == "":
			return usagef("hooks install: PACER_WEBHOOK_SECRET is not set: export a long random secret (openssl rand -hex 32) and give pacer serve the same one")
		}
		if len(secret) < 16 {
			fmt.Fprintln(stderr, "warning: PACER_WEBHOOK_SECRET is shorter than 16 characters; a longer random one (openssl rand -hex 32) is harder to guess")
		}
		if u, _ := url.Parse(hookURL); u.Scheme == "http" && !isLoopbackAddr(net.JoinHostPort(u.Hostname(), "0")) {
			fmt.Fprintln(stderr, "warning: "+hookURL+" is plain HTTP: GitLab would send the secret unencrypted; put TLS in front of Pacer and use https")
		}
	}
	token := env("PACER_GITLAB_TOKEN")
	if strings.TrimSpace(token) == "" {
		return usagef("hooks %s: PACER_GITLAB_TOKEN is not set: use a token with the api scope, of a user who is Owner of the groups (Maintainer of the projects)", sub)
	}
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(api), gitlab.WithCustomRetryMax(3))
	if err != nil {
		return fmt.Errorf("hooks: GitLab client: %w", err)
	}
	h := &hookInstaller{c: c, ctx: ctx, url: hookURL, secret: secret, dryRun: *dryRun, out: stdout, errOut: stderr}
	var targets []hookTarget
	for _, g := range groups {
		targets = append(targets, hookTarget{group: true, path: g})
	}
	for _, p := range projects {
		targets = append(targets, hookTarget{path: p})
	}
	if sub == "list" {
		return h.list(targets)
	}
	return h.install(targets)
}

// webhookURL is base's /hooks/gitlab.
func webhookURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http(s) URL such as https://pacer.example.com", base)
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/") + "/hooks/gitlab"
	return u.String(), nil
}

// sameHookURL says whether a hook's URL is Pacer's (ignoring case of scheme and host, and a
// trailing slash).
func sameHookURL(a, b string) bool {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return s
		}
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		u.Path = strings.TrimRight(u.Path, "/")
		return u.String()
	}
	return a != "" && b != "" && norm(a) == norm(b)
}

type hookTarget struct {
	group bool
	path  string
}

func (t hookTarget) String() string {
	if t.group {
		return "group " + t.path
	}
	return "project " + t.path
}

// existingHook is a group or project hook, as both kinds are compared.
type existingHook struct {
	id                                int64
	url, alert                        string
	mergeRequests, pipelines, deploys bool
	push, ssl                         bool
	disabledUntil                     string
	otherEvents                       []string
}

type hookInstaller struct {
	c      *gitlab.Client
	ctx    context.Context
	url    string
	secret string
	dryRun bool
	out    io.Writer
	errOut io.Writer
}

func (h *hookInstaller) opts() []gitlab.RequestOptionFunc {
	return []gitlab.RequestOptionFunc{gitlab.WithContext(h.ctx)}
}

// hooks lists a target's webhooks (every page).
func (h *hookInstaller) hooks(t hookTarget) ([]existingHook, error) {
	var out []existingHook
	if t.group {
		hs, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.GroupHook, *gitlab.Response, error) {
			return h.c.Groups.ListGroupHooks(t.path, &gitlab.ListGroupHooksOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, append(h.opts(), p)...)
		})
		if err != nil {
			return nil, err
		}
		for _, x := range hs {
			e := existingHook{id: x.ID, url: x.URL, alert: x.AlertStatus, mergeRequests: x.MergeRequestsEvents,
				pipelines: x.PipelineEvents, deploys: x.DeploymentEvents, push: x.PushEvents, ssl: x.EnableSSLVerification}
			e.otherEvents = flags(map[string]bool{"issues": x.IssuesEvents, "notes": x.NoteEvents, "jobs": x.JobEvents,
				"tag pushes": x.TagPushEvents, "releases": x.ReleasesEvents, "wiki pages": x.WikiPageEvents})
			out = append(out, e)
		}
		return out, nil
	}
	hs, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.ProjectHook, *gitlab.Response, error) {
		return h.c.Projects.ListProjectHooks(t.path, &gitlab.ListProjectHooksOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, append(h.opts(), p)...)
	})
	if err != nil {
		return nil, err
	}
	for _, x := range hs {
		e := existingHook{id: x.ID, url: x.URL, alert: x.AlertStatus, mergeRequests: x.MergeRequestsEvents,
			pipelines: x.PipelineEvents, deploys: x.DeploymentEvents, push: x.PushEvents, ssl: x.EnableSSLVerification}
		if x.DisabledUntil != nil {
			e.disabledUntil = x.DisabledUntil.UTC().Format("2006-01-02 15:04 UTC")
		}
		e.otherEvents = flags(map[string]bool{"issues": x.IssuesEvents, "notes": x.NoteEvents, "jobs": x.JobEvents,
			"tag pushes": x.TagPushEvents, "releases": x.ReleasesEvents, "wiki pages": x.WikiPageEvents})
		out = append(out, e)
	}
	return out, nil
}

func flags(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (e existingHook) events() string {
	var ev []string
	if e.push {
		ev = append(ev, "push")
	}
	if e.mergeRequests {
		ev = append(ev, "merge requests")
	}
	if e.pipelines {
		ev = append(ev, "pipelines")
	}
	if e.deploys {
		ev = append(ev, "deployments")
	}
	ev = append(ev, e.otherEvents...)
	if len(ev) == 0 {
		return "none"
	}
	return strings.Join(ev, ", ")
}

// explainHookError says in plain words why GitLab refused, and what to do.
func explainHookError(t hookTarget, action string, err error) error {
	var er *gitlab.ErrorResponse
	status := 0
	body := ""
	if errors.As(err, &er) && er.Response != nil {
		status = er.Response.StatusCode
		body = strings.ToLower(er.Message)
	}
	if errors.Is(err, gitlab.ErrNotFound) {
		status = http.StatusNotFound
	}
	switch {
	case status == http.StatusForbidden && strings.Contains(body, "insufficient_scope"):
		return fmt.Errorf("%s %s: the token lacks the api scope: managing webhooks needs a token with the api scope "+
			"(read_api is not enough); create one for this command only and keep the read_api token for pacer sync and serve", action, t)
	case status == http.StatusForbidden:
		role := "Maintainer of the project"
		if t.group {
			role = "Owner of the group"
		}
		return fmt.Errorf("%s %s: GitLab refused (403): the token's user must be %s", action, t, role)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: GitLab rejected the token (401): set PACER_GITLAB_TOKEN to a valid token with the api scope", action, t)
	case status == http.StatusNotFound && t.group:
		return fmt.Errorf("%s %s: not found (404): check the path and that the token's user sees the group; group webhooks also need GitLab Premium or Ultimate (on GitLab Free, use --project for each project)", action, t)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s %s: not found (404): check the path and that the token's user sees the project", action, t)
	case strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host"):
		return fmt.Errorf("%s %s: GitLab cannot be reached: check --gitlab-url (%w)", action, t, err)
	}
	return fmt.Errorf("%s %s: %w", action, t, err)
}

// tokenScopes are the token's scopes, when GitLab says (personal access tokens, GitLab 15.5+).
func (h *hookInstaller) tokenScopes() ([]string, bool) {
	pat, _, err := h.c.PersonalAccessTokens.GetSinglePersonalAccessToken(h.opts()...)
	if err != nil || pat == nil {
		return nil, false
	}
	return pat.Scopes, true
}

func (h *hookInstaller) install(targets []hookTarget) error {
	if scopes, ok := h.tokenScopes(); ok && !slices.Contains(scopes, "api") {
		msg := fmt.Sprintf("PACER_GITLAB_TOKEN has the scopes %s, not api: managing webhooks needs a token with the api scope "+
			"(read_api is not enough); create one for this command only and keep the read_api token for pacer sync and serve",
			strings.Join(scopes, ", "))
		if !h.dryRun {
			return exitError{code: 1, msg: "hooks install: " + msg}
		}
		fmt.Fprintln(h.errOut, "note: "+msg+"; the plan below could not be carried out with it")
	}
	verb := ""
	if h.dryRun {
		verb = "would "
	}
	failed := 0
	for _, t := range targets {
		existing, err := h.hooks(t)
		if err != nil {
			fmt.Fprintf(h.errOut, "pacer: %v\n", explainHookError(t, "list the webhooks of", err))
			failed++
			continue
		}
		var mine []existingHook
		for _, e := range existing {
			if sameHookURL(e.url, h.url) {
				mine = append(mine, e)
			}
		}
		events := "merge request, pipeline and deployment events"
		if len(mine) == 0 {
			if h.dryRun {
				fmt.Fprintf(h.out, "%s: would create a webhook to %s (%s, with the secret)\n", t, h.url, events)
				continue
			}
			id, err := h.create(t)
			if err != nil {
				fmt.Fprintf(h.errOut, "pacer: %v\n", explainHookError(t, "create the webhook of", err))
				failed++
				continue
			}
			fmt.Fprintf(h.out, "%s: created webhook %d to %s (%s, with the secret)\n", t, id, h.url, events)
			continue
		}
		e := mine[0]
		if len(mine) > 1 {
			var ids []string
			for _, x := range mine[1:] {
				ids = append(ids, fmt.Sprint(x.id))
			}
			fmt.Fprintf(h.errOut, "note: %s has %d webhooks to %s; %d is kept, the others (%s) are left as they are: delete them in GitLab, or each event arrives more than once (Pacer ignores the repeats)\n",
				t, len(mine), h.url, e.id, strings.Join(ids, ", "))
		}
		if !h.dryRun {
			if err := h.update(t, e.id); err != nil {
				fmt.Fprintf(h.errOut, "pacer: %v\n", explainHookError(t, "update the webhook of", err))
				failed++
				continue
			}
		}
		fmt.Fprintf(h.out, "%s: %supdated webhook %d to %s (%s, secret set again; was: %s)\n", t, verb, e.id, h.url, events, e.events())
	}
	if failed > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("hooks install: %s of %d failed (see above); the others are done", plural(failed, "target", "targets"), len(targets))}
	}
	if h.dryRun {
		fmt.Fprintln(h.out, "Dry run: nothing was changed.")
	}
	return nil
}

// The attributes Pacer's webhook has, on creation and on every update: the three events,
// push events off (GitLab's default is on), TLS verified, the secret.
func (h *hookInstaller) create(t hookTarget) (int64, error) {
	name, desc := "Pacer", "Merge request, pipeline and deployment events for Pacer's dashboard (pacer hooks install)."
	if t.group {
		x, _, err := h.c.Groups.AddGroupHook(t.path, &gitlab.AddGroupHookOptions{URL: &h.url, Token: &h.secret, Name: &name,
			Description: &desc, PushEvents: gitlab.Ptr(false), MergeRequestsEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true),
			DeploymentEvents: gitlab.Ptr(true), EnableSSLVerification: gitlab.Ptr(true)}, h.opts()...)
		if err != nil {
			return 0, err
		}
		return x.ID, nil
	}
	x, _, err := h.c.Projects.AddProjectHook(t.path, &gitlab.AddProjectHookOptions{URL: &h.url, Token: &h.secret, Name: &name,
		Description: &desc, PushEvents: gitlab.Ptr(false), MergeRequestsEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true),
		DeploymentEvents: gitlab.Ptr(true), EnableSSLVerification: gitlab.Ptr(true)}, h.opts()...)
	if err != nil {
		return 0, err
	}
	return x.ID, nil
}

func (h *hookInstaller) update(t hookTarget, id int64) error {
	if t.group {
		_, _, err := h.c.Groups.EditGroupHook(t.path, id, &gitlab.EditGroupHookOptions{URL: &h.url, Token: &h.secret,
			PushEvents: gitlab.Ptr(false), MergeRequestsEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true),
			DeploymentEvents: gitlab.Ptr(true), EnableSSLVerification: gitlab.Ptr(true)}, h.opts()...)
		return err
	}
	_, _, err := h.c.Projects.EditProjectHook(t.path, id, &gitlab.EditProjectHookOptions{URL: &h.url, Token: &h.secret,
		PushEvents: gitlab.Ptr(false), MergeRequestsEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true),
		DeploymentEvents: gitlab.Ptr(true), EnableSSLVerification: gitlab.Ptr(true)}, h.opts()...)
	return err
}

func (h *hookInstaller) list(targets []hookTarget) error {
	var rows []string
	failed, mine := 0, 0
	for _, t := range targets {
		hs, err := h.hooks(t)
		if err != nil {
			fmt.Fprintf(h.errOut, "pacer: %v\n", explainHookError(t, "list the webhooks of", err))
			failed++
			continue
		}
		if len(hs) == 0 {
			rows = append(rows, fmt.Sprintf("%s\t-\t(no webhooks)\t\t", t))
		}
		for _, e := range hs {
			status := e.alert
			if status == "" {
				status = "executable"
			}
			if e.disabledUntil != "" {
				status += " until " + e.disabledUntil
			}
			u := e.url
			if sameHookURL(e.url, h.url) {
				u += " (Pacer)"
				mine++
				if !e.mergeRequests || !e.pipelines || !e.deploys {
					status += "; missing events: run pacer hooks install"
				}
			}
			rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%s\t%s", t, e.id, u, e.events(), status))
		}
	}
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(h.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WHERE\tID\tURL\tEVENTS\tSTATUS")
		for _, r := range rows {
			fmt.Fprintln(tw, r)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if h.url == "" {
		fmt.Fprintln(h.errOut, "note: without --base-url (or base_url in the config) Pacer's own webhooks are not marked")
	} else if mine == 0 && failed == 0 {
		fmt.Fprintf(h.errOut, "note: no webhook sends to %s yet: pacer hooks install creates them\n", h.url)
	}
	if failed > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("hooks list: %s of %d could not be read (see above)", plural(failed, "target", "targets"), len(targets))}
	}
	return nil
}

// checkWebhookSetup refuses PACER_WEBHOOK_SECRET without what the worker needs to fetch the
// objects events name.
func checkWebhookSetup(secret string, opt collector.Options) error {
	if secret == "" {
		return nil
	}
	switch {
	case opt.BaseURL == "":
		return usagef("serve: PACER_WEBHOOK_SECRET turns webhooks on, and Pacer fetches what each event names from GitLab: pass --gitlab-url or set gitlab_url in the config")
	case strings.TrimSpace(opt.Token) == "":
		return usagef("serve: PACER_WEBHOOK_SECRET turns webhooks on, and Pacer fetches what each event names from GitLab: set PACER_GITLAB_TOKEN (a token with the read_api scope)")
	}
	return nil
}

// startWebhooks starts the webhook worker when a secret is set, and hands the dashboard what
// its webhook endpoint needs: the secret, the worker's wake-up and its metrics. The worker
// stops with ctx; wg waits for it.
func startWebhooks(ctx context.Context, wg *sync.WaitGroup, o *web.Options, st *store.Store, eng *metrics.Engine,
	opt collector.Options, secret string) error {
	if secret == "" {
		return nil
	}
	w, err := collector.NewWebhooks(st, collector.WebhookOptions{Options: opt, Refresh: eng.Refresh})
	if err != nil {
		return err
	}
	o.WebhookSecret, o.WebhookQueued, o.Collectors = secret, w.Notify, append(o.Collectors, w.Collectors()...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.Run(ctx)
	}()
	return nil
}
