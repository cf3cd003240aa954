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
const factsVersion = 9

// FactsVersion is factsVersion for the benchmarks outside this package, which keep a database
// per version (internal/benchorg).
const FactsVersion = factsVersion

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
// none is running now (a sync that did not call Refresh itself). Finding them current while no
// sync runs is trusted for freshFor.
func (e *Engine) ensureFresh(ctx context.Context) error {
	if e.shared.figures.recentlyFresh() {
		return nil
	}
	settled, err := e.checkFresh(ctx)
	if err == nil && settled {
		e.shared.figures.markFresh()
	}
	return err
}

// checkFresh does ensureFresh's work; settled says no sync was running (its end is noticed at
// once, not after freshFor).
func (e *Engine) checkFresh(ctx context.Context) (settled bool, err error) {
	fp := e.fingerprint()
	if ok, running, err := e.factsCurrent(ctx, fp); err != nil || ok {
		return !running, err
	}
	if e.readOnly {
		if err := e.sameRules(ctx, fp); err != nil {
			return false, err
		}
	}
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	if ok, running, err := e.factsCurrent(ctx, fp); err != nil || ok {
		return !running, err
	}
	return true, e.refresh(ctx)
}

// RulesError says that a reading command was given rules other than those the facts were
// derived with: deriving them again would change the figures another process serves.
type RulesError struct{ Stored string }

func (e *RulesError) Error() string {
	return fmt.Sprintf("the facts in this database were derived with another configuration (%s): run without --config to use that one, "+
		"or give this configuration to pacer sync or pacer serve, which derive the facts again", e.Stored)
}

// sameRules refuses, for a read-only engine, facts derived under other rules.
func (e *Engine) sameRules(ctx context.Context, fp string) error {
	var have, name string
	err := e.st.DB.QueryRowContext(ctx, `SELECT fingerprint, config_name FROM fact_state WHERE id = 1`).Scan(&have, &name)
	if err == sql.ErrNoRows {
		return nil // nothing derived yet: nobody else's figures to move
	}
	if err != nil {
		return fmt.Errorf("metrics: read fact state: %w", err)
	}
	if rules, _, _ := strings.Cut(have, ":"); rules == fp {
		return nil
	}
	if name == "" {
		name = "the built-in defaults"
	}
	return &RulesError{Stored: name}
}

// factsCurrent says whether the facts stand: derived under the rules fp names, and after the
// last finished sync. The stored fingerprint is "rules:bots:syncs".
func (e *Engine) factsCurrent(ctx context.Context, fp string) (ok, running bool, err error) {
	var have string
	err = e.st.DB.QueryRowContext(ctx, `SELECT fingerprint FROM fact_state WHERE id = 1`).Scan(&have)
	if err == sql.ErrNoRows {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("metrics: read fact state: %w", err)
	}
	parts := strings.SplitN(have, ":", 3)
	if parts[0] != fp {
		return false, false, nil
	}
	syncs, running, err := syncMarker(ctx, e.st.DB)
	if err != nil {
		return false, false, err
	}
	return running || len(parts) == 3 && parts[2] == syncs, running, nil
}

