package digest

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
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
	averageWeeks     = 4
	coverageMinDelta = 0.05 // percentage points below which coverage counts as unchanged
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
	var slow []metrics.MergeRequest
	if err := src.MergeRequests(ctx, cur, func(mr *metrics.MergeRequest) error {
		slow = keepSlowest(slow, *mr, slowestCount)
		return nil
	}); err != nil {
		return m, fmt.Errorf("digest: merge requests of %s: %w", week, err)
	}

	m.Week = week.String()
	m.Dates = weekDates(week)
	m.Scope = scope.Label()
	m.DashboardURL = ln.to("/", "")
	m.Headline = headline(tab, week, ln)
	m.Quiet = figureValue(tab, week.String(), metrics.MergedMRs) == 0 && figureValue(tab, week.String(), metrics.Deployments) == 0

	thisWeek, prevWeek := splitDeployments(deps, week)
	m.Releases, m.ReleasesURL = releases(thisWeek, prevWeek, ln)
	m.Rework, m.ReworkNote, m.ReworkURL = rework(thisWeek, deps, ln)
	m.Slowest, m.SlowestURL = slowest(slow, ln)
	m.Coverage, m.CoverageNote, m.CoverageURL = coverageMoves(tab, week, ln)
	if w := cfg.DeployWindow; w != nil {
		m.Window = outOfWindow(thisWeek, w, ln)
	}

	m.Subject = subject(tab, week, scope)
	outside := 0
	if w := cfg.DeployWindow; w != nil {
		for _, d := range thisWeek {
			if !w.Contains(d.FinishedAt) {
				outside++
			}
		}
	}
	m.Highlights = highlights(tab, week, thisWeek, slow, outside)
	m.Preheader = preheader(tab, week)
	if len(m.Highlights) > 0 {
		m.Preheader = strings.Join(m.Highlights, " · ")
	}
	if ln.off {
		m.Notes = append(m.Notes, "Links into the dashboard appear once base_url is set in the configuration file.")
	}
	m.Footer = fmt.Sprintf("Pacer digest of %s (%s) for %s. Weeks run Monday to Sunday in UTC; the 4-week average is the mean of the four weeks before. Subscriptions are set in the configuration file under [[digest.subscription]].",
		m.Week, m.Dates, strings.ToLower(m.Scope[:1])+m.Scope[1:])
	return m, nil
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

