package web

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// comparer is the /compare page: services (or teams, ?of=teams) side by side, each headline
// figure over the range in a column, with its n, its change against the range of the same
// length just before, and a link to its items.
type comparer struct {
	cfg *config.Config
	r   *renderer
}

// compareColumn is one figure of the compare table.
type compareColumn struct {
	key, label, help string
	unit             views.Unit
	higherIsBetter   bool
	nOne, nMany      string
	value            func(s *groupStats) (v float64, n int, ok bool)
	href             func(q *query) string
}

var compareColumns = []compareColumn{
	{key: "merged", label: "MRs delivered", unit: views.UnitCount, higherIsBetter: true, nOne: "MR", nMany: "MRs",
		help:  "Merged MRs delivered in the range",
		value: func(s *groupStats) (float64, int, bool) { return float64(len(s.cycle)), len(s.cycle), len(s.cycle) > 0 },
		href:  func(q *query) string { return q.link("/merge-requests") }},
	{key: "cycle", label: "Cycle time p50", unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
		help:  "Median of first commit → production",
		value: func(s *groupStats) (float64, int, bool) { return median(s.cycle) },
		href:  func(q *query) string { return q.link("/merge-requests", "sort", "slowest") }},
	{key: "deployments", label: "Deployments", unit: views.UnitCount, higherIsBetter: true, nOne: "deployment", nMany: "deployments",
		help: "Successful production deployments",
		value: func(s *groupStats) (float64, int, bool) {
			return float64(s.deployments), s.deployments, s.deployments > 0
		},
		href: func(q *query) string { return q.link("/deployments") }},
	{key: "per_day", label: "Deploys per day", unit: views.UnitPerDay, higherIsBetter: true, nOne: "deployment", nMany: "deployments",
		help: "Deployments ÷ days of the range (days elapsed, for a range still running)",
		value: func(s *groupStats) (float64, int, bool) {
			if s.days <= 0 {
				return 0, 0, false
			}
			return float64(s.deployments) / float64(s.days), s.deployments, true
		},
		href: func(q *query) string { return q.link("/deployments") }},
	{key: "cfr", label: "Change failure rate", unit: views.UnitRatio, nOne: "deployment", nMany: "deployments",
		help:  "Change failures ÷ deployments",
		value: func(s *groupStats) (float64, int, bool) { return ratio(s.failures, s.deployments) },
		href:  func(q *query) string { return q.link("/deployments", "change_failure", "true") }},
	{key: "rework", label: "Rework rate", unit: views.UnitRatio, nOne: "deployment", nMany: "deployments",
		help:  "Rework deployments ÷ deployments",
		value: func(s *groupStats) (float64, int, bool) { return ratio(s.rework, s.deployments) },
		href:  func(q *query) string { return q.link("/deployments", "rework", "true") }},
	{key: "recovery", label: "Recovery p50", unit: views.UnitSeconds, nOne: "change failure", nMany: "change failures",
		help:  "Median time from a change failure to the deployment that blamed it",
		value: func(s *groupStats) (float64, int, bool) { return median(s.recovery) },
		href:  func(q *query) string { return q.link("/deployments", "change_failure", "true", "sort", "recovery") }},
	{key: "coverage", label: "Coverage", unit: views.UnitPercent, higherIsBetter: true, nOne: "project", nMany: "projects",
		help: "Mean default-branch coverage at the end of the range",
		value: func(s *groupStats) (float64, int, bool) {
			return s.coverage, s.coverageN, s.coverageN > 0
		},
		href: func(q *query) string { return q.link("/coverage") }},
	{key: "unapproved", label: "Unapproved", unit: views.UnitRatio, nOne: "MR", nMany: "MRs",
		help:  "MRs merged without approval ÷ MRs delivered",
		value: func(s *groupStats) (float64, int, bool) { return ratio(s.unapproved, len(s.cycle)) },
		href:  func(q *query) string { return q.link("/merge-requests", "unapproved", "true") }},
	{key: "tech_debt", label: "Tech-debt share", unit: views.UnitRatio, higherIsBetter: true, nOne: "MR", nMany: "MRs",
		help:  "Tech-debt MRs ÷ MRs delivered",
		value: func(s *groupStats) (float64, int, bool) { return ratio(s.techDebt, len(s.cycle)) },
		href:  nil}, // set per request: the tech-debt category's name comes from the config
}

