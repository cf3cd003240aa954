package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Kind is how a column's values are typed. The CSV writes each kind as SPEC section 4 says;
// the JSON API writes it as the JSON value of the same meaning.
type Kind int

const (
	KindText      Kind = iota // a string; the CSV makes it inert for spreadsheets
	KindInteger               // a whole number (counts, ids, durations in seconds)
	KindDecimal               // a number already rounded for output (rates, percentages)
	KindBoolean               // true or false
	KindTimestamp             // an instant, RFC 3339 in UTC
	KindDate                  // a UTC calendar date, YYYY-MM-DD
	KindLabels                // sorted strings; the CSV joins them with ';'
)

// Column is one field of a dataset: its CSV header and JSON API field name, its kind, whether
// it may be unknown (an empty CSV cell, a JSON null), and what it means.
type Column struct {
	Name        string
	Kind        Kind
	Nullable    bool
	Description string
}

// Dataset is one exported list: its name, what a row is, and its columns in order.
type Dataset struct {
	Name        string
	Description string
	Columns     []Column
}

// DatasetDefs are the datasets of SPEC section 4, in its order: the one definition the CSV
// header, the JSON API's fields and its OpenAPI document are made from.
var DatasetDefs = []Dataset{
	{Name: "merge-requests", Description: "The merge requests delivered in the range, ordered by delivery.", Columns: []Column{
		{"service", KindText, false, "The MR's service: a configured service name or the project's full path."},
		{"project", KindText, false, "The project's full path."},
		{"iid", KindInteger, false, "The MR's number within its project."},
		{"title", KindText, false, "The MR's title."},
		{"author", KindText, false, "The author's username."},
		{"labels", KindLabels, false, "The MR's labels, sorted."},
		{"source_branch", KindText, false, "The MR's source branch."},
		{"created_at", KindTimestamp, false, "When the MR was opened."},
		{"first_commit_at", KindTimestamp, false, "When its first commit was authored (coding starts)."},
		{"first_review_at", KindTimestamp, true, "When someone other than the author first reviewed it; null without review."},
		{"first_approval_at", KindTimestamp, true, "When someone other than the author first approved it; null without approval."},
		{"merged_at", KindTimestamp, false, "When it was merged."},
		{"deployed_at", KindTimestamp, true, "When the first production deployment shipping it finished; null when not deployed."},
		{"coding_seconds", KindInteger, false, "Coding stage: first commit to MR opened, in seconds."},
		{"pickup_seconds", KindInteger, false, "Pickup stage: opened to first review, in seconds."},
		{"review_seconds", KindInteger, false, "Review stage: first review to merge, in seconds."},
		{"deploy_seconds", KindInteger, true, "Deploy stage: merge to production, in seconds; null when not deployed."},
		{"cycle_seconds", KindInteger, false, "Cycle time: first commit to delivery, in seconds."},
		{"rework", KindBoolean, false, "Whether the MR is rework (a hotfix, a revert or a bug fix)."},
		{"url", KindText, false, "The MR's web URL."},
		{"category", KindText, false, "The MR's investment category."},
	}},
	{Name: "deployments", Description: "The successful production deployments finished in the range, ordered by finish time.", Columns: []Column{
		{"service", KindText, false, "The deployment's service."},
		{"project", KindText, false, "The project's full path."},
		{"environment", KindText, false, "The production environment's name."},
		{"deployment_id", KindInteger, false, "GitLab's deployment id (not its iid)."},
		{"sha", KindText, false, "The full SHA deployed."},
		{"finished_at", KindTimestamp, false, "When the deployment finished."},
		{"merge_requests", KindInteger, false, "How many counted MRs it shipped."},
		{"rework", KindBoolean, false, "Whether it shipped a rework MR."},
		{"rollback", KindBoolean, false, "Whether it redeployed an earlier SHA."},
		{"change_failure", KindBoolean, false, "Whether a later rework deployment or rollback blames it."},
		{"recovery_seconds", KindInteger, true, "For a change failure, the time to the deployment that fixed it, in seconds; null otherwise."},
		{"url", KindText, true, "The deployment job's web URL; null when GitLab gives none."},
	}},
	{Name: "coverage", Description: "One row per project and UTC day with a successful default-branch pipeline with coverage (the last to finish that day).", Columns: []Column{
		{"service", KindText, false, "The project's service."},
		{"project", KindText, false, "The project's full path."},
		{"date", KindDate, false, "The UTC day."},
		{"pipeline_id", KindInteger, false, "The pipeline's id."},
		{"sha", KindText, false, "The full SHA the pipeline ran on."},
		{"coverage_percent", KindDecimal, false, "The coverage GitLab reports, in percent, with 2 decimals."},
	}},
	{Name: "metrics", Description: "Every figure per period and service: all first, then each service, period by period.", Columns: []Column{
		{"period", KindText, false, "The period: 2026-W09 for a week, 2026-03-02 for a day."},
		{"service", KindText, false, "A service name, or all."},
		{"metric", KindText, false, "The metric's name (docs/metrics.md)."},
		{"value", KindDecimal, false, "The figure: rates in [0, 1] with 6 decimals, coverage_percent and deploys_per_day with 2, counts and seconds whole."},
		{"n", KindInteger, false, "How many items the figure is computed over."},
	}},
}

// Datasets are the names WriteCSV accepts, in the order of SPEC section 4.
var Datasets = func() []string {
	out := make([]string, len(DatasetDefs))
	for i, d := range DatasetDefs {
		out[i] = d.Name
	}
	return out
}()

