package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// batchSize is how many rows each keyset query reads: memory stays flat however long the list.
const batchSize = 500

// filterSQL renders the scope's service and team rules as SQL over the given service and
// author expressions (authorCond is a condition template with %s for the author list, for
// deployments whose authors are those of their MRs).
func (sc *scope) filterSQL(serviceCol, authorCond string) (string, []any) {
	var where []string
	var args []any
	in := func(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }
	if sc.visible != nil {
		if len(sc.visible) == 0 {
			where = append(where, "1 = 0")
		} else {
			ids := make([]int64, 0, len(sc.visible))
			for id := range sc.visible {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			where = append(where, "f.project_id IN "+in(len(ids)))
			for _, id := range ids {
				args = append(args, id)
			}
		}
	}
	if sc.services != nil {
		where = append(where, serviceCol+" IN "+in(len(sc.services)))
		for _, s := range sortedKeys(sc.services) {
			args = append(args, s)
		}
	}
	if sc.team != nil {
		var or []string
		if len(sc.teamSvc) > 0 {
			or = append(or, serviceCol+" IN "+in(len(sc.teamSvc)))
			for _, s := range sortedKeys(sc.teamSvc) {
				args = append(args, s)
			}
		}
		if len(sc.teamAuth) > 0 {
			or = append(or, fmt.Sprintf(authorCond, in(len(sc.teamAuth))))
			for _, a := range sortedKeys(sc.teamAuth) {
				args = append(args, a)
			}
		}
		if len(or) == 0 {
			or = append(or, "1 = 0")
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if len(where) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(where, " AND "), args
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MergeRequests calls fn for each in-scope MR delivered in the range, ordered by delivered_at
// (then project and iid), reading in keyset batches. fn owns the MergeRequest it is given.
func (e *Engine) MergeRequests(ctx context.Context, f Filter, fn func(*MergeRequest) error) error {
	if err := e.Validate(ctx, f); err != nil {
		return err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return err
	}
	sc := e.scopeOf(f)
	cond, condArgs := sc.filterSQL("f.service", "f.author_key IN %s")
	q := `SELECT f.project_id, f.iid, f.service, f.author, f.created_at, f.first_commit_at, f.first_review_at,
		f.first_approval_at, f.merged_at, f.deployed_at, f.delivered_at, f.coding_seconds, f.pickup_seconds,
		f.review_seconds, f.deploy_seconds, f.cycle_seconds, f.rework, f.unapproved,
		f.project, f.title, f.labels, f.source_branch, f.web_url, f.category, f.before_merge, f.approvals
		FROM mr_facts f
		WHERE (f.delivered_at, f.project_id, f.iid) > (?, ?, ?) AND f.delivered_at < ?` + cond + `
		ORDER BY f.delivered_at, f.project_id, f.iid LIMIT ?`
	// The keyset alone bounds the start, so that each batch seeks straight to where the last
	// one ended (ids are positive, so (from, 0, 0) admits everything delivered at from).
	lastAt, lastProject, lastIID := sc.from, int64(0), int64(0)
	if a := f.After; a != nil && (a.At > lastAt || a.At == lastAt && (a.Project > 0 || a.ID > 0)) {
		lastAt, lastProject, lastIID = a.At, a.Project, a.ID
	}
	for {
		args := append([]any{lastAt, lastProject, lastIID, sc.to}, condArgs...)
		args = append(args, batchSize)
		batch, err := e.mrBatch(ctx, q, args)
		if err != nil {
			return err
		}
		for _, m := range batch {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		last := batch[len(batch)-1]
		lastAt, lastProject, lastIID = last.DeliveredAt.Unix(), last.ProjectID, last.IID
	}
}

func (e *Engine) mrBatch(ctx context.Context, q string, args []any) ([]*MergeRequest, error) {
	rows, err := e.st.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("metrics: list merge requests: %w", err)
	}
	return scanMRs(rows, nil)
}

// scanMRs reads the rows of a statement of mrColumns' columns, appending to out, and closes
// them.
func scanMRs(rows *sql.Rows, out []*MergeRequest) ([]*MergeRequest, error) {
	defer rows.Close()
	for rows.Next() {
		m := &MergeRequest{}
		var created, firstCommit, merged, delivered int64
		var review, approval, deployed, deploySec sql.NullInt64
		var labels string
		if err := rows.Scan(&m.ProjectID, &m.IID, &m.Service, &m.Author, &created, &firstCommit, &review, &approval,
			&merged, &deployed, &delivered, &m.CodingSeconds, &m.PickupSeconds, &m.ReviewSeconds, &deploySec,
			&m.CycleSeconds, &m.Rework, &m.Unapproved, &m.Project, &m.Title, &labels, &m.SourceBranch, &m.URL,
			&m.Category, &m.BeforeMerge, &m.Approvals); err != nil {
			return nil, fmt.Errorf("metrics: list merge requests: %w", err)
		}
		m.CreatedAt, m.FirstCommitAt, m.MergedAt, m.DeliveredAt = unix(created), unix(firstCommit), unix(merged), unix(delivered)
		m.FirstReviewAt, m.FirstApproval, m.DeployedAt = unixPtr(review), unixPtr(approval), unixPtr(deployed)
		if deploySec.Valid {
			v := deploySec.Int64
			m.DeploySeconds = &v
		}
		m.Labels = parseLabels(labels)
		sort.Strings(m.Labels)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: list merge requests: %w", err)
	}
	return out, nil
}

// Deployments calls fn for each successful production deployment finished in the range,
// ordered by finish time (then id), with its counted MRs, reading in keyset batches.
func (e *Engine) Deployments(ctx context.Context, f Filter, fn func(*Deployment) error) error {
	if err := e.Validate(ctx, f); err != nil {
		return err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return err
	}
	sc := e.scopeOf(f)
	cond, condArgs := sc.filterSQL("f.service",
		"EXISTS (SELECT 1 FROM deployment_mr_facts l WHERE l.deployment_id = f.id AND lower(l.author) IN %s)")
	q := `SELECT f.id, f.project_id, f.service, f.finished_at, f.rework, f.rollback, f.change_failure,
		f.recovery_seconds, f.project, f.environment, f.sha, f.job_url, f.ref, f.blamed_by, f.blames, f.out_of_window, f.blames_at
		FROM deployment_facts f
		WHERE (f.finished_at, f.id) > (?, ?) AND f.finished_at < ?` + cond + `
		ORDER BY f.finished_at, f.id LIMIT ?`
	lastAt, lastID := sc.from, int64(0)
	if a := f.After; a != nil && (a.At > lastAt || a.At == lastAt && a.ID > 0) {
		lastAt, lastID = a.At, a.ID
	}
	for {
		args := append([]any{lastAt, lastID, sc.to}, condArgs...)
		args = append(args, batchSize)
		batch, err := e.deploymentBatch(ctx, q, args)
		if err != nil {
			return err
		}
		for _, d := range batch {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		last := batch[len(batch)-1]
		lastAt, lastID = last.FinishedAt.Unix(), last.ID
	}
}

func (e *Engine) deploymentBatch(ctx context.Context, q string, args []any) ([]*Deployment, error) {
	rows, err := e.st.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("metrics: list deployments: %w", err)
	}
	out, err := scanDeployments(rows, nil)
	if err != nil {
		return nil, err
	}
	return out, e.attachLinks(ctx, out)
}

// scanDeployments reads the rows of a statement of deploymentColumns' columns, appending to
// out, and closes them.
func scanDeployments(rows *sql.Rows, out []*Deployment) ([]*Deployment, error) {
	for rows.Next() {
		d := &Deployment{}
		var finished int64
		var recovery, blamesAt sql.NullInt64
		if err := rows.Scan(&d.ID, &d.ProjectID, &d.Service, &finished, &d.Rework, &d.Rollback, &d.ChangeFailure,
			&recovery, &d.Project, &d.Environment, &d.SHA, &d.URL, &d.Ref, &d.BlamedBy, &d.Blames, &d.OutOfWindow, &blamesAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("metrics: list deployments: %w", err)
		}
		d.FinishedAt = unix(finished)
		d.BlamesAt = unixPtr(blamesAt)
		if recovery.Valid {
			v := recovery.Int64
			d.RecoverySeconds = &v
		}
		d.MergeRequests = []MRRef{}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: list deployments: %w", err)
	}
	return out, nil
}

// attachLinks reads the counted MRs of deployments, in one query.
func (e *Engine) attachLinks(ctx context.Context, out []*Deployment) error {
	if len(out) == 0 {
		return nil
	}
	byID := make(map[int64]*Deployment, len(out))
	ids := make([]any, len(out))
	for i, d := range out {
		ids[i] = d.ID
		byID[d.ID] = d
	}
	rows, err := e.st.DB.QueryContext(ctx, `SELECT l.deployment_id, l.project_id, l.mr_iid, l.rework, l.title, l.web_url,
		l.before_merge, l.reverts
		FROM deployment_mr_facts l
		WHERE l.deployment_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`)
		ORDER BY l.deployment_id, l.project_id, l.mr_iid`, ids...)
	if err != nil {
		return fmt.Errorf("metrics: list deployed merge requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var depID int64
		var r MRRef
		var reverts string
		if err := rows.Scan(&depID, &r.ProjectID, &r.IID, &r.Rework, &r.Title, &r.URL, &r.BeforeMerge, &reverts); err != nil {
			return fmt.Errorf("metrics: list deployed merge requests: %w", err)
		}
		for _, s := range strings.Fields(reverts) {
			if iid, err := strconv.ParseInt(s, 10, 64); err == nil {
				r.Reverts = append(r.Reverts, iid)
			}
		}
		if d := byID[depID]; d != nil {
			d.MergeRequests = append(d.MergeRequests, r)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: list deployed merge requests: %w", err)
	}
	return nil
}

// Coverage calls fn for each project and UTC day in the range that had a successful
// default-branch pipeline with coverage (the one that finished last that day), ordered by day
// then project path. A team of authors only has no coverage: coverage belongs to projects.
func (e *Engine) Coverage(ctx context.Context, f Filter, fn func(*CoverageRow) error) error {
	if err := e.Validate(ctx, f); err != nil {
		return err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return err
	}
	sc := e.scopeOf(f)
	projects, err := e.coverageProjects(ctx, &sc)
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		return nil
	}
	fromDay := int64(-1 << 40)
	if sc.fromSet {
		fromDay = floorDiv(sc.from, 86400)
	}
	toDay := floorDiv(sc.to, 86400)
	// One day at a time: a day holds at most one row per project, and each day's rows are
	// sorted by path without sorting the whole range.
	day := fromDay - 1
	// Resuming after a position: the rest of its day (the projects after its path), then the
	// days after it.
	afterDay, afterPath := int64(-1<<40), ""
	if a := f.After; a != nil && floorDiv(a.At, 86400) >= fromDay {
		afterDay, afterPath = floorDiv(a.At, 86400), a.Name
		day = afterDay - 1
	}
	for {
		var next sql.NullInt64
		if err := e.st.DB.QueryRowContext(ctx, `SELECT MIN(day) FROM coverage_days WHERE day > ? AND day < ?`, day, toDay).Scan(&next); err != nil {
			return fmt.Errorf("metrics: list coverage: %w", err)
		}
		if !next.Valid {
			return nil
		}
		day = next.Int64
		pathAfter := ""
		if day == afterDay {
			pathAfter = afterPath
		}
		rows, err := e.st.DB.QueryContext(ctx, `SELECT c.project_id, c.pipeline_id, c.sha, c.coverage, c.web_url, p.path
			FROM coverage_days c JOIN projects p ON p.id = c.project_id
			WHERE c.day = ? AND p.path > ? ORDER BY p.path`, day, pathAfter)
		if err != nil {
			return fmt.Errorf("metrics: list coverage: %w", err)
		}
		var batch []*CoverageRow
		for rows.Next() {
			r := &CoverageRow{Date: unix(day * 86400)}
			var projectID int64
			if err := rows.Scan(&projectID, &r.PipelineID, &r.SHA, &r.Percent, &r.URL, &r.Project); err != nil {
				rows.Close()
				return fmt.Errorf("metrics: list coverage: %w", err)
			}
			if p := projects[projectID]; p != nil {
				r.Service = e.coverageService(&sc, p)
				batch = append(batch, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("metrics: list coverage: %w", err)
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// coverageService is the service a project's coverage row is shown under: its own, when the
// scope takes it, else the first of the services it counts for.
func (e *Engine) coverageService(sc *scope, p *coverageProject) string {
	if own := e.res.projectService(p.path); sc.serviceOK(own) && (sc.team == nil || sc.teamSvc[own]) {
		return own
	}
	return p.services[0]
}

// LatestCoverage returns, for each project in scope with coverage in f's range, its last row
// in the range (the last day's), ordered by project path: one index seek per project, however
// long the range.
func (e *Engine) LatestCoverage(ctx context.Context, f Filter) ([]*CoverageRow, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	sc := e.scopeOf(f)
	projects, err := e.coverageProjects(ctx, &sc)
	if err != nil || len(projects) == 0 {
		return nil, err
	}
	fromDay, toDay := rangeDays(&sc)
	rows, err := e.st.DB.QueryContext(ctx, `SELECT c.project_id, c.day, c.pipeline_id, c.sha, c.coverage, c.web_url, p.path
		FROM projects p JOIN coverage_days c ON c.project_id = p.id
		WHERE c.day = (SELECT MAX(d.day) FROM coverage_days d WHERE d.project_id = p.id AND d.day >= ? AND d.day < ?)
		ORDER BY p.path, p.id`, fromDay, toDay)
	if err != nil {
		return nil, fmt.Errorf("metrics: latest coverage: %w", err)
	}
	defer rows.Close()
	var out []*CoverageRow
	for rows.Next() {
		r := &CoverageRow{}
		var projectID, day int64
		if err := rows.Scan(&projectID, &day, &r.PipelineID, &r.SHA, &r.Percent, &r.URL, &r.Project); err != nil {
			return nil, fmt.Errorf("metrics: latest coverage: %w", err)
		}
		if p := projects[projectID]; p != nil {
			r.Date = unix(day * 86400)
			r.Service = e.coverageService(&sc, p)
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: latest coverage: %w", err)
	}
	return out, nil
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

func unixPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := unix(v.Int64)
	return &t
}
