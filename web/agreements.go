package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// agreementWeeks is how many weeks the agreements page shows for each agreement.
const agreementWeeks = 8

// agreementOrder is the order of the agreement columns (the engine's names).
var agreementOrder = []string{metrics.AgreementApprovals, metrics.AgreementDeployWindow, metrics.AgreementCoverage,
	metrics.AgreementTechDebt, metrics.AgreementCycleTime}

// agreementSpec is how an agreement reads on the page: its unit, what its n counts, and the
// items that break it.
type agreementSpec struct {
	label       string
	unit        views.Unit
	nOne, nMany string
	// broken words the items that break it ("3 MRs with fewer than 1 approval"), "" if none do.
	broken func(n int) string
	// target words a check's target ("≤ 5%").
	target func(ch metrics.AgreementCheck) string
	// link is the list of the items that break it in one week, for a service ("all": the
	// query's services) and team; "" when there is none to show.
	link func(w *query) string
}

// agreementSpecs are the agreements as the configuration sets them.
func (d *dashboard) agreementSpecs(categories []string) map[string]agreementSpec {
	a := d.cfg.Agreements
	approvals := views.Plural(a.Approvals, "approval", "approvals")
	debt := techDebtCategory(categories)
	// A check holds at or under its target plus the share of breaks allowed (approvals, the
	// deploy window); the cycle time has no tolerance.
	atMost := func(u views.Unit) func(ch metrics.AgreementCheck) string {
		return func(ch metrics.AgreementCheck) string { return "≤ " + views.Format(u, ch.Target+ch.Tolerance) }
	}
	specs := map[string]agreementSpec{
		metrics.AgreementApprovals: {label: "Approvals", unit: views.UnitRatio, nOne: "MR", nMany: "MRs",
			broken: func(n int) string { return views.Plural(n, "MR", "MRs") + " with fewer than " + approvals },
			target: atMost(views.UnitRatio),
			// approvals_below, not unapproved=true: the check counts approval notes, while
			// "unapproved" also takes GitLab's approvals list where the notes say nothing.
			link: func(w *query) string { return w.link("/merge-requests", "approvals_below", strconv.Itoa(a.Approvals)) }},
		metrics.AgreementDeployWindow: {label: "Deploy window", unit: views.UnitRatio, nOne: "deployment", nMany: "deployments",
			broken: func(n int) string { return views.Plural(n, "deployment", "deployments") + " outside the window" },
			target: atMost(views.UnitRatio),
			link: func(w *query) string {
				if d.cfg.DeployWindow == nil {
					return ""
				}
				return w.link("/deployments", "outside_window", "true")
			}},
		metrics.AgreementCoverage: {label: "Coverage", unit: views.UnitPercent, nOne: "project", nMany: "projects",
			broken: func(n int) string {
				return views.Plural(n, "project", "projects") + " under " + views.Percent(d.cfg.Coverage.Target)
			},
			target: func(ch metrics.AgreementCheck) string { return "≥ " + views.Percent(ch.Target) },
			link:   func(w *query) string { return w.link("/coverage", "below_target", "true") }},
		metrics.AgreementTechDebt: {label: "Tech-debt share", unit: views.UnitRatio, nOne: "MR", nMany: "MRs",
			broken: func(int) string { return "" },
			target: func(ch metrics.AgreementCheck) string {
				return views.Format(views.UnitRatio, ch.Target) + " ± " + strings.TrimSuffix(views.Format(views.UnitRatio, ch.Tolerance), "%") + " pts"
			},
			link: func(w *query) string {
				if debt == "" {
					return ""
				}
				return w.link("/merge-requests", "category", debt)
			}},
		metrics.AgreementCycleTime: {label: "Cycle time (median)", unit: views.UnitSeconds, nOne: "MR", nMany: "MRs",
			broken: func(n int) string {
				return views.Plural(n, "MR", "MRs") + " slower than " + views.Duration(int64(a.CycleTime/time.Second))
			},
			target: atMost(views.UnitSeconds),
			link: func(w *query) string {
				return w.link("/merge-requests", "cycle_min", strconv.FormatInt(int64(a.CycleTime/time.Second)+1, 10), "sort", "slowest")
			}},
	}
	return specs
}

