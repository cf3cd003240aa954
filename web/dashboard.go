package web

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// dashboard is the metrics area: overview, cycle time, releases, rework, coverage, approvals.
type dashboard struct {
	store *store.Store
	cfg   *config.Config
	r     *renderer
}

// load parses and validates the request's filter and computes its figures.
func (d *dashboard) load(c *echo.Context) (*query, *figureSet, error) {
	q, err := requestQuery(c)
	if err != nil {
		return nil, nil, err
	}
	fs, err := figureSetOf(c, q)
	if err != nil {
		return nil, nil, err
	}
	fs.small = d.cfg.Display.SmallSample
	return q, fs, nil
}

// figureSetOf is the figures of q indexed for the pages: the index is built once per figure
// computation (facts generation, filter, visibility and day) and shared by the requests that
// read it; each request gets its own copy of the set around it.
func figureSetOf(c *echo.Context, q *query) (*figureSet, error) {
	v, err := engineOf(c).Memo(c.Request().Context(), q.Filter(), "web.figureSet", func(figs []metrics.Figure) any {
		return newFigureSet(q, figs)
	})
	if err != nil {
		return nil, err
	}
	fs := *v.(*figureSet)
	fs.q = q
	return &fs, nil
}

// Links to the items behind a figure: the period (and service) of the figure, plus a predicate.
func mrLink(q *query, kv ...string) func(p period, service string) string {
	return func(p period, service string) string {
		qq := q.periodQuery(p.start)
		if service != metrics.AllServices {
			qq = qq.withService(service)
		}
		return qq.link("/merge-requests", kv...)
	}
}

func depLink(q *query, kv ...string) func(p period, service string) string {
	return func(p period, service string) string {
		qq := q.periodQuery(p.start)
		if service != metrics.AllServices {
			qq = qq.withService(service)
		}
		return qq.link("/deployments", kv...)
	}
}

// covLink leads from a coverage figure to the coverage page as it stood at the end of the
// figure's period: each project's last pipeline by then, linking out to GitLab.
func covLink(q *query) func(p period, service string) string {
	return func(p period, service string) string {
		qq := q.withRange(q.From, p.end)
		if service != metrics.AllServices {
			qq = qq.withService(service)
		}
		return qq.link("/coverage")
	}
}

func cardLink(f func(p period, service string) string) func(p period) string {
	return func(p period) string { return f(p, metrics.AllServices) }
}

// Headline card specifications, shared by the pages.
func cycleCard(q *query) cardSpec {
	return cardSpec{label: "Cycle time (median)", metric: metrics.CycleTimeP50, unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
		href: cardLink(mrLink(q, "sort", "slowest")), help: "First commit to production, per delivered MR.", band: metrics.CycleTimeP50}
}

func deploymentsCard(q *query) cardSpec {
	return cardSpec{label: "Deployments", metric: metrics.Deployments, unit: views.UnitCount, higherIsBetter: true, nOne: "deployment", nMany: "deployments",
		href: cardLink(depLink(q)), help: "Successful production deployments.", band: metrics.DeploysPerDay}
}

func reworkCard(q *query) cardSpec {
	return cardSpec{label: "Rework rate", metric: metrics.ReworkRate, unit: views.UnitRatio, nOne: "deployment", nMany: "deployments",
		href: cardLink(depLink(q, "rework", "true")), help: "Deployments that ship a fix or roll back."}
}

func cfrCard(q *query) cardSpec {
	return cardSpec{label: "Change failure rate", metric: metrics.ChangeFailureRate, unit: views.UnitRatio, nOne: "deployment", nMany: "deployments",
		href: cardLink(depLink(q, "change_failure", "true")), help: "Deployments a later fix blamed: the one that first shipped what it reverts, else the one just before it.", band: metrics.ChangeFailureRate}
}

func recoveryCard(q *query) cardSpec {
	return cardSpec{label: "Recovery time (median)", metric: metrics.RecoveryTimeP50, unit: views.UnitSeconds, nOne: "change failure", nMany: "change failures",
		href: cardLink(depLink(q, "change_failure", "true")), help: "From a failed change to the deployment that fixed it.", band: metrics.RecoveryTimeP50}
}

func unapprovedCard(q *query) cardSpec {
	return cardSpec{label: "Merged unapproved", metric: metrics.UnapprovedRate, unit: views.UnitRatio, nOne: "MR", nMany: "MRs",
		href: cardLink(mrLink(q, "unapproved", "true")), help: "MRs merged with no approval by someone else."}
}

