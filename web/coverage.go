package web

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

func (d *dashboard) coverage(c *echo.Context) error {
	// below_target=true narrows the per-project table to the projects under the target at the
	// end of the range, each with its last value however old (as the figures carry it forward):
	// the projects that break the coverage agreement.
	below, err := parseBool(c.Request().URL.Query(), "below_target")
	if err != nil {
		return err
	}
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	target := d.cfg.Coverage.Target
	p := views.CoveragePage{Range: q.RangeLabel(), Target: views.Percent(target)}
	tgt := &views.Target{Value: target, Label: "target " + views.Percent(target)}

	services, err := d.scopedServices(c, q, fs)
	if err != nil {
		return err
	}
	type latest struct {
		service string
		value   float64
	}
	var rows []views.BarRow
	var lows []latest
	for _, s := range services {
		last, first, ok := fs.last(s, metrics.CoveragePercent)
		if !ok {
			continue
		}
		r := views.BarRow{Label: s, Value: last.Value, N: last.N, Href: q.withService(s).link("/coverage"), Below: last.Value < target}
		if diff := last.Value - first.Value; first.Period != last.Period {
			r.Note = fmt.Sprintf("%+.1f pts", diff)
		}
		rows = append(rows, r)
		lows = append(lows, latest{s, last.Value})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Value < rows[j].Value })
	p.PerService = views.BarList{ID: "coverage-per-service", Title: "Latest coverage per service (lowest first)", Label: "Service", Unit: views.UnitPercent,
		Summary: "Each service's latest default-branch coverage in the range against the target; red bars are below it.",
		Rows:    rows, Target: tgt, Max: 100, CSV: q.link("/export/coverage.csv"), Empty: ptr(noCoverage()),
		Compare: compareLink(q, "coverage")}
	p.PerService.From = coverageScaleFrom(rows, target)

	series := []views.Series{fs.series("All services", metrics.AllServices, metrics.CoveragePercent, covLink(q))}
	if len(q.Services) == 1 {
		series[0].Name = q.Services[0]
	} else {
		sort.SliceStable(lows, func(i, j int) bool { return lows[i].value < lows[j].value })
		for i := 0; i < len(lows) && i < 4; i++ {
			series = append(series, fs.series(lows[i].service, lows[i].service, metrics.CoveragePercent, covLink(q)))
		}
	}
	p.Trend = d.chart(fs, "coverage-trend", "Coverage over time", "Default-branch coverage per period (all services, and the lowest ones), against the target.", views.UnitPercent, views.Lines, series...)
	p.Trend.Target, p.Trend.YMax, p.Trend.Empty = tgt, 100, ptr(noCoverage())
	zoomPercent(&p.Trend)

	// Per project: the last pipeline with coverage in the range (or, for below_target, up to
	// the range's end).
	byProject := map[string]*metrics.CoverageRow{}
	cf := q.Filter()
	if below != nil {
		cf.From = time.Time{}
	}
	latestRows, err := engineOf(c).LatestCoverage(ctx, cf)
	if err != nil {
		return err
	}
	for _, r := range latestRows {
		byProject[r.Project] = r
	}
	var prow []views.BarRow
	for _, r := range byProject {
		if below != nil && (r.Percent < target) != *below {
			continue
		}
		prow = append(prow, views.BarRow{Label: r.Project, Value: r.Percent, N: 1, Href: externalURL(r.URL), Below: r.Percent < target,
			Note: r.Date.Format("2 Jan")})
	}
	sort.Slice(prow, func(i, j int) bool {
		if prow[i].Value != prow[j].Value {
			return prow[i].Value < prow[j].Value
		}
		return prow[i].Label < prow[j].Label
	})
	p.PerProject = views.BarList{ID: "coverage-per-project", Title: "Latest coverage per project (lowest first)", Label: "Project", Unit: views.UnitPercent,
		Summary: "Each project's last default-branch pipeline with coverage in the range; the value links to the pipeline in GitLab.",
		Rows:    prow, Target: tgt, Max: 100, CSV: q.link("/export/coverage.csv"), Empty: ptr(noCoverage())}
	p.PerProject.From = coverageScaleFrom(prow, target)
	var extra []views.Hidden
	canonical := q.link("/coverage")
	if below != nil {
		v := strconv.FormatBool(*below)
		extra = append(extra, views.Hidden{Name: "below_target", Value: v})
		canonical = q.link("/coverage", "below_target", v)
		p.PerProject.Title = "Projects under the target of " + views.Percent(target) + " on " + q.To.Format("2 Jan 2006")
		p.PerProject.Summary = "Each project's last default-branch coverage up to the end of the range, however old, when it is under the target; the value links to the pipeline in GitLab."
		if !*below {
			p.PerProject.Title = "Projects at or above the target of " + views.Percent(target) + " on " + q.To.Format("2 Jan 2006")
		}
		p.PerProject.Empty = &views.Empty{Title: "No project matches", Body: "No project's last coverage up to the end of the range is on this side of the target."}
		p.AllProjects = views.Link{Label: "Every project", Href: q.link("/coverage")}
	}
	m := d.r.meta(c, q, "Coverage", views.NavCoverage, extra...)
	return d.r.page(c, http.StatusOK, m, views.CoverageView(p), canonical)
}

// coverageScaleFrom is where coverage bars start: 10 points under the lowest value (or the
// target), on a multiple of 10, so that 80% and 93% do not look alike; the heading says the
// scale.
func coverageScaleFrom(rows []views.BarRow, target float64) float64 {
	low := target
	for _, r := range rows {
		low = math.Min(low, r.Value)
	}
	return math.Max(0, math.Floor(low/10)*10-10)
}
