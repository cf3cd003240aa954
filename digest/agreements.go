package digest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// The agreements section reads the engine's checks of the digest's week and the week before
// (metrics.Agreements) and sorts them into what slipped (held last week, broken this week),
// what recovered, and what is still broken. It judges nothing itself: Holds, Value, Target and
// Broken are the engine's.

// agreementWeeks is how many weeks the section asks the engine for: this one and the one before.
const agreementWeeks = 2

// Limits of the section, so a large organisation's digest stays a summary.
const (
	agreementChangesMax = 8 // slipped, broken and recovered rows
	agreementBrokenMax  = 3 // services named on a still-broken line
)

// agreementSpec says how one agreement reads in the digest.
type agreementSpec struct {
	// name of the value, so that "25%" beside it reads right: "Merged without approval".
	name func(cfg *config.Config) string
	// detail describes this week's value from its items: "1 of 4 MRs".
	detail func(c metrics.AgreementCheck, cfg *config.Config) string
	// items is the dashboard list of the items that break it, for a service ("" for the scope).
	items func(ln links, service string, c metrics.AgreementCheck, cfg *config.Config) string
}

var agreementSpecs = map[string]agreementSpec{
	metrics.AgreementApprovals: {
		name: func(cfg *config.Config) string {
			if n := cfg.Agreements.Approvals; n > 1 {
				return fmt.Sprintf("Merged with fewer than %d approvals", n)
			}
			return "Merged without approval"
		},
		detail: func(c metrics.AgreementCheck, _ *config.Config) string {
			return fmt.Sprintf("%d of %s", c.Broken, plural(c.N, "MR", "MRs"))
		},
		items: func(ln links, service string, _ metrics.AgreementCheck, cfg *config.Config) string {
			// approvals_below, as the agreements page links it: the MRs the check counts
			// (approval notes), where unapproved=true would also read GitLab's approvals list.
			return ln.with("/merge-requests", service, url.Values{"approvals_below": {strconv.Itoa(cfg.Agreements.Approvals)}})
		},
	},
	metrics.AgreementDeployWindow: {
		name: func(*config.Config) string { return "Deployments outside the window" },
		detail: func(c metrics.AgreementCheck, _ *config.Config) string {
			return fmt.Sprintf("%d of %s", c.Broken, plural(c.N, "deployment", "deployments"))
		},
		items: func(ln links, service string, _ metrics.AgreementCheck, _ *config.Config) string {
			return ln.with("/deployments", service, url.Values{"outside_window": {"true"}})
		},
	},
	metrics.AgreementCoverage: {
		name: func(*config.Config) string { return "Coverage" },
		detail: func(c metrics.AgreementCheck, _ *config.Config) string {
			return fmt.Sprintf("%d of %s under the target", c.Broken, plural(c.N, "project", "projects"))
		},
		items: func(ln links, service string, _ metrics.AgreementCheck, _ *config.Config) string {
			return ln.with("/coverage", service, url.Values{"below_target": {"true"}})
		},
	},
	metrics.AgreementTechDebt: {
		name: func(*config.Config) string { return "Tech-debt share" },
		detail: func(c metrics.AgreementCheck, _ *config.Config) string {
			return fmt.Sprintf("%d of %s in tech debt", int(c.Value*float64(c.N)+0.5), plural(c.N, "MR", "MRs"))
		},
		items: func(ln links, service string, _ metrics.AgreementCheck, cfg *config.Config) string {
			// The tech-debt MRs of the week; the investment page when no category is tech debt.
			for _, c := range cfg.Investment.Categories {
				if config.IsTechDebt(c.Name) {
					return ln.with("/merge-requests", service, url.Values{"category": {c.Name}})
				}
			}
			return ln.to("/investment", service)
		},
	},
	metrics.AgreementCycleTime: {
		name: func(*config.Config) string { return "Cycle time p50" },
		detail: func(c metrics.AgreementCheck, _ *config.Config) string {
			return fmt.Sprintf("%d of %s slower than %s", c.Broken, plural(c.N, "MR", "MRs"), views.Duration(int64(c.Target)))
		},
		items: func(ln links, service string, c metrics.AgreementCheck, _ *config.Config) string {
			// The MRs slower than the target, slowest first: cycle_min is inclusive.
			return ln.with("/merge-requests", service, url.Values{
				"cycle_min": {strconv.FormatInt(int64(c.Target)+1, 10)}, "sort": {"slowest"}})
		},
	},
}

// agreementOrder is the order of the agreements page.
var agreementOrder = []string{metrics.AgreementApprovals, metrics.AgreementDeployWindow, metrics.AgreementCoverage,
	metrics.AgreementTechDebt, metrics.AgreementCycleTime}

