package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/digest"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/web"
)

// runServe serves the dashboard and, with --sync-every, syncs GitLab on a schedule.
func runServe(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", env, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `ADDRESS` (host:port); beyond loopback only with [auth] in the config")
	every := fs.Duration("sync-every", 0, "sync GitLab every `DURATION`, at least 1m (e.g. 15m); 0 never syncs")
	leaseTTL := fs.Duration("lease-ttl", store.DefaultLeaseTTL, "with several servers on one database: how long a job stays with a server that stops renewing its lease (`DURATION`, 1s to 1h)")
	gitlabURL := fs.String("gitlab-url", "", "GitLab instance `URL` for the scheduled sync (default gitlab_url in the config)")
	var groups, projects stringList
	fs.Var(&groups, "group", "group `PATH` to sync (repeatable; default groups in the config)")
	fs.Var(&projects, "project", "project `PATH` to sync (repeatable; default projects in the config)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q (see pacer serve -h)", fs.Arg(0))
	}
	cfg, dbPath, err := fs.loadConfig()
	if err != nil {
		return err
	}
	if err := checkAddr(*addr); err != nil {
		return usagef("serve: %v", err)
	}
	if err := checkExposure(*addr, cfg); err != nil {
		return err
	}
	if *every < 0 || (*every > 0 && *every < time.Minute) {
		return usagef("serve: --sync-every %s is too short: use 0 (no sync) or at least 1m", *every)
	}
	if *leaseTTL < time.Second || *leaseTTL > time.Hour {
		return usagef("serve: --lease-ttl %s is out of range: use 1s to 1h (the default, %s, suits most setups)", *leaseTTL, store.DefaultLeaseTTL)
	}
	syncOpt := collector.Options{BaseURL: firstNonEmpty(*gitlabURL, cfg.GitLabURL), Token: env("PACER_GITLAB_TOKEN"),
		Groups: append([]string(nil), groups...), Projects: append([]string(nil), projects...), Config: cfg,
		API: firstNonEmpty(env("PACER_API"), cfg.API)}
	if len(syncOpt.Groups) == 0 && len(syncOpt.Projects) == 0 {
		syncOpt.Groups, syncOpt.Projects = cfg.Groups, cfg.Projects
	}
	secret := env("PACER_WEBHOOK_SECRET")
	if err := checkWebhookSetup(secret, syncOpt); err != nil {
		return err
	}
	if *every > 0 {
		switch {
		case syncOpt.BaseURL == "":
			return usagef("serve: --sync-every needs a GitLab URL: pass --gitlab-url or set gitlab_url in the config")
		case len(syncOpt.Groups) == 0 && len(syncOpt.Projects) == 0:
			return usagef("serve: --sync-every needs something to sync: pass --group or --project, or set groups in the config")
		case syncOpt.Token == "":
			return usagef("serve: --sync-every needs PACER_GITLAB_TOKEN (a token with the read_api scope)")
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	eng := metrics.New(st, cfg)
	authSvc, err := newAuthService(st, cfg, log)
	if err != nil {
		return err
	}

	// Every job runs under its lease in the database, so that several servers sharing it run
	// each job once between them (jobs.go).
	leases := newJobLeases(st, *leaseTTL, log)
	var jobs []job
	if *every > 0 {
		syncOpt.Logger = log
		jobs = append(jobs, syncJob(st, eng, syncOpt, *every))
	}
	if j, ok := digestJob(st, eng, cfg, log, digest.WithClaims(leases.holder, *leaseTTL)); ok {
		jobs = append(jobs, j)
	}
	if authSvc.SignIn() {
		jobs = append(jobs, membershipJob(authSvc))
	}
	for i := range jobs {
		jobs[i].leases = leases
	}

	// The address first: a port in use is refused before any background work starts.
	ln, err := listen(*addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Whatever ends serve, the background work ends before it returns (and before the store
	// closes under it).
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		warmFacts(ctx, eng, log, leases)
	}()
	if len(jobs) > 0 {
		log.Info("serve: background jobs", "jobs", len(jobs), "holder", leases.holder, "lease_ttl", leaseTTL.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A job left by a server that died is taken up within a lease time and a tick.
			runJobs(ctx, log, jobs, time.Now, min(30*time.Second, *leaseTTL))
		}()
	}
	o := web.Options{Store: st, Engine: eng, Config: cfg, Auth: authSvc, Logger: log, Version: version()}
	hookOpt := syncOpt
	hookOpt.Logger = log
	if err := startWebhooks(ctx, &wg, &o, st, eng, hookOpt, secret); err != nil {
		ln.Close()
		return err
	}
	return serveDashboard(ctx, ln, o, stdout, "Pacer")
}

// warmFacts derives the metric facts at start-up if they are stale (a new build, a changed
// configuration, a sync by another process). Otherwise the first page request derives them
// under its own context: on a large database its visitor waits, and if they give up the work
// is lost and the next request starts over.
//
// It does so under a lease of its own, so that servers starting together derive them once: one
// that finds the lease held waits for it, and then finds the facts current.
func warmFacts(ctx context.Context, eng *metrics.Engine, log *slog.Logger, leases *jobLeases) {
	if leases != nil {
		var h *heldLease
		for {
			var err error
			if h, err = leases.take(ctx, factsLease); err != nil {
				if ctx.Err() == nil {
					log.Error("serve: derive the metric facts", "error", err)
				}
				return
			}
			if h != nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(leases.ttl / 3):
			}
		}
		defer h.release(false)
		ctx = h.ctx
	}
	start := time.Now()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	// Any query brings the facts up to date first; a one-day one costs little beyond that.
	if _, err := eng.Figures(ctx, metrics.Filter{From: today, To: today, By: metrics.Day}); err != nil {
		if ctx.Err() == nil {
			log.Error("serve: derive the metric facts", "error", err)
		}
		return
	}
	log.Debug("serve: metric facts ready", "duration_ms", time.Since(start).Milliseconds())
}

// listen opens the dashboard's listener, so the address really listened on is known before the
// server is built (the demo derives its sign-in callback from it).
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, usagef("cannot listen on %s: %v (is another server using that port? pass --addr)", addr, err)
	}
	return ln, nil
}

