package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every page takes by=month and by=quarter (full page and fragment), labels its axes with
// months or quarters, and its CSV links carry the choice; any other by is a 400.
func TestMonthsAndQuartersOnEveryPage(t *testing.T) {
	f := newFixture(t)
	pages := []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements", "/merge-requests", "/deployments"}
	for _, by := range []struct{ by, label string }{{"month", "Mar 2026"}, {"quarter", "Q1 2026"}} {
		for _, p := range pages {
			for _, htmx := range []bool{false, true} {
				rec := f.get(p+"?period=26w&by="+by.by, htmx)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s by=%s: status %d\n%s", p, by.by, rec.Code, rec.Body)
				}
				body := rec.Body.String()
				mustContain(t, body, `<option value="`+by.by+`" selected>`)
				switch p {
				case "/", "/cycle-time", "/releases", "/rework", "/approvals", "/investment":
					mustContain(t, body, ">"+by.label+"</text>", "by="+by.by)
				}
				if strings.Contains(body, "/export/") && !strings.Contains(body, `.csv?by=`+by.by) {
					t.Errorf("%s by=%s: the CSV links lose by", p, by.by)
				}
			}
		}
	}
	for _, p := range append(pages, "/export/metrics.csv") {
		rec := f.get(p+"?by=year", false)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "by=month or by=quarter") {
			t.Errorf("%s?by=year: %d %s", p, rec.Code, rec.Body)
		}
	}
	// A month's figures link to the whole month.
	mustContain(t, f.get("/?period=26w&by=month", false).Body.String(), "/deployments?by=month&amp;from=2026-03-01&amp;period=custom&amp;to=2026-03-25")
	// The 4-quarter preset starts on a quarter's first day.
	mustContain(t, f.get("/?period=4q&by=quarter", false).Body.String(), "1 Apr 2025 – 25 Mar 2026")
}

// A period still running, or cut by the range, is drawn dashed and says so on hover and in
// the data table; a whole period is not.
func TestPartialPeriodsAreMarked(t *testing.T) {
	f := newFixture(t)
	body := f.get("/?period=26w&by=month", false).Body.String()
	mustContain(t, body,
		`<circle class="dot s0 partial"`,                            // March: a hollow dot
		`class="bar s0 partial"`,                                    // the deployments bar of March
		"Mar 2026 (so far, 25 of 31 days) · 3 (n=3)",                // hover
		`<th scope="row">Mar 2026 (so far, 25 of 31 days)</th>`,     // the data table
		`<th scope="row">Sep 2025 (2 of 30 days in the range)</th>`, // cut by the range's start
		`<th scope="row">Feb 2026</th>`,
		"dashed: a period not over yet, or cut by the range")
	// Weeks: the one of 23 Mar is running on Wednesday 25 Mar.
	mustContain(t, f.get("/releases", false).Body.String(), "23 Mar (so far, 3 of 7 days)")
	// A range ending on a Sunday has only whole weeks.
	if b := f.get("/?from=2026-01-05&to=2026-03-15", false).Body.String(); strings.Contains(b, "partial") && strings.Contains(b, "so far") {
		t.Error("a range of whole weeks in the past has partial periods")
	}
	// The hover columns list every series at a period, for the tooltip script.
	mustContain(t, body, `data-tip="Mar 2026 (so far, 25 of 31 days)`, "Rework rate: 33.3% (n=3)\nChange failure rate: 33.3% (n=3)")
}