// agreementUnit is how a check's value is written, from the figure it reads.
func agreementUnit(c metrics.AgreementCheck) views.Unit {
	switch c.Metric {
	case metrics.CoveragePercent:
		return views.UnitPercent
	case metrics.CycleTimeP50:
		return views.UnitSeconds
	}
	return views.UnitRatio
}

// agreementTarget writes a check's target as it holds: "≥ 90%", "20% ± 5 pts", "≤ 2d", and for
// the shares of items that break an agreement the share allowed ("≤ 5%", or "0%" for none).
func agreementTarget(c metrics.AgreementCheck) string {
	u := agreementUnit(c)
	switch c.Agreement {
	case metrics.AgreementTechDebt:
		return views.Format(u, c.Target) + " ± " + strings.TrimSuffix(views.Percent(c.Tolerance*100), "%") + " pts"
	case metrics.AgreementCoverage:
		return "≥ " + views.Format(u, c.Target)
	case metrics.AgreementApprovals, metrics.AgreementDeployWindow:
		if c.Target+c.Tolerance == 0 {
			return views.Format(u, 0)
		}
		return "≤ " + views.Format(u, c.Target+c.Tolerance)
	}
	return "≤ " + views.Format(u, c.Target)
}

// agreementStatus is one check's move between last week and this week.
type agreementStatus int

const (
	agreementHeld      agreementStatus = iota // holds this week
	agreementRecovered                        // broken last week, holds this week
	agreementSlipped                          // held last week, broken this week
	agreementNewBroken                        // broken this week, no figure last week
	agreementStill                            // broken this week and last
	agreementUnknown                          // no figure this week
)

func statusOf(cur, prev metrics.AgreementCheck, hasPrev bool) agreementStatus {
	prevKnown := hasPrev && prev.Known
	switch {
	case !cur.Known:
		return agreementUnknown
	case cur.Holds && prevKnown && !prev.Holds:
		return agreementRecovered
	case cur.Holds:
		return agreementHeld
	case !prevKnown:
		return agreementNewBroken
	case prev.Holds:
		return agreementSlipped
	}
	return agreementStill
}

// checksOf indexes the checks of one week of a row by agreement; the week is looked up by its
// period key among the row's weeks.
func checksOf(row metrics.AgreementRow, period string) (map[string]metrics.AgreementCheck, bool) {
	weeks := append([]metrics.AgreementWeek{row.Current}, row.Trend...)
	for _, w := range weeks {
		if w.Period != period {
			continue
		}
		out := make(map[string]metrics.AgreementCheck, len(w.Checks))
		for _, c := range w.Checks {
			out[c.Agreement] = c
		}
		return out, true
	}
	return nil, false
}

