package digest

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// Source is what the digest reads its numbers from: *metrics.Engine.
type Source interface {
	Validate(ctx context.Context, f metrics.Filter) error
	Figures(ctx context.Context, f metrics.Filter) ([]metrics.Figure, error)
	MergeRequests(ctx context.Context, f metrics.Filter, fn func(*metrics.MergeRequest) error) error
	Deployments(ctx context.Context, f metrics.Filter, fn func(*metrics.Deployment) error) error
	Agreements(ctx context.Context, f metrics.Filter, weeks int) ([]metrics.AgreementRow, error)
}

// The engine is the Source everywhere but in tests.
var _ Source = (*metrics.Engine)(nil)

// Scope is what a digest covers: everything (zero Scope), a team, or a list of services.
type Scope struct {
	Team     string
	Services []string
}

// ScopeOf is the scope of a subscription.
func ScopeOf(s config.Subscription) Scope { return Scope{Team: s.Team, Services: s.Services} }

// Key identifies the scope in the store and in logs: all, team:NAME or services:A,B.
func (s Scope) Key() string {
	switch {
	case s.Team != "":
		return "team:" + s.Team
	case len(s.Services) > 0:
		return "services:" + strings.Join(s.Services, ",")
	}
	return "all"
}

// Label names the scope for people.
func (s Scope) Label() string {
	switch {
	case s.Team != "":
		return "Team " + s.Team
	case len(s.Services) == 1:
		return "Service " + s.Services[0]
	case len(s.Services) > 1:
		return "Services " + strings.Join(s.Services, ", ")
	}
	return "Everyone"
}

func (s Scope) filter(from, to time.Time) metrics.Filter {
	return metrics.Filter{From: from, To: to, Services: s.Services, Team: s.Team, By: metrics.Week}
}

// Limits of the lists, so a busy week still reads as a summary; the dashboard has the rest.
const (
	slowestCount     = 5
	reworkListMax    = 6
	reworkMRsMax     = 6
	releasesMax      = 15
	windowListMax    = 10
	coverageListMax  = 10 // the biggest moves; a large organisation has a service per row
	averageWeeks     = 4
	coverageMinDelta = 0.05 // percentage points below which coverage counts as unchanged
	// blameLookbackWeeks is how far back before last week the digest looks for a change
	// failure a rework deployment of this week blames (a revert of an MR shipped long ago).
	blameLookbackWeeks = 12
)

// links builds dashboard URLs with the digest's filters. off is set when the configuration has
// no base_url: the email then shows text without links.
type links struct {
	base  string // "" for root-relative links (the browser preview)
	off   bool
	week  Week
	scope Scope
}

func (l links) to(path string, service string) string {
	return l.with(path, service, nil)
}

