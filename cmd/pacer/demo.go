package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/web"
)

// demoConfigHeader opens the file --write-config writes.
const demoConfigHeader = `# The configuration of pacer demo: services, teams, the deploy window and the working
# agreements of the generated organisation. See docs/configuration.md for every key.
`

// demoConfig shows off what the configuration can do on the generated organisation: the
// monolith split into two services by production environment, teams, a deploy window and the
// working agreements (the built-in investment categories apply).
const demoConfig = `
timezone = "Europe/Malta"

[[service]]
name         = "checkout"
projects     = ["acme/monolith"]
environments = ["production/checkout"]

[[service]]
name         = "payments"
projects     = ["acme/monolith"]
environments = ["production/payments"]

[[team]]
name     = "platform"
services = ["acme/platform/api-gateway", "acme/platform/auth", "acme/platform/notifications"]

[[team]]
name     = "commerce"
services = ["checkout", "payments", "acme/commerce/search", "acme/commerce/payments-api", "acme/commerce/checkout-web", "acme/commerce/catalog", "acme/commerce/payments-worker"]

[deploy_window]
days     = ["mon", "tue", "wed", "thu"]
start    = "09:00"
end      = "17:00"

[agreements]
approvals       = 1
tech_debt_share = 0.20
cycle_time_p50  = "48h"

[bots]
usernames = ["renovate-bot"]
`

// The demo's default organisation: 14 weeks of history, so the default 12-week view and the
// week before it are full, at the simulator's full activity: the busy organisation Pacer is
// for, about 40 production deployments a weekday with the monolith shipping 10-15 times a day.
// The sync is bound by the number of API requests (about 13,000); it is ready in about 3.5 s on
// a 2-core machine. --scale 0.5 halves that.
const (
	demoDays  = 98
	demoScale = 1.0
)

