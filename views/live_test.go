package views

import (
	"strings"
	"testing"
)

// The live parts: the headline polls its URL and shows the running period, the sync status
// polls too and shows the webhook queue; every text is escaped; without a URL nothing polls.
func TestLiveViews(t *testing.T) {
	now := &LiveNow{Label: "So far this week (week of 23 Mar)", Deployments: Link{Label: "3 production deployments", Href: "/deployments?a=1&b=2"},
		Delivered: Link{Label: "5 MRs delivered", Href: "/merge-requests"}, Last: "2026-03-25 09:00 UTC, " + evil + " to production"}
	out := render(t, LiveCards([]Card{{Label: "Deployments", Value: "4"}}, now, "/overview/headline?live=7-2026-03-25"))
	for _, want := range []string{`id="headline"`, `hx-get="/overview/headline?live=7-2026-03-25"`, `hx-trigger="every 2s"`, `hx-swap="outerHTML"`,
		"So far this week (week of 23 Mar):", `href="/deployments?a=1&amp;b=2"`, "3 production deployments", "last deployment 2026-03-25 09:00 UTC, &lt;script&gt;"} {
		if !strings.Contains(out, want) {
			t.Errorf("live cards lack %q:\n%s", want, out)
		}
	}
	if out := render(t, LiveCards(nil, nil, "")); strings.Contains(out, "hx-get") || strings.Contains(out, "live-now") {
		t.Errorf("without a URL the headline polls: %s", out)
	}

	on := SyncPage{Live: "/sync/live?v=abc", Note: "note", Hooks: SyncHooks{On: true,
		Figures: []Option{{Label: "Waiting", Value: "2"}, {Label: "Retrying", Value: "1"}},
		Last:    "2026-03-25 09:00 UTC · merge request acme/api!1 · done: saved",
		Problems: []SyncHookProblem{{What: "deployment 7 of acme/api", Received: "2026-03-25 09:00 UTC", Attempts: "3",
			Next: "2026-03-25 09:01 UTC", Error: "503 " + evil}}}}
	out = render(t, SyncView(on))
	for _, want := range []string{`id="sync-live"`, `hx-get="/sync/live?v=abc"`, `hx-trigger="every 5s"`, "<h2>Webhooks</h2>", "Waiting", "Retrying",
		"Last delivery: 2026-03-25 09:00 UTC · merge request acme/api!1", "deployment 7 of acme/api", "503 &lt;script&gt;", "Next attempt"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync with webhooks lacks %q", want)
		}
	}
	out = render(t, SyncLive(SyncPage{Hooks: SyncHooks{On: true}}))
	if !strings.Contains(out, "No delivery yet") || strings.Contains(out, "hx-get") {
		t.Errorf("sync before any delivery: %s", out)
	}
	out = render(t, SyncHooksView(SyncHooks{}))
	if !strings.Contains(out, "Set PACER_WEBHOOK_SECRET") || !strings.Contains(out, "pacer hooks install") {
		t.Errorf("webhooks off: %s", out)
	}
}