// agreementColumns are the agreements' headings, with their targets as configured.
func (d *dashboard) agreementColumns(keys []string) []views.AgreementColumn {
	a := d.cfg.Agreements
	allowed := "none"
	if a.AllowedBreaks != nil && *a.AllowedBreaks > 0 {
		allowed = "≤ " + views.Format(views.UnitRatio, *a.AllowedBreaks)
	}
	var out []views.AgreementColumn
	for _, k := range keys {
		col := views.AgreementColumn{Key: k}
		switch k {
		case metrics.AgreementApprovals:
			col.Label, col.Target = "Approvals", "≥ "+views.Plural(a.Approvals, "approval", "approvals")+" before merge, "+allowed+" of MRs may miss it"
			col.Help = "The share of MRs merged with fewer approvals (by people other than the author) than agreed; it holds at or under the share of breaks allowed."
		case metrics.AgreementDeployWindow:
			col.Label, col.Target = "Deploy window", "inside the window"
			if w := d.cfg.DeployWindow; w != nil {
				col.Target = windowDescription(w)
			}
			col.Target += ", " + allowed + " may miss it"
			col.Help = "The share of production deployments that finished outside the deploy window; it holds at or under the share of breaks allowed."
		case metrics.AgreementCoverage:
			col.Label, col.Target = "Coverage", "≥ "+views.Percent(d.cfg.Coverage.Target)
			col.Help = "Default-branch coverage: the mean of the projects' latest values at the end of the week; it holds at or above the target."
		case metrics.AgreementTechDebt:
			col.Label = "Tech-debt share"
			col.Target = views.Format(views.UnitRatio, a.TechDebtShare) + " ± " + strings.TrimSuffix(views.Format(views.UnitRatio, a.TechDebtTolerance), "%") + " pts of MRs"
			col.Help = "The share of delivered MRs in the tech-debt category; it holds near the target."
		case metrics.AgreementCycleTime:
			col.Label, col.Target = "Cycle time", "median ≤ "+views.Duration(int64(a.CycleTime/time.Second))
			col.Help = "The median cycle time of the MRs delivered in the week; it holds at or under the target."
		default:
			col.Label = k
		}
		out = append(out, col)
	}
	return out
}

// weekQuery is q narrowed to the ISO week starting at start (not clamped to q's range: the
// trend reaches before it), for one service ("all": q's services) and team.
func weekQuery(q *query, start time.Time, service, team string) *query {
	c := *q
	c.Period, c.From, c.To, c.By, c.Team = customPeriod, start, start.AddDate(0, 0, 6), metrics.Week, team
	if service != metrics.AllServices {
		c.Services = []string{service}
	}
	return &c
}

// namedRow is an agreements row with the name it is shown under and the team it reads.
type namedRow struct {
	name, team string
	row        metrics.AgreementRow
}