func headline(tab figureTable, week Week, ln links) []views.DigestFigure {
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
		if fig, ok := tab.get(week.String(), metrics.AllServices, h.metric); ok && h.nounOne != "" {
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
		out = append(out, f)
	}
	return out
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

func releases(this, prev []metrics.Deployment, ln links) ([]views.DigestRelease, string) {
	count := map[string]int{}
	rework := map[string]int{}
	before := map[string]int{}
	for _, d := range this {
		count[d.Service]++
		if d.Rework {
			rework[d.Service]++
		}
	}
	for _, d := range prev {
		before[d.Service]++
	}
	names := make([]string, 0, len(count)+len(before))
	for s := range count {
		names = append(names, s)
	}
	for s := range before {
		if _, ok := count[s]; !ok {
			names = append(names, s) // deployed last week, not this week: worth seeing
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	var out []views.DigestRelease
	for i, s := range names {
		if i == releasesMax {
			rest, restPrev := 0, 0
			for _, s := range names[i:] {
				rest += count[s]
				restPrev += before[s]
			}
			out = append(out, views.DigestRelease{
				Service: fmt.Sprintf("%d more services", len(names)-i),
				Count:   views.Count(int64(rest)),
				PerDay:  views.Format(views.UnitPerDay, float64(rest)/7),
				VsPrev:  change(views.UnitCount, float64(rest), float64(restPrev), true, fmt.Sprintf("last week %d", restPrev)),
			})
			break
		}
		r := views.DigestRelease{
			Service: s,
			Count:   views.Count(int64(count[s])),
			PerDay:  views.Format(views.UnitPerDay, float64(count[s])/7),
			VsPrev:  change(views.UnitCount, float64(count[s]), float64(before[s]), true, fmt.Sprintf("last week %d", before[s])),
			URL:     ln.to("/releases", s),
		}
		if rework[s] > 0 {
			r.Rework = fmt.Sprintf("%d rework", rework[s])
		}
		out = append(out, r)
	}
	return out, ln.to("/releases", "")
}

func rework(this, all []metrics.Deployment, ln links) ([]views.DigestRework, string, string) {
	var rw []metrics.Deployment
	for _, d := range this {
		if d.Rework {
			rw = append(rw, d)
		}
	}
	note := ""
	if len(this) > 0 {
		note = fmt.Sprintf("%d of %s (%s).", len(rw), plural(len(this), "deployment", "deployments"),
			views.Format(views.UnitRatio, float64(len(rw))/float64(len(this))))
	}
	// The deployment before each rework deployment in its environment is the change failure
	// it answers; look it up among the deployments fetched (this week and last).
	sorted := append([]metrics.Deployment(nil), all...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].FinishedAt.Before(sorted[j].FinishedAt) })
	previous := map[int64]metrics.Deployment{}
	last := map[string]metrics.Deployment{}
	for _, d := range sorted {
		k := strconv.FormatInt(d.ProjectID, 10) + "/" + d.Environment
		if p, ok := last[k]; ok {
			previous[d.ID] = p
		}
		last[k] = d
	}
	sort.Slice(rw, func(i, j int) bool { return rw[i].FinishedAt.Before(rw[j].FinishedAt) })
	var out []views.DigestRework
	for i, d := range rw {
		if i == reworkListMax {
			note += fmt.Sprintf(" %d more are in the dashboard.", len(rw)-reworkListMax)
			break
		}
		var reasons []string
		if d.Rollback {
			reasons = append(reasons, "rollback")
		}
		for _, mr := range d.MergeRequests {
			if mr.Rework {
				reasons = append(reasons, "ships rework MRs")
				break
			}
		}
		if len(reasons) == 0 {
			reasons = append(reasons, "rework")
		}
		r := views.DigestRework{
			Service:     d.Service,
			Environment: d.Environment,
			When:        d.FinishedAt.UTC().Format("Mon 2 Jan 15:04 UTC"),
			SHA:         shortSHA(d.SHA),
			Reasons:     strings.Join(reasons, ", "),
			URL:         ln.to("/deployments", d.Service),
			JobURL:      webURL(d.URL),
		}
		if p, ok := previous[d.ID]; ok && p.ChangeFailure {
			r.Failure = fmt.Sprintf("Answers the change failure of %s (%s), after %s.",
				p.FinishedAt.UTC().Format("Mon 2 Jan 15:04 UTC"), shortSHA(p.SHA), views.Duration(int64(d.FinishedAt.Sub(p.FinishedAt).Seconds())))
		}
		// The rework MRs first: they are why the deployment is listed.
		mrs := append([]metrics.MRRef(nil), d.MergeRequests...)
		sort.SliceStable(mrs, func(i, j int) bool { return mrs[i].Rework && !mrs[j].Rework })
		for j, mr := range mrs {
			if j == reworkMRsMax {
				r.MRs = append(r.MRs, views.DigestMRRef{Ref: "…", Title: fmt.Sprintf("and %d more", len(mrs)-reworkMRsMax)})
				break
			}
			r.MRs = append(r.MRs, views.DigestMRRef{Ref: "!" + strconv.FormatInt(mr.IID, 10), Title: mr.Title, URL: webURL(mr.URL), Rework: mr.Rework})
		}
		out = append(out, r)
	}
	return out, strings.TrimSpace(note), ln.to("/rework", "")
}

// webURL keeps a URL from GitLab only if it is http or https: the digest links nothing else.
func webURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// keepSlowest keeps the n MRs with the longest cycle time, slowest first; ties go to the
// earlier delivery, then the lower IID, so the list is stable.
func keepSlowest(list []metrics.MergeRequest, mr metrics.MergeRequest, n int) []metrics.MergeRequest {
	list = append(list, mr)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.CycleSeconds != b.CycleSeconds {
			return a.CycleSeconds > b.CycleSeconds
		}
		if !a.DeliveredAt.Equal(b.DeliveredAt) {
			return a.DeliveredAt.Before(b.DeliveredAt)
		}
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		return a.IID < b.IID
	})
	if len(list) > n {
		list = list[:n]
	}
	return list
}

func slowest(list []metrics.MergeRequest, ln links) ([]views.DigestMR, string) {
	var out []views.DigestMR
	for _, mr := range list {
		stages := []string{
			"coding " + views.Duration(mr.CodingSeconds),
			"pickup " + views.Duration(mr.PickupSeconds),
			"review " + views.Duration(mr.ReviewSeconds),
		}
		if mr.DeploySeconds != nil {
			stages = append(stages, "deploy "+views.Duration(*mr.DeploySeconds))
		} else {
			stages = append(stages, "not deployed")
		}
		out = append(out, views.DigestMR{
			Ref:     mr.Project + "!" + strconv.FormatInt(mr.IID, 10),
			Title:   mr.Title,
			Author:  mr.Author,
			Service: mr.Service,
			Cycle:   views.Duration(mr.CycleSeconds),
			Stages:  strings.Join(stages, " · "),
			URL:     webURL(mr.URL),
			DashURL: ln.to("/merge-requests", mr.Service),
		})
	}
	return out, ln.to("/cycle-time", "")
}

