package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pacer-dev/pacer/store/storetest"
)

// In a browser, the overview's headline updates within 5 seconds of a deployment in the
// simulator, without a reload: the simulator's webhook reaches Pacer, the worker fetches the
// deployment and derives the facts, and the polled headline swaps in. All under the
// Content-Security-Policy; the sync status shows the delivery the same way.
func TestOverviewUpdatesLiveAfterADeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	org, sim, cfg := hookOrg(t)
	st := storetest.New(t)
	syncOrg(t, st, org, sim, cfg)
	p := startLivePacer(t, st, org, sim, cfg, true)
	if _, err := sim.AddHook(org.TopGroup(), p.http.URL+"/hooks/gitlab", testSecret); err != nil {
		t.Fatal(err)
	}
	ctx := browserContext(t)
	violations := cspViolations(t, ctx)
	errs := consoleErrors(ctx)
	// The cards show complete weeks; the line under them shows this week so far.
	deploymentsCard := `document.querySelector('#headline .live-now').textContent.replace(/\s+/g, ' ').trim()`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.http.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#headline .card-value a")),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
	); err != nil {
		t.Fatal(err)
	}
	// Open and merge an MR first: the headline may move with them too.
	pulseUntil(t, org, "merged ")
	time.Sleep(2500 * time.Millisecond)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](deploymentsCard))
	if err != nil {
		t.Fatal(err)
	}
	deployed := pulseUntil(t, org, "deployed ")
	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](deploymentsCard+` !== `+jsString(before),
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		after, _ := chromedp.Run(ctx, chromedp.Evaluate[string](deploymentsCard))
		t.Fatalf("%s: the overview's headline still shows %q (was %q) after 5 s: %v (console: %v)", deployed, after, before, err, errs())
	}
	after, _ := chromedp.Run(ctx, chromedp.Evaluate[string](deploymentsCard))
	t.Logf("%s: the headline went from %q to %q in %s", deployed, before, after, time.Since(start).Round(10*time.Millisecond))
	if !strings.Contains(after, "last deployment") || !strings.Contains(after, strings.Fields(deployed)[1]) {
		t.Errorf("the headline does not name the deployment: %q", after)
	}
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	if err != nil || !kept {
		t.Errorf("the page was reloaded (want the headline swapped in place): %v", err)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("the Content-Security-Policy refused something:\n%s", strings.Join(v, "\n"))
	}

	// The sync status shows the deliveries, and keeps polling.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.http.URL+"/sync"),
		chromedp.WaitVisible(chromedp.CSS("#webhooks")),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
	); err != nil {
		t.Fatal(err)
	}
	last := `((document.querySelector('#webhooks .note') || {}).textContent || '')`
	opened := pulseUntil(t, org, "opened ")
	project, iid := mrOf(t, opened)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](last+`.includes('merge request `+fmt.Sprintf("%s!%d", project, iid)+`')`,
		chromedp.WithPollingTimeout(8*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](last))
		ds, _ := st.WebhookDeliveries(context.Background())
		t.Errorf("the sync status did not show %s: %q (queue: %+v)", opened, got, ds)
	}
	if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`)); !kept {
		t.Error("the sync status reloaded the page")
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("the Content-Security-Policy refused something on /sync:\n%s", strings.Join(v, "\n"))
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors: %v", e)
	}
}