func (d *dashboard) agreements(c *echo.Context) error {
	q, err := parseQuery(c.Request().URL.Query(), engineOf(c).Now())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := engineOf(c).Validate(ctx, q.Filter()); err != nil {
		return err
	}
	rows, err := engineOf(c).Agreements(ctx, q.Filter(), agreementWeeks)
	if err != nil {
		return err
	}
	var services []namedRow
	for _, r := range rows {
		name := r.Service
		if name == metrics.AllServices {
			name = "All services"
			if q.Team != "" {
				name = "Team " + q.Team
			} else if len(q.Services) > 1 {
				name = "These services"
			}
		}
		services = append(services, namedRow{name: name, team: q.Team, row: r})
	}
	// Team by team, each team's "all" row; a view of one team has its row first already.
	var teams []namedRow
	if q.Team == "" {
		for _, t := range visibleTeams(c) {
			rs, err := engineOf(c).Agreements(ctx, metrics.Filter{To: q.To, Services: q.Services, Team: t}, agreementWeeks)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Service == metrics.AllServices {
					teams = append(teams, namedRow{name: t, team: t, row: r})
				}
			}
		}
	}

	p := views.AgreementsPage{CSV: q.link("/export/metrics.csv"), MRCSV: q.link("/export/merge-requests.csv")}
	if len(rows) == 0 {
		p.Range = "The " + strconv.Itoa(agreementWeeks) + " weeks up to " + q.To.Format("2 Jan 2006")
		p.Empty = &views.Empty{Title: "Nothing to check in these weeks",
			Body: "No MR was delivered and no deployment finished in the " + strconv.Itoa(agreementWeeks) + " whole weeks up to the end of the range. Move the end of the range (to) or pick another service."}
		m := d.r.meta(c, q, "Agreements", views.NavAgreements)
		return d.r.page(c, http.StatusOK, m, views.AgreementsView(p), q.link("/agreements"))
	}
	cur := rows[0].Current
	p.Range = "Week of " + cur.Start.Format("2 Jan 2006") + " (" + cur.Period + "), the last whole week up to " + q.To.Format("2 Jan")
	if len(rows[0].Trend) > 0 {
		p.Range += "; trend from " + rows[0].Trend[0].Start.Format("2 Jan")
	}
	p.Lead = "Each cell is the agreement's value in that week, its n and its target; the line is the last " + strconv.Itoa(agreementWeeks) +
		" weeks, a dot per week, green where it held and red where it broke. Every value and dot opens the items that break it."

	present := map[string]bool{}
	for _, group := range [][]namedRow{services, teams} {
		for _, r := range group {
			for _, ch := range r.row.Current.Checks {
				present[ch.Agreement] = true
			}
			for _, w := range r.row.Trend {
				for _, ch := range w.Checks {
					present[ch.Agreement] = true
				}
			}
		}
	}
	var keys []string
	for _, k := range agreementOrder {
		if present[k] {
			keys = append(keys, k)
		}
	}
	for k := range present { // a check this page does not know yet still shows
		if !containsString(agreementOrder, k) {
			keys = append(keys, k)
		}
	}
	p.Columns = d.agreementColumns(keys)
	specs := d.agreementSpecs(engineOf(c).Categories())
	p.Groups = append(p.Groups, views.AgreementGroup{Title: "Services", Rows: d.agreementRows(q, services, keys, specs)})
	p.Compare = append(p.Compare, views.Link{Label: "Compare services", Href: compareLink(q, "")})
	if len(teams) > 0 {
		p.Groups = append(p.Groups, views.AgreementGroup{Title: "Teams", Rows: d.agreementRows(q, teams, keys, specs)})
		p.Compare = append(p.Compare, views.Link{Label: "Compare teams", Href: compareTeamsLink(q, "")})
	}
	if !present[metrics.AgreementDeployWindow] && d.cfg.DeployWindow == nil {
		p.Notes = append(p.Notes, "Deployments inside the deploy window are not checked: no [deploy_window] is configured.")
	}
	if !present[metrics.AgreementCycleTime] && d.cfg.Agreements.CycleTime == 0 {
		p.Notes = append(p.Notes, "The median cycle time is not checked: set cycle_time_p50 under [agreements] (such as \"48h\") to agree on one.")
	}
	m := d.r.meta(c, q, "Agreements", views.NavAgreements)
	return d.r.page(c, http.StatusOK, m, views.AgreementsView(p), q.link("/agreements"))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// agreementRows formats rows: for each agreement, the current week's check and the trend.
