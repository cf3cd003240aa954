package views

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

// render renders c and checks that the output parses as HTML with no stray tags left open
// by the component itself.
func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	if _, err := html.Parse(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	return b.String()
}

func contains(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

func lacks(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(out, p) {
			t.Errorf("output has %q", p)
		}
	}
}

const evil = `<script>alert(1)</script>`

func sampleMeta() PageMeta {
	return PageMeta{
		Title: "Cycle time", Nav: NavCycleTime, Query: "period=4w&service=acme%2Fapi", Version: "1.2.3",
		Assets: Assets{CSS: "/static/site.abc.css", JS: "/static/htmx.min.abc.js", Icon: "/static/favicon.abc.svg"},
		Filters: FilterBar{Action: "/cycle-time", Period: "4w", Presets: []Option{{"4w", "Last 4 weeks"}, {"custom", "Custom dates"}},
			From: "2026-03-02", To: "2026-03-25", Service: "acme/api", Services: []Option{{"acme/api", "acme/api"}, {evil, evil}},
			Teams: []Option{{"platform", "platform"}}, By: "day", Hidden: []Hidden{{"rework", "true"}}},
	}
}

func sampleChart(kind ChartKind) Chart {
	return Chart{ID: "c1", Title: "Cycle " + evil, Summary: "Median cycle time per week.", Unit: UnitSeconds, Kind: kind,
		Categories: []string{"2 Mar", "9 Mar", "16 Mar"}, CSV: "/export/metrics.csv?period=4w",
		Series: []Series{
			{Name: "p50", Values: []Point{{Value: 3600, Known: true, N: 3, Href: "/merge-requests?w=1"}, {}, {Value: 7200, Known: true, N: 5}}},
			{Name: "p90", Values: []Point{{Value: 86400, Known: true, N: 3}, {Value: 43200, Known: true, N: 2}, {Value: 90000, Known: true, N: 5}}},
		},
		Target: &Target{Value: 50000, Label: "goal"},
	}
}

func TestLayoutAndFragment(t *testing.T) {
	m := sampleMeta()
	body := ErrorPage(400, "Bad value", "from is "+evil)
	full := render(t, Layout(m, body))
	contains(t, full, "<!doctype html>", "<title>Cycle time · Pacer</title>", `href="/static/site.abc.css"`, `src="/static/htmx.min.abc.js"`,
		`aria-current="page"`, `href="/cycle-time?period=4w&amp;service=acme%2Fapi"`, `href="/sync"`, "Pacer 1.2.3",
		`name="htmx-config"`, `&#34;includeIndicatorStyles&#34;:false`, `id="loading"`, "from is &lt;script&gt;")
	lacks(t, full, "<script>alert", "style=", "hx-swap-oob")

	// Several services: a multiple choice with each chosen (their names escaped).
	several := m
	several.Filters.Service, several.Filters.Chosen = "", []string{"acme/api", evil}
	multi := render(t, Layout(several, body))
	contains(t, multi, `<select name="service" multiple`, `<option value="acme/api" selected>`, `<option value="&lt;script&gt;alert(1)&lt;/script&gt;" selected>`)
	lacks(t, multi, "All services")

	frag := render(t, Fragment(m, body))
	contains(t, frag, "<title>Cycle time · Pacer</title>", `hx-swap-oob="true"`, `<div id="page">`, "Bad value")
	lacks(t, frag, "<html", "<head")

	m.Filters.Hide = true
	lacks(t, render(t, PageBody(m, body)), `id="filters"`)
	contains(t, render(t, NavBar(m)), `id="nav"`, `hx-boost="true"`)
}

