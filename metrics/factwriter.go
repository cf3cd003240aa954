package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
)

// The fact tables' columns, in the order the writer gives them and a refresh reads them back.
const (
	mrFactColumns = `project_id, iid, service, author, created_at, first_commit_at, first_review_at, first_approval_at,
		merged_at, deployed_at, delivered_at, coding_seconds, pickup_seconds, review_seconds, deploy_seconds, cycle_seconds,
		rework, unapproved, project, title, labels, source_branch, web_url, category, approvals, before_merge,
		title_key, author_key, service_key, deploy_key`
	depFactColumns = `id, project_id, environment_id, service, finished_at, merge_requests, rework, rollback, change_failure,
		recovery_seconds, out_of_window, project, environment, sha, job_url, ref, blamed_by, blames, blames_at,
		service_key, environment_key, recovery_key`
	linkFactColumns = `deployment_id, project_id, mr_iid, author, rework, title, web_url, before_merge, reverts`
)

// factWriter writes the fact rows of one Refresh and packs them.
//
// A refresh that derives a project again (a sync changed some of its rows) compares what it
// derived with the project's stored rows and writes only the rows that differ (diff mode):
// every fact table has an index per list order, and rewriting a project's thousands of
// unchanged rows would touch pages all over each of them. Each row carries a hash of what was
// written (a deployment's covers its links too), read back from one index per table.
type factWriter struct {
	mrStmt, depStmt, linkStmt *sql.Stmt
	pack                      *packer // the packed records of the projects derived
	cats                      []category
	approvals                 int // the agreed number of approvals

	diff bool
	// In diff mode, the current project's rows as derived, by key.
	mrRows  map[int64][]any // by iid
	depRows map[int64]*depRow
	written int // rows written or deleted in diff mode
}

// depRow is a deployment's row and its links' rows.
type depRow struct {
	row   []any
	links [][]any
}