func coverageMoves(tab figureTable, week Week, ln links) ([]views.DigestCoverage, string, string) {
	now := tab[week.String()]
	before := tab[week.Prev().String()]
	type move struct {
		service   string
		cur, prev float64
		hasPrev   bool
		delta     float64
	}
	var moves []move
	unchanged := 0
	for s, ms := range now {
		if s == metrics.AllServices {
			continue
		}
		f, ok := ms[metrics.CoveragePercent]
		if !ok {
			continue
		}
		mv := move{service: s, cur: f.Value}
		if p, ok := before[s][metrics.CoveragePercent]; ok {
			mv.prev, mv.hasPrev = p.Value, true
			mv.delta = f.Value - p.Value
			if math.Abs(mv.delta) < coverageMinDelta {
				unchanged++
				continue
			}
		}
		moves = append(moves, mv)
	}
	sort.Slice(moves, func(i, j int) bool {
		a, b := moves[i], moves[j]
		if a.hasPrev != b.hasPrev {
			return a.hasPrev // moves first, then services new to coverage
		}
		if math.Abs(a.delta) != math.Abs(b.delta) {
			return math.Abs(a.delta) > math.Abs(b.delta)
		}
		return a.service < b.service
	})
	var out []views.DigestCoverage
	for _, mv := range moves {
		c := views.DigestCoverage{Service: mv.service, After: views.Percent(mv.cur), URL: ln.to("/coverage", mv.service)}
		if mv.hasPrev {
			c.Before = views.Percent(mv.prev)
			c.Change = change(views.UnitPercent, mv.cur, mv.prev, true, "last week "+views.Percent(mv.prev))
		} else {
			c.Before = "—"
			c.Change = views.DigestChange{Text: "new"}
		}
		out = append(out, c)
	}
	note := ""
	switch {
	case len(out) == 0 && unchanged == 0:
		note = "No coverage was reported in this scope. Coverage comes from default-branch pipelines whose jobs report it (GitLab's coverage keyword)."
	case len(out) == 0:
		note = "Coverage held steady: " + plural(unchanged, "service", "services") + " unchanged."
	case unchanged > 0:
		note = plural(unchanged, "other service", "other services") + " unchanged."
	}
	return out, note, ln.to("/coverage", "")
}

func windowLabel(w *config.DeployWindow) string {
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	var days []string
	// Collapse runs of consecutive days: Mon–Fri.
	for i := 0; i < len(order); {
		if !w.Weekdays[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && w.Weekdays[order[j+1]] {
			j++
		}
		if j-i >= 2 {
			days = append(days, order[i].String()[:3]+"–"+order[j].String()[:3])
		} else {
			for k := i; k <= j; k++ {
				days = append(days, order[k].String()[:3])
			}
		}
		i = j + 1
	}
	loc := "UTC"
	if w.Location != nil {
		loc = w.Location.String()
	}
	return fmt.Sprintf("%s %s–%s %s", strings.Join(days, ", "), w.Start, w.End, loc)
}

func outOfWindow(this []metrics.Deployment, w *config.DeployWindow, ln links) *views.DigestWindow {
	// The deployments list filtered to those outside the window: the items this section counts.
	outsideOnly := url.Values{"outside_window": {"true"}}
	out := &views.DigestWindow{Window: windowLabel(w), URL: ln.with("/deployments", "", outsideOnly)}
	var outside []metrics.Deployment
	for _, d := range this {
		if !w.Contains(d.FinishedAt) {
			outside = append(outside, d)
		}
	}
	if len(this) == 0 {
		out.Count = "No deployments this week."
		return out
	}
	out.Count = fmt.Sprintf("%d of %s finished outside it (%s).", len(outside), plural(len(this), "deployment", "deployments"),
		views.Format(views.UnitRatio, float64(len(outside))/float64(len(this))))
	sort.Slice(outside, func(i, j int) bool { return outside[i].FinishedAt.Before(outside[j].FinishedAt) })
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	for i, d := range outside {
		if i == windowListMax {
			out.More = fmt.Sprintf("And %d more.", len(outside)-windowListMax)
			break
		}
		out.Items = append(out.Items, views.DigestWindowItem{
			Service: d.Service,
			When:    d.FinishedAt.In(loc).Format("Mon 2 Jan 15:04 MST"),
			URL:     ln.with("/deployments", d.Service, outsideOnly),
		})
	}
	return out
}

// subject names the week, the scope and two headline numbers: cycle time and deployments.
func subject(tab figureTable, week Week, scope Scope) string {
	s := "Pacer " + week.String()
	if k := scope.Key(); k != "all" {
		s += " · " + strings.TrimPrefix(strings.TrimPrefix(k, "team:"), "services:")
	}
	ct := "no MRs delivered"
	if f, ok := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP50); ok {
		ct = "cycle time p50 " + views.Duration(int64(f.Value))
	}
	n := int(figureValue(tab, week.String(), metrics.Deployments))
	dep := "no deployments"
	if n > 0 {
		dep = plural(n, "deployment", "deployments")
	}
	return oneLine(s + ": " + ct + ", " + dep)
}