func TestFilterForm(t *testing.T) {
	out := render(t, FilterForm(sampleMeta().Filters))
	contains(t, out, `action="/cycle-time"`, `hx-get="/cycle-time"`, `hx-push-url="true"`, `hx-target="#page"`,
		`<option value="4w" selected>`, `value="2026-03-02"`, `<option value="acme/api" selected>`, `<option value="day" selected>`,
		`name="team"`, `<input type="hidden" name="rework" value="true">`, `<input type="hidden" name="was" value="4w">`,
		`<button type="submit">Apply</button>`, "&lt;script&gt;")
	lacks(t, out, "<script>alert")
	// Without teams configured, no team select.
	f := sampleMeta().Filters
	f.Teams = nil
	lacks(t, render(t, FilterForm(f)), `name="team"`)
}

func TestChartLines(t *testing.T) {
	c := sampleChart(Lines)
	out := render(t, ChartView(c))
	contains(t, out, `role="img"`, `aria-labelledby="c1-title c1-desc"`, "<desc id=\"c1-desc\">Median cycle time per week.</desc>",
		"<title>2 Mar · p50: 1h (n=3)</title>", `href="/merge-requests?w=1"`, `class="target"`, ">goal<", `href="/export/metrics.csv?period=4w"`,
		"Data table", "<th scope=\"col\">Period</th>", "1h (n=3)", "–", `class="swatch s1"`, "Cycle &lt;script&gt;")
	lacks(t, out, "<script>alert")
	// The gap in p50 breaks its line: two separate moves.
	lines := c.Lines()
	if got := strings.Count(lines[0].D, "M"); got != 2 || strings.Contains(lines[0].D, "L") {
		t.Errorf("p50 path %q: want two moves and no line across the gap", lines[0].D)
	}
	if got := strings.Count(lines[1].D, "L"); got != 2 {
		t.Errorf("p90 path %q: want two segments", lines[1].D)
	}
}

func TestChartBarsAndStacks(t *testing.T) {
	c := sampleChart(StackedBars)
	c.Target = nil
	render(t, ChartView(c))
	bars := c.Bars()
	if len(bars) != 5 { // p50 has a gap
		t.Fatalf("want 5 bars, got %d", len(bars))
	}
	// Stacked: the p90 bar of the first category sits on top of the p50 bar.
	if bars[0].Class != "s0" || bars[1].Class != "s1" || bars[0].X != bars[1].X {
		t.Fatalf("first category: %+v %+v", bars[0], bars[1])
	}
	if top, h, below := f64(t, bars[1].Y), f64(t, bars[1].H), f64(t, bars[0].Y); top+h < below-0.2 || top+h > below+0.2 {
		t.Errorf("stacked bar ends at %v, the bar below starts at %v", top+h, below)
	}
	// The axis reaches the tallest stack (3d 1h = 90000+7200 s).
	top := c.ticks()[len(c.ticks())-1]
	if top < 97200 {
		t.Errorf("y axis tops at %v, below the tallest stack", top)
	}
	g := sampleChart(Bars)
	out := render(t, ChartView(g))
	contains(t, out, `class="bar s0"`, `class="bar s1"`)
}

