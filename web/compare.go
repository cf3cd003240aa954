package web

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// comparer is the /compare page: services (or teams, ?of=teams) side by side, each headline
// figure over the range in a column, with its n, its change against the range of the same
// length just before, and a link to its items. The figures are the engine's, computed over
// each range as one period (metrics.Range) and cached like every page's: a services view
// costs two computations (the range and the one before), a teams view two per team, and a
// repeated view nothing until the next sync.
type comparer struct {
	cfg *config.Config
	r   *renderer
}

// compareColumn is one figure of the compare table.
type compareColumn struct {
	key, label, help string
	metric           string
	unit             views.Unit
	higherIsBetter   bool
	// count: a row with no figure has none of these (0, not unknown).
	count       bool
	nOne, nMany string
	href        func(q *query) string
}

var compareColumns = []compareColumn{
	{key: "merged", label: "MRs delivered", metric: metrics.MergedMRs, unit: views.UnitCount, higherIsBetter: true, count: true,
		nOne: "MR", nMany: "MRs", help: "Merged MRs delivered in the range",
		href: func(q *query) string { return q.link("/merge-requests") }},
	{key: "cycle", label: "Cycle time p50", metric: metrics.CycleTimeP50, unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
		help: "Median of first commit → production",
		href: func(q *query) string { return q.link("/merge-requests", "sort", "slowest") }},
	{key: "deployments", label: "Deployments", metric: metrics.Deployments, unit: views.UnitCount, higherIsBetter: true, count: true,
		nOne: "deployment", nMany: "deployments", help: "Successful production deployments",
		href: func(q *query) string { return q.link("/deployments") }},
	{key: "per_day", label: "Deploys per day", metric: metrics.DeploysPerDay, unit: views.UnitPerDay, higherIsBetter: true, count: true,
		nOne: "deployment", nMany: "deployments", help: "Deployments ÷ days of the range (days elapsed, for a range still running)",
		href: func(q *query) string { return q.link("/deployments") }},
	{key: "cfr", label: "Change failure rate", metric: metrics.ChangeFailureRate, unit: views.UnitRatio,
		nOne: "deployment", nMany: "deployments", help: "Change failures ÷ deployments",
		href: func(q *query) string { return q.link("/deployments", "change_failure", "true") }},
	{key: "rework", label: "Rework rate", metric: metrics.ReworkRate, unit: views.UnitRatio,
		nOne: "deployment", nMany: "deployments", help: "Rework deployments ÷ deployments",
		href: func(q *query) string { return q.link("/deployments", "rework", "true") }},
	{key: "recovery", label: "Recovery p50", metric: metrics.RecoveryTimeP50, unit: views.UnitSeconds,
		nOne: "change failure", nMany: "change failures", help: "Median time from a change failure to the deployment that blamed it",
		href: func(q *query) string { return q.link("/deployments", "change_failure", "true", "sort", "recovery") }},
	{key: "coverage", label: "Coverage", metric: metrics.CoveragePercent, unit: views.UnitPercent, higherIsBetter: true,
		nOne: "project", nMany: "projects", help: "Mean default-branch coverage at the end of the range",
		href: func(q *query) string { return q.link("/coverage") }},
	{key: "unapproved", label: "Unapproved", metric: metrics.UnapprovedRate, unit: views.UnitRatio,
		nOne: "MR", nMany: "MRs", help: "MRs merged without approval ÷ MRs delivered",
		href: func(q *query) string { return q.link("/merge-requests", "unapproved", "true") }},
	{key: "tech_debt", label: "Tech-debt share", metric: metrics.TechDebtShare, unit: views.UnitRatio, higherIsBetter: true,
		nOne: "MR", nMany: "MRs", help: "Tech-debt MRs ÷ MRs delivered",
		href: nil}, // set per request: the tech-debt category's name comes from the config
}

// rangeFigures are one range's figures by service ("all" included) and metric.
type rangeFigures map[string]map[string]metrics.Figure

