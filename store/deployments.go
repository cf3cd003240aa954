package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Environment is a GitLab environment of a project.
type Environment struct {
	ID          int64
	ProjectID   int64
	Name        string
	Tier        string // GitLab deployment tier; empty when GitLab gives none
	ExternalURL string
	Production  bool // tier production, or no tier and a name matching the configured pattern
}

// UpsertEnvironments records a project's environments as listed. Environments no longer listed
// are kept: their deployments still happened.
func (s *Store) UpsertEnvironments(ctx context.Context, projectID int64, envs []Environment) error {
	err := s.ingestTx(ctx, func(tx *sql.Tx) error {
		for _, e := range envs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO environments(id, project_id, name, tier, external_url, production)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT(id) DO UPDATE SET project_id = excluded.project_id, name = excluded.name,
					tier = excluded.tier, external_url = excluded.external_url, production = excluded.production`,
				e.ID, projectID, e.Name, e.Tier, e.ExternalURL, e.Production); err != nil {
				return fmt.Errorf("environment %s: %w", e.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: upsert environments of project %d: %w", projectID, err)
	}
	return nil
}

// SetEnvironmentProduction changes whether an environment counts as production (the configured
// pattern changed). When it stops counting, its deployments are deleted, since the deployments
// table holds production deployments only.
func (s *Store) SetEnvironmentProduction(ctx context.Context, envID int64, production bool) error {
	err := s.ingestTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE environments SET production = ? WHERE id = ?`, production, envID); err != nil {
			return err
		}
		if !production {
			if _, err := tx.ExecContext(ctx, `DELETE FROM deployments WHERE environment_id = ?`, envID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set production of environment %d: %w", envID, err)
	}
	return nil
}

// Environments lists a project's environments by name.
func (s *Store) Environments(ctx context.Context, projectID int64) ([]Environment, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, project_id, name, tier, external_url, production
		FROM environments WHERE project_id = ? ORDER BY name, id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("store: environments of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var out []Environment
	for rows.Next() {
		var e Environment
		if err := rows.Scan(&e.ID, &e.ProjectID, &e.Name, &e.Tier, &e.ExternalURL, &e.Production); err != nil {
			return nil, fmt.Errorf("store: environments of project %d: %w", projectID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Deployment is a successful production deployment.
type Deployment struct {
	ID             int64 // GitLab deployment id (not iid)
	IID            int64
	ProjectID      int64
	EnvironmentID  int64
	Environment    string
	Ref            string
	SHA            string
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     time.Time // deployable.finished_at; updated_at for deployments created through the API
	JobURL         string
	LinksFetchedAt *time.Time // when its MRs were last fetched; nil: never
}

// SaveDeployments upserts one listed page of a project's production deployments and advances
// its deployment cursor to `cursor` in the same transaction. When links were fetched before,
// the fetch time is kept.
func (s *Store) SaveDeployments(ctx context.Context, projectID int64, deps []Deployment, cursor time.Time) error {
	err := s.ingestTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO deployments(id, iid, project_id, environment_id, environment,
				ref, sha, status, created_at, updated_at, finished_at, job_url)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET iid = excluded.iid, project_id = excluded.project_id,
				environment_id = excluded.environment_id, environment = excluded.environment, ref = excluded.ref,
				sha = excluded.sha, status = excluded.status, created_at = excluded.created_at,
				updated_at = excluded.updated_at, finished_at = excluded.finished_at, job_url = excluded.job_url`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, d := range deps {
			if d.ProjectID != projectID {
				return fmt.Errorf("deployment %d belongs to project %d, not %d", d.ID, d.ProjectID, projectID)
			}
			if _, err := stmt.ExecContext(ctx, d.ID, d.IID, d.ProjectID, d.EnvironmentID, d.Environment, d.Ref, d.SHA,
				d.Status, d.CreatedAt.Unix(), d.UpdatedAt.Unix(), d.FinishedAt.Unix(), d.JobURL); err != nil {
				return fmt.Errorf("deployment %d: %w", d.ID, err)
			}
		}
		return advanceCursor(ctx, tx, projectID, ResourceDeployments, cursor)
	})
	if err != nil {
		return fmt.Errorf("store: save deployments of project %d: %w", projectID, err)
	}
	return nil
}

// LinkRefetchWindow is how long after a deployment finished its MRs are fetched again: GitLab
// links them asynchronously after the deployment finishes (SPEC section 2).
const LinkRefetchWindow = 24 * time.Hour

// DeploymentsNeedingLinks lists a project's deployments whose MRs must be fetched: never
// fetched, or last fetched less than LinkRefetchWindow after they finished. Oldest first.
func (s *Store) DeploymentsNeedingLinks(ctx context.Context, projectID int64) ([]Deployment, error) {
	return s.queryDeployments(ctx, `SELECT `+deploymentColumns+` FROM deployments
		WHERE project_id = ? AND (links_fetched_at IS NULL OR links_fetched_at < finished_at + ?)
		ORDER BY finished_at, id`, projectID, int64(LinkRefetchWindow/time.Second))
}

// Deployments lists a project's production deployments by finish time.
func (s *Store) Deployments(ctx context.Context, projectID int64) ([]Deployment, error) {
	return s.queryDeployments(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE project_id = ?
		ORDER BY finished_at, id`, projectID)
}

const deploymentColumns = `id, iid, project_id, environment_id, environment, ref, sha, status, created_at,
	updated_at, finished_at, job_url, links_fetched_at`

func (s *Store) queryDeployments(ctx context.Context, q string, args ...any) ([]Deployment, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: deployments: %w", err)
	}
	defer rows.Close()
	var out []Deployment
	for rows.Next() {
		var d Deployment
		var created, updated, finished int64
		var links sql.NullInt64
		if err := rows.Scan(&d.ID, &d.IID, &d.ProjectID, &d.EnvironmentID, &d.Environment, &d.Ref, &d.SHA, &d.Status,
			&created, &updated, &finished, &d.JobURL, &links); err != nil {
			return nil, fmt.Errorf("store: deployments: %w", err)
		}
		d.CreatedAt, d.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
		d.FinishedAt, d.LinksFetchedAt = time.Unix(finished, 0).UTC(), fromEpochNull(links)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deployments: %w", err)
	}
	return out, nil
}

// MRLink names an MR a deployment shipped.
type MRLink struct {
	ProjectID int64 // the MR's project (its target project)
	IID       int64
}

// ReplaceDeploymentMergeRequests replaces the MRs linked to a deployment with those GitLab
// lists now and records when they were fetched, in one transaction. The deployment must exist
// (ErrNotFound).
func (s *Store) ReplaceDeploymentMergeRequests(ctx context.Context, deploymentID int64, links []MRLink, fetchedAt time.Time) error {
	missing, err := s.ReplaceDeploymentMergeRequestsBatch(ctx, []DeploymentLinks{{DeploymentID: deploymentID, Links: links, FetchedAt: fetchedAt}})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("store: replace MRs of deployment %d: %w", deploymentID, ErrNotFound)
	}
	return nil
}

// DeploymentLinks are the MRs GitLab links to one deployment, as fetched at FetchedAt.
type DeploymentLinks struct {
	DeploymentID int64
	Links        []MRLink
	FetchedAt    time.Time
}

// ReplaceDeploymentMergeRequestsBatch does what ReplaceDeploymentMergeRequests does for several
// deployments in one transaction (a transaction each cost more CPU than the rows). Each
// deployment's links and its links_fetched_at still commit together. A deployment whose row no
// longer exists is skipped and returned in missing (nothing of it is written); the others are
// committed. err means nothing was written.
func (s *Store) ReplaceDeploymentMergeRequestsBatch(ctx context.Context, ls []DeploymentLinks) (missing []int64, err error) {
	if len(ls) == 0 {
		return nil, nil
	}
	err = s.ingestTx(ctx, func(tx *sql.Tx) error {
		missing = missing[:0]
		upd, err := tx.PrepareContext(ctx, `UPDATE deployments SET links_fetched_at = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		del, err := tx.PrepareContext(ctx, `DELETE FROM deployment_merge_requests WHERE deployment_id = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid)
			VALUES (?, ?, ?) ON CONFLICT (deployment_id, mr_iid) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, l := range ls {
			res, err := upd.ExecContext(ctx, l.FetchedAt.Unix(), l.DeploymentID)
			if err != nil {
				return fmt.Errorf("deployment %d: %w", l.DeploymentID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// The UPDATE came first, so nothing of this deployment was written.
				missing = append(missing, l.DeploymentID)
				continue
			}
			if _, err := del.ExecContext(ctx, l.DeploymentID); err != nil {
				return fmt.Errorf("deployment %d: %w", l.DeploymentID, err)
			}
			for _, m := range l.Links {
				if _, err := ins.ExecContext(ctx, l.DeploymentID, m.ProjectID, m.IID); err != nil {
					return fmt.Errorf("deployment %d: %w", l.DeploymentID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: replace MRs of %d deployments: %w", len(ls), err)
	}
	return missing, nil
}

// DeploymentMergeRequests lists the MRs linked to a deployment, by iid.
func (s *Store) DeploymentMergeRequests(ctx context.Context, deploymentID int64) ([]MRLink, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT project_id, mr_iid FROM deployment_merge_requests
		WHERE deployment_id = ? ORDER BY project_id, mr_iid`, deploymentID)
	if err != nil {
		return nil, fmt.Errorf("store: MRs of deployment %d: %w", deploymentID, err)
	}
	defer rows.Close()
	var out []MRLink
	for rows.Next() {
		var l MRLink
		if err := rows.Scan(&l.ProjectID, &l.IID); err != nil {
			return nil, fmt.Errorf("store: MRs of deployment %d: %w", deploymentID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