// serveDashboard serves the dashboard on ln until ctx ends, then shuts down gracefully.
func serveDashboard(ctx context.Context, ln net.Listener, o web.Options, stdout io.Writer, what string) error {
	srv, err := web.New(o)
	if err != nil {
		ln.Close()
		return err
	}
	sc := echo.StartConfig{
		Listener:        ln,
		HideBanner:      true,
		HidePort:        true,
		GracefulTimeout: 10 * time.Second,
		ListenerAddrFunc: func(a net.Addr) {
			fmt.Fprintf(stdout, "%s %s (Ctrl-C stops it)\n", what, listeningOn(a, o.Config))
		},
		BeforeServeFunc: func(s *http.Server) error {
			s.ReadHeaderTimeout = 10 * time.Second
			s.IdleTimeout = 2 * time.Minute
			return nil
		},
	}
	if err := sc.Start(ctx, srv); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// listeningOn says where the server listens, as it really does: the loopback URL to open, or
// every interface with the address people use (base_url).
func listeningOn(a net.Addr, cfg *config.Config) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "is serving on http://" + a.String() + "/"
	}
	ip := net.ParseIP(host)
	var s, served string
	switch {
	case ip != nil && ip.IsUnspecified():
		s = "is listening on " + net.JoinHostPort(host, port) + " (every interface)"
	default:
		served = "http://" + net.JoinHostPort(host, port) + "/"
		s = "is serving on " + served
	}
	if cfg != nil && cfg.BaseURL != "" && strings.TrimRight(cfg.BaseURL, "/")+"/" != served {
		s += "; people open it at " + strings.TrimRight(cfg.BaseURL, "/") + "/"
	}
	return s
}

