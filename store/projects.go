package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Project is a GitLab project Pacer syncs.
type Project struct {
	ID            int64  // GitLab project id
	Path          string // path_with_namespace, e.g. acme/platform/api
	Name          string
	DefaultBranch string
	WebURL        string
	Archived      bool
	DiscoveredAt  time.Time // when a sync first found it
}

const projectColumns = `p.id, p.path, p.name, p.default_branch, p.web_url, p.archived, p.discovered_at`

func projectDest(p *Project, discovered *int64) []any {
	return []any{&p.ID, &p.Path, &p.Name, &p.DefaultBranch, &p.WebURL, &p.Archived, discovered}
}

// UpsertProject records a project as GitLab describes it now. DiscoveredAt is kept from the
// first time the project was seen. A project renamed in GitLab keeps its id and takes its new
// path; a different project that had that path before is renamed out of the way first, since
// paths are unique.
func (s *Store) UpsertProject(ctx context.Context, p Project) error {
	if p.ID == 0 || p.Path == "" {
		return fmt.Errorf("store: upsert project: id and path are required (got id %d, path %q)", p.ID, p.Path)
	}
	return s.ingestTx(ctx, func(tx *sql.Tx) error {
		// Paths move between ids only when projects are renamed or recreated; give the old
		// holder a placeholder path until its own sync renames it properly.
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET path = path || ' (moved #' || id || ')'
			WHERE path = ? AND id <> ?`, p.Path, p.ID); err != nil {
			return fmt.Errorf("store: upsert project %s: %w", p.Path, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO projects(id, path, name, default_branch, web_url, archived, discovered_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET path = excluded.path, name = excluded.name,
				default_branch = excluded.default_branch, web_url = excluded.web_url, archived = excluded.archived`,
			p.ID, p.Path, p.Name, p.DefaultBranch, p.WebURL, p.Archived, p.DiscoveredAt.Unix())
		if err != nil {
			return fmt.Errorf("store: upsert project %s: %w", p.Path, err)
		}
		return nil
	})
}

// Projects lists every known project, ordered by path.
func (s *Store) Projects(ctx context.Context) ([]Project, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects p ORDER BY p.path`)
	if err != nil {
		return nil, fmt.Errorf("store: projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		var p Project
		var discovered int64
		if err := rows.Scan(projectDest(&p, &discovered)...); err != nil {
			return nil, fmt.Errorf("store: projects: %w", err)
		}
		p.DiscoveredAt = time.Unix(discovered, 0).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: projects: %w", err)
	}
	return out, nil
}

// Project returns one project by id, or ErrNotFound.
func (s *Store) Project(ctx context.Context, id int64) (Project, error) {
	var p Project
	var discovered int64
	err := s.DB.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects p WHERE p.id = ?`, id).
		Scan(projectDest(&p, &discovered)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("store: project %d: %w", id, err)
	}
	p.DiscoveredAt = time.Unix(discovered, 0).UTC()
	return p, nil
}
