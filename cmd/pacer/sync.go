package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// runSync is `pacer sync`: an incremental sync from GitLab into the database. Everything is
// validated before the database is opened, so bad input leaves it untouched.
func runSync(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("sync", env, stderr)
	gitlabURL := fs.String("gitlab-url", "", "GitLab instance `URL`, such as https://gitlab.example.com (a trailing /api/v4 is fine)")
	var groups, projects stringList
	fs.Var(&groups, "group", "group `PATH` whose projects to sync, subgroups included (repeatable)")
	fs.Var(&projects, "project", "project `PATH` to sync as well (repeatable)")
	since := fs.String("since", "", "on a project's first sync, fetch merge requests and pipelines updated since `DATE` (YYYY-MM-DD, UTC; default 365 days ago)")
	concurrency := fs.Int("concurrency", collector.DefaultConcurrency, "at most `N` requests in flight and N projects synced at once (1-64)")
	apiFlag := fs.String("api", "", "read merge requests, pipelines and the MRs of deployments through `API`: auto (GraphQL where the instance answers it, else REST), rest or graphql (default api in the config, else auto)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "Usage: pacer sync --gitlab-url URL --group PATH [--group PATH]... [--project PATH]... [--since DATE] [--api auto|rest|graphql] [--db FILE]")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "The token comes from PACER_GITLAB_TOKEN (a token with the read_api scope), never from a flag.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("sync: unexpected argument %q (flags only; see pacer sync -h)", fs.Arg(0))
	}
	cfg, dbPath, err := fs.loadConfig()
	if err != nil {
		return err
	}
	url := *gitlabURL
	if url == "" {
		url = cfg.GitLabURL
	}
	if url == "" {
		return usagef("sync: no GitLab URL: pass --gitlab-url https://gitlab.example.com (or set PACER_GITLAB_URL or gitlab_url in the config)")
	}
	if _, err := collector.APIBaseURL(url); err != nil {
		return usagef("sync: --gitlab-url: %v", err)
	}
	if len(groups) == 0 {
		groups = cfg.Groups
	}
	if len(projects) == 0 {
		projects = cfg.Projects
	}
	if len(groups) == 0 && len(projects) == 0 {
		return usagef("sync: nothing to sync: pass --group PATH or --project PATH (or set groups/projects in the config)")
	}
	var sinceAt time.Time
	if *since != "" {
		sinceAt, err = time.Parse("2006-01-02", *since)
		if err != nil {
			return usagef("sync: --since %q is not a date (use YYYY-MM-DD, such as 2026-01-31)", *since)
		}
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usagef("sync: --concurrency %d is out of range (use 1-64)", *concurrency)
	}
	api := *apiFlag
	if api == "" {
		api = cfg.API
	}
	if api, err = collector.ParseAPI(api); err != nil {
		return usagef("sync: --api: %v", err)
	}
	token := env("PACER_GITLAB_TOKEN")
	if strings.TrimSpace(token) == "" {
		return usagef("sync: PACER_GITLAB_TOKEN is not set: create a personal access token with the read_api scope and export it")
	}

	// A database file this command creates is removed again if the sync saved nothing: GitLab
	// refused the token, could not be reached or knows no such group. A failed first try then
	// leaves no empty pacer.db behind to be taken for a synced one.
	fresh := isNewDatabaseFile(dbPath)
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	var closeOnce sync.Once
	closeStore := func() { closeOnce.Do(func() { st.Close() }) }
	defer closeStore()

	out := newProgressOutput(stderr)
	defer out.stop()
	level := slog.LevelInfo
	if out.live {
		level = slog.LevelWarn // the progress line says the rest
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	sum, err := collector.Sync(ctx, st, collector.Options{
		BaseURL:     url,
		Token:       token,
		Groups:      groups,
		Projects:    projects,
		Since:       sinceAt,
		Concurrency: *concurrency,
		API:         api,
		Config:      cfg,
		Progress:    out.update,
		Logger:      logger,
	})
	out.stop()
	if err == nil || sum.ProjectsTotal > 0 || len(sum.Failed) > 0 {
		printSummary(stdout, sum, dbPath, errors.Is(err, context.Canceled))
	}
	if err != nil && fresh && !errors.Is(err, context.Canceled) {
		if projects, perr := st.Projects(ctx); perr == nil && len(projects) == 0 {
			closeStore()
			removeDatabaseFile(dbPath)
		}
	}
	// Derive the facts now, so the first page or export after a sync does not pay for it.
	// What did sync is derived even when some projects failed.
	if !errors.Is(err, context.Canceled) && sum.ProjectsDone > 0 {
		if rerr := metrics.New(st, cfg).Refresh(ctx); rerr != nil {
			return fmt.Errorf("sync: derive metrics: %w", rerr)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, collector.ErrProjectsFailed):
		var names []string
		for _, f := range sum.Failed {
			names = append(names, f.Path)
		}
		hint := "what did sync is kept; run pacer sync again to retry"
		if sum.ProjectsTotal == 0 {
			hint = "nothing was synced; check the paths and --gitlab-url"
		}
		return exitError{code: 1, msg: fmt.Sprintf("sync: failed: %s (%s)", strings.Join(names, ", "), hint)}
	default:
		return err
	}
}

// isNewDatabaseFile says whether the database is a file that does not exist yet (a URL, for a
// server database, is never new).
func isNewDatabaseFile(path string) bool {
	if strings.Contains(path, "://") {
		return false
	}
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// removeDatabaseFile removes a SQLite database and the files beside it.
func removeDatabaseFile(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

// printSummary writes the outcome of a sync. The counts are of this run's work: rows listed
// (and saved), and the per-item reads, which also cover items listed by an earlier sync.
func printSummary(w io.Writer, s collector.Summary, db string, interrupted bool) {
	verb := "synced"
	if interrupted {
		verb = "interrupted: synced"
	}
	if s.ProjectsTotal == 0 {
		// Every group and project failed (a wrong URL, a typo in a path): say so, not "0 of 0".
		fmt.Fprintf(w, "found no project to sync (%d requests in %s)\n", s.Requests, s.Elapsed.Round(100*time.Millisecond))
		for _, f := range s.Failed {
			fmt.Fprintf(w, "  failed: %s: %v\n", f.Path, f.Err)
		}
		return
	}
	fmt.Fprintf(w, "%s %d of %d projects into %s in %s\n", verb, s.ProjectsDone-s.ProjectsFailed, s.ProjectsTotal, db,
		s.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  %d merge requests (commits and notes read for %d), %d production deployments (MRs read for %d), %d pipelines (coverage read for %d)\n",
		s.MergeRequests, s.Details, s.Deployments, s.Links, s.Pipelines, s.Coverage)
	fmt.Fprintf(w, "  %d requests, %d rate-limit waits\n", s.Requests, s.RateLimitWaits)
	if line := apiLine(s.APIs); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
	for _, f := range s.Failed {
		fmt.Fprintf(w, "  failed: %s: %v\n", f.Path, f.Err)
	}
}

// progressOutput shows a live progress line on a terminal, with log lines printed above it;
// elsewhere it passes log lines through and prints progress as a log line every 10 seconds.
type progressOutput struct {
	w    io.Writer
	live bool
	term *os.File // the terminal, when live

	mu      sync.Mutex
	last    collector.Progress
	drawn   bool
	stopped bool
	lastLog time.Time
	done    chan struct{}
	once    sync.Once
}

func newProgressOutput(w io.Writer) *progressOutput {
	p := &progressOutput{w: w, live: isTerminal(w), done: make(chan struct{}), lastLog: time.Now()}
	if p.live {
		p.term = w.(*os.File)
		go p.redraw()
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal), without a terminal library.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progressOutput) update(pr collector.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = pr
	if !p.live && !p.stopped && time.Since(p.lastLog) >= 10*time.Second {
		p.lastLog = time.Now()
		fmt.Fprintf(p.w, "progress: %s\n", progressText(pr))
	}
}

func (p *progressOutput) redraw() {
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			// A line wider than the terminal wraps, and "\r" then returns only to the start of
			// its last row: every redraw would leave a row behind and scroll the screen. So
			// the line is cut to the terminal's width, read each time (it may be resized).
			width := terminalColumns(p.term)
			if width <= 0 {
				width = 80
			}
			p.mu.Lock()
			if !p.stopped {
				fmt.Fprintf(p.w, "\r\033[K%s", fitColumns(progressText(p.last), width-1))
				p.drawn = true
			}
			p.mu.Unlock()
		}
	}
}

// Write prints a log line, above the progress line on a terminal.
func (p *progressOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	return p.w.Write(b)
}

func (p *progressOutput) stop() {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stopped = true
		if p.drawn {
			fmt.Fprint(p.w, "\r\033[K")
		}
	})
}