// syncMarker summarises the collector's per-project sync records: it changes whenever a sync
// starts or finishes. running says a sync is under way (its rows are still coming).
func syncMarker(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (marker string, running bool, err error) {
	var n, unfinished int64
	var started, finished sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), MAX(started_at), MAX(finished_at),
		COALESCE(SUM(CASE WHEN finished_at IS NULL OR finished_at < started_at THEN 1 ELSE 0 END), 0) FROM project_syncs`).Scan(&n, &started, &finished, &unfinished); err != nil {
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
		c.Rework.Labels, c.Rework.Titles, c.Rework.Branches, window, c.Investment.Categories, c.Agreements.Approvals})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

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
		full, changed                 bool
		projects, mrs, deployments, n int
	}
	err = e.st.InTx(ctx, func(tx *sql.Tx) error {
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
		if full && e.st.Dialect() == store.SQLite {
			// A bigger page cache for this one connection while it rewrites the fact tables:
			// the default 2 MB spills to the WAL constantly on a large organisation. Set back
			// after (giving it back costs a few hundred milliseconds: not for a small refresh).
			if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -131072`); err != nil {
				return fmt.Errorf("metrics: cache size: %w", err)
			}
			defer tx.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
		}
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
			if e.st.Dialect() == store.SQLite { // see factIndexes: PostgreSQL keeps them
				if err := dropFactIndexes(ctx, tx); err != nil {
					return err
				}
			}
		} else {
			// Projects no longer in the database (left in stored) lose their facts; those
			// derived again get only the rows that changed (the writer's diff mode).
			for id := range stored {
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
		w, err := newFactWriter(ctx, tx, pack, e.res.categories, e.cfg.Agreements.Approvals, !full)
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
			if !full {
				if err := w.flushProject(ctx, tx, p.id); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO fact_projects(project_id, marker) VALUES (?, ?)
				ON CONFLICT(project_id) DO UPDATE SET marker = excluded.marker`, p.id, markers[p.id]); err != nil {
				return fmt.Errorf("metrics: record project marker: %w", err)
			}
			stats.projects++
			stats.mrs += m
			stats.deployments += d
		}
		// Whether the facts changed: a project derived again may well come out the same (a
		// sync saved an MR again, or changed nothing a fact reads).
		if full && e.st.Dialect() == store.SQLite {
			if err := createFactIndexes(ctx, tx); err != nil {
				return err
			}
		}
		changed := full || len(stored) > 0 || w.written > 0
		var parts []int64 // the parts of each day read again; nil: every part
		if !full && (len(todo) > 0 || len(stored) > 0) {
			replaced := map[int64]bool{}
			for _, p := range todo {
				replaced[p.id] = true
			}
			for id := range stored {
				replaced[id] = true
			}
			parts = partsOf(replaced)
			rewritten, err := keepPacked(ctx, tx, pack, replaced, parts)
			if err != nil {
				return err
			}
			changed = changed || rewritten > 0
		}
		if changed {
			if err := pack.write(ctx, tx, parts); err != nil {
				return err
			}
		}
		// Coverage is derived again whenever a pipeline or a default branch changed.
		coverageMarker, err := pipelinesMarker(ctx, tx)
		if err != nil {
			return err
		}
		var haveCoverage string
		if err := tx.QueryRowContext(ctx, `SELECT coverage_marker FROM fact_state WHERE id = 1`).Scan(&haveCoverage); err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("metrics: read fact state: %w", err)
		}
		if full || haveCoverage != coverageMarker {
			if err := deriveCoverage(ctx, tx); err != nil {
				return err
			}
			changed = true
		}
		// The generation moves only when the facts did: after a sync that changed nothing a
		// fact reads, the figures, pages and ETags computed from them stand.
		bump := int64(0)
		if changed {
			bump = 1
		}
		stats.changed = changed
		if _, err := tx.ExecContext(ctx, `INSERT INTO fact_state(id, fingerprint, refreshed_at, generation, coverage_marker,
			config_name, config_source) VALUES (1, ?, ?, 1, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, refreshed_at = excluded.refreshed_at,
			generation = fact_state.generation + ?, coverage_marker = excluded.coverage_marker,
			config_name = CASE WHEN ? = 1 THEN fact_state.config_name ELSE excluded.config_name END,
			config_source = CASE WHEN ? = 1 THEN fact_state.config_source ELSE excluded.config_source END`,
			// A reader refreshing after a sync keeps the owner's configuration on record.
			fp+":"+syncs, time.Now().Unix(), coverageMarker, e.cfg.Name, string(e.cfg.Source), bump, e.readOnly, e.readOnly); err != nil {
			return fmt.Errorf("metrics: record fact state: %w", err)
		}
		return nil
	})
	e.shared.figures.forgetFresh()
	if err != nil {
		return fmt.Errorf("metrics: refresh: %w", err)
	}
	if stats.full && e.st.Dialect() == store.Postgres {
		// Every fact row was deleted and written again: until autovacuum comes by, a scan of
		// a fact table walks a million dead rows first (SELECT 1 FROM mr_facts LIMIT 1 took
		// 0.55 s at 1M MRs), and the planner knows nothing of the new rows. VACUUM reads the
		// tables without blocking readers or writers.
		if _, err := e.st.DB.ExecContext(context.WithoutCancel(ctx), `VACUUM (ANALYZE) mr_facts, deployment_facts, deployment_mr_facts, fact_days, fact_names, fact_projects`); err != nil {
			slog.Warn("metrics: vacuum the facts after their rebuild", "err", err)
		}
	}
	slog.Debug("metrics: facts refreshed", "full", stats.full, "changed", stats.changed, "projects", stats.n, "projects_derived", stats.projects,
		"merge_requests", stats.mrs, "deployments", stats.deployments, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// pipelinesMarker summarises what coverage is derived from: every project's pipelines counter
// and default branch.
func pipelinesMarker(ctx context.Context, tx *sql.Tx) (string, error) {
	var b strings.Builder
	for _, q := range []string{
		`SELECT project_id, CAST(pipelines AS TEXT) FROM project_revisions ORDER BY project_id`,
		`SELECT id, default_branch FROM projects ORDER BY id`,
	} {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return "", fmt.Errorf("metrics: summarise pipelines: %w", err)
		}
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return "", fmt.Errorf("metrics: summarise pipelines: %w", err)
			}
			fmt.Fprintf(&b, "%d:%s,", id, v)
		}
		if err := rows.Close(); err != nil {
			return "", fmt.Errorf("metrics: summarise pipelines: %w", err)
		}
		b.WriteByte('|')
	}
	return hashString(b.String()), nil
}

// deriveCoverage replaces coverage_days and its packed days: per project and UTC day, the
// successful default-branch pipeline with coverage that finished last.
func deriveCoverage(ctx context.Context, tx *sql.Tx) error {
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
		) ranked WHERE rn = 1`); err != nil {
		return fmt.Errorf("metrics: derive coverage: %w", err)
	}
	return packCoverageDays(ctx, tx)
}

// projectMarkers summarises, per project, the raw rows its facts come from: its path, its
// default branch and the revision counter that triggers move on every write to its MRs,
// commits, notes, deployments, their links and environments (migration 0007).
func projectMarkers(ctx context.Context, tx *sql.Tx) (map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.path || '|' || p.default_branch || '|' || COALESCE(r.revision, 0)
		FROM projects p LEFT JOIN project_revisions r ON r.project_id = p.id`)
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