// oneLine replaces control characters (a newline in a team name from the config, say) with
// spaces: a subject is one header line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func preheader(tab figureTable, week Week) string {
	var parts []string
	for _, h := range []struct {
		label, metric string
		unit          views.Unit
	}{
		{"rework rate", metrics.ReworkRate, views.UnitRatio},
		{"change failure rate", metrics.ChangeFailureRate, views.UnitRatio},
		{"coverage", metrics.CoveragePercent, views.UnitPercent},
	} {
		if f, ok := tab.get(week.String(), metrics.AllServices, h.metric); ok {
			parts = append(parts, h.label+" "+views.Format(h.unit, f.Value))
		}
	}
	if len(parts) == 0 {
		return "The week in numbers."
	}
	s := strings.Join(parts, " · ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// highlights are up to four sentences on what stood out, so the first lines of the email say
// what a reader would otherwise look for in the tables: a big move in cycle time or
// deployments, the rework, the slowest MR when it is far out, and deployments outside the
// window.
func highlights(tab figureTable, week Week, this []metrics.Deployment, slow []metrics.MergeRequest, outside int) []string {
	var out []string
	cur, okCur := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP50)
	prev, okPrev := tab.get(week.Prev().String(), metrics.AllServices, metrics.CycleTimeP50)
	if okCur && okPrev && prev.Value > 0 {
		rel := (cur.Value - prev.Value) / prev.Value
		switch {
		case rel <= -0.1:
			out = append(out, fmt.Sprintf("Cycle time p50 fell %.0f%% to %s.", -rel*100, views.Duration(int64(cur.Value))))
		case rel >= 0.1:
			out = append(out, fmt.Sprintf("Cycle time p50 rose %.0f%% to %s.", rel*100, views.Duration(int64(cur.Value))))
		}
	}
	n := figureValue(tab, week.String(), metrics.Deployments)
	p := figureValue(tab, week.Prev().String(), metrics.Deployments)
	if n > 0 && p > 0 && math.Abs(n-p)/p >= 0.2 {
		word := "more"
		if n < p {
			word = "fewer"
		}
		out = append(out, fmt.Sprintf("%s, %s %s than last week.", plural(int(n), "deployment", "deployments"), views.Count(int64(math.Abs(n-p))), word))
	}
	services := map[string]int{}
	rollbacks, rework := 0, 0
	for _, d := range this {
		if d.Rework {
			rework++
			services[d.Service]++
			if d.Rollback {
				rollbacks++
			}
		}
	}
	if rework > 0 {
		// The services with the most rework first: they are the ones the sentence is for.
		names := make([]string, 0, len(services))
		for s := range services {
			names = append(names, s)
		}
		sort.Slice(names, func(i, j int) bool {
			if services[names[i]] != services[names[j]] {
				return services[names[i]] > services[names[j]]
			}
			return names[i] < names[j]
		})
		var where string
		switch {
		case len(names) > 3:
			where = fmt.Sprintf("%s and %d other services", strings.Join(names[:2], ", "), len(names)-2)
		case len(names) > 1:
			where = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
		default:
			where = names[0]
		}
		s := fmt.Sprintf("%s in %s", plural(rework, "rework deployment", "rework deployments"), where)
		if rollbacks > 0 {
			s += fmt.Sprintf(" (%s)", plural(rollbacks, "rollback", "rollbacks"))
		}
		out = append(out, s+".")
	}
	if len(slow) > 0 {
		p75, ok := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP75)
		if ok && p75.N >= 4 && float64(slow[0].CycleSeconds) >= 3*p75.Value {
			out = append(out, fmt.Sprintf("The slowest merge request, %s!%d, took %s, over three times the p75.",
				slow[0].Project, slow[0].IID, views.Duration(slow[0].CycleSeconds)))
		}
	}
	if outside > 0 {
		out = append(out, fmt.Sprintf("%s outside the deploy window.", plural(outside, "deployment", "deployments")))
	}
	if len(out) > 4 {
		out = out[:4]
	}
	return out
}