func newFactWriter(ctx context.Context, tx *sql.Tx, pack *packer, cats []category, approvals int, diff bool) (*factWriter, error) {
	w := &factWriter{pack: pack, cats: cats, approvals: approvals, diff: diff}
	var err error
	if w.mrStmt, err = tx.PrepareContext(ctx, `INSERT INTO mr_facts(`+mrFactColumns+`, row_hash)
		VALUES (`+placeholders(31)+`)`); err != nil {
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.depStmt, err = tx.PrepareContext(ctx, `INSERT INTO deployment_facts(`+depFactColumns+`, row_hash)
		VALUES (`+placeholders(23)+`)`); err != nil {
		w.close()
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.linkStmt, err = tx.PrepareContext(ctx, `INSERT INTO deployment_mr_facts(`+linkFactColumns+`) VALUES (`+placeholders(9)+`)
		ON CONFLICT (deployment_id, project_id, mr_iid) DO NOTHING`); err != nil {
		w.close()
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	w.reset()
	return w, nil
}

func (w *factWriter) reset() {
	w.mrRows, w.depRows = map[int64][]any{}, map[int64]*depRow{}
}

func (w *factWriter) close() {
	for _, s := range []*sql.Stmt{w.mrStmt, w.depStmt, w.linkStmt} {
		if s != nil {
			s.Close()
		}
	}
}

func (w *factWriter) mergeRequest(ctx context.Context, f mrFact) error {
	row := []any{f.projectID, f.iid, f.service, f.author, f.created, f.firstCommit,
		f.firstReview, f.firstApproval, f.merged, f.deployed, f.delivered, f.coding, f.pickup, f.review,
		f.deploy, f.cycle, f.rework, f.unapproved, f.project, f.m.title, f.m.rawLabels, f.m.sourceBranch, f.m.webURL,
		w.cats[f.category].name, f.approvals, f.beforeMerge,
		sortKey(f.m.title), sortKey(f.author), sortKey(f.service), nullKey(f.deploy)}
	row = append(row, rowHash(row))
	if w.diff {
		w.mrRows[f.iid] = row
	} else if _, err := w.mrStmt.ExecContext(ctx, row...); err != nil {
		return err
	}
	if w.pack != nil {
		for _, ad := range f.m.authorDays {
			w.pack.authorDay(f.projectID, ad.day, ad.author, f.service, f.author, f.category)
		}
		var flags uint64
		if f.rework {
			flags |= mrRework
		}
		if f.unapproved {
			flags |= mrUnapproved
		}
		if f.beforeMerge {
			flags |= mrBeforeMerge
		}
		if f.approvals < w.approvals {
			flags |= mrFewApprovals
		}
		w.pack.mergeRequest(f.projectID, f.service, f.author, f.delivered, f.cycle, f.coding, f.pickup, f.review, f.deploy, flags, f.category)
	}
	return nil
}

func (w *factWriter) deployment(ctx context.Context, p rawProject, d *rawDeployment) error {
	var recovery sql.NullInt64
	if d.cf {
		recovery = sql.NullInt64{Int64: d.recovery, Valid: true}
	}
	var blamesAt sql.NullInt64
	if d.blames != 0 {
		blamesAt = sql.NullInt64{Int64: d.blamesAt, Valid: true}
	}
	dr := &depRow{row: []any{d.id, p.id, d.envID, d.service, d.finished, len(d.links), d.rework,
		d.rollback, d.cf, recovery, d.outOfWindow, p.path, d.env, d.sha, d.jobURL, d.ref, d.blamedBy, d.blames, blamesAt,
		sortKey(d.service), sortKey(d.env), nullKey(recovery)}}
	var authors []string
	for _, m := range d.links {
		var reverts []string
		for _, x := range m.reverts {
			reverts = append(reverts, strconv.FormatInt(x.iid, 10))
		}
		dr.links = append(dr.links, []any{d.id, p.id, m.iid, m.author, m.rework, m.title, m.webURL, d.finished < m.merged, strings.Join(reverts, " ")})
		authors = append(authors, m.author)
	}
	dr.row = append(dr.row, rowHash(dr.row, dr.links...))
	if w.diff {
		w.depRows[d.id] = dr
	} else if err := w.insertDeployment(ctx, dr); err != nil {
		return err
	}
	if w.pack != nil {
		w.pack.deployment(p.id, d.service, d.finished, d.rework, d.rollback, d.cf, d.outOfWindow, d.recovery, authors)
	}
	return nil
}

func (w *factWriter) insertDeployment(ctx context.Context, dr *depRow) error {
	if _, err := w.depStmt.ExecContext(ctx, dr.row...); err != nil {
		return err
	}
	for _, l := range dr.links {
		if _, err := w.linkStmt.ExecContext(ctx, l...); err != nil {
			return err
		}
	}
	return nil
}

// flushProject, in diff mode, makes the stored rows of a project those it derived: stored
// rows whose hash differs, or that were not derived again, are deleted; derived rows not
// stored as they are, inserted; the rest left alone.
func (w *factWriter) flushProject(ctx context.Context, tx *sql.Tx, project int64) error {
	defer w.reset()
	type stored struct{ at, hash int64 }
	read := func(q string) (map[int64]stored, error) {
		rows, err := tx.QueryContext(ctx, q, project)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[int64]stored{}
		for rows.Next() {
			var id int64
			var s stored
			if err := rows.Scan(&id, &s.at, &s.hash); err != nil {
				return nil, err
			}
			out[id] = s
		}
		return out, rows.Err()
	}
	deps, err := read(`SELECT id, finished_at, row_hash FROM deployment_facts WHERE project_id = ?`)
	if err != nil {
		return fmt.Errorf("metrics: read deployment facts: %w", err)
	}
	for id, s := range deps {
		if dr := w.depRows[id]; dr != nil && dr.row[len(dr.row)-1] == s.hash {
			delete(w.depRows, id)
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deployment_mr_facts WHERE deployment_id = ?`, id); err != nil {
			return fmt.Errorf("metrics: write deployment facts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deployment_facts WHERE finished_at = ? AND id = ?`, s.at, id); err != nil {
			return fmt.Errorf("metrics: write deployment facts: %w", err)
		}
		w.written++
	}
	for _, dr := range w.depRows {
		if err := w.insertDeployment(ctx, dr); err != nil {
			return fmt.Errorf("metrics: write deployment facts: %w", err)
		}
		w.written++
	}
	mrs, err := read(`SELECT iid, delivered_at, row_hash FROM mr_facts WHERE project_id = ?`)
	if err != nil {
		return fmt.Errorf("metrics: read merge request facts: %w", err)
	}
	for iid, s := range mrs {
		if row := w.mrRows[iid]; row != nil && row[len(row)-1] == s.hash {
			delete(w.mrRows, iid)
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mr_facts WHERE delivered_at = ? AND project_id = ? AND iid = ?`, s.at, project, iid); err != nil {
			return fmt.Errorf("metrics: write merge request facts: %w", err)
		}
		w.written++
	}
	for _, row := range w.mrRows {
		if _, err := w.mrStmt.ExecContext(ctx, row...); err != nil {
			return fmt.Errorf("metrics: write merge request facts: %w", err)
		}
		w.written++
	}
	return nil
}

// rowHash is a 64-bit hash of a row's values (and of more rows'), written the same way
// whatever Go type carries each.
func rowHash(row []any, more ...[]any) int64 {
	h := fnv.New64a()
	write := func(r []any) {
		for _, v := range r {
			io.WriteString(h, canonical(v))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	write(row)
	for _, r := range more {
		write(r)
	}
	return int64(h.Sum64())
}

// canonical writes a column's value one way whatever Go type carries it.
func canonical(v any) string {
	switch x := v.(type) {
	case nil:
		return "N"
	case bool:
		if x {
			return "i1"
		}
		return "i0"
	case int:
		return "i" + strconv.Itoa(x)
	case int64:
		return "i" + strconv.FormatInt(x, 10)
	case sql.NullInt64:
		if !x.Valid {
			return "N"
		}
		return "i" + strconv.FormatInt(x.Int64, 10)
	case string:
		return "s" + x
	}
	return fmt.Sprintf("?%v", v)
}
