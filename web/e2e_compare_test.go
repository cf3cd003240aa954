package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// In a browser: the cycle-time page's table per service opens the compare view of the same
// services sorted by cycle time, in the same order and with the same medians; the compare view
// sorts by another column with a click, without a reload; the agreements page opens the teams
// side by side.
func TestEndToEndCompareFromATable(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	base := startDemo(t)
	ctx := browserContext(t)
	errs := consoleErrors(ctx)
	violations := cspViolations(t, ctx)
	checkCSP := func(what string) {
		t.Helper()
		if v := violations(); len(v) > 0 {
			t.Errorf("%s: the Content-Security-Policy refused something:\n%s", what, strings.Join(v, "\n"))
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/cycle-time?period=4w"), chromedp.WaitVisible(chromedp.CSS("#cycle-per-service table"))); err != nil {
		t.Fatal(err)
	}
	checkCSP("/cycle-time")
	table, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#cycle-per-service tbody tr')].map(r =>
		[r.querySelector('th').textContent, r.querySelector('td.num a').textContent])`))
	if err != nil || len(table) < 3 {
		t.Fatalf("the cycle-time table per service has %d rows (%v)", len(table), err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#cycle-per-service a.compare")), chromedp.WaitVisible(chromedp.CSS("table.compare tbody tr"))); err != nil {
		t.Fatalf("the Compare link of the table: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/compare?") || !strings.Contains(loc, "sort=-cycle") || !strings.Contains(loc, "period=4w") {
		t.Errorf("the Compare link went to %s", loc)
	}
	checkCSP("/compare from the cycle-time table")
	compare, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`(() => {
		const col = [...document.querySelectorAll('table.compare thead th')].findIndex(th => th.textContent.startsWith('Cycle time p50'));
		return [...document.querySelectorAll('table.compare tbody tr')].map(r => [r.querySelector('th').textContent, (r.children[col].querySelector('a') || {}).textContent || '']);
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	// Every service of the table is in the compare view, in the same order, with the same median.
	var withCycle [][]string
	for _, r := range compare {
		if r[1] != "" {
			withCycle = append(withCycle, r)
		}
	}
	if len(withCycle) != len(table) {
		t.Fatalf("the table has %d services with a cycle time, the compare view %d:\n%v\n%v", len(table), len(withCycle), table, compare)
	}
	for i := range table {
		if withCycle[i][0] != table[i][0] || withCycle[i][1] != table[i][1] {
			t.Errorf("row %d: the table says %v, the compare view %v", i, table[i], withCycle[i])
		}
	}
	// Sort by deployments, largest first, with a click: an HTMX swap.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true;
		[...document.querySelectorAll('table.compare thead a')].find(a => a.textContent.startsWith('Deployments')).click()`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`location.search.includes('sort=-deployments') && window.__notReloaded === true &&
		document.querySelector('table.compare th[aria-sort=descending]').textContent.startsWith('Deployments')`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("sorting the compare view by deployments: %v (console: %v)", err, errs())
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const col = [...document.querySelectorAll('table.compare thead th')].findIndex(th => th.textContent.startsWith('Deployments'));
		return [...document.querySelectorAll('table.compare tbody tr')].map(r => parseFloat(r.children[col].querySelector('.strong').textContent.replace(/,/g, '')) || 0);
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] > counts[i-1] {
			t.Errorf("deployments not largest first: %v", counts)
			break
		}
	}
	checkCSP("the compare view sorted by deployments")
	// The agreements page opens its teams side by side.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/agreements"), chromedp.WaitVisible(chromedp.CSS("#agreements table")),
		chromedp.Click(chromedp.CSS(`#agreements a.compare[href*="of=teams"]`)), chromedp.WaitVisible(chromedp.CSS("table.compare tbody tr"))); err != nil {
		t.Fatalf("the agreements page's Compare teams: %v", err)
	}
	teams, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('table.compare tbody th')].map(th => th.textContent)`))
	if err != nil || len(teams) != 1 || teams[0] != "platform" {
		t.Errorf("the teams side by side: %v (%v)", teams, err)
	}
	checkCSP("the teams side by side")
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}
