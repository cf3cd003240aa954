package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Resource names a per-project sync cursor.
type Resource string

// The cursors the collector keeps per project.
const (
	// ResourceMergeRequests: the highest MR updated_at committed.
	ResourceMergeRequests Resource = "merge_requests"
	// ResourceDeployments: the highest deployment finish time committed.
	ResourceDeployments Resource = "deployments"
	// ResourcePipelines: the highest default-branch pipeline updated_at committed.
	ResourcePipelines Resource = "pipelines"
	// ResourceEnvironments: when the project's environments were last listed.
	ResourceEnvironments Resource = "environments"
)

// Cursor is how far the sync of one project and resource has got.
func (s *Store) Cursor(ctx context.Context, projectID int64, r Resource) (time.Time, bool, error) {
	var v int64
	err := s.DB.QueryRowContext(ctx, `SELECT cursor FROM sync_cursors WHERE project_id = ? AND resource = ?`, projectID, string(r)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: cursor %s of project %d: %w", r, projectID, err)
	}
	return time.Unix(v, 0).UTC(), true, nil
}

// advanceCursor moves a cursor forward inside tx, never back: a page that re-reads an overlap
// must not undo progress.
func advanceCursor(ctx context.Context, tx *sql.Tx, projectID int64, r Resource, to time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_cursors(project_id, resource, cursor, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT(project_id, resource) DO UPDATE SET
			cursor = CASE WHEN excluded.cursor > sync_cursors.cursor THEN excluded.cursor ELSE sync_cursors.cursor END,
			updated_at = excluded.updated_at`,
		projectID, string(r), to.Unix(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("store: advance cursor %s of project %d: %w", r, projectID, err)
	}
	return nil
}

// SetCursor sets a cursor to exactly t (forward or back), for cursors that record a time
// rather than a high-water mark, such as when environments were last listed.
func (s *Store) SetCursor(ctx context.Context, projectID int64, r Resource, t time.Time) error {
	_, err := s.ingestExec(ctx, `INSERT INTO sync_cursors(project_id, resource, cursor, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT(project_id, resource) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
		projectID, string(r), t.Unix(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("store: set cursor %s of project %d: %w", r, projectID, err)
	}
	return nil
}

// ResetCursor forgets a cursor, so the next sync of that resource starts from the beginning.
func (s *Store) ResetCursor(ctx context.Context, projectID int64, r Resource) error {
	_, err := s.ingestExec(ctx, `DELETE FROM sync_cursors WHERE project_id = ? AND resource = ?`, projectID, string(r))
	if err != nil {
		return fmt.Errorf("store: reset cursor %s of project %d: %w", r, projectID, err)
	}
	return nil
}

// ProjectSync is the sync status of one project, for the sync-status page.
type ProjectSync struct {
	Project    Project
	StartedAt  *time.Time // nil: never synced
	FinishedAt *time.Time // nil while a sync runs, or when one was killed
	OKAt       *time.Time // the last sync that finished without error
	Error      string     // the last sync's error; empty when it succeeded
	Requests   int64      // requests (REST and GraphQL) the last sync made for this project
	API        string     // how the last sync read its merge requests: "graphql", "rest", or "" (before 0009)
	Cursors    map[Resource]time.Time
}

// Running reports whether a sync started and has not finished (or was killed).
func (p ProjectSync) Running() bool { return p.StartedAt != nil && p.FinishedAt == nil }

// ProjectSyncs is every known project with the outcome of its last sync and its cursors,
// ordered by path.
func (s *Store) ProjectSyncs(ctx context.Context) ([]ProjectSync, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+projectColumns+`,
			ps.started_at, ps.finished_at, ps.ok_at, COALESCE(ps.error, ''), COALESCE(ps.requests, 0),
			COALESCE(ps.api, '')
		FROM projects p LEFT JOIN project_syncs ps ON ps.project_id = p.id
		ORDER BY p.path`)
	if err != nil {
		return nil, fmt.Errorf("store: project syncs: %w", err)
	}
	defer rows.Close()
	var out []ProjectSync
	index := map[int64]int{}
	for rows.Next() {
		var ps ProjectSync
		var discovered int64
		var started, finished, ok sql.NullInt64
		dest := append(projectDest(&ps.Project, &discovered), &started, &finished, &ok, &ps.Error, &ps.Requests, &ps.API)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: project syncs: %w", err)
		}
		ps.Project.DiscoveredAt = time.Unix(discovered, 0).UTC()
		ps.StartedAt, ps.FinishedAt, ps.OKAt = fromEpochNull(started), fromEpochNull(finished), fromEpochNull(ok)
		ps.Cursors = map[Resource]time.Time{}
		index[ps.Project.ID] = len(out)
		out = append(out, ps)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: project syncs: %w", err)
	}
	crows, err := s.DB.QueryContext(ctx, `SELECT project_id, resource, cursor FROM sync_cursors`)
	if err != nil {
		return nil, fmt.Errorf("store: project syncs: cursors: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var pid, v int64
		var r string
		if err := crows.Scan(&pid, &r, &v); err != nil {
			return nil, fmt.Errorf("store: project syncs: cursors: %w", err)
		}
		if i, ok := index[pid]; ok {
			out[i].Cursors[Resource(r)] = time.Unix(v, 0).UTC()
		}
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("store: project syncs: cursors: %w", err)
	}
	return out, nil
}

// StartProjectSync records that a sync of the project began at `at`. The previous outcome
// (ok_at) is kept, so the status page can say when the project last synced cleanly.
func (s *Store) StartProjectSync(ctx context.Context, projectID int64, at time.Time) error {
	_, err := s.ingestExec(ctx, `INSERT INTO project_syncs(project_id, started_at, finished_at, error, requests)
		VALUES (?, ?, NULL, '', 0)
		ON CONFLICT(project_id) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL,
			error = '', requests = 0, api = ''`, projectID, at.Unix())
	if err != nil {
		return fmt.Errorf("store: start sync of project %d: %w", projectID, err)
	}
	return nil
}

// FinishProjectSync records the outcome of a project's sync. syncErr nil means it succeeded
// and sets ok_at; otherwise its message is kept for the status page.
func (s *Store) FinishProjectSync(ctx context.Context, projectID int64, at time.Time, requests int64, syncErr error) error {
	msg := ""
	var okAt any
	if syncErr != nil {
		msg = syncErr.Error()
	} else {
		okAt = at.Unix()
	}
	_, err := s.ingestExec(ctx, `UPDATE project_syncs SET finished_at = ?, error = ?, requests = ?,
			ok_at = COALESCE(?, ok_at)
		WHERE project_id = ?`, at.Unix(), msg, requests, okAt, projectID)
	if err != nil {
		return fmt.Errorf("store: finish sync of project %d: %w", projectID, err)
	}
	return nil
}

// SetProjectSyncAPI records how the running sync of a project read its merge requests
// ("graphql" or "rest"), for the sync status page.
func (s *Store) SetProjectSyncAPI(ctx context.Context, projectID int64, api string) error {
	_, err := s.ingestExec(ctx, `UPDATE project_syncs SET api = ? WHERE project_id = ?`, api, projectID)
	if err != nil {
		return fmt.Errorf("store: set sync API of project %d: %w", projectID, err)
	}
	return nil
}

// ingestTx runs fn in a write transaction, one collector write at a time. SQLite has one writer;
// when the collector's goroutines contend for it, each loser sleeps in SQLite's busy handler
// (1, 2, 5, 10 ... 100 ms), which slowed a concurrent sync several-fold. Queueing on a mutex
// instead hands the lock over at once.
func (s *Store) ingestTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.ingest.Lock()
	defer s.ingest.Unlock()
	return s.InTx(ctx, fn)
}

// ingestExec runs one write statement, one collector write at a time (see ingestTx).
func (s *Store) ingestExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s.ingest.Lock()
	defer s.ingest.Unlock()
	return s.DB.ExecContext(ctx, q, args...)
}

// epochPtr is a nullable instant as a SQL argument (Unix seconds or NULL).
func epochPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

// fromEpochNull reads a nullable Unix-seconds column.
func fromEpochNull(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(v.Int64, 0).UTC()
	return &t
}
