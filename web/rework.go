package web

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

func (d *dashboard) rework(c *echo.Context) error {
	q, fs, err := d.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	all := metrics.AllServices
	p := views.ReworkPage{Range: q.RangeLabel()}
	p.Cards = []views.Card{
		fs.card(all, reworkCard(q)),
		fs.card(all, cfrCard(q)),
		fs.card(all, recoveryCard(q)),
		fs.card(all, cardSpec{label: "Rework MRs", metric: metrics.MRReworkRate, unit: views.UnitRatio, nOne: "MR", nMany: "MRs",
			href: cardLink(mrLink(q, "rework", "true")), help: "Merged MRs that are fixes: hotfix, bug, revert…"}),
	}
	p.Rates = d.chart(fs, "rework-rates", "Rework over time", "Rework rate and change failure rate of deployments, and the share of rework MRs, per period.", views.UnitRatio, views.Lines,
		fs.series("Rework rate", all, metrics.ReworkRate, depLink(q, "rework", "true")),
		fs.series("Change failure rate", all, metrics.ChangeFailureRate, depLink(q, "change_failure", "true")),
		fs.series("Rework MRs", all, metrics.MRReworkRate, mrLink(q, "rework", "true")))
	p.Rates.Empty = ptr(noDeployments())
	p.Recovery = d.chart(fs, "rework-recovery", "Recovery time (median)", "Median time from a change failure to the deployment that repaired it, per period.", views.UnitSeconds, views.Bars,
		fs.series("Recovery time", all, metrics.RecoveryTimeP50, depLink(q, "change_failure", "true")))
	p.Recovery.Empty = &views.Empty{Title: "No change failures in this range", Body: "A change failure is a deployment that a later rework deployment of its environment blames: " +
		"the one that first shipped the MR it reverts, or else the one just before it."}
	p.Explain = explainRework(q, fs)

	services, err := d.scopedServices(c, q, fs)
	if err != nil {
		return err
	}
	var rows []views.BarRow
	for _, s := range services {
		rate, n, ok := fs.pooledRate(s, metrics.ReworkRate)
		if !ok {
			continue
		}
		rows = append(rows, views.BarRow{Label: s, Value: rate, N: n, Href: q.withService(s).link("/deployments", "rework", "true"),
			Note: fmt.Sprintf("%d of %d", int(rate*float64(n)+0.5), n)})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Value > rows[j].Value })
	p.PerService = views.BarList{ID: "rework-per-service", Title: "Rework rate per service (most first)", Label: "Service", Unit: views.UnitRatio,
		Summary: "Share of each service's production deployments over the range that were rework.", Rows: rows, Max: 1,
		CSV: q.link("/export/metrics.csv"), Empty: ptr(noDeployments()), Compare: compareLink(q, "-rework")}

	eng := engineOf(c)
	latest := func(w metrics.DeploymentWhere) ([]*metrics.Deployment, int, error) {
		page, err := eng.DeploymentPage(ctx, q.Filter(), metrics.DeploymentList{Where: w, Location: d.cfg.Location, Limit: 15})
		if err != nil {
			return nil, 0, err
		}
		n, err := eng.CountDeployments(ctx, q.Filter(), w, d.cfg.Location)
		return page.Rows, n, err
	}
	rework, reworkN, err := latest(metrics.DeploymentWhere{Rework: ptr(true)})
	if err != nil {
		return err
	}
	failed, failedN, err := latest(metrics.DeploymentWhere{ChangeFailure: ptr(true)})
	if err != nil {
		return err
	}
	failures := pageFailures(append(append([]*metrics.Deployment(nil), failed...), rework...))
	projects := projectURLs(c, d.store)
	p.Failures = views.DeploymentTable{ID: "change-failures", Title: "Latest change failures and the deployment that blamed each",
		Rows: deploymentRows(failed, d.cfg, projects, failures), CSV: q.link("/export/deployments.csv"),
		Empty: views.Empty{Title: "No change failures in this range", Body: "No deployment in this range was blamed by a later rework deployment."}}
	if failedN > len(failed) {
		p.Failures.More = views.Link{Label: "All " + views.Plural(failedN, "change failure", "change failures"), Href: q.link("/deployments", "change_failure", "true")}
	}
	p.Deployments = views.DeploymentTable{ID: "rework-deployments", Title: "Latest rework deployments and the MRs they shipped", Rows: deploymentRows(rework, d.cfg, projects, failures),
		CSV:   q.link("/export/deployments.csv"),
		Empty: views.Empty{Title: "No rework deployments in this range", Body: "No production deployment shipped a rework MR (hotfix, bug, incident, regression, revert, rollback) or rolled back."}}
	if reworkN > len(rework) {
		p.Deployments.More = views.Link{Label: "All " + views.Plural(reworkN, "rework deployment", "rework deployments"), Href: q.link("/deployments", "rework", "true")}
	}
	m := d.r.meta(c, q, "Rework", views.NavRework)
	return d.r.page(c, http.StatusOK, m, views.ReworkView(p), q.link("/rework"))
}

// explainRework puts the rework rate and the change failure rate side by side, pooled over
// the range: they share a denominator and answer different questions.
func explainRework(q *query, fs *figureSet) []views.Explanation {
	all := metrics.AllServices
	one := func(name, metric, formula, text, pred string) views.Explanation {
		e := views.Explanation{Name: name, Formula: formula, Text: text, Value: "–", N: "no deployments in the range"}
		if rate, n, ok := fs.pooledRate(all, metric); ok {
			e.Value = views.Format(views.UnitRatio, rate)
			e.N = fmt.Sprintf("%d of %s", int(rate*float64(n)+0.5), views.Plural(n, "deployment", "deployments"))
			e.Href = q.link("/deployments", pred, "true")
		}
		return e
	}
	return []views.Explanation{
		one("Rework rate", metrics.ReworkRate, "rework deployments ÷ deployments",
			"How much of what we ship is repair. A rework deployment ships at least one rework MR (hotfix, bug, revert…) or rolls back. "+
				"It counts where the fix lands.", "rework"),
		one("Change failure rate", metrics.ChangeFailureRate, "change failures ÷ deployments",
			"How often a change we shipped needed repair. Each rework deployment blames one earlier deployment of its environment: "+
				"when it ships a revert, the deployment that first shipped the reverted MR; otherwise the one just before it. "+
				"A blamed deployment is a change failure once, however many fixes blame it, and counts where the failure shipped.", "change_failure"),
	}
}