// isLoopbackAddr says whether a listen address (host:port) stays on this machine.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false // ":8080" is every interface
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses to open the dashboard beyond this machine without a decision about
// sign-in, and checks what sign-in needs.
func checkExposure(addr string, cfg *config.Config) error {
	if cfg.Auth.SignIn() && cfg.Auth.Secret == "" {
		return usagef("serve: [auth] mode = \"gitlab\" needs PACER_OAUTH_SECRET, the secret of Pacer's OAuth application in GitLab (see docs/operations.md)")
	}
	if cfg.Auth.SignIn() {
		if u, err := url.Parse(cfg.BaseURL); err == nil && u.Scheme == "http" && !isLoopbackAddr(net.JoinHostPort(u.Hostname(), "0")) {
			return usagef("serve: sign-in needs base_url on https (%s is plain HTTP beyond loopback, where the Secure session cookie is never sent back): put TLS in front of Pacer", cfg.BaseURL)
		}
	}
	if isLoopbackAddr(addr) {
		return nil
	}
	if cfg.Auth.Mode == "" {
		return usagef("serve: --addr %s would open the dashboard to the network with no sign-in: add [auth] mode = \"gitlab\" to the config (or mode = \"none\" to keep it open on purpose), or listen on 127.0.0.1:8080", addr)
	}
	if cfg.BaseURL == "" {
		return usagef("serve: --addr %s listens beyond this machine: set base_url in the config to the address people open (requests for other host names are refused)", addr)
	}
	return nil
}

// newAuthService is sign-in as the configuration sets it: with GitLab as the OAuth provider
// for mode = "gitlab", tokens only otherwise.
func newAuthService(st *store.Store, cfg *config.Config, log *slog.Logger) (*auth.Service, error) {
	o := auth.Options{Store: st, Config: cfg, Logger: log}
	if cfg.Auth.SignIn() {
		p, err := auth.NewProvider(auth.ProviderOptions{GitLabURL: cfg.GitLabURL, ClientID: cfg.Auth.ClientID,
			ClientSecret: cfg.Auth.Secret, CallbackURL: strings.TrimRight(cfg.BaseURL, "/") + "/auth/callback"})
		if err != nil {
			return nil, usagef("serve: %v", err)
		}
		o.Provider = p
	}
	return auth.New(o), nil
}

// membershipJob reads again, from GitLab, the projects of each signed-in person whose set is
// more than an hour old (a person whose token GitLab refuses is signed out), and deletes
// expired sessions. The database says who is due.
func membershipJob(a *auth.Service) job {
	return job{
		name:  "memberships",
		every: auth.MembershipEvery,
		due:   func(ctx context.Context, _ time.Time) (bool, error) { return a.RefreshDue(ctx) },
		run: func(ctx context.Context) error {
			if _, err := a.ExpireSessions(ctx); err != nil {
				return err
			}
			return a.RefreshMemberships(ctx)
		},
	}
}

// checkAddr rejects a listen address that is not host:port before any work is done.
func checkAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("--addr %q is not host:port (use, for example, 127.0.0.1:8080 or :8080)", addr)
	}
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// syncJobName names the sync job and its lease, which also covers the facts refresh after the
// sync; factsLease is the lease of the derivation at start-up (warmFacts).
const (
	syncJobName = "sync"
	factsLease  = "facts"
)

