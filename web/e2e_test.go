package web

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store/storetest"
	"github.com/pacer-dev/pacer/views"
)

// demoEnd pins the generated organisation's "now", so the demo data (and the screenshots)
// are the same on every run.
var demoEnd = time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC)

// startDemo serves the demo dashboard on a loopback port and returns its URL.
func startDemo(t *testing.T) string {
	t.Helper()
	// An eighth of the default activity keeps the test quick under -race and the charts full.
	hs := httptest.NewServer(demoServer(t, 84, 0.12))
	t.Cleanup(hs.Close)
	return hs.URL
}

// demoServer builds what `pacer demo` serves, in process: a generated organisation behind
// the GitLab simulator, synced through the real collector over HTTP, then the dashboard.
func demoServer(t testing.TB, days int, scale float64) *Server {
	t.Helper()
	ctx := context.Background()
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 1, Days: days, End: demoEnd, Scale: scale, PlainTitles: true}) // as the demo
	sim := gitlabsim.NewServer(org, gitlabsim.ServerOptions{Token: gitlabsim.DefaultToken})
	t.Cleanup(sim.Close)
	st := storetest.New(t)
	// Times on the pages (and in the screenshots) are in the configured zone, as the demo's.
	cfg, err := config.Parse("e2e.toml", []byte(`
timezone = "Europe/Malta"

[deploy_window]
days  = ["mon", "tue", "wed", "thu"]
start = "09:00"
end   = "17:00"

[[team]]
name     = "platform"
services = ["acme/platform/api-gateway", "acme/platform/auth", "acme/platform/notifications"]

[bots]
usernames = ["renovate-bot"]
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	sum, err := collector.Sync(ctx, st, collector.Options{BaseURL: sim.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{org.TopGroup()}, Config: cfg, Now: org.Now, API: cfg.API})
	if err != nil {
		t.Fatalf("sync the demo organisation: %v", err)
	}
	t.Logf("sync %s: %+v", time.Since(t0), sum.Progress)
	eng := metrics.New(st, cfg)
	eng.SetClock(func() time.Time { return demoEnd.Add(-time.Hour) })
	if err := eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: st, Engine: eng, Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	srv.access.baseHost = "example.com" // httptest.NewRequest's host, as if it were base_url's
	return srv
}

func chromiumPath() string {
	if p := os.Getenv("PACER_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserContext starts a headless Chromium with a fresh profile.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		// CI installs Chromium and sets PACER_REQUIRE_BROWSER, so there a missing browser fails
		// instead of passing silently.
		if os.Getenv("PACER_REQUIRE_BROWSER") != "" {
			t.Fatalf("end-to-end tests need Chromium at %s (set PACER_CHROMIUM to another path): %v", path, err)
		}
		t.Skipf("end-to-end tests need Chromium at %s (set PACER_CHROMIUM to another path): %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// consoleErrors collects the page's console errors, uncaught exceptions and browser log
// errors (CSP violations among them) until ctx ends.
func consoleErrors(ctx context.Context) func() []string {
	var mu sync.Mutex
	var errs []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.URL+": "+m.Text)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// cspViolations records the Content-Security-Policy violations of the page and its frames
// until ctx ends: the browser's own console reports ("Refused to apply inline style …"), and
// the securitypolicyviolation events, written to the console by a listener the browser adds
// to every document before its own scripts run (DevTools scripts are outside the policy).
// take returns the violations seen since its last call, once the document has loaded.
func cspViolations(t *testing.T, ctx context.Context) (take func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Refused to") || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				mu.Lock()
				seen = append(seen, m.URL+": "+m.Text)
				mu.Unlock()
			}
		}
	}()
	listener := `document.addEventListener('securitypolicyviolation', e => console.error('Content Security Policy violation: ' +
		e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline code') + ' in ' + e.sourceFile + ':' + e.lineNumber +
		(e.sample ? ' (' + e.sample + ')' : '')), true);`
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: listener})
		return err
	})); err != nil {
		t.Fatalf("listen for CSP violations: %v", err)
	}
	return func() []string {
		t.Helper()
		// Late reports (htmx starts after the document is parsed) come before the load ends.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Errorf("the page did not finish loading: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		v := seen
		seen = nil
		return v
	}
}

var updateScreenshots = flag.Bool("update-screenshots", false, "write the end-to-end screenshots into docs/screenshots")

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	start := time.Now()
	base := startDemo(t)
	t.Logf("demo ready in %s", time.Since(start).Round(time.Millisecond))
	ctx := browserContext(t)
	errs := consoleErrors(ctx)
	violations := cspViolations(t, ctx)
	checkCSP := func(what string) {
		t.Helper()
		if v := violations(); len(v) > 0 {
			t.Errorf("%s: the Content-Security-Policy refused something:\n%s", what, strings.Join(v, "\n"))
		}
	}
	// Every run takes the screenshots; -update-screenshots keeps them in docs/screenshots
	// (make screenshots), so an ordinary test run leaves the tree as it was.
	shots := t.TempDir()
	if *updateScreenshots {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every page loads with content and is saved as a screenshot.
	pages := []struct{ path, name, ready string }{
		{"/", "overview", ".cards .card-value a"},
		{"/cycle-time", "cycle-time", "#cycle-stages svg"},
		{"/releases", "releases", "#releases-heatmap svg"},
		{"/rework", "rework", "#rework-deployments table"},
		{"/coverage", "coverage", "#coverage-per-service table"},
		{"/approvals", "approvals", "#approvals-rate svg"},
		{"/investment", "investment", "#investment-shares svg"},
		{"/agreements", "agreements", "#agreements table svg.trend"},
		{"/merge-requests?sort=slowest&limit=25", "merge-requests", "#mr-list table"},
		{"/deployments?rework=true&limit=25", "deployments", "#deployment-list table"},
		{"/sync", "sync-status", "table.data"},
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready))); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		checkCSP(p.path)
		screenshot(p.name)
	}
	// The sync page has a column saying which API each project was read through: the demo's,
	// synced with api = auto from the simulator, through GraphQL.
	apis, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const heads = [...document.querySelectorAll('table.data thead th')].map(th => th.textContent.trim());
		const i = heads.indexOf('API');
		return [...document.querySelectorAll('table.data tbody tr')].map(tr => i < 0 ? 'no API column' : tr.children[i].textContent.trim());
	})()`))
	if err != nil || len(apis) == 0 {
		t.Fatalf("sync page: %v %v", apis, err)
	}
	for _, a := range apis {
		if a != "GraphQL" {
			t.Errorf("sync page: a project's API reads %q, want GraphQL (all: %v)", a, apis)
			break
		}
	}
	// The other pages of the menu load under the policy too. (Error pages are checked over
	// HTTP in TestNoInlineCodeInPages: here their status would be a console error.)
	visited := map[string]bool{}
	for _, p := range pages {
		visited[strings.Split(p.path, "?")[0]] = true
	}
	var others []string
	for _, it := range views.NavItems {
		if !visited[it.Path] {
			others = append(others, it.Path)
		}
	}
	for _, p := range others {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("#main"))); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		checkCSP(p)
	}

	// Change a filter: HTMX swaps the page body without a reload and pushes the URL.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/cycle-time"),
		chromedp.WaitVisible(chromedp.CSS("#cycle-stages svg")),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true;
			const sel = document.querySelector('select[name=period]');
			sel.value = '4w';
			sel.dispatchEvent(new Event('change', {bubbles: true}));`),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`location.search.includes('period=4w') &&
		document.querySelector('.range') !== null && document.querySelector('.range').textContent.includes('2 Mar – 25 Mar 2026 · 24 days')`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' | ' + (document.querySelector('.range') || {}).textContent + ' | htmx=' + typeof htmx`))
		t.Fatalf("filter change did not swap the page: %v (page: %s; console: %v)", err, state, errs())
	}
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	if err != nil || !kept {
		t.Errorf("the filter change reloaded the whole page (want an HTMX swap): %v", err)
	}
	checkCSP("the filter change (an HTMX swap)")
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "Cycle time · Pacer" {
		t.Errorf("title after the swap = %q, %v", title, err)
	}

	// A section grows in place: the slowest MRs, from 10 to 50 rows, with no reload.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#slowest a[hx-get]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#slowest tbody tr').length === 50 && window.__notReloaded === true`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the slowest-MRs section did not grow in place: %v", err)
	}
	checkCSP("the slowest-MRs section (an HTMX swap)")

	// Follow a drill-down: the overview's deployment card links to the deployments behind it.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(".cards .card-value a")),
	); err != nil {
		t.Fatal(err)
	}
	want, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.card')].find(c => c.querySelector('.card-label').textContent === 'Deployments').querySelector('.card-n').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('.card')].find(c => c.querySelector('.card-label').textContent === 'Deployments').querySelector('.card-value a').click()`),
		chromedp.WaitVisible(chromedp.CSS("#deployment-list")),
	); err != nil {
		t.Fatalf("drill-down: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/deployments?") {
		t.Errorf("drill-down went to %s", loc)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#deployment-list h2")))
	if err != nil {
		t.Fatal(err)
	}
	// The card says "n = 180 deployments · week of …"; the list has the same number.
	n := strings.Fields(strings.TrimPrefix(want, "n = "))[0]
	if !strings.HasPrefix(heading, n+" production deployment") {
		t.Errorf("card says %q but the list behind it says %q", want, heading)
	}

	// Download the list's CSV.
	dir := t.TempDir()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS("#deployment-list a.csv")),
	); err != nil {
		t.Fatal(err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if lines[0] != strings.Join(metrics.Columns["deployments"], ",") || len(lines) < 2 {
			t.Errorf("downloaded CSV starts %q and has %d lines", lines[0], len(lines))
		}
		break
	}

	// The investment page: stacked segments that link to their MRs, and a table whose figures
	// open the same MRs the cell counts.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/investment"), chromedp.WaitVisible(chromedp.CSS("#investment-shares svg"))); err != nil {
		t.Fatal(err)
	}
	segments, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#investment-shares svg a[href*="category="] rect.bar').length`))
	if err != nil || segments == 0 {
		t.Errorf("the investment chart has no linked segments (%d, %v)", segments, err)
	}
	target, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#investment-shares .target text') || {}).textContent || ''`))
	if err != nil || !strings.Contains(target, "target 20%") {
		t.Errorf("the investment chart's target line says %q (%v)", target, err)
	}
	count, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#investment-table tfoot td.hot .note').textContent`))
	if err != nil {
		t.Fatalf("the investment table has no tech-debt total: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#investment-table tfoot td.hot a")), chromedp.WaitVisible(chromedp.CSS("#mr-list"))); err != nil {
		t.Fatalf("investment drill-down: %v", err)
	}
	heading, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#mr-list h2")))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Fields(count)[0]; !strings.HasPrefix(heading, n+" merge request") {
		t.Errorf("the investment table counts %q tech-debt MRs, the list behind it %q", count, heading)
	}
	if chips, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".chips"))); !strings.Contains(chips, "category tech debt") {
		t.Errorf("the MR list does not say it is filtered by category: %q", chips)
	}

	// The agreements page: a row per service and team, each cell with its trend, and the
	// approvals cell of all services opens the MRs that break it.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/agreements"), chromedp.WaitVisible(chromedp.CSS("#agreements table svg.trend"))); err != nil {
		t.Fatal(err)
	}
	shape, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.querySelectorAll('#agreements tbody tr').length,
		document.querySelectorAll('#agreements svg.trend').length,
		document.querySelectorAll('#agreements svg.trend circle.trend-dot').length]`))
	if err != nil || len(shape) != 3 || shape[0] < 3 || shape[1] == 0 || shape[2] != 8*shape[1] {
		t.Errorf("agreements table: rows, trends, dots = %v (%v); want rows and 8 dots per trend", shape, err)
	}
	if teams, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#agreements"))); !strings.Contains(teams, "platform") {
		t.Error("the agreements table has no row for the team platform")
	}
	broken, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#agreements tbody tr td.agreement .note a') || {}).textContent || ''`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#agreements tbody tr td.agreement .agreement-value a")), chromedp.WaitVisible(chromedp.CSS("#mr-list"))); err != nil {
		t.Fatalf("agreements drill-down: %v", err)
	}
	heading, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#mr-list h2")))
	if err != nil {
		t.Fatal(err)
	}
	if broken != "" {
		if n := strings.Fields(broken)[0]; !strings.HasPrefix(heading, n+" merge request") {
			t.Errorf("the approvals cell says %q, the list behind it %q", broken, heading)
		}
	}

	// A phone, and the dark theme.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards"))); err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || overflow {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ':' + Math.round(e.getBoundingClientRect().right)).join(' ')`))
		t.Errorf("the overview scrolls sideways on a phone (%v): %s", err, wide)
	}
	screenshot("overview-phone")
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
		chromedp.Navigate(base+"/cycle-time"), chromedp.WaitVisible(chromedp.CSS("#cycle-stages svg")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot("cycle-time-dark")
	checkCSP("the drill-downs, the phone and the dark theme")

	if e := errs(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}

// Pacer's script shows every series of the period under the pointer at once, without the
// browser's slow native tooltip; the SVG titles stay in the page for screen readers.
func TestEndToEndTooltips(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	base := startDemo(t)
	ctx := browserContext(t)
	errs := consoleErrors(ctx)
	violations := cspViolations(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?by=month&period=26w"), chromedp.WaitVisible(chromedp.CSS("#overview-cycle svg"))); err != nil {
		t.Fatal(err)
	}
	// Move the pointer over the middle of the last (partial) month of the cycle-time chart,
	// once the page has scrolled there (a scroll hides the tooltip).
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS("#overview-cycle svg")), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	at, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const hits = document.querySelectorAll('#overview-cycle .hit');
		const r = hits[hits.length - 1].getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`))
	if err != nil || len(at) != 2 {
		t.Fatalf("no hover column on the cycle-time chart: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent("mouseMoved", at[0], at[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const t = document.querySelector('.tip'); return t && !t.hidden; })()`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('.tip') || {outerHTML: 'no tooltip'}).outerHTML + ' at ' + scrollY`))
		t.Fatalf("no tooltip on hover at %v: %v (%s; console: %v)", at, err, state, errs())
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.tip').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Mar 2026 (so far, 25 of 31 days)", "p50: ", "p75: ", "p90: ", "n="} {
		if !strings.Contains(text, want) {
			t.Errorf("the tooltip lacks %q:\n%s", want, text)
		}
	}
	// The marks keep their titles (no script needed to read a value).
	titles, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#overview-cycle circle.dot > title')].filter(t => t.textContent.includes(' · p50: ')).length`))
	if err != nil || titles == 0 {
		t.Errorf("the dots lost their titles (%d, %v)", titles, err)
	}
	// Leaving the chart hides it.
	if err := chromedp.Do(ctx, chromedp.MouseEvent("mouseMoved", 5, 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('.tip').hidden`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("the tooltip stays after the pointer left: %v", err)
	}
	// The heatmap's cells have their own text.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/releases"), chromedp.WaitVisible(chromedp.CSS("#releases-heatmap svg"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS("#releases-heatmap svg")), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	cell, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const c = [...document.querySelectorAll('#releases-heatmap rect.heat')].find(r => !r.classList.contains('zero') && r.dataset.tip);
		const r = c.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`))
	if err != nil || len(cell) != 2 {
		t.Fatalf("no heatmap cell: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent("mouseMoved", cell[0], cell[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const t = document.querySelector('.tip'); return t && !t.hidden && / deployments?$/.test(t.innerText.trim()); })()`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("no tooltip on a heatmap cell: %v", err)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("the Content-Security-Policy refused something:\n%s", strings.Join(v, "\n"))
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}

// On a phone the filter bar folds under a one-line summary and opens on a tap, with or
// without the script; on a wide screen it is open.
func TestEndToEndFilterBarFoldsOnPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	base := startDemo(t)
	ctx := browserContext(t)
	violations := cspViolations(t, ctx)
	// checkVisibility: a closed <details> keeps its content laid out but not rendered.
	formShown := `document.getElementById('filters').checkVisibility()`
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards"))); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](formShown))
	if err != nil || shown {
		t.Errorf("the filter form shows on a phone before a tap (%v)", err)
	}
	summary, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".filter-summary")))
	if err != nil || !strings.Contains(summary, "Last 12 weeks") {
		t.Errorf("the folded filter bar says %q (%v)", summary, err)
	}
	// Axis labels are readable: at least 9 CSS pixels high on a 390-pixel screen.
	size, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('#overview-cycle .xlabel').getBoundingClientRect().height`))
	if err != nil || size < 9 {
		t.Errorf("axis labels are %.1f px high on a phone (%v)", size, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".filter-summary"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](formShown, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("a tap on the summary does not open the filter form: %v", err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || overflow {
		t.Errorf("the page scrolls sideways with the filters open on a phone (%v)", err)
	}
	// Service names do not break inside a word.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/releases"), chromedp.WaitVisible(chromedp.CSS("#releases-per-service table"))); err != nil {
		t.Fatal(err)
	}
	broken, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#releases-per-service th.name')].filter(th => {
		const words = th.textContent.split(/[\/\s]+/).filter(Boolean);
		const r = document.createRange();
		return words.some(w => {
			const i = th.textContent.indexOf(w);
			let node = th.firstChild, off = i;
			const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
			while ((node = walker.nextNode())) { if (off < node.length) break; off -= node.length; }
			if (!node || off + w.length > node.length) return false;
			r.setStart(node, off); r.setEnd(node, off + w.length);
			return r.getClientRects().length > 1;
		});
	}).map(th => th.textContent)`))
	if err != nil || len(broken) > 0 {
		t.Errorf("service names broken inside a word on a phone: %v (%v)", broken, err)
	}
	// A wide screen shows the form at once, and the summary not at all.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards"))); err != nil {
		t.Fatal(err)
	}
	shown, err = chromedp.Run(ctx, chromedp.Evaluate[bool](formShown+` && !document.querySelector('.filter-summary').checkVisibility()`))
	if err != nil || !shown {
		t.Errorf("the filter form is folded on a wide screen (%v)", err)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("the Content-Security-Policy refused something:\n%s", strings.Join(v, "\n"))
	}
}