func coverageCard(q *query) cardSpec {
	return cardSpec{label: "Coverage", metric: metrics.CoveragePercent, unit: views.UnitPercent, higherIsBetter: true, nOne: "project", nMany: "projects",
		href: cardLink(covLink(q)), help: "Mean default-branch coverage over projects."}
}

func mergedCard(q *query) cardSpec {
	return cardSpec{label: "MRs delivered", metric: metrics.MergedMRs, unit: views.UnitCount, higherIsBetter: true, nOne: "MR", nMany: "MRs",
		href: cardLink(mrLink(q)), help: "Merged MRs that reached production (or merged, if never deployed)."}
}

// headlineText says what the cards compare.
func headlineText(fs *figureSet) string {
	cur, prev := fs.headline()
	if cur == nil {
		return ""
	}
	the := "the "
	if fs.q.By == metrics.Month || fs.q.By == metrics.Quarter {
		the = ""
	}
	s := "Cards show " + the + fs.periodName(*cur)
	if prev != nil {
		s += " against " + the + fs.periodName(*prev)
	}
	return s + "; the small lines show the whole range. Every figure links to the items behind it."
}

// chart is a line or bar chart of metrics of "all" over the range.
func (d *dashboard) chart(fs *figureSet, id, title, summary string, unit views.Unit, kind views.ChartKind, series ...views.Series) views.Chart {
	return views.Chart{ID: id, Title: title, Summary: summary, Unit: unit, Kind: kind, Categories: fs.categories(), Partial: fs.partials(), Series: series,
		CSV: fs.q.link("/export/metrics.csv")}
}

func (d *dashboard) overview(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	all := metrics.AllServices
	p := views.OverviewPage{Range: q.RangeLabel(), Headline: headlineText(fs)}
	services, err := engineOf(c).Services(c.Request().Context())
	if err != nil {
		return err
	}
	if len(services) == 0 {
		p.Empty = ptr(nothingSynced())
	} else {
		p.Cards = overviewCards(q, fs)
		version, err := headlineVersion(c)
		if err != nil {
			return err
		}
		p.Live = headlineURL(q, version)
		if p.Now, err = liveNow(c, q, fs); err != nil {
			return err
		}
		p.Bands = doraLegend()
		cycle := d.chart(fs, "overview-cycle", "Cycle time", "Median, 75th and 90th percentile of cycle time per period.", views.UnitSeconds, views.Lines,
			fs.series("p50", all, metrics.CycleTimeP50, mrLink(q, "sort", "slowest")),
			fs.series("p75", all, metrics.CycleTimeP75, mrLink(q, "sort", "slowest")),
			fs.series("p90", all, metrics.CycleTimeP90, mrLink(q, "sort", "slowest")))
		cycle.Target = d.cycleTarget()
		deps := d.chart(fs, "overview-deployments", "Production deployments", "Successful production deployments per period.", views.UnitCount, views.Bars,
			fs.series("Deployments", all, metrics.Deployments, depLink(q)))
		deps.Empty = ptr(noDeployments())
		rates := d.chart(fs, "overview-rework", "Rework and change failure rate", "Share of deployments that were rework, and that were change failures, per period.", views.UnitRatio, views.Lines,
			fs.series("Rework rate", all, metrics.ReworkRate, depLink(q, "rework", "true")),
			fs.series("Change failure rate", all, metrics.ChangeFailureRate, depLink(q, "change_failure", "true")))
		rates.Empty = ptr(noDeployments())
		cov := d.chart(fs, "overview-coverage", "Coverage", "Mean default-branch coverage per period, against the target.", views.UnitPercent, views.Lines,
			fs.series("Coverage", all, metrics.CoveragePercent, covLink(q)))
		cov.Target = &views.Target{Value: d.cfg.Coverage.Target, Label: "target " + views.Percent(d.cfg.Coverage.Target)}
		cov.YMax = 100
		zoomPercent(&cov)
		cov.Empty = ptr(noCoverage())
		p.Charts = []views.Chart{cycle, deps, rates, cov}
	}
	m := d.r.meta(c, q, "Overview", views.NavOverview)
	return d.r.page(c, http.StatusOK, m, views.OverviewView(p), q.link("/"))
}

func ptr[T any](v T) *T { return &v }

