package metrics

import (
	"context"
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
	Metric    string // the figure it reads (unapproved_rate, out_of_window_rate, ...)
	// Value is the figure (a rate in [0, 1], a coverage percent, or seconds for the cycle time);
	// Known is false when the week has no item to compute it from (N = 0).
	Value float64
	N     int
	Known bool
	// Target is in the figure's unit; Tolerance is how far from it still holds (tech debt only).
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
	return nil, nil
}
