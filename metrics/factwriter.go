package metrics

import (
	"context"
	"database/sql"
	"fmt"
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
// unchanged rows would touch pages all over each of them.
type factWriter struct {
	mrStmt, depStmt, linkStmt *sql.Stmt
	pack                      *packer // the packed records of the projects derived
	cats                      []category
	approvals                 int // the agreed number of approvals

	diff bool
	// In diff mode, the current project's rows as derived, by key.
	mrRows   map[[2]int64][]any // (project, iid)
	depRows  map[int64][]any    // deployment id
	linkRows map[[3]int64][]any // (deployment id, project, iid)
	written  int                // rows written, deleted or replaced in diff mode
}

func newFactWriter(ctx context.Context, tx *sql.Tx, pack *packer, cats []category, approvals int, diff bool) (*factWriter, error) {
	w := &factWriter{pack: pack, cats: cats, approvals: approvals, diff: diff}
	var err error
	if w.mrStmt, err = tx.PrepareContext(ctx, `INSERT INTO mr_facts(`+mrFactColumns+`)
		VALUES (`+placeholders(30)+`)`); err != nil {
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.depStmt, err = tx.PrepareContext(ctx, `INSERT INTO deployment_facts(`+depFactColumns+`)
		VALUES (`+placeholders(22)+`)`); err != nil {
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
	w.mrRows, w.depRows, w.linkRows = map[[2]int64][]any{}, map[int64][]any{}, map[[3]int64][]any{}
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
	if w.diff {
		w.mrRows[[2]int64{f.projectID, f.iid}] = row
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
	row := []any{d.id, p.id, d.envID, d.service, d.finished, len(d.links), d.rework,
		d.rollback, d.cf, recovery, d.outOfWindow, p.path, d.env, d.sha, d.jobURL, d.ref, d.blamedBy, d.blames, blamesAt,
		sortKey(d.service), sortKey(d.env), nullKey(recovery)}
	if w.diff {
		w.depRows[d.id] = row
	} else if _, err := w.depStmt.ExecContext(ctx, row...); err != nil {
		return err
	}
	var authors []string
	for _, m := range d.links {
		var reverts []string
		for _, x := range m.reverts {
			reverts = append(reverts, strconv.FormatInt(x.iid, 10))
		}
		link := []any{d.id, p.id, m.iid, m.author, m.rework, m.title, m.webURL, d.finished < m.merged, strings.Join(reverts, " ")}
		if w.diff {
			w.linkRows[[3]int64{d.id, p.id, m.iid}] = link
		} else if _, err := w.linkStmt.ExecContext(ctx, link...); err != nil {
			return err
		}
		authors = append(authors, m.author)
	}
	if w.pack != nil {
		w.pack.deployment(p.id, d.service, d.finished, d.rework, d.rollback, d.cf, d.outOfWindow, d.recovery, authors)
	}
	return nil
}

// flushProject, in diff mode, makes the stored rows of a project those it derived: rows that
// differ or are gone are deleted, rows that differ or are new inserted, the rest left alone.
func (w *factWriter) flushProject(ctx context.Context, tx *sql.Tx, project int64) error {
	defer w.reset()
	// Links first: they are found through the stored deployments.
	err := w.sync(ctx, tx, `SELECT `+prefixed("l.", linkFactColumns)+` FROM deployment_mr_facts l
		WHERE l.deployment_id IN (SELECT id FROM deployment_facts WHERE project_id = ?)`, project,
		func(row []any) any { return [3]int64{asInt(row[0]), asInt(row[1]), asInt(row[2])} },
		func(k any) []any { return w.linkRows[k.([3]int64)] },
		func() map[any][]any {
			out := map[any][]any{}
			for k, v := range w.linkRows {
				out[k] = v
			}
			return out
		}, `DELETE FROM deployment_mr_facts WHERE deployment_id = ? AND project_id = ? AND mr_iid = ?`,
		func(row []any) []any { return []any{row[0], row[1], row[2]} }, w.linkStmt)
	if err != nil {
		return fmt.Errorf("metrics: write deployment facts: %w", err)
	}
	err = w.sync(ctx, tx, `SELECT `+depFactColumns+` FROM deployment_facts WHERE project_id = ?`, project,
		func(row []any) any { return asInt(row[0]) }, func(k any) []any { return w.depRows[k.(int64)] },
		func() map[any][]any {
			out := map[any][]any{}
			for k, v := range w.depRows {
				out[k] = v
			}
			return out
		}, `DELETE FROM deployment_facts WHERE finished_at = ? AND id = ?`, func(row []any) []any { return []any{row[4], row[0]} },
		w.depStmt)
	if err != nil {
		return fmt.Errorf("metrics: write deployment facts: %w", err)
	}
	err = w.sync(ctx, tx, `SELECT `+mrFactColumns+` FROM mr_facts WHERE project_id = ?`, project,
		func(row []any) any { return [2]int64{asInt(row[0]), asInt(row[1])} },
		func(k any) []any { return w.mrRows[k.([2]int64)] },
		func() map[any][]any {
			out := map[any][]any{}
			for k, v := range w.mrRows {
				out[k] = v
			}
			return out
		}, `DELETE FROM mr_facts WHERE delivered_at = ? AND project_id = ? AND iid = ?`,
		func(row []any) []any { return []any{row[10], row[0], row[1]} }, w.mrStmt)
	if err != nil {
		return fmt.Errorf("metrics: write merge request facts: %w", err)
	}
	return nil
}

// sync reads the stored rows (query, for the project), compares each with the derived row of
// the same key, and deletes (by the stored row's primary key) and inserts what differs.
func (w *factWriter) sync(ctx context.Context, tx *sql.Tx, query string, project int64, keyOf func([]any) any,
	derived func(key any) []any, all func() map[any][]any, del string, delArgs func([]any) []any, ins *sql.Stmt) error {
	rows, err := tx.QueryContext(ctx, query, project)
	if err != nil {
		return err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return err
	}
	var stale [][]any
	same := map[any]bool{}
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		k := keyOf(row)
		if d := derived(k); d != nil && sameRow(d, row) {
			same[k] = true
			continue
		}
		stale = append(stale, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, row := range stale {
		if _, err := tx.ExecContext(ctx, del, delArgs(row)...); err != nil {
			return err
		}
		w.written++
	}
	for k, row := range all() {
		if same[k] {
			continue
		}
		if _, err := ins.ExecContext(ctx, row...); err != nil {
			return err
		}
		w.written++
	}
	return nil
}

// sameRow says whether a derived row (the writer's values) holds what a stored row read back.
func sameRow(derived, stored []any) bool {
	if len(derived) != len(stored) {
		return false
	}
	for i := range derived {
		if canonical(derived[i]) != canonical(stored[i]) {
			return false
		}
	}
	return true
}

// canonical writes a column's value one way whatever Go type carries it (the driver reads
// integers and flags back as int64, text as string, NULL as nil).
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
	case []byte:
		return "s" + string(x)
	case float64:
		return "f" + strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprintf("?%v", v)
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}

// prefixed puts a table alias before each column of a list.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
