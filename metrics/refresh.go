package metrics

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// factsVersion changes whenever the derivation rules in this file change, so that facts
// derived by an older build are derived again.
const factsVersion = 5

// firstDeployGrace is how long before an environment's first deployment an MR may have been
// merged and still count as shipped by it: GitLab links the whole branch history there.
const firstDeployGrace = 7 * 86400

// Refresh derives every per-MR and per-deployment fact, the coverage per project and day, and
// the packed figures data from the raw history, replacing what was there, in one transaction.
// It is idempotent; sync, demo and serve call it after each sync. Readers keep seeing the
// previous facts until it commits.
func (e *Engine) Refresh(ctx context.Context) error {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	return e.refresh(ctx)
}

// ensureFresh derives the facts when they are missing, were derived under other rules (a
// changed configuration or an older build), or a sync finished since they were derived and
// none is running now (a sync that did not call Refresh itself).
func (e *Engine) ensureFresh(ctx context.Context) error {
	fp := e.fingerprint()
	if ok, err := e.factsCurrent(ctx, fp); err != nil || ok {
		return err
	}
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	if ok, err := e.factsCurrent(ctx, fp); err != nil || ok {
		return err
	}
	return e.refresh(ctx)
}

// factsCurrent says whether the facts stand: derived under the rules fp names, and after the
// last finished sync. The stored fingerprint is "rules:bots:syncs".
func (e *Engine) factsCurrent(ctx context.Context, fp string) (bool, error) {
	var have string
	err := e.st.DB.QueryRowContext(ctx, `SELECT fingerprint FROM fact_state WHERE id = 1`).Scan(&have)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("metrics: read fact state: %w", err)
	}
	parts := strings.SplitN(have, ":", 3)
	if parts[0] != fp {
		return false, nil
	}
	syncs, running, err := syncMarker(ctx, e.st.DB)
	if err != nil {
		return false, err
	}
	return running || len(parts) == 3 && parts[2] == syncs, nil
}