// with is to with extra query parameters, such as a predicate of the deployments list
// (outside_window=true), so a link opens exactly the items it stands for.
func (l links) with(path string, service string, extra url.Values) string {
	if l.off {
		return ""
	}
	q := url.Values{}
	for k, vs := range extra {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("from", l.week.Start().Format(time.DateOnly))
	q.Set("to", l.week.LastDay().Format(time.DateOnly))
	if service != "" {
		q.Add("service", service)
	} else {
		for _, s := range l.scope.Services {
			q.Add("service", s)
		}
	}
	if l.scope.Team != "" {
		q.Set("team", l.scope.Team)
	}
	q.Set("by", "week")
	return strings.TrimRight(l.base, "/") + path + "?" + q.Encode()
}

// figureTable indexes figures by period and service, then metric.
type figureTable map[string]map[string]map[string]metrics.Figure

func (t figureTable) get(period, service, metric string) (metrics.Figure, bool) {
	f, ok := t[period][service][metric]
	return f, ok
}

// headlineSpec says how one headline figure is read, written and judged.
type headlineSpec struct {
	label, metric, path string
	unit                views.Unit
	higherIsBetter      bool
	zeroWhenMissing     bool   // counts: no row means 0
	nounOne, nounMany   string // what n counts
}

var headlineSpecs = []headlineSpec{
	{"Cycle time p50", metrics.CycleTimeP50, "/cycle-time", views.UnitSeconds, false, false, "MR", "MRs"},
	{"Cycle time p75", metrics.CycleTimeP75, "/cycle-time", views.UnitSeconds, false, false, "MR", "MRs"},
	{"Deployments", metrics.Deployments, "/deployments", views.UnitCount, true, true, "", ""},
	{"Deploys per day", metrics.DeploysPerDay, "/releases", views.UnitPerDay, true, true, "", ""},
	{"Rework rate", metrics.ReworkRate, "/rework", views.UnitRatio, false, false, "deployment", "deployments"},
	{"Change failure rate", metrics.ChangeFailureRate, "/rework", views.UnitRatio, false, false, "deployment", "deployments"},
	{"Coverage", metrics.CoveragePercent, "/coverage", views.UnitPercent, true, false, "project", "projects"},
}

// compose builds the digest of week for scope from the metrics.
func compose(ctx context.Context, src Source, cfg *config.Config, week Week, scope Scope, ln links) (views.DigestEmail, error) {
	var m views.DigestEmail
	cur := scope.filter(week.Start(), week.LastDay())
	if err := src.Validate(ctx, cur); err != nil {
		return m, fmt.Errorf("digest: %s: %w", scope.Label(), err)
	}

	// Figures of the week and the averageWeeks before it, in one query.
	figs, err := src.Figures(ctx, scope.filter(week.Add(-averageWeeks).Start(), week.LastDay()))
	if err != nil {
		return m, fmt.Errorf("digest: figures of %s: %w", week, err)
	}
	tab := figureTable{}
	for _, f := range figs {
		if tab[f.Period] == nil {
			tab[f.Period] = map[string]map[string]metrics.Figure{}
		}
		if tab[f.Period][f.Service] == nil {
			tab[f.Period][f.Service] = map[string]metrics.Figure{}
		}
		tab[f.Period][f.Service][f.Metric] = f
	}

	// Deployments of this week and the one before: releases, rework, the window.
	var deps []metrics.Deployment
	if err := src.Deployments(ctx, scope.filter(week.Prev().Start(), week.LastDay()), func(d *metrics.Deployment) error {
		deps = append(deps, *d)
		return nil
	}); err != nil {
		return m, fmt.Errorf("digest: deployments of %s: %w", week, err)
	}
	failures, err := blamedDeployments(ctx, src, scope, week, deps)
	if err != nil {
		return m, err
	}
	var slow []metrics.MergeRequest
	if err := src.MergeRequests(ctx, cur, func(mr *metrics.MergeRequest) error {
		slow = keepSlowest(slow, *mr, slowestCount)
		return nil
	}); err != nil {
		return m, fmt.Errorf("digest: merge requests of %s: %w", week, err)
	}
	checks, err := src.Agreements(ctx, cur, agreementWeeks)
	if err != nil {
		return m, fmt.Errorf("digest: agreements of %s: %w", week, err)
	}

	m.Week = week.String()
	m.Dates = weekDates(week)
	m.Scope = scope.Label()
	m.DashboardURL = ln.to("/", "")
	m.Headline = headline(tab, week, ln, cfg.Display.SmallSample)
	m.Quiet = figureValue(tab, week.String(), metrics.MergedMRs) == 0 && figureValue(tab, week.String(), metrics.Deployments) == 0
	m.Agreements = agreements(checks, week, cfg, ln)

	thisWeek, prevWeek := splitDeployments(deps, week)
	m.Releases, m.ReleasesURL = releases(thisWeek, prevWeek, ln)
	m.Rework, m.ReworkNote, m.ReworkURL = rework(thisWeek, failures, ln)
	m.Slowest, m.SlowestURL = slowest(slow, ln, cfg.Privacy.ShowAuthors())
	m.Coverage, m.CoverageNote, m.CoverageURL = coverageMoves(tab, week, ln)
	if w := cfg.DeployWindow; w != nil {
		m.Window = outOfWindow(thisWeek, w, ln)
	}

	m.Subject = subject(tab, week, scope)
	outside := 0
	for _, d := range thisWeek {
		if d.OutOfWindow {
			outside++
		}
	}
	m.Highlights = highlights(tab, week, thisWeek, slow, outside, agreementHighlight(m.Agreements))
	m.Preheader = preheader(tab, week)
	if len(m.Highlights) > 0 {
		m.Preheader = strings.Join(m.Highlights, " · ")
	}
	if ln.off {
		m.Notes = append(m.Notes, "Links into the dashboard appear once base_url is set in the configuration file.")
	}
	m.Footer = fmt.Sprintf("Pacer digest of %s (%s) for %s. Weeks run Monday to Sunday in UTC; the 4-week average is the mean of the four weeks before. "+
		"A change is coloured only when this week is outside the range of the four weeks before and counts at least %d items. Subscriptions are set in the configuration file under [[digest.subscription]].",
		m.Week, m.Dates, strings.ToLower(m.Scope[:1])+m.Scope[1:], cfg.Display.SmallSample)
	return m, nil
}

// blamedDeployments indexes the deployments fetched (this week and last) by id, and adds the
// change failures that this week's rework deployments blame from further back: a revert can
// blame a deployment of weeks ago. Those are looked up blameLookbackWeeks before last week.
func blamedDeployments(ctx context.Context, src Source, scope Scope, week Week, deps []metrics.Deployment) (map[int64]metrics.Deployment, error) {
	known := make(map[int64]metrics.Deployment, len(deps))
	for _, d := range deps {
		known[d.ID] = d
	}
	missing := map[int64]bool{}
	for _, d := range deps {
		if d.Blames != 0 && !d.FinishedAt.Before(week.Start()) {
			if _, ok := known[d.Blames]; !ok {
				missing[d.Blames] = true
			}
		}
	}
	if len(missing) == 0 {
		return known, nil
	}
	f := scope.filter(week.Add(-1-blameLookbackWeeks).Start(), week.Prev().Start().AddDate(0, 0, -1))
	if err := src.Deployments(ctx, f, func(d *metrics.Deployment) error {
		if missing[d.ID] {
			known[d.ID] = *d
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("digest: change failures before %s: %w", week.Prev(), err)
	}
	return known, nil
}

func figureValue(tab figureTable, period, metric string) float64 {
	f, _ := tab.get(period, metrics.AllServices, metric)
	return f.Value
}

// weekDates writes the week's Monday and Sunday: "23 Feb – 1 Mar 2026", "29 Dec 2025 – 4 Jan 2026".
func weekDates(w Week) string {
	a, b := w.Start(), w.LastDay()
	switch {
	case a.Year() != b.Year():
		return a.Format("2 Jan 2006") + " – " + b.Format("2 Jan 2006")
	case a.Month() != b.Month():
		return a.Format("2 Jan") + " – " + b.Format("2 Jan 2006")
	}
	return a.Format("2") + " – " + b.Format("2 Jan 2006")
}

// headline is the table of headline figures against last week and the 4-week average. A
// change is coloured (better or worse) only when it says something: this week's value is
// outside the range of the four weeks before, and it counts at least small items; otherwise
// it is shown muted, because a move inside the usual spread, or on a handful of items, is
// noise as often as news.
func headline(tab figureTable, week Week, ln links, small int) []views.DigestFigure {
	var out []views.DigestFigure
	for _, h := range headlineSpecs {
		f := views.DigestFigure{Label: h.label, URL: ln.to(h.path, "")}
		cur, ok := h.value(tab, week)
		if !ok {
			f.Value = "—"
			f.N = "no data this week"
			f.VsPrev = views.DigestChange{Text: "—"}
			f.VsAvg = views.DigestChange{Text: "—"}
			out = append(out, f)
			continue
		}
		f.Value = views.Format(h.unit, cur)
		fig, hasFig := tab.get(week.String(), metrics.AllServices, h.metric)
		if hasFig && h.nounOne != "" {
			f.N = "from " + views.Plural(fig.N, h.nounOne, h.nounMany)
		}
		if prev, ok := h.value(tab, week.Prev()); ok {
			f.VsPrev = change(h.unit, cur, prev, h.higherIsBetter, "last week "+views.Format(h.unit, prev))
		} else {
			f.VsPrev = views.DigestChange{Text: "—", Title: "no data last week"}
		}
		var sum float64
		var n int
		for i := 1; i <= averageWeeks; i++ {
			if v, ok := h.value(tab, week.Add(-i)); ok {
				sum += v
				n++
			}
		}
		if n > 0 {
			avg := sum / float64(n)
			f.VsAvg = change(h.unit, cur, avg, h.higherIsBetter, fmt.Sprintf("4-week average %s (%s)", views.Format(h.unit, avg), plural(n, "week", "weeks")+" with data"))
		} else {
			f.VsAvg = views.DigestChange{Text: "—", Title: "no data in the 4 weeks before"}
		}
		if why := quietReason(h, tab, week, cur, fig.N, small); why != "" {
			for _, c := range []*views.DigestChange{&f.VsPrev, &f.VsAvg} {
				if c.Tone != "" {
					c.Tone = ""
					c.Title += "; " + why
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// quietReason says why a figure's changes are shown muted, "" when they may be coloured: cur
// must lie outside the range of the averageWeeks weeks before (with at least one of them
// known), and n (this week's items) must be at least small.
func quietReason(h headlineSpec, tab figureTable, week Week, cur float64, n, small int) string {
	if n < small {
		return fmt.Sprintf("n = %d, fewer than %d: too few to call it better or worse", n, small)
	}
	lo, hi, known := math.Inf(1), math.Inf(-1), 0
	for i := 1; i <= averageWeeks; i++ {
		if v, ok := h.value(tab, week.Add(-i)); ok {
			lo, hi, known = math.Min(lo, v), math.Max(hi, v), known+1
		}
	}
	if known == 0 {
		return "no earlier week to compare with"
	}
	if cur >= lo && cur <= hi {
		return "inside the range of the 4 weeks before (" + views.Format(h.unit, lo) + " to " + views.Format(h.unit, hi) + ")"
	}
	return ""
}

func (h headlineSpec) value(tab figureTable, w Week) (float64, bool) {
	if f, ok := tab.get(w.String(), metrics.AllServices, h.metric); ok {
		return f.Value, true
	}
	// A count is 0 in a week without rows, but only once there is data at all: the weeks
	// before the history begins must not pull the 4-week average down.
	if h.zeroWhenMissing && !tab.beforeData(w) {
		return 0, true
	}
	return 0, false
}

// beforeData says whether w comes before the first week that has any figure in the table.
// ISO week keys (2026-W09) sort in time order as strings.
func (t figureTable) beforeData(w Week) bool {
	first := ""
	for p := range t {
		if first == "" || p < first {
			first = p
		}
	}
	return first == "" || w.String() < first
}

// change compares cur with ref. Durations, counts and rates per day change by a relative
// amount ("−12%"); ratios and percentages by percentage points, since a relative change of a
// rate ("+50%" for 2% -> 3%) overstates small moves.
func change(u views.Unit, cur, ref float64, higherIsBetter bool, title string) views.DigestChange {
	c := views.DigestChange{Title: title}
	diff := cur - ref
	sign := "+"
	if diff < 0 {
		sign = "−"
	}
	switch u {
	case views.UnitRatio, views.UnitPercent:
		pts := math.Abs(diff)
		if u == views.UnitRatio {
			pts *= 100
		}
		s := strconv.FormatFloat(pts, 'f', 1, 64)
		if s == "0.0" {
			c.Text = "no change"
			return c
		}
		c.Text = sign + strings.TrimSuffix(s, ".0") + " pts"
	default:
		if ref == 0 {
			if cur == 0 {
				c.Text = "no change"
				return c
			}
			c.Text = "new"
		} else {
			pct := math.Round(math.Abs(diff) / math.Abs(ref) * 100)
			if pct == 0 {
				c.Text = "no change"
				return c
			}
			c.Text = sign + strconv.FormatFloat(pct, 'f', 0, 64) + "%"
		}
	}
	if (diff > 0) == higherIsBetter {
		c.Tone = "good"
	} else {
		c.Tone = "bad"
	}
	return c
}

func plural(n int, one, many string) string { return views.Plural(n, one, many) }

func splitDeployments(deps []metrics.Deployment, week Week) (this, prev []metrics.Deployment) {
	start, end := week.Start(), week.End()
	for _, d := range deps {
		switch {
		case !d.FinishedAt.Before(start) && d.FinishedAt.Before(end):
			this = append(this, d)
		case d.FinishedAt.Before(start):
			prev = append(prev, d)
		}
	}
	return this, prev
}