// agreements builds the section from the engine's rows for week.
func agreements(rows []metrics.AgreementRow, week Week, cfg *config.Config, ln links) views.DigestAgreements {
	out := views.DigestAgreements{URL: ln.to("/agreements", "")}
	// With one service in scope its row and the "all" row are the same checks: keep the service.
	if len(rows) == 2 && rows[0].Service == metrics.AllServices {
		rows = rows[1:]
	}

	type entry struct {
		agreement, service string
		cur, prev          metrics.AgreementCheck
		status             agreementStatus
	}
	var entries []entry
	type weekPair struct {
		service   string
		cur, prev map[string]metrics.AgreementCheck
	}
	var pairs []weekPair
	for _, r := range rows {
		cur, ok := checksOf(r, week.String())
		if !ok {
			continue
		}
		prev, _ := checksOf(r, week.Prev().String())
		pairs = append(pairs, weekPair{r.Service, cur, prev})
	}
	// In the agreements' order; within one, the scope's row first, then the services in order.
	for _, a := range agreementOrder {
		for _, wp := range pairs {
			c, ok := wp.cur[a]
			if !ok {
				continue
			}
			p, ok := wp.prev[a]
			entries = append(entries, entry{a, wp.service, c, p, statusOf(c, p, ok)})
		}
	}

	count := map[agreementStatus]int{}
	known := 0
	for _, e := range entries {
		count[e.status]++
		if e.status != agreementUnknown {
			known++
		}
	}
	if known == 0 {
		out.Note = "No agreement could be checked this week: no merge request was delivered, nothing was deployed and no coverage was reported in this scope."
		return out
	}

	label := func(service string) string {
		if service == metrics.AllServices {
			return "All services"
		}
		return service
	}
	serviceURL := func(service string) string {
		if service == metrics.AllServices {
			return ln.to("/agreements", "")
		}
		return ln.to("/agreements", service)
	}
	itemsURL := func(e entry) string {
		s := e.service
		if s == metrics.AllServices {
			s = ""
		}
		return agreementSpecs[e.agreement].items(ln, s, e.cur, cfg)
	}

	// Slipped first, then broken after a week without a figure, then recovered; within each,
	// in the agreements' order, the scope's row before its services.
	var changes []views.DigestAgreementChange
	for _, st := range []agreementStatus{agreementSlipped, agreementNewBroken, agreementRecovered} {
		for _, e := range entries {
			if e.status != st {
				continue
			}
			spec := agreementSpecs[e.agreement]
			u := agreementUnit(e.cur)
			c := views.DigestAgreementChange{
				Agreement: spec.name(cfg), Service: label(e.service),
				Detail: spec.detail(e.cur, cfg), Target: agreementTarget(e.cur),
				ThisWeek: views.Format(u, e.cur.Value), LastWeek: "—", URL: itemsURL(e),
			}
			if e.prev.Known {
				c.LastWeek = views.Format(u, e.prev.Value)
			}
			switch st {
			case agreementSlipped:
				c.Status, c.Tone = "slipped", "bad"
			case agreementNewBroken:
				c.Status, c.Tone = "broken", "bad"
			case agreementRecovered:
				c.Status, c.Tone = "recovered", "good"
				// Nothing breaks it now: the link opens the agreements page, not an empty list.
				c.URL = serviceURL(e.service)
			}
			changes = append(changes, c)
		}
	}
	if len(changes) > agreementChangesMax {
		out.More = fmt.Sprintf("%d more are in the dashboard.", len(changes)-agreementChangesMax)
		changes = changes[:agreementChangesMax]
	}
	out.Changes = changes

	for _, a := range agreementOrder {
		var b views.DigestAgreementBroken
		n := 0
		for _, e := range entries {
			if e.agreement != a || e.status != agreementStill {
				continue
			}
			n++
			if n > agreementBrokenMax {
				continue
			}
			if b.Agreement == "" {
				b.Agreement, b.Target = agreementSpecs[a].name(cfg), agreementTarget(e.cur)
			}
			svc := label(e.service)
			if e.service == metrics.AllServices {
				svc = "all services"
			}
			b.Items = append(b.Items, views.DigestAgreementItem{Service: svc, Value: views.Format(agreementUnit(e.cur), e.cur.Value), URL: itemsURL(e)})
		}
		if n == 0 {
			continue
		}
		if n > agreementBrokenMax {
			b.More = fmt.Sprintf("and %s.", plural(n-agreementBrokenMax, "more service", "more services"))
		}
		out.Broken = append(out.Broken, b)
	}

	holds := count[agreementHeld] + count[agreementRecovered]
	var parts []string
	if n := count[agreementSlipped]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d slipped since last week", n))
	}
	if n := count[agreementNewBroken]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d broken with no figure last week", n))
	}
	if n := count[agreementRecovered]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d recovered", n))
	}
	if n := count[agreementStill]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d still broken", n))
	}
	hold := fmt.Sprintf("%d of %s hold", holds, plural(known, "check", "checks"))
	if known == 1 {
		hold = fmt.Sprintf("%d of 1 check holds", holds)
	}
	if holds == known {
		hold = fmt.Sprintf("all %s hold", plural(known, "check", "checks"))
		if known == 1 {
			hold = "the one check holds"
		}
	}
	news := count[agreementSlipped] + count[agreementNewBroken]
	switch {
	case news == 0 && len(parts) == 0:
		out.Note = "Nothing slipped this week: " + hold + "."
	case news == 0:
		out.Note = "Nothing slipped this week: " + strings.Join(parts, ", ") + "; " + hold + "."
	default:
		out.Note = upperFirst(strings.Join(parts, ", ")) + "; " + hold + "."
	}
	return out
}

// agreementHighlight is the sentence on what slipped, for the highlights: the agreements in
// order, each with where it slipped.
func agreementHighlight(a views.DigestAgreements) string {
	var order []string
	where := map[string][]string{}
	for _, c := range a.Changes {
		if c.Status != "slipped" {
			continue
		}
		if _, ok := where[c.Agreement]; !ok {
			order = append(order, c.Agreement)
		}
		s := c.Service
		if s == "All services" {
			s = "all services"
		}
		where[c.Agreement] = append(where[c.Agreement], s)
	}
	if len(order) == 0 {
		return ""
	}
	var parts []string
	for _, ag := range order {
		parts = append(parts, strings.ToLower(ag[:1])+ag[1:]+" ("+strings.Join(where[ag], ", ")+")")
	}
	return "Slipped this week: " + strings.Join(parts, "; ") + "."
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