// fitColumns cuts s to at most n characters (one column each: the progress line is plain
// text), marking a cut with "…".
func fitColumns(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// progressText is the progress line. The time left comes first after the projects, so a
// narrow terminal, which cuts the line at its end, still shows it.
func progressText(p collector.Progress) string {
	left := ""
	if p.Remaining > 0 {
		left = fmt.Sprintf(" · ~%s left", p.Remaining.Round(time.Second))
	}
	return fmt.Sprintf("projects %d/%d%s · %s · %d requests (%.0f/min) · rate-limit waits %d · MRs %d · deployments %d · pipelines %d",
		p.ProjectsDone, p.ProjectsTotal, left, p.Elapsed.Round(time.Second), p.Requests, p.RequestsPerMinute, p.RateLimitWaits,
		p.MergeRequests, p.Deployments, p.Pipelines)
}

// apiLine says how the projects were read (merge requests, pipelines and the MRs of
// deployments): "read through GraphQL for 11 projects, through REST for 1 (acme/legacy)".
// Empty when no project got that far.
func apiLine(apis map[string]string) string {
	var gql, rest []string
	for path, api := range apis {
		if api == collector.APIGraphQL {
			gql = append(gql, path)
		} else {
			rest = append(rest, path)
		}
	}
	sort.Strings(rest)
	plural := func(n int) string {
		if n == 1 {
			return "1 project"
		}
		return fmt.Sprintf("%d projects", n)
	}
	switch {
	case len(gql) == 0 && len(rest) == 0:
		return ""
	case len(gql) == 0:
		return "read through REST for " + plural(len(rest))
	case len(rest) == 0:
		return "read through GraphQL for " + plural(len(gql))
	}
	names := rest
	if len(names) > 5 {
		names = append(names[:5:5], "…")
	}
	return fmt.Sprintf("read through GraphQL for %s, through REST for %d (%s)", plural(len(gql)), len(rest), strings.Join(names, ", "))
}