// cycleBuckets are the cycle-time distribution's buckets, in seconds: [lo, hi), hi 0 for the
// open last one; the bounds are metrics.CycleBuckets, which the tallies count by.
var cycleBuckets = func() []struct {
	label  string
	lo, hi int64
} {
	labels := []string{"< 1h", "1–4h", "4–12h", "12h–1d", "1–2d", "2–3d", "3–5d", "5–7d", "1–2w", "2–4w", "≥ 4w"}
	out := make([]struct {
		label  string
		lo, hi int64
	}, len(labels))
	for i, l := range labels {
		out[i].label = l
		if i > 0 {
			out[i].lo = metrics.CycleBuckets[i-1]
		}
		if i < len(metrics.CycleBuckets) {
			out[i].hi = metrics.CycleBuckets[i]
		}
	}
	return out
}()

func (d *dashboard) cycleTime(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	all := metrics.AllServices
	ctx := c.Request().Context()
	bd, err := engineOf(c).CycleTime(ctx, q.Filter())
	if err != nil {
		return err
	}
	counts := bd.Buckets
	stages := map[string]*[4]float64{} // per period: seconds spent in each stage, summed over MRs
	for k, st := range bd.Stages {
		stages[k] = &[4]float64{float64(st[0]), float64(st[1]), float64(st[2]), float64(st[3])}
	}
	slow, err := engineOf(c).MergeRequestPage(ctx, q.Filter(), metrics.MRList{Sort: "slowest", Limit: 10})
	if err != nil {
		return err
	}
	p := views.CycleTimePage{Range: q.RangeLabel()}
	p.Cards = []views.Card{
		fs.card(all, cycleCard(q)),
		fs.card(all, cardSpec{label: "Cycle time (90th pct.)", metric: metrics.CycleTimeP90, unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
			href: cardLink(mrLink(q, "sort", "slowest")), help: "One MR in ten takes longer than this."}),
		fs.card(all, cardSpec{label: "Pickup (median)", metric: metrics.PickupTimeP50, unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
			href: cardLink(mrLink(q)), help: "From opening the MR to its first review."}),
		fs.card(all, cardSpec{label: "Deploy (median)", metric: metrics.DeployTimeP50, unit: views.UnitSeconds, nOne: "deployed MR", nMany: "deployed MRs",
			href: cardLink(mrLink(q, "deployed", "true")), help: "From merge to production."}),
	}
	p.Percentiles = d.chart(fs, "cycle-percentiles", "Cycle time percentiles", "Median, 75th and 90th percentile of cycle time per period.", views.UnitSeconds, views.Lines,
		fs.series("p50", all, metrics.CycleTimeP50, mrLink(q, "sort", "slowest")),
		fs.series("p75", all, metrics.CycleTimeP75, mrLink(q, "sort", "slowest")),
		fs.series("p90", all, metrics.CycleTimeP90, mrLink(q, "sort", "slowest")))
	p.Percentiles.Target = d.cycleTarget()
	p.Stages = stageShares(q, fs, stages)
	p.PerService = cyclePerService(q, bd.PerService, d.cycleTarget())
	dist := views.Series{Name: "MRs"}
	var cats []string
	for i, b := range cycleBuckets {
		cats = append(cats, b.label)
		kv := []string{"cycle_min", strconv.FormatInt(b.lo, 10), "sort", "slowest"}
		if b.hi > 0 {
			kv = append(kv, "cycle_max", strconv.FormatInt(b.hi, 10))
		}
		dist.Values = append(dist.Values, views.Point{Value: float64(counts[i]), Known: counts[i] > 0, N: counts[i], Href: q.link("/merge-requests", kv...)})
	}
	p.Distribution = views.Chart{ID: "cycle-distribution", Title: "Distribution of cycle time",
		Summary: fmt.Sprintf("How many of the %d MRs delivered in the range took each length of time.", bd.MRs),
		Unit:    views.UnitCount, Kind: views.Bars, Categories: cats, XName: "Cycle time", Series: []views.Series{dist}, CSV: q.link("/export/merge-requests.csv")}
	p.Slowest = slowestTable(q, slow.Rows, bd.MRs, 10)
	m := d.r.meta(c, q, "Cycle time", views.NavCycleTime)
	return d.r.page(c, http.StatusOK, m, views.CycleTimeView(p), q.link("/cycle-time"))
}

