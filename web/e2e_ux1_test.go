package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// In a browser: the compare view sorts by a click, the MR list's search box narrows the list
// as one types (an HTMX swap), a title opens the MR's timeline and its author opens their
// page; each is saved as a screenshot (make screenshots keeps them in docs/screenshots).
func TestEndToEndCompareSearchTimeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	base := startDemo(t)
	ctx := browserContext(t)
	errs := consoleErrors(ctx)
	violations := cspViolations(t, ctx)
	shot := e2eScreenshots(t, ctx)
	checkCSP := func(what string) {
		t.Helper()
		if v := violations(); len(v) > 0 {
			t.Errorf("%s: the Content-Security-Policy refused something:\n%s", what, strings.Join(v, "\n"))
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' reloaded=' + (window.__notReloaded !== true) + ' rows=' + [...document.querySelectorAll('#mr-list tbody tr')].map(r => r.querySelector('td.title').textContent.slice(0, 40)).join(' / ')`))
			t.Fatalf("%s: %v (at %s; console: %v)", what, err, state, errs())
		}
	}

	// Compare: sort by cycle time with a click on its heading; no reload.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/compare"), chromedp.WaitVisible(chromedp.CSS("table.compare tbody tr"))); err != nil {
		t.Fatal(err)
	}
	checkCSP("/compare")
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true;
			[...document.querySelectorAll('table.compare thead a')].find(a => a.textContent.startsWith('Cycle time p50')).click()`),
	); err != nil {
		t.Fatal(err)
	}
	poll("sort the compare view", `location.search.includes('sort=-cycle') && window.__notReloaded === true &&
		document.querySelector('table.compare th[aria-sort=descending]') !== null`)
	shot("compare")

	// The MR list: type into the search box; htmx swaps the list.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/merge-requests?sort=slowest&limit=25"), chromedp.WaitVisible(chromedp.CSS("#mr-list table"))); err != nil {
		t.Fatal(err)
	}
	word, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#mr-list tbody td.title a').textContent.split(' ')[0]`))
	if err != nil || word == "" {
		t.Fatalf("no title to search for: %v", err)
	}
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#mr-list h2').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
		chromedp.SendKeys(`input[name=q]`, word),
	); err != nil {
		t.Fatal(err)
	}
	poll("search the MR list", `location.search.includes('q=') && window.__notReloaded === true &&
		document.querySelector('input[name=q]').value === `+jsString(word)+` &&
		document.querySelector('#mr-list h2').textContent !== `+jsString(before)+``)
	checkCSP("the search (an HTMX swap)")
	shot("merge-requests-search")

	// A title opens the MR's timeline; its author opens their page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/merge-requests?sort=slowest&limit=25"), chromedp.WaitVisible(chromedp.CSS("#mr-list table")),
		chromedp.Click(chromedp.CSS(`#mr-list tbody td.title a[title="timeline of this MR"]`)),
		chromedp.WaitVisible(chromedp.CSS("#timeline svg")),
	); err != nil {
		t.Fatal(err)
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#timeline .mark title').length`))
	if err != nil || marks < 3 {
		t.Errorf("the timeline has %d marks with hover text: %v", marks, err)
	}
	checkCSP("an MR's timeline")
	shot("mr-timeline")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.page-head a[href^="/authors/"]`)),
		chromedp.WaitVisible(chromedp.CSS("#author-reviews")),
	); err != nil {
		t.Fatal(err)
	}
	checkCSP("an author's page")
	shot("author")
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// e2eScreenshots saves full-page screenshots under a name: into docs/screenshots with
// -update-screenshots, else into a temporary directory.
func e2eScreenshots(t *testing.T, ctx context.Context) func(name string) {
	shots := t.TempDir()
	if *updateScreenshots {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	return func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
