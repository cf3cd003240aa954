package metrics

import (
	"context"
	"math"
	"sort"
	"strconv"
	"time"
)

// Agreement names, in the order the agreements page and the digest show them.
const (
	AgreementApprovals    = "approvals"       // at least N approvals before merge
	AgreementDeployWindow = "deploy_window"   // deployments inside the deploy window
	AgreementCoverage     = "coverage"        // coverage at or above its target
	AgreementTechDebt     = "tech_debt_share" // tech-debt share near its target
	AgreementCycleTime    = "cycle_time_p50"  // optional: cycle-time p50 at or below a target
)

// AgreementCheck is one working agreement of one service (or "all") in one ISO week: the
// figure it reads, its target and whether it holds.
type AgreementCheck struct {
	Agreement string // one of the Agreement* names
	// Metric is the figure it reads (unapproved_rate, out_of_window_rate, coverage_percent,
	// tech_debt_share, cycle_time_p50_seconds). For approvals the value is the share of merged
	// MRs with fewer approvals than agreed: unapproved_rate when one approval is agreed.
	Metric string
	// Value is the figure (a rate in [0, 1], a coverage percent, or seconds for the cycle time);
	// Known is false when the week has no item to compute it from (N = 0).
	Value float64
	N     int
	Known bool
	// Target is in the figure's unit; Tolerance is how far from it still holds: the allowed
	// share of breaks for approvals and the deploy window, the distance for the tech-debt share.
	Target, Tolerance float64
	Holds             bool
	// Broken is how many items break it: MRs merged with fewer approvals than agreed, deployments
	// outside the window, projects under the coverage target, MRs slower than the cycle-time
	// target. For the tech-debt share it is 0.
	Broken int
}

// AgreementWeek is the checks of one ISO week.
type AgreementWeek struct {
	Period string    // 2026-W09
	Start  time.Time // Monday 00:00 UTC
	Checks []AgreementCheck
}

// AgreementRow is one service (or "all") of the agreements table: the current week and the
// weeks before it (oldest first, the current one last).
type AgreementRow struct {
	Service string
	Current AgreementWeek
	Trend   []AgreementWeek
}

// Agreements checks the working agreements (SPEC section 3) for the filter's services and team:
// the "all" row first, then each service with items, in name order. The current week is the
// last whole ISO week that ended on or before f.To (f.To's own week when f.To is a Sunday);
// Trend holds it and the weeks before it, weeks in all (8 when weeks ≤ 0). f.From and f.By are
// ignored.
func (e *Engine) Agreements(ctx context.Context, f Filter, weeks int) ([]AgreementRow, error) {
	if weeks <= 0 {
		weeks = 8
	}
	to := f.To
	if to.IsZero() {
		to = e.Now()
	}
	last := dayOf(to)
	// The current week ends on the last Sunday on or before To.
	end := last - ((last+3)%7+7)%7 + 6 // the Sunday of To's week
	if end > last {
		end -= 7
	}
	first := end - 6 - 7*int64(weeks-1)
	g := Filter{From: unix(first * 86400), To: unix(end * 86400), Services: f.Services, Team: f.Team, By: Week}
	// The checks are a function of the computation: made once per computation and shared (the
	// rows are read-only).
	v, err := e.memoCalc(ctx, g, "agreements|"+strconv.Itoa(weeks), func(c *figureCalc, figs []Figure) any {
		return e.agreementRows(c, figs, first, weeks)
	})
	if err != nil {
		return nil, err
	}
	return v.([]AgreementRow), nil
}

// agreementRows checks the agreements over a computation's figures, for weeks weeks from the
// Monday first (a Unix day).
func (e *Engine) agreementRows(c *figureCalc, figs []Figure, first int64, weeks int) []AgreementRow {
	type key struct {
		ps              int64
		service, metric string
	}
	index := make(map[key]Figure, len(figs))
	services := map[string]bool{}
	for _, fg := range figs {
		index[key{dayOf(fg.Start), fg.Service, fg.Metric}] = fg
		services[fg.Service] = true
	}
	ag := e.cfg.Agreements
	check := func(ps int64, service string) []AgreementCheck {
		get := func(metric string) (Figure, bool) {
			fg, ok := index[key{ps, service, metric}]
			return fg, ok
		}
		var out []AgreementCheck
		// At least N approvals: the share of merged MRs with fewer.
		ch := AgreementCheck{Agreement: AgreementApprovals, Metric: UnapprovedRate, Tolerance: *ag.AllowedBreaks}
		if fg, ok := get(MergedMRs); ok {
			ch.N, ch.Known = fg.N, true
			ch.Broken = c.fewApprovals[ps][service]
			ch.Value = float64(ch.Broken) / float64(fg.N)
		}
		ch.Holds = ch.Known && ch.Value <= ch.Target+ch.Tolerance+1e-9
		out = append(out, ch)
		if e.cfg.DeployWindow != nil {
			ch := AgreementCheck{Agreement: AgreementDeployWindow, Metric: OutOfWindowRate, Tolerance: *ag.AllowedBreaks}
			if fg, ok := get(OutOfWindowRate); ok {
				ch.Value, ch.N, ch.Known = fg.Value, fg.N, true
				ch.Broken = int(math.Round(fg.Value * float64(fg.N)))
			}
			ch.Holds = ch.Known && ch.Value <= ch.Target+ch.Tolerance+1e-9
			out = append(out, ch)
		}
		ch = AgreementCheck{Agreement: AgreementCoverage, Metric: CoveragePercent, Target: e.cfg.Coverage.Target}
		if fg, ok := get(CoveragePercent); ok {
			ch.Value, ch.N, ch.Known = fg.Value, fg.N, true
			ch.Broken = c.coverageUnder[ps][service]
		}
		ch.Holds = ch.Known && ch.Value >= ch.Target-1e-9
		out = append(out, ch)
		ch = AgreementCheck{Agreement: AgreementTechDebt, Metric: TechDebtShare, Target: ag.TechDebtShare, Tolerance: ag.TechDebtTolerance}
		if fg, ok := get(TechDebtShare); ok {
			ch.Value, ch.N, ch.Known = fg.Value, fg.N, true
		}
		ch.Holds = ch.Known && math.Abs(ch.Value-ch.Target) <= ch.Tolerance+1e-9
		out = append(out, ch)
		if ag.CycleTime > 0 {
			ch := AgreementCheck{Agreement: AgreementCycleTime, Metric: CycleTimeP50, Target: ag.CycleTime.Seconds()}
			if fg, ok := get(CycleTimeP50); ok {
				ch.Value, ch.N, ch.Known = fg.Value, fg.N, true
				ch.Broken = c.overCycle[ps][service]
			}
			ch.Holds = ch.Known && ch.Value <= ch.Target
			out = append(out, ch)
		}
		return out
	}
	names := make([]string, 0, len(services))
	for s := range services {
		if s != AllServices {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	names = append([]string{AllServices}, names...)
	var rows []AgreementRow
	for _, s := range names {
		row := AgreementRow{Service: s}
		for w := 0; w < weeks; w++ {
			ps := first + 7*int64(w)
			t := unix(ps * 86400)
			key, _ := PeriodKey(t, Week)
			row.Trend = append(row.Trend, AgreementWeek{Period: key, Start: t, Checks: check(ps, s)})
		}
		row.Current = row.Trend[len(row.Trend)-1]
		rows = append(rows, row)
	}
	return rows
}