// syncMarker summarises the collector's per-project sync records: it changes whenever a sync
// starts or finishes. running says a sync is under way (its rows are still coming).
func syncMarker(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (marker string, running bool, err error) {
	var n, unfinished int64
	var started, finished sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), MAX(started_at), MAX(finished_at),
		COALESCE(SUM(finished_at IS NULL OR finished_at < started_at), 0) FROM project_syncs`).Scan(&n, &started, &finished, &unfinished); err != nil {
		return "", false, fmt.Errorf("metrics: read sync state: %w", err)
	}
	return fmt.Sprintf("%d/%d/%d", n, started.Int64, finished.Int64), unfinished > 0, nil
}

// fingerprint identifies the rules the facts depend on.
func (e *Engine) fingerprint() string {
	c := e.cfg
	var window any
	if w := c.DeployWindow; w != nil {
		days := make([]int, 0, len(w.Weekdays))
		for d, ok := range w.Weekdays {
			if ok {
				days = append(days, int(d))
			}
		}
		sort.Ints(days)
		loc := ""
		if w.Location != nil {
			loc = w.Location.String()
		}
		window = []any{days, w.StartMinute, w.EndMinute, loc}
	}
	b, _ := json.Marshal([]any{factsVersion, c.Production.Environments, c.Services, c.Bots.Usernames,
		c.Rework.Labels, c.Rework.Titles, c.Rework.Branches, window})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Raw rows as refresh reads them.
type (
	rawProject struct {
		id                  int64
		path, defaultBranch string
		service             string
	}
	rawMR struct {
		iid                  int64
		title                string
		rawLabels, webURL    string
		authorID             int64
		author               string
		labels               []string
		sourceBranch, target string
		created, merged      int64
		earliestCommit       *time.Time
		notes                []store.MRNote

		bot, inScope, rework bool
		deployed             *rawDeployment
	}
	rawDeployment struct {
		id, envID   int64
		env         string
		sha, jobURL string
		finished    int64
		service     string
		first       bool
		links       []*rawMR // counted
		rework      bool
		rollback    bool
		cf          bool
		recovery    int64
		outOfWindow bool
	}
)

// refresh does the work of Refresh; the caller holds refreshMu. When the rules are those the
// facts were derived with, only the projects whose raw rows changed since are derived again
// (a sync usually touches few), and the packed days are rebuilt from the fact tables.
func (e *Engine) refresh(ctx context.Context) error {
	start := time.Now()
	users, err := e.st.Users(ctx)
	if err != nil {
		return fmt.Errorf("metrics: refresh: %w", err)
	}
	isBot := store.BotRule(users, e.cfg.Bots.Usernames)
	// Which users are bots is part of the rules: a new bot changes every project's facts.
	var bots strings.Builder
	for id, u := range users {
		if isBot(id, u.Username) {
			fmt.Fprintf(&bots, "%d,", id)
		}
	}
	rules := e.fingerprint()
	fp := rules + ":" + hashString(sortedCSV(bots.String()))
	var stats struct {
		full                          bool
		projects, mrs, deployments, n int
	}
	err = e.st.InTx(ctx, func(tx *sql.Tx) error {
		// A bigger page cache for this one connection while it rewrites the fact tables: the
		// default 2 MB spills to the WAL constantly on a large organisation. Set back after.
		if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -131072`); err != nil {
			return fmt.Errorf("metrics: cache size: %w", err)
		}
		defer tx.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)

		var have string
		switch err := tx.QueryRowContext(ctx, `SELECT fingerprint FROM fact_state WHERE id = 1`).Scan(&have); {
		case err == sql.ErrNoRows:
		case err != nil:
			return fmt.Errorf("metrics: read fact state: %w", err)
		}
		// Read before the raw rows: a sync finishing after this point changes the marker
		// again, so its rows are picked up by the next refresh.
		syncs, _, err := syncMarker(ctx, tx)
		if err != nil {
			return err
		}
		full := !strings.HasPrefix(have+":", fp+":") || strings.Count(have, ":") != 2
		stats.full = full
		projects, err := e.loadProjects(ctx, tx)
		if err != nil {
			return err
		}
		markers, err := projectMarkers(ctx, tx)
		if err != nil {
			return err
		}
		stored := map[int64]string{}
		if !full {
			if stored, err = storedMarkers(ctx, tx); err != nil {
				return err
			}
		}
		var todo []rawProject
		for _, p := range projects {
			if full || stored[p.id] != markers[p.id] {
				todo = append(todo, p)
			}
			delete(stored, p.id)
		}
		stats.n = len(projects)
		if full {
			for _, t := range []string{"mr_facts", "deployment_facts", "deployment_mr_facts", "fact_days", "fact_names", "fact_projects"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
					return fmt.Errorf("metrics: clear %s: %w", t, err)
				}
			}
		} else {
			// Projects to derive again, and projects no longer in the database (left in stored).
			ids := make([]int64, 0, len(todo)+len(stored))
			for _, p := range todo {
				ids = append(ids, p.id)
			}
			for id := range stored {
				ids = append(ids, id)
			}
			for _, id := range ids {
				if err := deleteProjectFacts(ctx, tx, id); err != nil {
					return err
				}
			}
		}
		pack := newPacker()
		if !full {
			if pack, err = loadPacker(ctx, tx); err != nil {
				return err
			}
		}
		w, err := newFactWriter(ctx, tx, pack)
		if err != nil {
			return err
		}
		defer w.close()
		for _, p := range todo {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, d, err := e.refreshProject(ctx, tx, p, isBot, w)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO fact_projects(project_id, marker) VALUES (?, ?)
				ON CONFLICT(project_id) DO UPDATE SET marker = excluded.marker`, p.id, markers[p.id]); err != nil {
				return fmt.Errorf("metrics: record project marker: %w", err)
			}
			stats.projects++
			stats.mrs += m
			stats.deployments += d
		}
		changed := full || len(todo) > 0 || len(stored) > 0
		if !full && changed {
			replaced := map[int64]bool{}
			for _, p := range todo {
				replaced[p.id] = true
			}
			for id := range stored {
				replaced[id] = true
			}
			if err := keepPacked(ctx, tx, pack, replaced); err != nil {
				return err
			}
		}
		if changed {
			if err := pack.write(ctx, tx); err != nil {
				return err
			}
		}
		// Coverage is small beside the rest: derived again every time.
		if _, err := tx.ExecContext(ctx, `DELETE FROM coverage_days`); err != nil {
			return fmt.Errorf("metrics: clear coverage: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM fact_days WHERE kind = ?`, packCoverage); err != nil {
			return fmt.Errorf("metrics: clear coverage: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO coverage_days(project_id, day, pipeline_id, sha, coverage, finished_at, web_url)
			SELECT project_id, day, id, sha, coverage, finished_at, web_url FROM (
				SELECT p.project_id, p.finished_at / 86400 AS day, p.id, p.sha, p.coverage, p.finished_at, p.web_url,
				       row_number() OVER (PARTITION BY p.project_id, p.finished_at / 86400 ORDER BY p.finished_at DESC, p.id DESC) AS rn
				FROM pipelines p JOIN projects pr ON pr.id = p.project_id
				WHERE p.status = 'success' AND p.coverage IS NOT NULL AND p.finished_at IS NOT NULL
				  AND p.finished_at >= 0 AND p.ref = pr.default_branch
			) WHERE rn = 1`); err != nil {
			return fmt.Errorf("metrics: derive coverage: %w", err)
		}
		if err := packCoverageDays(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fact_state(id, fingerprint, refreshed_at, generation) VALUES (1, ?, ?, 1)
			ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, refreshed_at = excluded.refreshed_at,
			generation = fact_state.generation + 1`, fp+":"+syncs, time.Now().Unix()); err != nil {
			return fmt.Errorf("metrics: record fact state: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics: refresh: %w", err)
	}
	slog.Debug("metrics: facts refreshed", "full", stats.full, "projects", stats.n, "projects_derived", stats.projects,
		"merge_requests", stats.mrs, "deployments", stats.deployments, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// projectMarkers summarises, per project, the raw rows its facts come from. Any change the
// collector makes to them (a new or updated MR, fetched commits and notes, deployments, their
// links, environments, a renamed project or default branch) changes the marker.
func projectMarkers(ctx context.Context, tx *sql.Tx) (map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.path || '|' || p.default_branch
		|| '|' || (SELECT COUNT(*) || ',' || COALESCE(SUM(updated_at), '') || ',' || COALESCE(SUM(details_updated_at), '')
		           || ',' || COALESCE(SUM(merged_at), '') FROM merge_requests m WHERE m.project_id = p.id)
		|| '|' || (SELECT COUNT(*) FROM mr_notes n WHERE n.project_id = p.id)
		|| '|' || (SELECT COUNT(*) FROM mr_commits c WHERE c.project_id = p.id)
		|| '|' || (SELECT COUNT(*) || ',' || COALESCE(MAX(id), '') || ',' || COALESCE(SUM(finished_at), '')
		           || ',' || COALESCE(SUM(links_fetched_at), '') FROM deployments d WHERE d.project_id = p.id)
		|| '|' || (SELECT COUNT(*) || ',' || COALESCE(SUM(mr_iid), '') || ',' || COALESCE(SUM(deployment_id), '')
		           FROM deployment_merge_requests l WHERE l.project_id = p.id)
		|| '|' || (SELECT COUNT(*) || ',' || COALESCE(group_concat(id || ':' || name || ':' || tier || ':' || production), '')
		           FROM environments e WHERE e.project_id = p.id)
		FROM projects p`)
	if err != nil {
		return nil, fmt.Errorf("metrics: summarise projects: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var m string
		if err := rows.Scan(&id, &m); err != nil {
			return nil, fmt.Errorf("metrics: summarise projects: %w", err)
		}
		out[id] = hashString(m)
	}
	return out, rows.Err()
}

func storedMarkers(ctx context.Context, tx *sql.Tx) (map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT project_id, marker FROM fact_projects`)
	if err != nil {
		return nil, fmt.Errorf("metrics: read project markers: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var m string
		if err := rows.Scan(&id, &m); err != nil {
			return nil, fmt.Errorf("metrics: read project markers: %w", err)
		}
		out[id] = m
	}
	return out, rows.Err()
}

// deleteProjectFacts removes one project's per-MR and per-deployment facts.
func deleteProjectFacts(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, q := range []string{
		`DELETE FROM deployment_mr_facts WHERE deployment_id IN (SELECT id FROM deployment_facts WHERE project_id = ?)`,
		`DELETE FROM deployment_facts WHERE project_id = ?`,
		`DELETE FROM mr_facts WHERE project_id = ?`,
		`DELETE FROM fact_projects WHERE project_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("metrics: clear facts of project %d: %w", id, err)
		}
	}
	return nil
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// sortedCSV sorts the items of a comma-terminated list, so that map order does not matter.
func sortedCSV(s string) string {
	parts := strings.Split(strings.TrimSuffix(s, ","), ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (e *Engine) loadProjects(ctx context.Context, tx *sql.Tx) ([]rawProject, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, path, default_branch FROM projects ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("metrics: load projects: %w", err)
	}
	defer rows.Close()
	var out []rawProject
	for rows.Next() {
		var p rawProject
		if err := rows.Scan(&p.id, &p.path, &p.defaultBranch); err != nil {
			return nil, fmt.Errorf("metrics: load projects: %w", err)
		}
		p.service = e.res.projectService(p.path)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: load projects: %w", err)
	}
	return out, nil
}

// isProduction says whether an environment counts as production: GitLab's tier, or with no
// tier, a name matching the configured pattern. The flag the collector stored is not used: it
// follows the pattern of the last sync, and a changed pattern applies at once to all history.
func (e *Engine) isProduction(name, tier string, known bool) bool {
	if tier == "production" {
		return true
	}
	if known && tier != "" {
		return false
	}
	return e.cfg.Production.Pattern != nil && e.cfg.Production.Pattern.MatchString(name)
}

// refreshProject derives the facts of one project and hands them to w.
func (e *Engine) refreshProject(ctx context.Context, tx *sql.Tx, p rawProject, isBot func(int64, string) bool, w *factWriter) (nMRs, nDeps int, err error) {
	wrap := func(what string, err error) error {
		return fmt.Errorf("metrics: %s of %s: %w", what, p.path, err)
	}

	// Merged MRs (any target branch: a deployment may ship one to another branch).
	mrs := map[int64]*rawMR{}
	rows, err := tx.QueryContext(ctx, `SELECT iid, title, author_id, author_username, labels, source_branch,
		target_branch, created_at, merged_at, web_url
		FROM merge_requests WHERE project_id = ? AND merged_at IS NOT NULL`, p.id)
	if err != nil {
		return 0, 0, wrap("load merge requests", err)
	}
	for rows.Next() {
		m := &rawMR{}
		var labels string
		if err := rows.Scan(&m.iid, &m.title, &m.authorID, &m.author, &labels, &m.sourceBranch, &m.target,
			&m.created, &m.merged, &m.webURL); err != nil {
			rows.Close()
			return 0, 0, wrap("load merge requests", err)
		}
		m.labels, m.rawLabels = parseLabels(labels), labels
		m.bot = isBot(m.authorID, m.author)
		m.inScope = m.target == p.defaultBranch && p.defaultBranch != ""
		m.rework = e.res.isRework(m.labels, m.title, m.sourceBranch)
		mrs[m.iid] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load merge requests", err)
	}

	// First commit: the earliest authored instant; the driver stores instants, not strings.
	rows, err = tx.QueryContext(ctx, `SELECT mr_iid, MIN(authored_at) FROM mr_commits WHERE project_id = ? GROUP BY mr_iid`, p.id)
	if err != nil {
		return 0, 0, wrap("load commits", err)
	}
	for rows.Next() {
		var iid, at int64
		if err := rows.Scan(&iid, &at); err != nil {
			rows.Close()
			return 0, 0, wrap("load commits", err)
		}
		if m := mrs[iid]; m != nil {
			t := unix(at)
			m.earliestCommit = &t
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load commits", err)
	}

	// Reviews and approvals: by a human other than the author, at or before the merge.
	rows, err = tx.QueryContext(ctx, `SELECT mr_iid, kind, author_id, author_username, created_at FROM mr_notes WHERE project_id = ?`, p.id)
	if err != nil {
		return 0, 0, wrap("load notes", err)
	}
	for rows.Next() {
		var iid, authorID, at int64
		var kind, username string // approvals from the approvals API come as "approved" notes too
		if err := rows.Scan(&iid, &kind, &authorID, &username, &at); err != nil {
			rows.Close()
			return 0, 0, wrap("load notes", err)
		}
		if m := mrs[iid]; m != nil {
			m.notes = append(m.notes, store.MRNote{Kind: store.NoteKind(kind), AuthorID: authorID, AuthorUsername: username, CreatedAt: unix(at)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load notes", err)
	}

	// Successful production deployments, by environment in finish order.
	var deps []*rawDeployment
	byID := map[int64]*rawDeployment{}
	rows, err = tx.QueryContext(ctx, `SELECT d.id, d.environment_id, COALESCE(e.name, d.environment), d.sha, d.job_url, d.finished_at,
		COALESCE(e.tier, ''), e.id IS NOT NULL
		FROM deployments d LEFT JOIN environments e ON e.id = d.environment_id
		WHERE d.project_id = ? AND d.status = 'success'
		ORDER BY d.environment_id, d.finished_at, d.id`, p.id)
	if err != nil {
		return 0, 0, wrap("load deployments", err)
	}
	for rows.Next() {
		d := &rawDeployment{}
		var tier string
		var known bool
		if err := rows.Scan(&d.id, &d.envID, &d.env, &d.sha, &d.jobURL, &d.finished, &tier, &known); err != nil {
			rows.Close()
			return 0, 0, wrap("load deployments", err)
		}
		if !e.isProduction(d.env, tier, known) {
			continue
		}
		d.service = e.res.environmentService(p.path, d.env)
		deps = append(deps, d)
		byID[d.id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load deployments", err)
	}
	// Mark each environment's first deployment before reading links: its rule needs it.
	for i, d := range deps {
		d.first = i == 0 || deps[i-1].envID != d.envID
	}

	rows, err = tx.QueryContext(ctx, `SELECT deployment_id, mr_iid FROM deployment_merge_requests WHERE project_id = ? ORDER BY deployment_id, mr_iid`, p.id)
	if err != nil {
		return 0, 0, wrap("load deployment links", err)
	}
	for rows.Next() {
		var depID, iid int64
		if err := rows.Scan(&depID, &iid); err != nil {
			rows.Close()
			return 0, 0, wrap("load deployment links", err)
		}
		d, m := byID[depID], mrs[iid]
		if d == nil || m == nil || m.bot {
			continue // not a production deployment of this project, an MR not collected, or a bot's
		}
		if d.first && m.merged < d.finished-firstDeployGrace {
			continue // the first deployment links the whole history
		}
		d.links = append(d.links, m)
		if d.finished >= m.merged && (m.deployed == nil || d.finished < m.deployed.finished ||
			d.finished == m.deployed.finished && d.id < m.deployed.id) {
			m.deployed = d
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load deployment links", err)
	}

	// Rollbacks, rework and change failures, per environment.
	window := e.cfg.DeployWindow
	var envStart int
	var firstSeen map[string]int
	for i, d := range deps {
		if d.first {
			envStart = i
			firstSeen = map[string]int{}
		}
		if i > envStart {
			prev := deps[i-1]
			if at, ok := firstSeen[d.sha]; ok && d.sha != prev.sha && at < firstSeen[prev.sha] {
				d.rollback = true
			}
		}
		if _, ok := firstSeen[d.sha]; !ok {
			firstSeen[d.sha] = i
		}
		d.rework = d.rollback
		for _, m := range d.links {
			if m.rework {
				d.rework = true
			}
		}
		if d.rework && i > envStart {
			prev := deps[i-1]
			prev.cf = true
			prev.recovery = d.finished - prev.finished
		}
		if window != nil {
			d.outOfWindow = !window.Contains(time.Unix(d.finished, 0))
		}
	}

	for _, d := range deps {
		if err := w.deployment(ctx, p, d); err != nil {
			return 0, 0, wrap("write deployment facts", err)
		}
	}

	// Per-MR facts, in a stable order.
	iids := make([]int64, 0, len(mrs))
	for iid, m := range mrs {
		if m.inScope && !m.bot {
			iids = append(iids, iid)
		}
	}
	sort.Slice(iids, func(i, j int) bool { return iids[i] < iids[j] })
	for _, iid := range iids {
		f := deriveMR(p, mrs[iid], e.res, isBot)
		if err := w.mergeRequest(ctx, f); err != nil {
			return 0, 0, wrap("write merge request facts", err)
		}
	}
	return len(iids), len(deps), nil
}

// mrFact is one row of mr_facts.
type mrFact struct {
	projectID, iid                          int64
	service, author                         string
	m                                       *rawMR
	project                                 string
	created, firstCommit, merged, delivered int64
	firstReview, firstApproval, deployed    sql.NullInt64
	coding, pickup, review, cycle           int64
	deploy                                  sql.NullInt64
	rework, unapproved                      bool
}

// deriveMR applies the per-MR rules of SPEC section 3; first commit, review and approval come
// from store.DeriveReview, the derivation the collector uses too.
func deriveMR(p rawProject, m *rawMR, res *resolver, isBot func(int64, string) bool) mrFact {
	f := mrFact{projectID: p.id, iid: m.iid, author: m.author, created: m.created, merged: m.merged, rework: m.rework,
		m: m, project: p.path}
	in := store.ReviewInput{AuthorID: m.authorID, CreatedAt: unix(m.created), Notes: m.notes, IsBot: isBot}
	merged := unix(m.merged)
	in.MergedAt = &merged
	if m.earliestCommit != nil {
		in.Commits = []store.MRCommit{{AuthoredAt: *m.earliestCommit}}
	}
	rf := store.DeriveReview(in)
	f.firstCommit = rf.FirstCommitAt.Unix()
	if rf.FirstApprovalAt != nil {
		f.firstApproval = sql.NullInt64{Int64: rf.FirstApprovalAt.Unix(), Valid: true}
	}
	if rf.FirstReviewAt != nil {
		f.firstReview = sql.NullInt64{Int64: rf.FirstReviewAt.Unix(), Valid: true}
	}
	f.service = p.service
	f.delivered = m.merged
	if d := m.deployed; d != nil {
		f.deployed = sql.NullInt64{Int64: d.finished, Valid: true}
		f.delivered = d.finished
		f.deploy = sql.NullInt64{Int64: d.finished - m.merged, Valid: true}
		f.service = res.environmentService(p.path, d.env)
	}
	f.coding = m.created - f.firstCommit
	if f.firstReview.Valid {
		f.pickup = f.firstReview.Int64 - m.created
		f.review = m.merged - f.firstReview.Int64
	} else {
		f.pickup = m.merged - m.created
	}
	f.cycle = f.delivered - f.firstCommit
	f.unapproved = !f.firstApproval.Valid
	return f
}

// parseLabels reads the JSON array of label names stored with an MR.
func parseLabels(s string) []string {
	if s == "" || s == "[]" {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil
	}
	return out
}