// Columns are each dataset's header, exactly as SPEC section 4 lists them.
var Columns = func() map[string][]string {
	out := make(map[string][]string, len(DatasetDefs))
	for _, d := range DatasetDefs {
		for _, c := range d.Columns {
			out[d.Name] = append(out[d.Name], c.Name)
		}
	}
	return out
}()

// Value is one field of a row, typed by its column's Kind. Null marks an unknown value.
type Value struct {
	Null   bool
	Text   string    // KindText; KindDecimal: the rounded number as written
	Int    int64     // KindInteger
	Bool   bool      // KindBoolean
	Time   time.Time // KindTimestamp, KindDate
	Labels []string  // KindLabels
}

// Position is where a row stands in its dataset's order; Filter.After resumes a dataset just
// after it. Only the fields of the dataset's key are set.
type Position struct {
	At      int64  `json:"at,omitempty"`      // Unix seconds: delivered_at, finished_at, the coverage day, the period's start
	Project int64  `json:"project,omitempty"` // merge requests: the project id
	ID      int64  `json:"id,omitempty"`      // merge requests: the iid; deployments: the id; metrics: the metric's index
	Name    string `json:"name,omitempty"`    // coverage: the project path; metrics: the service
}

// Rows calls fn with each row of dataset for f, in the dataset's order, as values in the
// order of its columns (the slice is reused between calls), with the row's position. With
// f.After set, the rows start just after that position, at the cost of a first page. An
// unknown dataset or a bad filter is a *FilterError.
func (e *Engine) Rows(ctx context.Context, dataset string, f Filter, fn func(Position, []Value) error) error {
	if _, ok := Columns[dataset]; !ok {
		return &FilterError{Field: "dataset", NotFound: true,
			Message: fmt.Sprintf("unknown dataset %q (use %s)", dataset, strings.Join(Datasets, ", "))}
	}
	vals := make([]Value, 0, len(Columns[dataset]))
	switch dataset {
	case "merge-requests":
		return e.MergeRequests(ctx, f, func(m *MergeRequest) error {
			return fn(Position{At: m.DeliveredAt.Unix(), Project: m.ProjectID, ID: m.IID}, m.values(vals[:0]))
		})
	case "deployments":
		return e.Deployments(ctx, f, func(d *Deployment) error {
			return fn(Position{At: d.FinishedAt.Unix(), ID: d.ID}, d.values(vals[:0]))
		})
	case "coverage":
		return e.Coverage(ctx, f, func(c *CoverageRow) error {
			return fn(Position{At: c.Date.Unix(), Name: c.Project}, c.values(vals[:0]))
		})
	default: // metrics
		figs, err := e.Figures(ctx, f)
		if err != nil {
			return err
		}
		for i := range figs {
			p := figs[i].position()
			if f.After != nil && !f.After.figureBefore(p) {
				continue
			}
			if err := fn(p, figs[i].values(vals[:0])); err != nil {
				return err
			}
		}
		return nil
	}
}

func text(s string) Value { return Value{Text: s} }

func integer(v int64) Value { return Value{Int: v} }

func intPtr(v *int64) Value {
	if v == nil {
		return Value{Null: true}
	}
	return Value{Int: *v}
}

func boolean(v bool) Value { return Value{Bool: v} }

func instant(t time.Time) Value { return Value{Time: t.UTC()} }

func instantPtr(t *time.Time) Value {
	if t == nil {
		return Value{Null: true}
	}
	return instant(*t)
}

func (m *MergeRequest) values(dst []Value) []Value {
	return append(dst, text(m.Service), text(m.Project), integer(m.IID), text(m.Title), text(m.Author),
		Value{Labels: m.Labels}, text(m.SourceBranch), instant(m.CreatedAt), instant(m.FirstCommitAt),
		instantPtr(m.FirstReviewAt), instantPtr(m.FirstApproval), instant(m.MergedAt), instantPtr(m.DeployedAt),
		integer(m.CodingSeconds), integer(m.PickupSeconds), integer(m.ReviewSeconds), intPtr(m.DeploySeconds),
		integer(m.CycleSeconds), boolean(m.Rework), text(m.URL), text(m.Category))
}

func (d *Deployment) values(dst []Value) []Value {
	url := text(d.URL)
	url.Null = d.URL == ""
	return append(dst, text(d.Service), text(d.Project), text(d.Environment), integer(d.ID), text(d.SHA),
		instant(d.FinishedAt), integer(int64(len(d.MergeRequests))), boolean(d.Rework), boolean(d.Rollback),
		boolean(d.ChangeFailure), intPtr(d.RecoverySeconds), url)
}

func (c *CoverageRow) values(dst []Value) []Value {
	return append(dst, text(c.Service), text(c.Project), instant(c.Date), integer(c.PipelineID), text(c.SHA),
		text(FormatValue(CoveragePercent, c.Percent)))
}

func (f *Figure) values(dst []Value) []Value {
	return append(dst, text(f.Period), text(f.Service), text(f.Metric), text(FormatValue(f.Metric, f.Value)), integer(int64(f.N)))
}

// position is a figure's place in the documented order: period, then all before the
// services in name order, then the metric in the spec's order.
func (f *Figure) position() Position {
	return Position{At: f.Start.Unix(), Name: f.Service, ID: int64(metricOrder[f.Metric])}
}

// figureBefore says whether p comes before q in the figures' order.
func (p *Position) figureBefore(q Position) bool {
	if p.At != q.At {
		return p.At < q.At
	}
	if p.Name != q.Name {
		if p.Name == AllServices || q.Name == AllServices {
			return p.Name == AllServices
		}
		return p.Name < q.Name
	}
	return p.ID < q.ID
}