// cyclePerService is the median cycle time of each service over the range, slowest first,
// against the agreed median; it leads to the compare view of the same services.
func cyclePerService(q *query, per []metrics.ServiceCycleTime, target *views.Target) views.BarList {
	var rows []views.BarRow
	for _, sc := range per {
		r := views.BarRow{Label: sc.Service, Value: float64(sc.P50), N: sc.N, Href: q.withService(sc.Service).link("/merge-requests", "sort", "slowest"),
			Note: "p90 " + views.Duration(sc.P90)}
		r.Below = target != nil && float64(sc.P50) > target.Value // slower than agreed
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Value != rows[j].Value {
			return rows[i].Value > rows[j].Value
		}
		return rows[i].Label < rows[j].Label
	})
	return views.BarList{ID: "cycle-per-service", Title: "Cycle time per service (slowest first)", Label: "Service", Unit: views.UnitSeconds,
		Summary: "Each service's median cycle time over the range (n: the MRs delivered), the slowest first; red bars are slower than the agreed median.",
		Rows:    rows, Target: target, CSV: q.link("/export/merge-requests.csv"), Compare: compareLink(q, "-cycle"),
		Empty: &views.Empty{Title: "No merge request was delivered in this range", Body: "Widen the range or remove a filter."}}
}

// stageShares is the chart of where the time goes: per period, each stage's share of all the
// time the period's MRs took from first commit to production (the four stages add up to
// each MR's cycle time, so the shares add up to 100%); each value's hover and table cell
// also give the stage's median, which do not add up to the median cycle time.
func stageShares(q *query, fs *figureSet, sums map[string]*[4]float64) views.Chart {
	all := metrics.AllServices
	names := []string{"Coding", "Pickup", "Review", "Deploy"}
	medians := []string{metrics.CodingTimeP50, metrics.PickupTimeP50, metrics.ReviewTimeP50, metrics.DeployTimeP50}
	links := []func(period, string) string{mrLink(q), mrLink(q), mrLink(q), mrLink(q, "deployed", "true")}
	series := make([]views.Series, 4)
	for i := range series {
		series[i].Name = names[i]
	}
	for _, per := range fs.periods {
		st := sums[per.key]
		total := 0.0
		if st != nil {
			total = st[0] + st[1] + st[2] + st[3]
		}
		for i := range series {
			if total <= 0 {
				series[i].Values = append(series[i].Values, views.Point{})
				continue
			}
			pt := views.Point{Value: st[i] / total, Known: true, Href: links[i](per, all)}
			if f, ok := fs.get(per, all, medians[i]); ok {
				pt.N = f.N
				pt.Note = "median " + views.Duration(int64(f.Value)) + ", n=" + strconv.Itoa(f.N)
			} else {
				pt.Note = "no MRs in this stage"
			}
			series[i].Values = append(series[i].Values, pt)
		}
	}
	ch := views.Chart{ID: "cycle-stages", Title: "Where the time goes: each stage's share of the cycle time",
		Summary: "Per period, the share of the time from first commit to production that the period's MRs spent coding, waiting for pickup, in review and waiting to deploy; " +
			"the four shares add up to 100%. Hover a bar or open the data table for each stage's median. " +
			"The medians of the stages do not add up to the median cycle time: each is the middle of its own stage.",
		Unit: views.UnitRatio, Kind: views.StackedBars, Categories: fs.categories(), Partial: fs.partials(), Series: series,
		YMax: 1, CSV: q.link("/export/metrics.csv"),
		Note: "Shares of all the time spent, adding up to 100%. The data table gives each stage's median; " +
			"medians of stages do not add up to the median cycle time, since each is the middle of its own stage."}
	return ch
}

// slowestTable is the cycle-time page's table of the slowest MRs: rows, the first limit of
// the total delivered.
func slowestTable(q *query, rows []*metrics.MergeRequest, total, limit int) views.MRTable {
	t := views.MRTable{ID: "slowest", Title: "Slowest merge requests", Rows: mrRows(q, rows), CSV: q.link("/export/merge-requests.csv"),
		Empty: views.Empty{Title: "No merge requests delivered in this range", Body: "Pacer counts merged MRs that target the project's default branch and are not written by bots. Widen the range or pick another service."}}
	if total > len(rows) {
		t.More = views.Link{Label: "All " + views.Plural(total, "MR", "MRs") + ", slowest first", Href: q.link("/merge-requests", "sort", "slowest")}
		if limit < maxSlowestSection {
			t.Expand = views.Link{Label: "Show " + strconv.Itoa(maxSlowestSection) + " here", Href: q.link("/cycle-time/slowest", "limit", strconv.Itoa(maxSlowestSection))}
		}
	}
	return t
}