func median(v []int64) (float64, int, bool) {
	if len(v) == 0 {
		return 0, 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return float64(metrics.Percentile(s, 50)), len(v), true
}

func ratio(num, den int) (float64, int, bool) {
	if den == 0 {
		return 0, 0, false
	}
	return float64(num) / float64(den), den, true
}

// groupStats are one service's or team's items over a range.
type groupStats struct {
	cycle, recovery               []int64
	unapproved, techDebt          int
	deployments, failures, rework int
	coverage                      float64
	coverageN                     int
	days                          int
}

// compareRanges are the range asked for and the one of the same length just before it.
func compareRanges(q *query) (cur, prev *query) {
	days := q.Days()
	prev = q.withRange(q.From, q.To) // a copy
	prev.From, prev.To = q.From.AddDate(0, 0, -days), q.From.AddDate(0, 0, -1)
	prev.Period = customPeriod
	return q, prev
}

// elapsedDays are the days of q's range up to today (a range still running counts the days
// elapsed).
func elapsedDays(q *query) int {
	to := q.To
	if today := dateOf(q.now); to.After(today) {
		to = today
	}
	if to.Before(q.From) {
		return 0
	}
	return int(to.Sub(q.From).Hours()/24) + 1
}

// collect gathers the items of filter f over q's range, by key (the service, or one key for
// a team).
func collect(ctx context.Context, eng *metrics.Engine, q *query, f metrics.Filter, key func(service string) string) (map[string]*groupStats, error) {
	out := map[string]*groupStats{}
	get := func(k string) *groupStats {
		s := out[k]
		if s == nil {
			s = &groupStats{days: elapsedDays(q)}
			out[k] = s
		}
		return s
	}
	f.From, f.To = q.From, q.To
	if err := eng.MergeRequests(ctx, f, func(m *metrics.MergeRequest) error {
		s := get(key(m.Service))
		s.cycle = append(s.cycle, m.CycleSeconds)
		if m.Unapproved {
			s.unapproved++
		}
		if config.IsTechDebt(m.Category) {
			s.techDebt++
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eng.Deployments(ctx, f, func(d *metrics.Deployment) error {
		s := get(key(d.Service))
		s.deployments++
		if d.Rework {
			s.rework++
		}
		if d.ChangeFailure {
			s.failures++
			if d.RecoverySeconds != nil {
				s.recovery = append(s.recovery, *d.RecoverySeconds)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Coverage at the end of the range: the last week's value, carried forward.
	f.By = metrics.Week
	figs, err := eng.Figures(ctx, f)
	if err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, fg := range figs {
		if fg.Metric != metrics.CoveragePercent {
			continue
		}
		k := key(fg.Service)
		if k != fg.Service {
			continue // a team's row reads its "all" figure only
		}
		if t, ok := last[k]; ok && !fg.Start.After(t) {
			continue
		}
		last[k] = fg.Start
		s := get(k)
		s.coverage, s.coverageN = fg.Value, fg.N
	}
	return out, nil
}

func (h *comparer) show(c *echo.Context) error {
	ctx := c.Request().Context()
	eng := engineOf(c)
	v := c.Request().URL.Query()
	q, err := parseQuery(v, eng.Now())
	if err != nil {
		return err
	}
	if err := eng.Validate(ctx, q.Filter()); err != nil {
		return err
	}
	of := v.Get("of")
	switch of {
	case "", "services":
		of = "services"
	case "teams":
	default:
		return badRequestf("of", "of=%q is not something to compare: use of=services or of=teams.", truncate(of, 40))
	}
	sortKey, desc, err := parseCompareSort(v.Get("sort"))
	if err != nil {
		return err
	}
	cur, prev := compareRanges(q)
	type row struct {
		name      string
		href      string
		itemQuery *query
		cur, prev *groupStats
	}
	var rows []*row
	switch of {
	case "services":
		// Services ranked by their own items (a team's authors narrow them, when one is chosen).
		services := q.Services
		if len(services) == 0 {
			if services, err = eng.Services(ctx); err != nil {
				return err
			}
		}
		perService := func(s string) string { return s }
		nowStats, err := collect(ctx, eng, cur, q.Filter(), perService)
		if err != nil {
			return err
		}
		prevStats, err := collect(ctx, eng, prev, q.Filter(), perService)
		if err != nil {
			return err
		}
		for _, s := range services {
			if q.Team != "" && nowStats[s] == nil && prevStats[s] == nil {
				continue // outside the team
			}
			iq := q.withService(s)
			rows = append(rows, &row{name: s, href: iq.link("/"), itemQuery: iq, cur: nowStats[s], prev: prevStats[s]})
		}
	case "teams":
		for _, t := range visibleTeams(c) {
			f := q.Filter()
			f.Team = t
			one := func(string) string { return metrics.AllServices }
			nowStats, err := collect(ctx, eng, cur, f, one)
			if err != nil {
				return err
			}
			prevStats, err := collect(ctx, eng, prev, f, one)
			if err != nil {
				return err
			}
			iq := *q
			iq.Team = t
			rows = append(rows, &row{name: t, href: iq.link("/"), itemQuery: &iq, cur: nowStats[metrics.AllServices], prev: prevStats[metrics.AllServices]})
		}
	}

	debt := ""
	for _, name := range eng.Categories() {
		if config.IsTechDebt(name) {
			debt = name
		}
	}
	base := mergeValues(q.Values(), predicateValues(v, "of"))
	page := views.ComparePage{
		Range: q.RangeLabel(), Of: of,
		Lead: "Each figure over the whole range, with its n and its change against the " + plural(q.Days(), "day", "days") +
			" before (" + prev.From.Format("2 Jan") + " – " + prev.To.Format("2 Jan 2006") + "). Click a heading to sort; a value opens its items.",
		OfLinks: []views.Link{{Label: "Services"}, {Label: "Teams"}},
		CSV:     q.link("/export/metrics.csv"),
	}
	if of == "teams" {
		page.OfLinks[0].Href = linkWith("/compare", q.Values())
	} else {
		page.OfLinks[1].Href = linkWith("/compare", q.Values(), "of", "teams")
	}
	sortLink := func(key string, descending bool) string {
		s := key
		if descending {
			s = "-" + key
		}
		if key == "name" && !descending {
			s = ""
		}
		return linkWith("/compare", mergeValues(base, nil), "sort", s)
	}
	nameLabel := "Service"
	if of == "teams" {
		nameLabel = "Team"
	}
	nameHead := views.CompareColumn{Label: nameLabel, Sort: views.SortHead{Href: sortLink("name", false)}}
	if sortKey == "name" {
		nameHead.Sort = views.SortHead{Href: sortLink("name", !desc), Current: true, Order: order(desc)}
	}
	page.Columns = append(page.Columns, nameHead)
	for _, col := range compareColumns {
		h := views.CompareColumn{Label: col.label, Help: col.help, Sort: views.SortHead{Href: sortLink(col.key, true)}}
		if sortKey == col.key {
			h.Sort = views.SortHead{Href: sortLink(col.key, !desc), Current: true, Order: order(desc)}
		}
		page.Columns = append(page.Columns, h)
	}
	type sortable struct {
		row   views.CompareRow
		value float64
		ok    bool
	}
	var out []sortable
	for _, r := range rows {
		vr := views.CompareRow{Name: r.name, Href: r.href}
		var sv float64
		var sok bool
		for _, col := range compareColumns {
			cell := views.CompareCell{N: "n = 0"}
			if r.cur != nil {
				if val, n, ok := col.value(r.cur); ok {
					cell.Value = views.Format(col.unit, val)
					cell.N = "n = " + views.Plural(n, col.nOne, col.nMany)
					href := col.href
					switch {
					case col.key == "tech_debt" && debt != "":
						cell.Href = r.itemQuery.link("/merge-requests", "category", debt)
					case href != nil:
						cell.Href = href(r.itemQuery)
					}
					if r.prev != nil {
						if pv, _, pok := col.value(r.prev); pok {
							cell.Delta = views.NewDelta(col.unit, val, pv, col.higherIsBetter, prev.RangeLabel())
						}
					}
					if col.key == sortKey {
						sv, sok = val, true
					}
				}
			}
			vr.Cells = append(vr.Cells, cell)
		}
		out = append(out, sortable{vr, sv, sok})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if sortKey == "name" {
			if desc {
				return a.row.Name > b.row.Name
			}
			return a.row.Name < b.row.Name
		}
		if a.ok != b.ok {
			return a.ok // unknown values last, either way
		}
		if a.value != b.value && !math.IsNaN(a.value) {
			if desc {
				return a.value > b.value
			}
			return a.value < b.value
		}
		return a.row.Name < b.row.Name
	})
	for _, s := range out {
		page.Rows = append(page.Rows, s.row)
	}
	if len(page.Rows) == 0 {
		e := views.Empty{Title: "Nothing to compare", Body: "No service has items in this range with these filters. Widen the range or remove a filter."}
		if of == "teams" {
			e = views.Empty{Title: "No teams to compare", Body: "Teams come from the configuration: add [[team]] sections with services or authors (docs/configuration.md)."}
		}
		page.Empty = &e
	}
	m := h.r.meta(c, q, "Compare", views.NavCompare, hidden(predicateValues(v, "of", "sort"))...)
	m.Filters.Action = "/compare"
	return h.r.page(c, http.StatusOK, m, views.CompareView(page), linkWith("/compare", mergeValues(base, predicateValues(v, "sort"))))
}

func order(desc bool) string {
	if desc {
		return "descending"
	}
	return "ascending"
}

// parseCompareSort reads sort=: a column key, "-" before it for descending.
func parseCompareSort(s string) (key string, desc bool, err error) {
	if s == "" {
		return "name", false, nil
	}
	key, desc = strings.CutPrefix(s, "-")
	keys := []string{"name"}
	for _, c := range compareColumns {
		keys = append(keys, c.key)
	}
	if !slices.Contains(keys, key) {
		return "", false, badRequestf("sort", "sort=%q is not a column: use one of %s, with - before it for the largest first (sort=-cycle).", truncate(s, 40), strings.Join(keys, ", "))
	}
	return key, desc, nil
}
