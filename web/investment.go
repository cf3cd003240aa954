package web

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// techDebtCategory is the configured category the tech-debt share counts, "" when none is.
func techDebtCategory(categories []string) string {
	for _, c := range categories {
		if config.IsTechDebt(c) {
			return c
		}
	}
	return ""
}

// stackOrder puts the tech-debt category first (at the bottom of the stack, where the target
// line reads against it), the others after it in configuration order.
func stackOrder(categories []string, techDebt string) []string {
	out := make([]string, 0, len(categories))
	if techDebt != "" {
		out = append(out, techDebt)
	}
	for _, c := range categories {
		if c != techDebt {
			out = append(out, c)
		}
	}
	return out
}

// investment is the investment page: each category's share of the delivered MRs per period,
// stacked, with the target tech-debt share, and the tech-debt share of the effort.
func (d *dashboard) investment(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	shares, err := engineOf(c).Investment(ctx, q.Filter())
	if err != nil {
		return err
	}
	all := metrics.AllServices
	cats := engineOf(c).Categories()
	debt := techDebtCategory(cats)
	order := stackOrder(cats, debt)
	agreed := d.cfg.Agreements
	target := &views.Target{Value: agreed.TechDebtShare, Label: "target " + views.Format(views.UnitRatio, agreed.TechDebtShare)}

	type key struct{ period, category string }
	byKey := make(map[key]metrics.CategoryShare, len(shares))
	totals := map[string]int{} // delivered MRs per period
	for _, s := range shares {
		byKey[key{s.Period, s.Category}] = s
		totals[s.Period] = s.Total
	}

	p := views.InvestmentPage{Range: q.RangeLabel(), Lead: investmentLead(cats, debt, agreed)}
	if len(shares) == 0 {
		p.Empty = &views.Empty{Title: "No merge requests delivered in this range",
			Body: "The shares count merged MRs that target the project's default branch and are not written by bots. Widen the range or pick another service."}
		m := d.r.meta(c, q, "Investment", views.NavInvestment)
		return d.r.page(c, http.StatusOK, m, views.InvestmentView(p), q.link("/investment"))
	}

	// The stacked shares, each segment linking to its MRs.
	var series []views.Series
	for _, cat := range order {
		s := views.Series{Name: cat}
		link := mrLink(q, "category", cat)
		for _, per := range fs.periods {
			cs, ok := byKey[key{per.key, cat}]
			if !ok || cs.Total == 0 {
				s.Values = append(s.Values, views.Point{})
				continue
			}
			s.Values = append(s.Values, views.Point{Value: float64(cs.MRs) / float64(cs.Total), Known: true, N: cs.Total,
				Note: fmt.Sprintf("%d of %s", cs.MRs, views.Plural(cs.Total, "MR", "MRs")), Href: link(per, all)})
		}
		series = append(series, s)
	}
	p.Shares = d.chart(fs, "investment-shares", "Where the delivered MRs go, by category",
		"Each investment category's share of the MRs delivered per period, stacked to 100%, the tech-debt category at the bottom against its target share.",
		views.UnitRatio, views.StackedBars, series...)
	p.Shares.CSV = q.link("/export/merge-requests.csv")
	p.Shares.Target, p.Shares.YMax = target, 1
	if debt != "" {
		p.Shares.Target.Label = debt + " " + target.Label
	}

	// Tech debt by MRs and by effort, from the figures.
	debtLink := mrLink(q)
	if debt != "" {
		debtLink = mrLink(q, "category", debt)
	}
	byMRs := fs.series("Share of MRs", all, metrics.TechDebtShare, debtLink)
	noteN(&byMRs, "MR", "MRs")
	byEffort := fs.series("Share of author-days", all, metrics.TechDebtEffort, debtLink)
	noteN(&byEffort, "author-day", "author-days")
	p.Effort = d.chart(fs, "investment-effort", "Tech debt: share of MRs and share of effort",
		"The tech-debt share of the MRs delivered and of the author-days spent per period (a day an author committed to several MRs is split equally among them), against the target.",
		views.UnitRatio, views.Lines, byMRs, byEffort)
	p.Effort.Target = target
	p.Effort.Empty = &views.Empty{Title: "No tech-debt figures in this range", Body: "The tech-debt share counts the MRs of the category named “tech debt”."}

	p.Cards = []views.Card{
		fs.card(all, cardSpec{label: "Tech-debt share", metric: metrics.TechDebtShare, unit: views.UnitRatio, higherIsBetter: true, nOne: "MR", nMany: "MRs",
			href: cardLink(debtLink), help: "Delivered MRs in the tech-debt category; the target is " + views.Format(views.UnitRatio, agreed.TechDebtShare) + "."}),
		fs.card(all, cardSpec{label: "Tech-debt effort", metric: metrics.TechDebtEffort, unit: views.UnitRatio, higherIsBetter: true, nOne: "author-day", nMany: "author-days",
			href: cardLink(debtLink), help: "Author-days spent on tech-debt MRs, a shared day split equally."}),
		fs.card(all, mergedCard(q)),
	}
	for i := range p.Cards[:2] {
		p.Cards[i].Delta.Tone = "" // nearer the target is better, not higher or lower
	}

	p.Table = investmentTable(q, fs, order, debt, func(period, cat string) (metrics.CategoryShare, bool) {
		s, ok := byKey[key{period, cat}]
		return s, ok
	}, totals)

	services, err := d.scopedServices(c, q, fs)
	if err != nil {
		return err
	}
	var rows []views.BarRow
	for _, s := range services {
		rate, n, ok := fs.pooledRate(s, metrics.TechDebtShare)
		if !ok {
			continue
		}
		rows = append(rows, views.BarRow{Label: s, Value: rate, N: n, Href: q.withService(s).link("/merge-requests", "category", debt),
			Note: fmt.Sprintf("%d of %d", int(rate*float64(n)+0.5), n), Below: math.Abs(rate-agreed.TechDebtShare) > agreed.TechDebtTolerance})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Value < rows[j].Value })
	p.Service = views.BarList{ID: "investment-per-service", Title: "Tech-debt share per service (least first)", Label: "Service", Unit: views.UnitRatio, Max: 1,
		Summary: "Each service's share of tech-debt MRs over the range, against the target; red bars are further from it than the tolerance.",
		Rows:    rows, Target: target, CSV: q.link("/export/metrics.csv"), Compare: compareLink(q, "tech_debt")}

	m := d.r.meta(c, q, "Investment", views.NavInvestment)
	return d.r.page(c, http.StatusOK, m, views.InvestmentView(p), q.link("/investment"))
}