// maxSlowestSection is the most rows the slowest-MRs section shows in place.
const maxSlowestSection = 50

// slowestSection is the slowest-MRs table on its own, for HTMX to swap into the cycle-time
// page with more rows, without recomputing the page's figures. A request without HTMX is sent
// to the full list instead.
func (d *dashboard) slowestSection(c *echo.Context) error {
	v := c.Request().URL.Query()
	q, err := parseQuery(v, engineOf(c).Now())
	if err != nil {
		return err
	}
	limit, err := parseInt(v, "limit", 1, maxSlowestSection)
	if err != nil {
		return err
	}
	if !isFragment(c.Request()) {
		return c.Redirect(http.StatusSeeOther, q.link("/merge-requests", "sort", "slowest"))
	}
	n := 10
	if limit != nil {
		n = int(*limit)
	}
	ctx := c.Request().Context()
	slow, err := engineOf(c).MergeRequestPage(ctx, q.Filter(), metrics.MRList{Sort: "slowest", Limit: n})
	if err != nil {
		return err
	}
	total, err := engineOf(c).CountMergeRequests(ctx, q.Filter(), metrics.MRWhere{})
	if err != nil {
		return err
	}
	return d.r.section(c, views.MRTableView(slowestTable(q, slow.Rows, total, n)))
}

// scopedServices are the services the filter covers: the ones asked for, else every known one.
func (d *dashboard) scopedServices(c *echo.Context, q *query, fs *figureSet) ([]string, error) {
	if len(q.Services) > 0 {
		return q.Services, nil
	}
	if q.Team != "" {
		return fs.services, nil // a team narrows to services with items; their names come from the figures
	}
	return engineOf(c).Services(c.Request().Context())
}

