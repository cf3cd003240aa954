// Package metrics turns the collected GitLab history into the facts and figures of SPEC
// section 3: per-MR stages and cycle time, per-deployment rework, rollbacks and change
// failures, and the figures per period and service. It reads the store and the configuration
// and writes nothing but its own derived-fact tables.
package metrics

import "time"

// Period is how figures are bucketed.
type Period string

const (
	Week Period = "week" // ISO week, Monday 00:00 UTC through Sunday 23:59:59
	Day  Period = "day"  // UTC day
	// Month and Quarter are calendar months and quarters in UTC.
	Month   Period = "month"
	Quarter Period = "quarter"
	// Range is the whole filtered range as one period (Filter.From must be set): one figure
	// per metric and service over the range, as the compare view puts them side by side. Its
	// key is the range, 2026-03-02/2026-03-15.
	Range Period = "range"
)

// Filter selects items and figures. From and To are UTC dates, both inclusive (To is the last
// day). Services empty means every service; Team, when set, narrows to the team's services or
// authors.
type Filter struct {
	From, To time.Time
	Services []string
	Team     string
	By       Period
	// After, when set, starts a dataset's rows (Rows, and the item lists MergeRequests,
	// Deployments and Coverage) just after this position: a page that resumes there reads as
	// little as the first one. Figures ignore it.
	After *Position
}

// MergeRequest is one merged, in-scope, human-authored MR with its derived facts
// (the merge-requests CSV row). Optional instants are nil when unknown.
type MergeRequest struct {
	Service       string
	Project       string // full path
	ProjectID     int64
	IID           int64
	Title         string
	Author        string // username
	Labels        []string
	SourceBranch  string
	CreatedAt     time.Time
	FirstCommitAt time.Time
	FirstReviewAt *time.Time
	FirstApproval *time.Time
	MergedAt      time.Time
	DeployedAt    *time.Time
	DeliveredAt   time.Time

	CodingSeconds int64
	PickupSeconds int64
	ReviewSeconds int64
	DeploySeconds *int64 // nil when not deployed
	CycleSeconds  int64

	Rework     bool
	Unapproved bool
	URL        string

	// Category is the MR's investment category (SPEC section 3).
	Category string
	// BeforeMerge is set when the deployment that delivered it finished before the merge
	// (a deploy before merge): review ends at that deployment and the deploy stage is 0.
	BeforeMerge bool
	// Approvals counts the distinct humans other than the author whose approval notes came at
	// or before the merge (withdrawn ones included, as for first_approval_at).
	Approvals int
}

// Deployment is one successful production deployment with its derived facts
// (the deployments CSV row).
type Deployment struct {
	Service         string
	Project         string
	ProjectID       int64
	Environment     string
	ID              int64 // GitLab deployment id
	SHA             string
	FinishedAt      time.Time
	MergeRequests   []MRRef // counted links only
	Rework          bool
	Rollback        bool
	ChangeFailure   bool
	RecoverySeconds *int64 // set on change failures
	URL             string

	Ref string // the branch or tag deployed
	// BlamedBy is the id of the first rework deployment that blames this change failure (0:
	// not a change failure). Blames is the id of the deployment this rework deployment blames
	// (0: none, also when it is not a rework deployment or is the environment's first).
	BlamedBy, Blames int64
	// BlamesAt is when the deployment it blames finished (nil when Blames is 0).
	BlamesAt *time.Time
	// OutOfWindow is set when a deploy window is configured and it finished outside it.
	OutOfWindow bool
}

// MRRef names a merge request shipped by a deployment.
type MRRef struct {
	ProjectID int64
	IID       int64
	Title     string
	URL       string
	Rework    bool
	// BeforeMerge: this deployment shipped the MR before it was merged (a deploy before merge).
	BeforeMerge bool
	// Reverts lists the MRs (same project) this MR reverts (SPEC section 3).
	Reverts []int64
}

// CoverageRow is one project and day with a successful default-branch pipeline with coverage
// (the last to finish that day).
type CoverageRow struct {
	Service    string
	Project    string
	Date       time.Time // UTC midnight
	PipelineID int64
	SHA        string
	Percent    float64
	URL        string
}

// Figure is one row of `export metrics`: a metric's value for a period and service, with n.
type Figure struct {
	Period  string // 2026-W09 or 2026-03-02
	Start   time.Time
	Service string // a service name, or "all"
	Metric  string
	Value   float64
	N       int
}

// Metric names, as in SPEC section 3.
const (
	MergedMRs         = "merged_mrs"
	CycleTimeP50      = "cycle_time_p50_seconds"
	CycleTimeP75      = "cycle_time_p75_seconds"
	CycleTimeP90      = "cycle_time_p90_seconds"
	CodingTimeP50     = "coding_time_p50_seconds"
	PickupTimeP50     = "pickup_time_p50_seconds"
	ReviewTimeP50     = "review_time_p50_seconds"
	DeployTimeP50     = "deploy_time_p50_seconds"
	Deployments       = "deployments"
	DeploysPerDay     = "deploys_per_day"
	ReworkRate        = "rework_rate"
	ChangeFailureRate = "change_failure_rate"
	RecoveryTimeP50   = "recovery_time_p50_seconds"
	MRReworkRate      = "mr_rework_rate"
	UnapprovedRate    = "unapproved_rate"
	CoveragePercent   = "coverage_percent"
	OutOfWindowRate   = "out_of_window_rate"
	TechDebtShare     = "tech_debt_share"
	TechDebtEffort    = "tech_debt_effort_share"
	AllServices       = "all"
)
