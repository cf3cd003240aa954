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
	defs := columnsOf(dataset)
	rec := make([]string, len(cols))
	err := e.Rows(ctx, dataset, f, func(_ Position, vals []Value) error {
		for i, v := range vals {
			rec[i] = csvCell(defs[i].Kind, v)
		}
		return write(rec)
	})
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

// csvCell writes a value as SPEC section 4 says: times in RFC 3339 UTC, dates YYYY-MM-DD,
// labels joined with ';', text made inert, an empty cell for unknown.
func csvCell(k Kind, v Value) string {
	if v.Null {
		return ""
	}
	switch k {
	case KindInteger:
		return strconv.FormatInt(v.Int, 10)
	case KindDecimal:
		return v.Text
	case KindBoolean:
		return strconv.FormatBool(v.Bool)
	case KindTimestamp:
		return v.Time.UTC().Format(time.RFC3339)
	case KindDate:
		return v.Time.UTC().Format(time.DateOnly)
	case KindLabels:
		return inert(strings.Join(v.Labels, ";"))
	default:
		return inert(v.Text)
	}
}

// columnsOf is a dataset's column definitions (nil for an unknown one).
func columnsOf(dataset string) []Column {
	for _, d := range DatasetDefs {
		if d.Name == dataset {
			return d.Columns
		}
	}
	return nil
}
