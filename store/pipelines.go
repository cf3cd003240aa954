package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pipeline is a default-branch pipeline. FinishedAt and Coverage come from the single-pipeline
// endpoint and are known only where DetailFetched is set; the collector reads them for the
// pipelines that decide a coverage row (the last successful pipeline with coverage of each
// project and UTC day), see docs/collector.md.
type Pipeline struct {
	ID            int64
	IID           int64
	ProjectID     int64
	Ref           string
	SHA           string
	Status        string
	Source        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    *time.Time
	Coverage      *float64 // percent; nil when unknown or the pipeline reports none
	WebURL        string
	DetailFetched bool
}

// SavePipelines upserts one listed page of a project's default-branch pipelines and advances
// its pipeline cursor to `cursor` in the same transaction. A pipeline whose status or
// updated_at changed (a retried job, say) loses its finish time and coverage until they are
// read again, so a stale value is never taken for the new one.
func (s *Store) SavePipelines(ctx context.Context, projectID int64, ps []Pipeline, cursor time.Time) error {
	err := s.ingestTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO pipelines(id, iid, project_id, ref, sha, status, source,
				created_at, updated_at, web_url, detail_fetched)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT(id) DO UPDATE SET
				detail_fetched = CASE WHEN pipelines.updated_at = excluded.updated_at AND pipelines.status = excluded.status
					THEN pipelines.detail_fetched ELSE 0 END,
				finished_at = CASE WHEN pipelines.updated_at = excluded.updated_at AND pipelines.status = excluded.status
					THEN pipelines.finished_at ELSE NULL END,
				coverage = CASE WHEN pipelines.updated_at = excluded.updated_at AND pipelines.status = excluded.status
					THEN pipelines.coverage ELSE NULL END,
				iid = excluded.iid, project_id = excluded.project_id, ref = excluded.ref, sha = excluded.sha,
				status = excluded.status, source = excluded.source, created_at = excluded.created_at,
				updated_at = excluded.updated_at, web_url = excluded.web_url`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range ps {
			if p.ProjectID != projectID {
				return fmt.Errorf("pipeline %d belongs to project %d, not %d", p.ID, p.ProjectID, projectID)
			}
			if _, err := stmt.ExecContext(ctx, p.ID, p.IID, p.ProjectID, p.Ref, p.SHA, p.Status, p.Source,
				p.CreatedAt.Unix(), p.UpdatedAt.Unix(), p.WebURL); err != nil {
				return fmt.Errorf("pipeline %d: %w", p.ID, err)
			}
		}
		return advanceCursor(ctx, tx, projectID, ResourcePipelines, cursor)
	})
	if err != nil {
		return fmt.Errorf("store: save pipelines of project %d: %w", projectID, err)
	}
	return nil
}

// SetPipelineDetail records what the single-pipeline endpoint said about a pipeline: its finish
// time and coverage. forUpdatedAt is the pipeline's updated_at as listed; if the stored row has
// moved on since, the detail is stale and is not written (ok is false).
func (s *Store) SetPipelineDetail(ctx context.Context, id int64, forUpdatedAt time.Time, finishedAt *time.Time, coverage *float64) (ok bool, err error) {
	var cov any
	if coverage != nil {
		cov = *coverage
	}
	res, err := s.ingestExec(ctx, `UPDATE pipelines SET finished_at = ?, coverage = ?, detail_fetched = 1
		WHERE id = ? AND updated_at = ?`, epochPtr(finishedAt), cov, id, forUpdatedAt.Unix())
	if err != nil {
		return false, fmt.Errorf("store: set detail of pipeline %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SuccessfulPipelines lists a project's successful default-branch pipelines, latest updated
// first.
func (s *Store) SuccessfulPipelines(ctx context.Context, projectID int64) ([]Pipeline, error) {
	return s.queryPipelines(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE project_id = ? AND status = 'success'
		ORDER BY updated_at DESC, id DESC`, projectID)
}

// Pipelines lists a project's default-branch pipelines by id.
func (s *Store) Pipelines(ctx context.Context, projectID int64) ([]Pipeline, error) {
	return s.queryPipelines(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE project_id = ? ORDER BY id`, projectID)
}

const pipelineColumns = `id, iid, project_id, ref, sha, status, source, created_at, updated_at, finished_at,
	coverage, web_url, detail_fetched`

func (s *Store) queryPipelines(ctx context.Context, q string, args ...any) ([]Pipeline, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: pipelines: %w", err)
	}
	defer rows.Close()
	var out []Pipeline
	for rows.Next() {
		var p Pipeline
		var created, updated int64
		var finished sql.NullInt64
		var cov sql.NullFloat64
		if err := rows.Scan(&p.ID, &p.IID, &p.ProjectID, &p.Ref, &p.SHA, &p.Status, &p.Source, &created, &updated,
			&finished, &cov, &p.WebURL, &p.DetailFetched); err != nil {
			return nil, fmt.Errorf("store: pipelines: %w", err)
		}
		p.CreatedAt, p.UpdatedAt, p.FinishedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC(), fromEpochNull(finished)
		if cov.Valid {
			c := cov.Float64
			p.Coverage = &c
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pipelines: %w", err)
	}
	return out, nil
}
