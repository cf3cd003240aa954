package metrics

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Datasets are the names WriteCSV accepts, in the order of SPEC section 4.
var Datasets = []string{"merge-requests", "deployments", "coverage", "metrics"}

// Columns are each dataset's header, exactly as SPEC section 4 lists them.
var Columns = map[string][]string{
	"merge-requests": {"service", "project", "iid", "title", "author", "labels", "source_branch", "created_at",
		"first_commit_at", "first_review_at", "first_approval_at", "merged_at", "deployed_at", "coding_seconds",
		"pickup_seconds", "review_seconds", "deploy_seconds", "cycle_seconds", "rework", "url", "category"},
	"deployments": {"service", "project", "environment", "deployment_id", "sha", "finished_at", "merge_requests",
		"rework", "rollback", "change_failure", "recovery_seconds", "url"},
	"coverage": {"service", "project", "date", "pipeline_id", "sha", "coverage_percent"},
	"metrics":  {"period", "service", "metric", "value", "n"},
}

// WriteCSV writes dataset (merge-requests, deployments, coverage or metrics) for f to w as
// RFC 4180 CSV: UTF-8, LF line ends, a header row, times in RFC 3339 UTC, an empty cell for
// unknown, text cells made inert for spreadsheets. Rows stream in batches; memory does not grow
// with their number. An unknown dataset or a bad filter is a *FilterError.
func WriteCSV(ctx context.Context, w io.Writer, e *Engine, dataset string, f Filter) error {
	cols, ok := Columns[dataset]
	if !ok {
		return &FilterError{Field: "dataset", NotFound: true,
			Message: fmt.Sprintf("unknown dataset %q (use %s)", dataset, strings.Join(Datasets, ", "))}
	}
	// Check the filter before the header goes out, so a caller can still answer with an error.
	if err := e.Validate(ctx, f); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	rows := 0
	write := func(rec []string) error {
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("metrics: write csv: %w", err)
		}
		rows++
		if rows%batchSize == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return fmt.Errorf("metrics: write csv: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(cols); err != nil {
		return err
	}
	rec := make([]string, len(cols))
	var err error
	switch dataset {
	case "merge-requests":
		err = e.MergeRequests(ctx, f, func(m *MergeRequest) error {
			rec = append(rec[:0], inert(m.Service), inert(m.Project), strconv.FormatInt(m.IID, 10), inert(m.Title),
				inert(m.Author), inert(strings.Join(m.Labels, ";")), inert(m.SourceBranch), csvTime(m.CreatedAt),
				csvTime(m.FirstCommitAt), csvTimePtr(m.FirstReviewAt), csvTimePtr(m.FirstApproval), csvTime(m.MergedAt),
				csvTimePtr(m.DeployedAt), csvInt(m.CodingSeconds), csvInt(m.PickupSeconds), csvInt(m.ReviewSeconds),
				csvIntPtr(m.DeploySeconds), csvInt(m.CycleSeconds), strconv.FormatBool(m.Rework), inert(m.URL), inert(m.Category))
			return write(rec)
		})
	case "deployments":
		err = e.Deployments(ctx, f, func(d *Deployment) error {
			rec = append(rec[:0], inert(d.Service), inert(d.Project), inert(d.Environment), strconv.FormatInt(d.ID, 10),
				inert(d.SHA), csvTime(d.FinishedAt), strconv.Itoa(len(d.MergeRequests)), strconv.FormatBool(d.Rework),
				strconv.FormatBool(d.Rollback), strconv.FormatBool(d.ChangeFailure), csvIntPtr(d.RecoverySeconds), inert(d.URL))
			return write(rec)
		})
	case "coverage":
		err = e.Coverage(ctx, f, func(c *CoverageRow) error {
			rec = append(rec[:0], inert(c.Service), inert(c.Project), c.Date.UTC().Format(time.DateOnly),
				strconv.FormatInt(c.PipelineID, 10), inert(c.SHA), strconv.FormatFloat(c.Percent, 'f', 2, 64))
			return write(rec)
		})
	case "metrics":
		var figs []Figure
		figs, err = e.Figures(ctx, f)
		for _, fig := range figs {
			if err != nil {
				break
			}
			rec = append(rec[:0], fig.Period, inert(fig.Service), fig.Metric, FormatValue(fig.Metric, fig.Value), strconv.Itoa(fig.N))
			err = write(rec)
		}
	}
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("metrics: write csv: %w", err)
	}
	return nil
}

// FormatValue formats a metric's value as the CSV does: rates with 6 decimals, coverage and
// deploys per day with 2, counts and durations as whole numbers.
func FormatValue(metric string, v float64) string {
	switch metric {
	case ReworkRate, ChangeFailureRate, MRReworkRate, UnapprovedRate, OutOfWindowRate, TechDebtShare, TechDebtEffort:
		return strconv.FormatFloat(v, 'f', 6, 64)
	case CoveragePercent, DeploysPerDay:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatInt(int64(v), 10)
	}
}

// inert keeps a spreadsheet from running a cell as a formula: text starting with = + - @, a
// tab or a carriage return gets a leading apostrophe, the rest of it unchanged.
func inert(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func csvTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func csvTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return csvTime(*t)
}

func csvInt(v int64) string { return strconv.FormatInt(v, 10) }

func csvIntPtr(v *int64) string {
	if v == nil {
		return ""
	}
	return csvInt(*v)
}