// Agreed targets are drawn on the charts they apply to, and the four DORA keys carry their
// level on the cards, with the legend of the levels.
func TestTargetsAndBands(t *testing.T) {
	f := newFixture(t)
	f.cfg.Agreements.CycleTime = 48 * time.Hour
	f.start()
	// Up to Sunday 15 Mar, the cards show W11: acme/web's two MRs (4d 17h), one deployment.
	q := "?from=2026-01-05&to=2026-03-15"
	over := f.get("/"+q, false).Body.String()
	mustContain(t, over, "agreed p50 ≤ 2d", `id="dora-bands"`, "DORA, Accelerate State of DevOps Report 2024",
		`<p class="band high" title="Lead time for changes between a day and a week: DORA level high`,
		`<p class="band high" title="Deployment frequency between once a day and once a week`,
		`<p class="band elite" title="Change failure rate 5% or less`)
	mustContain(t, f.get("/cycle-time"+q, false).Body.String(), "agreed p50 ≤ 2d")
	mustContain(t, f.get("/approvals"+q, false).Body.String(), "agreed ≤ 5% of MRs")
	mustContain(t, f.get("/releases"+q, false).Body.String(), "DORA: high")
	mustContain(t, f.get("/investment"+q, false).Body.String(), "target 20%")

	for _, c := range []struct {
		metric string
		v      float64
		want   string
	}{
		{"deploys_per_day", 2, "elite"}, {"deploys_per_day", 1.0 / 7, "high"}, {"deploys_per_day", 0.05, "medium"}, {"deploys_per_day", 0.01, "low"},
		{"cycle_time_p50_seconds", 3600, "elite"}, {"cycle_time_p50_seconds", 86400, "high"}, {"cycle_time_p50_seconds", 8 * 86400, "medium"}, {"cycle_time_p50_seconds", 31 * 86400, "low"},
		{"change_failure_rate", 0.05, "elite"}, {"change_failure_rate", 0.15, "high–medium"}, {"change_failure_rate", 0.25, "low"},
		{"recovery_time_p50_seconds", 600, "elite"}, {"recovery_time_p50_seconds", 7200, "high–medium"}, {"recovery_time_p50_seconds", 2 * 86400, "low"},
	} {
		if got := bandOf(c.metric).level(c.v).name; got != c.want {
			t.Errorf("%s %v: level %s, want %s", c.metric, c.v, got, c.want)
		}
	}
}

// A change on fewer items than [display] small_sample is shown muted; with a lower
// threshold the same change is coloured.
func TestSmallSamplesAreMuted(t *testing.T) {
	f := newFixture(t)
	q := "/?from=2026-01-05&to=2026-03-15" // W11 (2 MRs) against W10 (4 MRs)
	body := f.get(q, false).Body.String()
	mustContain(t, body, `class="delta small"`, "fewer than 20, too few to call it better or worse", "(too few items to judge)")
	if strings.Contains(body, `class="delta good"`) || strings.Contains(body, `class="delta bad"`) {
		t.Error("a change on a handful of items is coloured")
	}
	f.cfg.Display.SmallSample = 1
	f.start()
	body = f.get(q, false).Body.String()
	if !strings.Contains(body, `class="delta good"`) && !strings.Contains(body, `class="delta bad"`) {
		t.Error("with small_sample = 1 no change is coloured")
	}
}

// Times on pages are in the configured zone, named; the CSV keeps UTC. Every page says when
// the data was last synced.
func TestTimesInTheConfiguredZone(t *testing.T) {
	f := newFixture(t)
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	f.cfg.Timezone, f.cfg.Location = "Europe/Paris", loc
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (1, ?, ?, ?, '', 12)`,
		testNow.Add(-time.Hour).Unix(), testNow.Add(-50*time.Minute).Unix(), testNow.Add(-50*time.Minute).Unix())
	f.start()
	deps := f.get("/deployments", false).Body.String()
	mustContain(t, deps, "2026-03-03 11:30 CET", "Times in Europe/Paris", "Data synced 2026-03-25 12:10 CET")
	if strings.Contains(deps, "2026-03-03 10:30") {
		t.Error("a deployment time is shown in UTC")
	}
	mustContain(t, f.get("/merge-requests", false).Body.String(), "CET")
	mustContain(t, f.get("/sync", false).Body.String(), "2026-03-25 12:00 CET", "times in Europe/Paris")
	for _, p := range []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements", "/digest"} {
		mustContain(t, f.get(p, false).Body.String(), "Data synced 2026-03-25 12:10 CET")
	}
	csv := f.get("/export/deployments.csv", false).Body.String()
	if !strings.Contains(csv, "2026-03-03T10:30:00Z") {
		t.Errorf("the CSV is not in UTC:\n%s", csv)
	}
}

// The rough edges: the stage chart shows shares that add up, the releases table shows the
// frequency beside its n, coverage bars start near the values, the heatmap has a legend, and
// the filter bar folds under a summary.
func TestRoughEdges(t *testing.T) {
	f := newFixture(t)
	ct := f.get("/cycle-time", false).Body.String()
	mustContain(t, ct, "each stage&#39;s share of the cycle time", "adding up to 100%",
		"medians of stages do not add up to the median cycle time", "(median ")
	rel := f.get("/releases", false).Body.String()
	mustContain(t, rel, "/week</a>", `class="heat-legend"`, ">deploys</text>")
	cov := f.get("/coverage", false).Body.String()
	mustContain(t, cov, `<span class="scale-key">70% → 100%</span>`)
	mustContain(t, f.get("/", false).Body.String(), `<details class="filterbox" id="filterbox">`,
		`<summary class="filter-summary"><span class="filter-summary-label">Filters</span> Last 12 weeks · by week</summary>`)
}