func (d *dashboard) releases(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	all := metrics.AllServices
	p := views.ReleasesPage{Range: q.RangeLabel()}
	p.Cards = []views.Card{
		fs.card(all, deploymentsCard(q)),
		fs.card(all, cardSpec{label: "Deploys per day", metric: metrics.DeploysPerDay, unit: views.UnitPerDay, higherIsBetter: true, nOne: "deployment", nMany: "deployments",
			href: cardLink(depLink(q)), help: "Deployments ÷ days of the period.", band: metrics.DeploysPerDay}),
	}

	services, err := d.scopedServices(c, q, fs)
	if err != nil {
		return err
	}
	weeks := float64(q.Days()) / 7
	split := splitProjects(d.cfg)
	var rows []views.BarRow
	for _, s := range services {
		total, _ := fs.total(s, metrics.Deployments)
		if total == 0 && split[s] {
			// A monorepo split by environment keeps its own name only for MRs never deployed;
			// its deployments count under the split services, so it is not a service that
			// releases least.
			continue
		}
		// The value is the frequency; n is the deployments it is computed from.
		r := views.BarRow{Label: s, Value: total / weeks, N: int(total), Href: q.withService(s).link("/deployments")}
		if total == 0 {
			r.Note = "none in range"
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Value < rows[j].Value })
	p.PerService = views.BarList{ID: "releases-per-service", Title: "Deployments per service (least first)", Label: "Service",
		Summary: "Successful production deployments per week for each service over the range (n: the deployments), the service that releases least first.",
		Unit:    views.UnitPerWeek, Rows: rows, CSV: q.link("/export/deployments.csv"), Empty: ptr(noDeployments()),
		Compare: compareLink(q, "per_day")}
	if totalDeps, _ := fs.total(all, metrics.Deployments); totalDeps == 0 {
		p.PerService.Rows = nil
	}
	if len(p.PerService.Rows) > 0 {
		least := p.PerService.Rows[0]
		p.Cards = append(p.Cards, views.Card{Label: "Releases least", Value: least.Label, Href: least.Href, Text: true,
			N: "n = " + views.Plural(least.N, "deployment", "deployments") + " in the range", Help: "The service with the fewest production deployments."})
	}
	p.PerPeriod = d.chart(fs, "releases-per-period", "Deployments per period", "Successful production deployments per period.", views.UnitCount, views.Bars,
		fs.series("Deployments", all, metrics.Deployments, depLink(q)))
	p.PerPeriod.Empty = ptr(noDeployments())

	// Weekday × hour, in the display time zone, with the deploy window marked.
	grid, err := engineOf(c).DeploymentHours(ctx, q.Filter(), d.cfg.Location)
	if err != nil {
		return err
	}
	w := d.cfg.DeployWindow
	var outside []*metrics.Deployment
	if w != nil {
		page, err := engineOf(c).DeploymentPage(ctx, q.Filter(), metrics.DeploymentList{
			Where: metrics.DeploymentWhere{OutOfWindow: ptr(true)}, Location: d.cfg.Location, Limit: 10})
		if err != nil {
			return err
		}
		outside = page.Rows
	}
	p.Heatmap = views.Heatmap{ID: "releases-heatmap", Title: "When deployments finish (weekday × hour)",
		Summary: "Number of production deployments by weekday and hour of the day, in " + d.cfg.Location.String() + ".",
		CSV:     q.link("/export/deployments.csv"), Empty: ptr(noDeployments()),
		Note: "Hours in " + d.cfg.Location.String() + " (the config's timezone)."}
	for _, wd := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		row := views.HeatRow{Label: wd.String()[:3]}
		for h := 0; h < 24; h++ {
			n := grid[wd][h]
			cell := views.HeatCell{Count: n, Title: fmt.Sprintf("%s %02d:00–%02d:59: %s", wd.String()[:3], h, h, views.Plural(n, "deployment", "deployments")),
				Href: q.link("/deployments", "weekday", strconv.Itoa(int(wd)), "hour", strconv.Itoa(h))}
			if w != nil && w.Location.String() == d.cfg.Location.String() {
				// The cell's hour overlaps the window.
				cell.InWindow = w.Weekdays[wd] && h*60 < w.EndMinute && (h+1)*60 > w.StartMinute
			}
			row.Cells = append(row.Cells, cell)
		}
		p.Heatmap.Rows = append(p.Heatmap.Rows, row)
	}
	if w != nil && w.Location.String() == d.cfg.Location.String() {
		p.Heatmap.Note += " Outlined cells overlap the deploy window."
	}
	if w != nil {
		p.Window = views.WindowSection{Configured: true, Description: windowDescription(w),
			Rate: d.chart(fs, "window-rate", "Deployments outside the window", "Share of production deployments that finished outside the deploy window, per period.", views.UnitRatio, views.Lines,
				fs.series("Outside the window", all, metrics.OutOfWindowRate, depLink(q, "outside_window", "true"))),
			Outside: views.DeploymentTable{ID: "outside-window", Title: "Latest deployments outside the window", Rows: deploymentRows(outside, d.cfg, projectURLs(c, d.store), nil),
				CSV: q.link("/export/deployments.csv"), More: views.Link{Label: "All deployments outside the window", Href: q.link("/deployments", "outside_window", "true")},
				Empty: views.Empty{Title: "Every deployment in this range finished inside the window"}},
		}
		p.Window.Rate.Target = d.breaksTarget("deployments")
	} else {
		p.Window = views.WindowSection{Empty: views.Empty{
			Title: "No deploy window is configured",
			Body:  "Say when deployments are expected, and Pacer shows the share that finish outside it (out_of_window_rate) and lists them. Add to the config file:",
			Code:  "[deploy_window]\ndays  = [\"mon\", \"tue\", \"wed\", \"thu\"]\nstart = \"09:00\"\nend   = \"16:00\"\ntimezone = \"Europe/Paris\"",
		}}
	}
	m := d.r.meta(c, q, "Releases", views.NavReleases)
	return d.r.page(c, http.StatusOK, m, views.ReleasesView(p), q.link("/releases"))
}

// splitProjects are the projects the configuration splits into services by environment.
func splitProjects(cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	for _, s := range cfg.Services {
		if len(s.Environments) == 0 {
			continue
		}
		for _, p := range s.Projects {
			out[p] = true
		}
	}
	return out
}