func f64(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestChartEmpty(t *testing.T) {
	c := Chart{ID: "e", Title: "Deployments", Categories: []string{"a"}, Series: []Series{{Name: "x", Values: []Point{{}}}},
		Empty: &Empty{Title: "No production deployments", Code: "environment:\n  name: production", Steps: []string{"one"},
			Link: Link{Label: "docs", Href: "https://docs.gitlab.com/ci/environments/"}}}
	out := render(t, ChartView(c))
	contains(t, out, "No production deployments", "<pre><code>environment:\n  name: production</code></pre>", "<li>one</li>", `href="https://docs.gitlab.com/ci/environments/"`)
	lacks(t, out, "<svg class=\"plot\"")
	c.Empty = nil
	contains(t, render(t, ChartView(c)), "No data in this range.")
}

func TestBarList(t *testing.T) {
	b := BarList{ID: "b", Title: "Coverage", Label: "Service", Unit: UnitPercent, Max: 100, Target: &Target{Value: 80, Label: "target 80%"},
		CSV: "/export/coverage.csv", Rows: []BarRow{{Label: evil, Value: 72.5, N: 3, Href: "/coverage?service=x", Below: true, Note: "+1.5 pts"}, {Label: "b", Value: 90, N: 1}}}
	out := render(t, BarListView(b))
	contains(t, out, "&lt;script&gt;", `href="/coverage?service=x"`, "72.5%", "+1.5 pts", `class="bar below"`, `class="bar s0"`,
		`class="target-mark" x="80"`, `width="72.5"`, "target 80%")
	lacks(t, out, "<script>alert")
	b.Rows = nil
	b.Empty = &Empty{Title: "No coverage"}
	contains(t, render(t, BarListView(b)), "No coverage")
}

func TestHeatmap(t *testing.T) {
	h := Heatmap{ID: "h", Title: "When", Summary: "by hour", Note: "Hours in UTC", CSV: "/export/deployments.csv"}
	for d := 0; d < 7; d++ {
		r := HeatRow{Label: "D" + string(rune('0'+d))}
		for hr := 0; hr < 24; hr++ {
			r.Cells = append(r.Cells, HeatCell{Count: d * hr, Href: "/deployments?x", Title: "cell", InWindow: hr == 10})
		}
		h.Rows = append(h.Rows, r)
	}
	out := render(t, HeatmapView(h))
	contains(t, out, `class="heat zero"`, `fill-opacity="1.00"`, `class="heat inwin"`, "Hours in UTC", "<title>cell</title>")
	if n := len(h.Marks()); n != 7*24 {
		t.Errorf("want 168 cells, got %d", n)
	}
	empty := Heatmap{ID: "e", Title: "When", Empty: &Empty{Title: "Nothing yet"}}
	contains(t, render(t, HeatmapView(empty)), "Nothing yet")
}

func TestSmallComponents(t *testing.T) {
	contains(t, render(t, SparkView(Spark{Values: []float64{1, 3, 2}, Known: []bool{true, true, true}})), `points="0,22 50,2 100,12"`)
	if out := render(t, SparkView(Spark{Values: []float64{1}, Known: []bool{false}})); out != "" {
		t.Errorf("a spark with no values draws %q", out)
	}
	contains(t, render(t, CSVLink("/export/x.csv?a=1&b=2")), `href="/export/x.csv?a=1&amp;b=2"`, "download")
	contains(t, render(t, EmptyState(Empty{Title: evil, Body: "body"})), "&lt;script&gt;", "<p>body</p>")
	card := Card{Label: "Cycle time", Value: "1d 2h", N: "n = 4 MRs", Href: "/merge-requests", Delta: Delta{Text: "+2h", Tone: "bad", Title: "previous: 1d"},
		Spark: Spark{Values: []float64{1, 2}, Known: []bool{true, true}}, Help: "help"}
	contains(t, render(t, CardView(card)), `<a href="/merge-requests">1d 2h</a>`, `class="delta bad"`, `title="previous: 1d"`, "n = 4 MRs", "help")
	contains(t, render(t, CardView(Card{Label: "x", N: "no MRs"})), `<span class="muted">–</span>`)
	contains(t, render(t, CardView(Card{Label: "Releases least", Value: "acme/api", Text: true})), `<p class="card-value text">acme/<wbr>api</p>`)
	contains(t, render(t, PathText("a/b<c>/d")), `a/<wbr>b&lt;c&gt;/<wbr>d`)
	contains(t, render(t, Cards([]Card{card, card})), `class="cards"`)
}

func sampleMRTable() MRTable {
	return MRTable{ID: "t", Title: "Slowest", CSV: "/export/merge-requests.csv", More: Link{Label: "All 9", Href: "/merge-requests?sort=slowest"},
		Rows: []MRRow{{Title: evil, URL: "https://gitlab.example.com/a/-/merge_requests/1", Ref: "a!1", Service: "a", Author: "alice",
			Labels: []string{"<b>bug</b>"}, Delivered: "2026-03-03 10:00", Coding: "1h", Pickup: "2h", Review: "3h", Deploy: "not deployed", Cycle: "6h",
			Rework: true, Unapproved: true}, {Title: "js", URL: "javascript:alert(1)"}},
		Empty: Empty{Title: "None"}}
}

func sampleDeploymentTable() DeploymentTable {
	return DeploymentTable{ID: "d", Title: "Rework deployments", CSV: "/export/deployments.csv",
		Rows: []DeploymentRow{{Service: "a", Environment: "production", SHA: "abcdef12", Finished: "2026-03-03 10:30", URL: "https://gitlab.example.com/jobs/1",
			MRs: []MRLink{{Label: "!1", Title: evil, URL: "https://gitlab.example.com/mr/1", Rework: true}}, Rework: true, Rollback: true, ChangeFailure: true,
			Recovery: "2h", OutOfWindow: true}, {Service: "b"}},
		Empty: Empty{Title: "None"}}
}

func TestTables(t *testing.T) {
	out := render(t, MRTableView(sampleMRTable()))
	contains(t, out, "&lt;script&gt;alert(1)&lt;/script&gt;", `href="https://gitlab.example.com/a/-/merge_requests/1"`, `rel="noopener"`,
		"a!1", `class="badge rework"`, `class="badge unapproved"`, "&lt;b&gt;bug&lt;/b&gt;", "not deployed", `href="/merge-requests?sort=slowest"`)
	lacks(t, out, "<script>alert", `href="javascript:`, "<b>bug")
	grow := sampleMRTable()
	grow.Expand = Link{Label: "Show 50 here", Href: "/cycle-time/slowest?limit=50"}
	contains(t, render(t, MRTableView(grow)), `hx-get="/cycle-time/slowest?limit=50"`, `hx-target="#t"`, `hx-swap="outerHTML"`, ">Show 50 here</a>")
	empty := sampleMRTable()
	empty.Rows = nil
	contains(t, render(t, MRTableView(empty)), "None")

	out = render(t, DeploymentTableView(sampleDeploymentTable()))
	contains(t, out, `href="https://gitlab.example.com/jobs/1"`, "abcdef12", "!1", "&lt;script&gt;", "change failure", "rollback", "outside window", "2h", "none linked")
	lacks(t, out, "<script>alert")

	// An MR whose GitLab link was refused (not http or https) is text, not a link to this page.
	noURL := sampleMRTable()
	noURL.Rows = []MRRow{{Title: "unlinked title", Ref: "a!2"}}
	out = render(t, MRTableView(noURL))
	contains(t, out, "<span>unlinked title</span>")
	lacks(t, out, `href=""`)
	dep := sampleDeploymentTable()
	dep.Rows[0].MRs = []MRLink{{Label: "!3", Title: "unlinked mr"}}
	lacks(t, render(t, DeploymentTableView(dep)), `href=""`)
	// The deployed commit links out to GitLab.
	dep.Rows[0].CommitURL = "https://gitlab.example.com/a/-/commit/abcdef1234"
	contains(t, render(t, DeploymentTableView(dep)), `<a href="https://gitlab.example.com/a/-/commit/abcdef1234" rel="noopener" target="_blank"><code>abcdef12</code></a>`)
}

func TestPages(t *testing.T) {
	ch := sampleChart(Lines)
	bl := BarList{ID: "b", Title: "Per service", Rows: []BarRow{{Label: "a", Value: 1, N: 1}}}
	hm := Heatmap{ID: "h", Title: "When", Rows: []HeatRow{{Label: "Mon", Cells: []HeatCell{{Count: 1}}}}}
	cards := []Card{{Label: "Deployments", Value: "12", N: "n = 12"}}
	cases := []struct {
		name string
		c    templ.Component
		want []string
	}{
		{"overview", OverviewView(OverviewPage{Range: "2 Mar – 25 Mar", Headline: "Cards show", Cards: cards, Charts: []Chart{ch}}), []string{"<h1>Overview</h1>", "2 Mar – 25 Mar", "Cards show", "Deployments"}},
		{"overview empty", OverviewView(OverviewPage{Empty: &Empty{Title: "Nothing has been synced yet"}}), []string{"Nothing has been synced yet"}},
		{"cycle time", CycleTimeView(CycleTimePage{Range: "r", Cards: cards, Percentiles: ch, Stages: ch, Distribution: ch, Slowest: sampleMRTable()}), []string{"<h1>Cycle time</h1>", "Slowest"}},
		{"releases", ReleasesView(ReleasesPage{Range: "r", Cards: cards, PerService: bl, PerPeriod: ch, Heatmap: hm,
			Window: WindowSection{Empty: Empty{Title: "No deploy window is configured"}}}), []string{"<h1>Releases</h1>", "No deploy window is configured", "Per service"}},
		{"window", WindowView(WindowSection{Configured: true, Description: "Mon 09:00–17:00", Rate: ch, Outside: sampleDeploymentTable()}), []string{"Window: Mon 09:00–17:00", "Rework deployments"}},
		{"rework", ReworkView(ReworkPage{Range: "r", Cards: cards, Rates: ch, Recovery: ch, PerService: bl, Deployments: sampleDeploymentTable()}), []string{"<h1>Rework</h1>", "Rework deployments"}},
		{"coverage", CoverageView(CoveragePage{Range: "r", Target: "90%", PerService: bl, Trend: ch, PerProject: bl}), []string{"<h1>Coverage</h1>", "target of 90%"}},
		{"approvals", ApprovalsView(ApprovalsPage{Range: "r", Cards: cards, Rate: ch, PerService: bl, Unapproved: sampleMRTable()}), []string{"<h1>Approvals</h1>"}},
		{"sync", SyncView(SyncPage{Note: "note", Rows: []SyncRow{{Project: "acme/api", URL: "https://gitlab.example.com/acme/api", State: "error", LastRun: "2026-03-25 09:00",
			LastOK: "never", Error: "403 " + evil, Requests: "42", Cursors: []Option{{Label: "deployments", Value: "2026-03-25 08:00:00"}}}}}),
			[]string{"state-error", "403 &lt;script&gt;", "deployments", "2026-03-25 08:00:00", "42"}},
		{"sync empty", SyncView(SyncPage{Empty: Empty{Title: "Nothing has been synced yet"}}), []string{"Nothing has been synced yet"}},
		{"mr list", MRListView(MRListPage{Heading: "Merge requests", Shown: "Showing 1 of 1", Filters: []Link{{Label: "rework MRs", Href: "/merge-requests"}},
			Table: sampleMRTable(), Pager: Pager{Next: "/merge-requests?after=x", NextLabel: "Next 100", First: "/merge-requests"}}),
			[]string{"rework MRs", "×", "Next 100 →", `rel="next"`, "« First page", "Showing 1 of 1"}},
		{"deployment list", DeploymentListView(DeploymentListPage{Heading: "Deployments", Table: sampleDeploymentTable()}), []string{"<h1>Deployments</h1>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, c.c)
			contains(t, out, c.want...)
			lacks(t, out, "<script>alert", "style=")
		})
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		u    Unit
		v    float64
		want string
	}{
		{UnitSeconds, 0, "0s"}, {UnitSeconds, 59, "59s"}, {UnitSeconds, 60, "1m"}, {UnitSeconds, 3600 + 120, "1h 2m"},
		{UnitSeconds, 86400 * 2, "2d"}, {UnitSeconds, 86400 + 3600*5 + 59, "1d 5h"}, {UnitRatio, 0.1234, "12.3%"}, {UnitRatio, 0.5, "50%"},
		{UnitPercent, 87.25, "87.2%"}, {UnitCount, 1234567, "1,234,567"}, {UnitCount, 2.5, "2.5"}, {UnitPerDay, 1.256, "1.26/day"},
	}
	for _, c := range cases {
		if got := Format(c.u, c.v); got != c.want {
			t.Errorf("Format(%v, %v) = %q, want %q", c.u, c.v, got, c.want)
		}
	}
	if got := Plural(1, "MR", "MRs") + " " + Plural(2000, "MR", "MRs"); got != "1 MR 2,000 MRs" {
		t.Errorf("Plural: %q", got)
	}
	d := NewDelta(UnitSeconds, 7200, 3600, false, "last week")
	if d.Text != "+1h" || d.Tone != "bad" || !strings.Contains(d.Title, "1h (last week)") {
		t.Errorf("longer cycle time: %+v", d)
	}
	if d := NewDelta(UnitCount, 150, 100, true, "w"); d.Text != "+50%" || d.Tone != "good" {
		t.Errorf("more deployments: %+v", d)
	}
	if d := NewDelta(UnitRatio, 0.10, 0.15, false, "w"); d.Text != "−5 pts" || d.Tone != "good" {
		t.Errorf("less rework: %+v", d)
	}
	if d := NewDelta(UnitPercent, 80, 80, true, "w"); d.Text != "no change" || d.Tone != "" {
		t.Errorf("no change: %+v", d)
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		u    Unit
		max  float64
		want []float64
	}{
		{UnitCount, 7, []float64{0, 2, 4, 6, 8}},
		{UnitCount, 0, []float64{0, 1}},
		{UnitCount, 2, []float64{0, 1, 2}},
		{UnitRatio, 0.17, []float64{0, 0.05, 0.1, 0.15, 0.2}},
		{UnitPercent, 100, []float64{0, 20, 40, 60, 80, 100}},
		{UnitSeconds, 5 * 3600, []float64{0, 3600, 7200, 10800, 14400, 18000}},
		{UnitSeconds, 4.5 * 86400, []float64{0, 86400, 2 * 86400, 3 * 86400, 4 * 86400, 5 * 86400}},
	}
	for _, c := range cases {
		got := NiceTicks(c.u, c.max)
		if len(got) != len(c.want) {
			t.Errorf("NiceTicks(%v, %v) = %v, want %v", c.u, c.max, got, c.want)
			continue
		}
		for i := range got {
			if d := got[i] - c.want[i]; d > 1e-9 || d < -1e-9 {
				t.Errorf("NiceTicks(%v, %v) = %v, want %v", c.u, c.max, got, c.want)
				break
			}
		}
	}
}

func TestChartZoomedAxis(t *testing.T) {
	c := Chart{ID: "z", Title: "Coverage", Unit: UnitPercent, Kind: Lines, YMax: 100, YFrom: 70, Categories: []string{"a", "b"},
		Series: []Series{{Name: "all", Values: []Point{{Value: 80, Known: true, N: 2}, {Value: 100, Known: true, N: 2}}}}}
	ticks := c.YTicks()
	if ticks[0].Label != "70%" || ticks[len(ticks)-1].Label != "100%" {
		t.Errorf("zoomed axis runs %s..%s, want 70%%..100%%", ticks[0].Label, ticks[len(ticks)-1].Label)
	}
	// 100% sits at the top of the plot, 70% at its bottom.
	if got := c.y(100); got != chartTop {
		t.Errorf("y(100) = %v, want %v", got, chartTop)
	}
	if got := c.y(70); got != chartTop+c.plotH() {
		t.Errorf("y(70) = %v, want the bottom %v", got, chartTop+c.plotH())
	}
	contains(t, render(t, ChartView(c)), ">70%<")
}

func TestInvestmentView(t *testing.T) {
	ch := sampleChart(StackedBars)
	ch.Series[0].Values[0].Note = "4 of 20 MRs"
	row := InvestmentRow{Period: "week of 2 Mar", MRs: "20 MRs", MRsHref: "/merge-requests?w=10", Effort: "25%", EffortN: "n=8 author-days",
		Cells: []ShareCell{{Share: "20%", Count: "4 MRs", Href: "/merge-requests?category=tech+debt", Hot: true}, {Share: "80%", Count: "16 MRs"}}}
	p := InvestmentPage{Range: "r", Lead: "lead", Cards: []Card{{Label: "Tech-debt share", Value: "20%"}}, Shares: ch, Effort: sampleChart(Lines),
		Service: BarList{ID: "s", Title: "Per service", Rows: []BarRow{{Label: "a", Value: 0.2, N: 5}}},
		Table: InvestmentTable{ID: "it", Title: "Shares per period", Categories: []string{"tech debt", evil}, Rows: []InvestmentRow{row}, Total: &row,
			CSV: "/export/merge-requests.csv", MetricsCSV: "/export/metrics.csv", Effort: true}}
	out := render(t, InvestmentView(p))
	contains(t, out, "<h1>Investment</h1>", "2 Mar · p50: 1h (4 of 20 MRs)", `href="/merge-requests?category=tech+debt"`, `class="num hot"`,
		"n=8 author-days", "<tfoot>", `class="total"`, "MRs CSV", "Metrics CSV", "&lt;script&gt;", "Per service")
	lacks(t, out, "<script>alert", "style=")
	p.Effort = Chart{}
	p.Table.Effort = false
	lacks(t, render(t, InvestmentTableView(p.Table)), "Tech-debt effort")
	contains(t, render(t, InvestmentView(InvestmentPage{Empty: &Empty{Title: "No merge requests delivered"}})), "No merge requests delivered")
}

func sampleTrend() Trend {
	return Trend{Label: "Approvals, last 3 weeks: 1 held, 1 broken, 1 without data", Target: 0.2, Band: 0.05, Weeks: []TrendWeek{
		{Value: 0.1, Known: true, Status: "broken", Title: "2026-W09: 10%", Href: "/merge-requests?w=9"},
		{Status: "unknown", Title: "2026-W10: no MRs"},
		{Value: 0.22, Known: true, Status: "holds", Title: "2026-W11: 22% " + evil, Href: "/merge-requests?w=11"},
	}}
}

func TestTrend(t *testing.T) {
	tr := sampleTrend()
	out := render(t, TrendView(tr))
	contains(t, out, `<svg class="trend"`, `role="img"`, `aria-label="Approvals, last 3 weeks: 1 held, 1 broken, 1 without data"`, `class="trend-band"`,
		`class="trend-target"`, `class="trend-dot broken"`, `class="trend-dot holds"`, `class="trend-dot unknown"`, `href="/merge-requests?w=9"`,
		"<title>2026-W10: no MRs</title>", "&lt;script&gt;")
	lacks(t, out, "<script>alert")
	// The gap breaks the line: two moves, no segment.
	if d := tr.Path(); strings.Count(d, "M") != 2 || strings.Contains(d, "L") {
		t.Errorf("path %q", d)
	}
	// Higher values sit higher; the band straddles the target.
	dots := tr.Dots()
	if f64(t, dots[2].Y) >= f64(t, dots[0].Y) {
		t.Errorf("22%% drawn below 10%%: %v", dots)
	}
	y, h, ok := tr.BandRect()
	if !ok || f64(t, y) > f64(t, tr.TargetY()) || f64(t, y)+f64(t, h) < f64(t, tr.TargetY()) {
		t.Errorf("band %s+%s does not straddle the target at %s", y, h, tr.TargetY())
	}
	// One flat value still draws inside the box.
	flat := Trend{Target: 90, Weeks: []TrendWeek{{Value: 90, Known: true, Status: "holds"}}}
	if y := f64(t, flat.Dots()[0].Y); y < 0 || y > trendH {
		t.Errorf("flat trend dot at %v", y)
	}
	if render(t, TrendView(Trend{})) != "" {
		t.Error("an empty trend draws something")
	}
}

func TestAgreementsView(t *testing.T) {
	cell := AgreementCell{Present: true, Known: true, Status: "broken", Value: "25%", N: "n = 4 MRs", Target: "≤ 0%",
		Broken: "1 MR with fewer than 1 approval", Href: "/merge-requests?unapproved=true", Trend: sampleTrend()}
	p := AgreementsPage{Range: "Week of 9 Mar 2026", Lead: "lead", CSV: "/export/metrics.csv", MRCSV: "/export/merge-requests.csv",
		Columns: []AgreementColumn{{Key: "approvals", Label: "Approvals", Target: "≥ 1 approval before merge", Help: "help"}, {Key: "x", Label: evil}},
		Groups: []AgreementGroup{
			{Title: "Services", Rows: []AgreementRowView{{Name: "All services", Href: "/?period=4w", Held: "0 of 1 hold", Cells: []AgreementCell{cell, {}}}}},
			{Title: "Teams", Rows: []AgreementRowView{{Name: evil, Cells: []AgreementCell{{Present: true, Status: "unknown", N: "n = 0 MRs"}, {}}}}},
		},
		Notes: []string{"No deploy window is configured."}}
	out := render(t, AgreementsView(p))
	contains(t, out, "<h1>Working agreements</h1>", "Week of 9 Mar 2026", `<th scope="rowgroup" colspan="3">Teams</th>`, "✗ broken", "no data",
		`<a href="/merge-requests?unapproved=true">25%</a>`, `<a href="/merge-requests?unapproved=true">1 MR with fewer than 1 approval</a>`,
		"target ≤ 0%", "≥ 1 approval before merge", `title="help"`, "0 of 1 hold", `href="/?period=4w"`, "No deploy window is configured.",
		"MRs CSV", "Metrics CSV", `<svg class="trend"`, "&lt;script&gt;")
	lacks(t, out, "<script>alert", "style=")
	contains(t, render(t, AgreementsView(AgreementsPage{Empty: &Empty{Title: "Nothing to check"}})), "Nothing to check")
}

func TestReworkExplainAndBlame(t *testing.T) {
	ex := []Explanation{{Name: "Rework rate", Formula: "rework deployments ÷ deployments", Value: "10%", N: "3 of 30 deployments", Href: "/deployments?rework=true", Text: evil},
		{Name: "Change failure rate", Formula: "change failures ÷ deployments", Value: "–", N: "no deployments"}}
	out := render(t, ReworkView(ReworkPage{Explain: ex, Failures: sampleDeploymentTable(), Deployments: sampleDeploymentTable()}))
	contains(t, out, "Two figures, two questions", "rework deployments ÷ deployments", `<a href="/deployments?rework=true">10%</a>`, "3 of 30 deployments", "&lt;script&gt;")
	lacks(t, out, "<script>alert")

	dep := sampleDeploymentTable()
	dep.Rows[0].Ref = "feature/" + evil
	dep.Rows[0].BlamedBy = Link{Label: "#102 (2026-03-03 12:30)", Href: "/deployments?id=102"}
	dep.Rows[0].Blames = Link{Label: "#100", Href: "/deployments?id=100"}
	dep.Rows[0].MRs[0].BeforeMerge = true
	dep.Rows[0].MRs[0].Reverts = []string{"!7", "!8"}
	out = render(t, DeploymentTableView(dep))
	contains(t, out, "feature/&lt;script&gt;", `blamed by <a href="/deployments?id=102">#102 (2026-03-03 12:30)</a>`, `blames <a href="/deployments?id=100">#100</a>`,
		"before merge", "reverts !7, !8")
	lacks(t, out, "<script>alert")

	mrs := sampleMRTable()
	mrs.Rows[0].Category, mrs.Rows[0].CategoryHref, mrs.Rows[0].BeforeMerge = evil, "/merge-requests?category=x", true
	out = render(t, MRTableView(mrs))
	contains(t, out, `<th scope="col">Category</th>`, `<a href="/merge-requests?category=x">&lt;script&gt;`, "deployed before merge")
	lacks(t, out, "<script>alert")

	cov := render(t, CoverageView(CoveragePage{AllProjects: Link{Label: "Every project", Href: "/coverage"}}))
	contains(t, cov, `<a href="/coverage">Every project</a>`)
}