// noteN writes each point's n with its unit ("n=40 author-days").
func noteN(s *views.Series, one, many string) {
	for i := range s.Values {
		if s.Values[i].Known {
			s.Values[i].Note = "n=" + views.Plural(s.Values[i].N, one, many)
		}
	}
}

// investmentLead says how MRs fall into categories and what the target is.
func investmentLead(cats []string, debt string, a config.Agreements) string {
	s := "Every delivered MR falls in one investment category, the first whose rules match it (" + strings.Join(cats, ", ") + "). "
	if debt == "" {
		return s + "No category is named “tech debt”, so there is no tech-debt share to hold against its target."
	}
	return s + "The agreed tech-debt share is " + views.Format(views.UnitRatio, a.TechDebtShare) + " (within " +
		strings.TrimSuffix(views.Format(views.UnitRatio, a.TechDebtTolerance), "%") + " points). Every bar segment and figure opens its MRs."
}

// investmentTable is the shares per period as figures, with the whole range in the last row.
func investmentTable(q *query, fs *figureSet, order []string, debt string, share func(period, cat string) (metrics.CategoryShare, bool), totals map[string]int) views.InvestmentTable {
	all := metrics.AllServices
	t := views.InvestmentTable{ID: "investment-table", Title: "Shares per period", Categories: order,
		CSV: q.link("/export/merge-requests.csv"), MetricsCSV: q.link("/export/metrics.csv"), Effort: debt != ""}
	sum := make([]int, len(order))
	grand := 0
	for _, per := range fs.periods {
		total, ok := totals[per.key]
		if !ok || total == 0 {
			continue
		}
		grand += total
		row := views.InvestmentRow{Period: fs.periodName(per), MRs: views.Plural(total, "MR", "MRs"), MRsHref: mrLink(q)(per, all)}
		for i, cat := range order {
			cs, _ := share(per.key, cat)
			sum[i] += cs.MRs
			row.Cells = append(row.Cells, views.ShareCell{Share: views.Format(views.UnitRatio, float64(cs.MRs)/float64(total)),
				Count: views.Plural(cs.MRs, "MR", "MRs"), Href: mrLink(q, "category", cat)(per, all), Hot: cat == debt})
		}
		row.Effort, row.EffortN = "–", ""
		if f, ok := fs.get(per, all, metrics.TechDebtEffort); ok {
			row.Effort = views.Format(views.UnitRatio, f.Value)
			row.EffortN = "n=" + views.Plural(f.N, "author-day", "author-days")
		}
		t.Rows = append(t.Rows, row)
	}
	if grand > 0 {
		total := views.InvestmentRow{Period: "Whole range", MRs: views.Plural(grand, "MR", "MRs"), MRsHref: q.link("/merge-requests"), Effort: "–"}
		for i, cat := range order {
			total.Cells = append(total.Cells, views.ShareCell{Share: views.Format(views.UnitRatio, float64(sum[i])/float64(grand)),
				Count: views.Plural(sum[i], "MR", "MRs"), Href: q.link("/merge-requests", "category", cat), Hot: cat == debt})
		}
		if v, n, ok := fs.pooledShare(all, metrics.TechDebtEffort); ok {
			total.Effort = views.Format(views.UnitRatio, v)
			total.EffortN = "n=" + views.Plural(int(math.Round(n)), "author-day", "author-days")
		}
		t.Total = &total
	}
	return t
}