func (d *dashboard) agreementRows(q *query, rows []namedRow, keys []string, specs map[string]agreementSpec) []views.AgreementRowView {
	var out []views.AgreementRowView
	for _, nr := range rows {
		r := nr.row
		rv := views.AgreementRowView{Name: nr.name}
		home := *q
		home.Team = nr.team
		if r.Service != metrics.AllServices {
			rv.Href = home.withService(r.Service).link("/")
		} else {
			rv.Href = home.link("/")
		}
		held, known := 0, 0
		for _, k := range keys {
			spec, ok := specs[k]
			if !ok {
				spec = agreementSpec{label: k, unit: views.UnitRatio, nOne: "item", nMany: "items",
					broken: func(n int) string { return views.Plural(n, "item", "items") + " break it" },
					target: func(ch metrics.AgreementCheck) string { return views.Format(views.UnitRatio, ch.Target) },
					link:   func(*query) string { return "" }}
			}
			ch, found := checkOf(r.Current, k)
			cell := views.AgreementCell{Present: found}
			if !found {
				rv.Cells = append(rv.Cells, cell)
				continue
			}
			week := weekQuery(q, r.Current.Start, r.Service, nr.team)
			cell.Known = ch.Known
			cell.Status = status(ch)
			cell.Value = views.Format(spec.unit, ch.Value)
			cell.N = "n = " + views.Plural(ch.N, spec.nOne, spec.nMany)
			cell.Target = spec.target(ch)
			cell.Href = spec.link(week)
			if ch.Broken > 0 {
				cell.Broken = spec.broken(ch.Broken)
			}
			if ch.Known {
				known++
				if ch.Holds {
					held++
				}
			}
			cell.Trend = trendOf(q, r, nr.team, k, spec, ch)
			rv.Cells = append(rv.Cells, cell)
		}
		if known > 0 {
			rv.Held = fmt.Sprintf("%d of %d hold", held, known)
		}
		out = append(out, rv)
	}
	return out
}

func checkOf(w metrics.AgreementWeek, key string) (metrics.AgreementCheck, bool) {
	for _, ch := range w.Checks {
		if ch.Agreement == key {
			return ch, true
		}
	}
	return metrics.AgreementCheck{}, false
}

func status(ch metrics.AgreementCheck) string {
	switch {
	case !ch.Known:
		return "unknown"
	case ch.Holds:
		return "holds"
	}
	return "broken"
}

// trendOf is one agreement of a row over its weeks.
func trendOf(q *query, r metrics.AgreementRow, team, key string, spec agreementSpec, cur metrics.AgreementCheck) views.Trend {
	t := views.Trend{Target: cur.Target}
	if key == metrics.AgreementTechDebt {
		t.Band = cur.Tolerance
	}
	held, broken, unknown := 0, 0, 0
	for _, w := range r.Trend {
		ch, ok := checkOf(w, key)
		tw := views.TrendWeek{Known: ok && ch.Known, Status: "unknown", Value: ch.Value}
		label := w.Period + " (" + w.Start.Format("2 Jan") + ")"
		if tw.Known {
			tw.Status = status(ch)
			verdict := "holds"
			if !ch.Holds {
				verdict = "broken"
				if ch.Broken > 0 {
					verdict += ": " + spec.broken(ch.Broken)
				}
			}
			tw.Title = label + ": " + views.Format(spec.unit, ch.Value) + " (n=" + views.Plural(ch.N, spec.nOne, spec.nMany) + "), " + verdict
		} else {
			tw.Title = label + ": no " + spec.nMany
		}
		switch tw.Status {
		case "holds":
			held++
		case "broken":
			broken++
		default:
			unknown++
		}
		tw.Href = spec.link(weekQuery(q, w.Start, r.Service, team))
		t.Weeks = append(t.Weeks, tw)
	}
	t.Label = fmt.Sprintf("%s, last %d weeks: %d held, %d broken", spec.label, len(r.Trend), held, broken)
	if unknown > 0 {
		t.Label += fmt.Sprintf(", %d without data", unknown)
	}
	return t
}