// figuresOver computes f's figures over q's range as one period: one cached computation.
func figuresOver(ctx context.Context, eng *metrics.Engine, q *query, f metrics.Filter) (rangeFigures, error) {
	f.From, f.To, f.By = q.From, q.To, metrics.Range
	figs, err := eng.Figures(ctx, f)
	if err != nil {
		return nil, err
	}
	out := rangeFigures{}
	for _, fg := range figs {
		m := out[fg.Service]
		if m == nil {
			m = map[string]metrics.Figure{}
			out[fg.Service] = m
		}
		m[fg.Metric] = fg
	}
	return out, nil
}

// value is a column's figure in one row's figures: a count with no figure is 0 (nothing was
// delivered), any other missing figure is unknown.
func (col compareColumn) value(row map[string]metrics.Figure) (v float64, n int, ok bool) {
	if fg, found := row[col.metric]; found {
		return fg.Value, fg.N, true
	}
	return 0, 0, col.count
}

// compareRanges are the range asked for and the one of the same length just before it.
func compareRanges(q *query) (cur, prev *query) {
	days := q.Days()
	prev = q.withRange(q.From, q.To) // a copy
	prev.From, prev.To = q.From.AddDate(0, 0, -days), q.From.AddDate(0, 0, -1)
	prev.Period = customPeriod
	return q, prev
}

// compareLink is /compare over q's filters, sorted by the column key (with - for the largest
// first): where a page's per-service table leads, with the same services chosen.
func compareLink(q *query, sort string) string {
	v := q.Values()
	v.Del("by") // the compare view has no periods
	return linkWith("/compare", v, "sort", sort)
}

// compareTeamsLink is /compare of the teams over q's range, sorted by the column key.
func compareTeamsLink(q *query, sort string) string {
	v := q.Values()
	v.Del("by")
	v.Del("team")
	v.Del("service")
	return linkWith("/compare", v, "of", "teams", "sort", sort)
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
		cur, prev map[string]metrics.Figure
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
		now, err := figuresOver(ctx, eng, cur, q.Filter())
		if err != nil {
			return err
		}
		before, err := figuresOver(ctx, eng, prev, q.Filter())
		if err != nil {
			return err
		}
		for _, s := range services {
			if q.Team != "" && now[s] == nil && before[s] == nil {
				continue // outside the team
			}
			iq := q.withService(s)
			rows = append(rows, &row{name: s, href: iq.link("/"), itemQuery: iq, cur: now[s], prev: before[s]})
		}
	case "teams":
		for _, t := range visibleTeams(c) {
			f := q.Filter()
			f.Team = t
			now, err := figuresOver(ctx, eng, cur, f)
			if err != nil {
				return err
			}
			before, err := figuresOver(ctx, eng, prev, f)
			if err != nil {
				return err
			}
			iq := *q
			iq.Team = t
			rows = append(rows, &row{name: t, href: iq.link("/"), itemQuery: &iq, cur: now[metrics.AllServices], prev: before[metrics.AllServices]})
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
			if val, n, ok := col.value(r.cur); ok {
				cell.Value = views.Format(col.unit, val)
				cell.N = "n = " + views.Plural(n, col.nOne, col.nMany)
				switch {
				case col.key == "tech_debt" && debt != "":
					cell.Href = r.itemQuery.link("/merge-requests", "category", debt)
				case col.href != nil:
					cell.Href = col.href(r.itemQuery)
				}
				// A change needs items on both sides: none before may only mean the history
				// does not reach back that far.
				if pv, pn, pok := col.value(r.prev); pok && n > 0 && pn > 0 {
					cell.Delta = views.NewDelta(col.unit, val, pv, col.higherIsBetter, prev.RangeLabel())
					cell.Delta.Title += " · n = " + strconv.Itoa(n) + " now, " + strconv.Itoa(pn) + " before"
					if m := min(n, pn); m < h.cfg.Display.SmallSample && cell.Delta.Tone != "" {
						// As on the cards: a change on a handful of items is shown without colour.
						cell.Delta.Tone, cell.Delta.Small = "", true
						cell.Delta.Title += "; fewer than " + strconv.Itoa(h.cfg.Display.SmallSample) + ", too few to call it better or worse"
					}
				}
				if col.key == sortKey {
					sv, sok = val, true
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