// syncJob syncs GitLab and refreshes the derived facts. It is due when no project has started a
// sync within `every` (the project_syncs table remembers across restarts) and no server has
// begun a run of the job within it (the job's lease records the last start). A sync that fails
// before any project starts (GitLab unreachable, a revoked token, a mistyped group) leaves no
// trace in project_syncs, so the job then waits `every` after that attempt, rather than retrying
// on every tick of the job loop: the lease's record says when it was, and so does this
// process's own memory, for a job run without leases.
func syncJob(st *store.Store, eng *metrics.Engine, opt collector.Options, every time.Duration) job {
	var attempted time.Time // only the job loop's goroutine calls due
	return job{
		name:  syncJobName,
		every: every,
		due: func(ctx context.Context, now time.Time) (bool, error) {
			last, err := lastSyncStart(ctx, st)
			if err != nil {
				return false, err
			}
			if l, err := st.Lease(ctx, syncJobName); err == nil && l.RunStartedAt.After(last) {
				last = l.RunStartedAt
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if last.Before(attempted) && now.Before(attempted.Add(every)) {
				return false, nil // the last attempt started no project sync
			}
			due := last.IsZero() || !now.Before(last.Add(every))
			if due {
				// runIfDue runs a job as soon as it is due. The store keeps whole seconds.
				attempted = now.Truncate(time.Second)
			}
			return due, nil
		},
		run: func(ctx context.Context) error {
			o, err := syncRound(ctx, st, opt)
			if err != nil {
				return err
			}
			var sum collector.Summary
			if o != nil {
				sum, err = collector.Sync(ctx, st, *o)
				if err != nil && !errors.Is(err, collector.ErrProjectsFailed) {
					return err
				}
			}
			// What did sync is kept and shown; failed projects are on the sync-status page.
			if rerr := eng.Refresh(ctx); rerr != nil {
				return rerr
			}
			if len(sum.Failed) > 0 {
				return fmt.Errorf("%d projects failed to sync (see /sync): %w", len(sum.Failed), err)
			}
			return nil
		},
	}
}

// syncRound is what a run of the sync job has left to do. A fresh run syncs everything,
// listing the groups' projects again. A run that takes up one cut short (its server died, was
// stopped, or lost the lease) syncs only the configured projects that have not synced
// successfully since that run began, so that no project is synced twice in one round; nil
// when none is left and only the facts remain. If the run cut short had finished no project,
// everything is synced, groups included.
func syncRound(ctx context.Context, st *store.Store, opt collector.Options) (*collector.Options, error) {
	l, err := st.Lease(ctx, syncJobName)
	if errors.Is(err, store.ErrNotFound) || err == nil && !l.Continued() {
		return &opt, nil
	}
	if err != nil {
		return nil, err
	}
	since := l.RunStartedAt.Truncate(time.Second) // the store keeps whole seconds
	syncs, err := st.ProjectSyncs(ctx)
	if err != nil {
		return nil, err
	}
	configured := func(path string) bool {
		path = strings.ToLower(path)
		for _, g := range opt.Groups {
			if strings.HasPrefix(path, strings.ToLower(strings.Trim(strings.TrimSpace(g), "/"))+"/") {
				return true
			}
		}
		return slices.ContainsFunc(opt.Projects, func(p string) bool { return strings.EqualFold(strings.Trim(strings.TrimSpace(p), "/"), path) })
	}
	done := 0
	var left []string
	known := map[string]bool{}
	for _, ps := range syncs {
		p := ps.Project
		if !configured(p.Path) {
			continue
		}
		known[strings.ToLower(p.Path)] = true
		if p.Archived {
			continue // not synced any more
		}
		if ps.StartedAt != nil && !ps.StartedAt.Before(since) && ps.FinishedAt != nil && ps.OKAt != nil && !ps.OKAt.Before(*ps.StartedAt) {
			done++
			continue
		}
		left = append(left, p.Path)
	}
	if done == 0 {
		return &opt, nil
	}
	// A listed project never found (a typo, say) is tried again with the rest.
	for _, p := range opt.Projects {
		if !known[strings.ToLower(strings.Trim(strings.TrimSpace(p), "/"))] {
			left = append(left, p)
		}
	}
	if opt.Logger != nil {
		opt.Logger.Info("sync: taking up a sync cut short", "begun_at", l.RunStartedAt.Format(time.RFC3339),
			"projects_done", done, "projects_left", len(left))
	}
	if len(left) == 0 {
		return nil, nil
	}
	o := opt
	o.Groups, o.Projects = nil, left
	return &o, nil
}

// lastSyncStart is when the most recent project sync began (zero if none has).
func lastSyncStart(ctx context.Context, st *store.Store) (time.Time, error) {
	var last *int64
	if err := st.DB.QueryRowContext(ctx, `SELECT MAX(started_at) FROM project_syncs`).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("serve: last sync: %w", err)
	}
	if last == nil {
		return time.Time{}, nil
	}
	return time.Unix(*last, 0), nil
}

// tempDatabase is a fresh database file in a new temporary directory, and its removal.
func tempDatabase() (string, func(), error) {
	dir, err := os.MkdirTemp("", "pacer-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("demo: temporary database: %w", err)
	}
	return dir + string(os.PathSeparator) + "pacer.db", func() { os.RemoveAll(dir) }, nil
}