func (d *dashboard) approvals(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	all := metrics.AllServices
	p := views.ApprovalsPage{Range: q.RangeLabel()}
	p.Cards = []views.Card{fs.card(all, unapprovedCard(q)), fs.card(all, mergedCard(q))}
	p.Rate = d.chart(fs, "approvals-rate", "Merged without approval", "Share of delivered MRs merged without an approval from someone other than the author, per period.", views.UnitRatio, views.Lines,
		fs.series("Unapproved", all, metrics.UnapprovedRate, mrLink(q, "unapproved", "true")))
	if d.cfg.Agreements.Approvals == 1 { // with more, the agreement counts MRs this chart does not
		p.Rate.Target = d.breaksTarget("MRs")
	}
	services, err := d.scopedServices(c, q, fs)
	if err != nil {
		return err
	}
	var rows []views.BarRow
	for _, s := range services {
		rate, n, ok := fs.pooledRate(s, metrics.UnapprovedRate)
		if !ok {
			continue
		}
		rows = append(rows, views.BarRow{Label: s, Value: rate, N: n, Href: q.withService(s).link("/merge-requests", "unapproved", "true"),
			Note: fmt.Sprintf("%d of %d", int(rate*float64(n)+0.5), n)})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Value > rows[j].Value })
	p.PerService = views.BarList{ID: "approvals-per-service", Title: "Unapproved per service (most first)", Label: "Service", Unit: views.UnitRatio, Max: 1,
		Summary: "Share of each service's MRs over the range merged without approval.", Rows: rows, CSV: q.link("/export/metrics.csv"),
		Compare: compareLink(q, "-unapproved")}
	unapproved := metrics.MRWhere{Unapproved: ptr(true)}
	latest, err := engineOf(c).MergeRequestPage(ctx, q.Filter(), metrics.MRList{Where: unapproved, Limit: 25})
	if err != nil {
		return err
	}
	total, err := engineOf(c).CountMergeRequests(ctx, q.Filter(), unapproved)
	if err != nil {
		return err
	}
	p.Unapproved = views.MRTable{ID: "unapproved", Title: "Latest MRs merged without approval", Rows: mrRows(q, latest.Rows), CSV: q.link("/export/merge-requests.csv"),
		Empty: views.Empty{Title: "Every MR in this range was approved", Body: "An MR counts as approved when someone other than its author approved it before it merged."}}
	if total > len(latest.Rows) {
		p.Unapproved.More = views.Link{Label: "All " + views.Plural(total, "unapproved MR", "unapproved MRs"), Href: q.link("/merge-requests", "unapproved", "true")}
	}
	m := d.r.meta(c, q, "Approvals", views.NavApprovals)
	return d.r.page(c, http.StatusOK, m, views.ApprovalsView(p), q.link("/approvals"))
}

// cycleTarget is the agreed median cycle time ([agreements] cycle_time_p50), drawn on the
// charts of the cycle time; nil when none is agreed.
func (d *dashboard) cycleTarget() *views.Target {
	t := d.cfg.Agreements.CycleTime
	if t <= 0 {
		return nil
	}
	return &views.Target{Value: t.Seconds(), Label: "agreed p50 ≤ " + views.Duration(int64(t/time.Second))}
}

// breaksTarget is the share of items that may break an agreement while it holds
// ([agreements] allowed_breaks), for the charts of approvals and of the deploy window.
func (d *dashboard) breaksTarget(items string) *views.Target {
	a := d.cfg.Agreements.AllowedBreaks
	if a == nil {
		return nil
	}
	return &views.Target{Value: *a, Label: "agreed ≤ " + views.Format(views.UnitRatio, *a) + " of " + items}
}

// zoomPercent starts a percentage line chart's axis 10 points under its lowest value (and
// target), on a multiple of 10, so that coverage moving between 85% and 90% is visible.
func zoomPercent(c *views.Chart) {
	low := 100.0
	if c.Target != nil {
		low = c.Target.Value
	}
	for _, s := range c.Series {
		for _, p := range s.Values {
			if p.Known && p.Value < low {
				low = p.Value
			}
		}
	}
	c.YFrom = max(0, math.Floor(low/10)*10-10)
}

// noCoverage explains an empty coverage view.
func noCoverage() views.Empty {
	return views.Empty{
		Title: "No coverage reported in this range",
		Body:  "Pacer reads the coverage GitLab records on default-branch pipelines. Make the test job report it, with a coverage regular expression or a Cobertura report:",
		Code:  "test:\n  script: go test -coverprofile=c.out ./... && go tool cover -func=c.out\n  coverage: '/total:\\s+\\(statements\\)\\s+(\\d+.\\d+)%/'",
		Link:  views.Link{Label: "GitLab documentation: code coverage", Href: "https://docs.gitlab.com/ci/testing/code_coverage/"},
	}
}