// runDemo generates an organisation, serves it from the built-in GitLab simulator, syncs it
// through the real collector over HTTP and serves the dashboard on it.
func runDemo(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", env, stderr)
	// The demo never takes its database from PACER_DB: a shell set up for a real database must
	// not get a generated organisation synced into it.
	fs.twin("db", "")
	// Unlike the other commands, the demo never falls back to pacer.db or the config's database.
	fs.Lookup("db").Usage = "keep the demo's data in the SQLite database `FILE` (default: a temporary file removed on exit)"
	addr := fs.String("addr", "127.0.0.1:8080", "listen `ADDRESS` (host:port)")
	seed := fs.Int64("seed", 1, "`SEED` of the generated organisation (the same seed gives the same history)")
	days := fs.Int("days", demoDays, "`DAYS` of generated history")
	scale := fs.Float64("scale", demoScale, "activity `MULTIPLIER` of the generated organisation (1 is about 40 production deployments a weekday)")
	writeConfig := fs.String("write-config", "", "write the demo's configuration to `FILE` and exit (a start for your own)")
	live := fs.Duration("live", 3*time.Second, "open, merge or deploy something in the organisation every `DURATION`, sent to the dashboard by webhook; 0 keeps it still")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("demo: unexpected argument %q (see pacer demo -h)", fs.Arg(0))
	}
	if *writeConfig != "" {
		if err := os.WriteFile(*writeConfig, []byte(demoConfigHeader+demoConfig), 0o644); err != nil {
			return usagef("demo: --write-config: %v", err)
		}
		fmt.Fprintf(stdout, "wrote the demo's configuration to %s\n", *writeConfig)
		return nil
	}
	if *days < 7 || *days > 730 {
		return usagef("demo: --days %d is out of range: use 7 to 730", *days)
	}
	if !(*scale >= 0.05 && *scale <= 4) {
		return usagef("demo: --scale %g is out of range: use 0.05 to 4", *scale)
	}
	if *live < 0 || (*live > 0 && *live < 500*time.Millisecond) {
		return usagef("demo: --live %s is out of range: use 0 (still) or at least 500ms", *live)
	}
	if err := checkAddr(*addr); err != nil {
		return usagef("demo: %v", err)
	}
	cfg, err := config.Parse("demo configuration", []byte(demoConfig))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if fs.config != "" {
		if cfg, _, err = fs.loadConfig(); err != nil {
			return err
		}
	}
	// Listen first: a port already in use is one line and exit 2 before anything is generated
	// or synced, and the sign-in callback the simulator's OAuth application allows is derived
	// from the address really listened on.
	ln, err := listen(*addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := demoBaseURL(ln.Addr())
	dbPath := fs.db
	if dbPath == "" {
		path, cleanup, err := tempDatabase()
		if err != nil {
			return err
		}
		defer cleanup()
		dbPath = path
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	start := time.Now()
	fmt.Fprintf(stdout, "Generating an organisation with %d days of history (seed %d)…\n", *days, *seed)
	// Plain titles: the hostile ones (markup, spreadsheet formulas) belong to the tests.
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: *seed, Days: *days, Scale: *scale, PlainTitles: true})
	if *live > 0 {
		org.AdvanceTo(time.Now().UTC()) // today so far: the live activity continues from now
	}
	app := gitlabsim.OAuthApp{Name: "Pacer demo", ClientID: "pacer-demo", Secret: rand.Text(),
		RedirectURIs: []string{base + "/auth/callback"}, Scopes: []string{"read_api"}}
	sim := gitlabsim.NewServer(org, gitlabsim.ServerOptions{Token: gitlabsim.DefaultToken, OAuthApps: []gitlabsim.OAuthApp{app}})
	defer sim.Close()
	// Sign-in is on, against the simulator: its sign-in page lists the generated people, some
	// seeing every project and some one team's.
	cfg.GitLabURL, cfg.BaseURL = sim.URL(), base
	cfg.Auth.Mode, cfg.Auth.ClientID, cfg.Auth.Secret = config.AuthGitLab, app.ClientID, app.Secret

	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	// The simulator's own URL is not printed: opened in a browser it answers 401, and the
	// dashboard sends people to its sign-in page anyway.
	fmt.Fprintln(stdout, "Syncing it through the collector from the built-in GitLab simulator…")
	// The config's api (auto unless it says otherwise): GraphQL, since the simulator serves it.
	sum, err := collector.Sync(ctx, st, collector.Options{
		BaseURL: sim.URL(), Token: gitlabsim.DefaultToken, Groups: []string{org.TopGroup()},
		Config: cfg, Now: org.Now, Logger: log, API: cfg.API,
	})
	if err != nil {
		return fmt.Errorf("demo: sync from the simulator: %w", err)
	}
	eng := metrics.New(st, cfg)
	if err := eng.Refresh(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Synced %d projects, %d merge requests, %d deployments, %d pipelines in %s (%d requests, %s); database %s\n",
		sum.ProjectsDone, sum.MergeRequests, sum.Deployments, sum.Pipelines, time.Since(start).Round(100*time.Millisecond), sum.Requests,
		apiLine(sum.APIs), dbPath)
	serveLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	authSvc, err := newAuthService(st, cfg, serveLog)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Sign-in is on: the dashboard sends you to the simulator's sign-in page; pick a person there (some see every project, some one team's).")
	o := web.Options{Store: st, Engine: eng, Config: cfg, Auth: authSvc, Logger: serveLog, Version: version()}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { // the live organisation stops before the demo returns and its store closes
		cancel()
		wg.Wait()
	}()
	if *live > 0 {
		if err := startLiveDemo(ctx, &wg, &o, org, sim, st, eng, cfg, base, *live, serveLog); err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "The organisation keeps moving: every %s a merge request is opened, merged or deployed, and its webhook updates the dashboard (--live 0 stops it).\n", *live)
	}
	ready := &announcement{w: stdout, text: "The Pacer demo is ready (Ctrl-C stops it). Open the dashboard:\n" + base + "/\n"}
	return serveDashboard(ctx, ln, o, ready, "The Pacer demo")
}

// announcement stands in for the demo's standard output while the dashboard starts: when the
// server says it serves, the demo says it its own way, with the dashboard's URL last and
// alone on its line (the line a terminal makes clickable, and the one people look for).
type announcement struct {
	w    io.Writer
	text string
	once sync.Once
}

func (a *announcement) Write(p []byte) (int, error) {
	var err error
	a.once.Do(func() { _, err = io.WriteString(a.w, a.text) })
	return len(p), err
}

// demoBaseURL is the demo's address on this machine: the listener's, with a wildcard host
// read as 127.0.0.1.
func demoBaseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
