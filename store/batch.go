package store

import (
	"context"
	"database/sql"
	"strings"
)

// Batch buffers rows for multi-row INSERTs of up to rowsPerBatch rows each, through one
// statement prepared for a full batch: a row at a time would cost a round trip each on
// PostgreSQL (millions of them for a full facts rebuild) and a statement step each on SQLite.
// Flush writes what is buffered; Close flushes and releases the statement.
type Batch struct {
	tx             *sql.Tx
	prefix, suffix string
	cols, rows     int
	args           []any
	full           *sql.Stmt
}

// NewBatch is a batch for prefix + "(?, …), (?, …)" + suffix, cols values per row.
func NewBatch(tx *sql.Tx, prefix, suffix string, cols, rowsPerBatch int) *Batch {
	// Each statement carries at most 32,000 values: under SQLite's and PostgreSQL's limits.
	rowsPerBatch = max(1, min(rowsPerBatch, 32000/cols))
	return &Batch{tx: tx, prefix: prefix, suffix: suffix, cols: cols, rows: rowsPerBatch}
}

func (b *Batch) statement(rows int) string {
	row := "(?" + strings.Repeat(", ?", b.cols-1) + ")"
	return b.prefix + row + strings.Repeat(", "+row, rows-1) + b.suffix
}

// Add buffers one row of cols values, writing a batch when it is full.
func (b *Batch) Add(ctx context.Context, vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < b.rows*b.cols {
		return nil
	}
	if b.full == nil {
		var err error
		if b.full, err = b.tx.PrepareContext(ctx, b.statement(b.rows)); err != nil {
			return err
		}
	}
	_, err := b.full.ExecContext(ctx, b.args...)
	b.args = b.args[:0]
	return err
}

// Flush writes the rows buffered so far.
func (b *Batch) Flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, b.statement(len(b.args)/b.cols), b.args...)
	b.args = b.args[:0]
	return err
}

// Close flushes and releases the prepared statement.
func (b *Batch) Close(ctx context.Context) error {
	err := b.Flush(ctx)
	if b.full != nil {
		b.full.Close()
		b.full = nil
	}
	return err
}
