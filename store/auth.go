package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrExists is returned when a name is already taken.
var ErrExists = errors.New("store: already exists")

// AuthUser is a person who signed in with GitLab.
type AuthUser struct {
	ID                int64 // GitLab user id
	Username          string
	Name              string
	Token             []byte     // the sealed OAuth token; nil once GitLab refused it
	ProjectsFetchedAt *time.Time // nil: the visible projects were never read
	SignedInAt        time.Time
}

// UpsertAuthUser records a person at sign-in: name, sealed token and sign-in time.
func (s *Store) UpsertAuthUser(ctx context.Context, u AuthUser) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO auth_users(id, username, name, token, signed_in_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET username = excluded.username, name = excluded.name, token = excluded.token,
			signed_in_at = excluded.signed_in_at`,
		u.ID, u.Username, u.Name, u.Token, u.SignedInAt.Unix())
	if err != nil {
		return fmt.Errorf("store: upsert user %d: %w", u.ID, err)
	}
	return nil
}

// SetAuthUserToken replaces a person's sealed token (a refreshed one, or nil when GitLab
// refused it).
func (s *Store) SetAuthUserToken(ctx context.Context, userID int64, token []byte) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE auth_users SET token = ? WHERE id = ?`, token, userID); err != nil {
		return fmt.Errorf("store: set token of user %d: %w", userID, err)
	}
	return nil
}

// AuthUserByID returns one person, or ErrNotFound.
func (s *Store) AuthUserByID(ctx context.Context, id int64) (AuthUser, error) {
	us, err := s.authUsers(ctx, `WHERE id = ?`, id)
	if err != nil {
		return AuthUser{}, err
	}
	if len(us) == 0 {
		return AuthUser{}, ErrNotFound
	}
	return us[0], nil
}

// AuthUsersToRefresh lists the people with a session whose visible projects were read
// before `before` (or never), oldest first.
func (s *Store) AuthUsersToRefresh(ctx context.Context, before time.Time) ([]AuthUser, error) {
	return s.authUsers(ctx, `WHERE EXISTS (SELECT 1 FROM auth_sessions s WHERE s.user_id = auth_users.id)
		AND (projects_fetched_at IS NULL OR projects_fetched_at < ?) ORDER BY COALESCE(projects_fetched_at, 0)`, before.Unix())
}

func (s *Store) authUsers(ctx context.Context, where string, args ...any) ([]AuthUser, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, username, name, token, projects_fetched_at, signed_in_at FROM auth_users `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: users who sign in: %w", err)
	}
	defer rows.Close()
	var out []AuthUser
	for rows.Next() {
		var u AuthUser
		var fetched *int64
		var signed int64
		if err := rows.Scan(&u.ID, &u.Username, &u.Name, &u.Token, &fetched, &signed); err != nil {
			return nil, fmt.Errorf("store: users who sign in: %w", err)
		}
		if fetched != nil {
			t := time.Unix(*fetched, 0).UTC()
			u.ProjectsFetchedAt = &t
		}
		u.SignedInAt = time.Unix(signed, 0).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users who sign in: %w", err)
	}
	return out, nil
}

// SetUserProjects replaces the set of GitLab project ids a person may read, as read at `at`.
func (s *Store) SetUserProjects(ctx context.Context, userID int64, projectIDs []int64, at time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_user_projects WHERE user_id = ?`, userID); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO auth_user_projects(user_id, project_id) VALUES (?, ?)
			ON CONFLICT (user_id, project_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range projectIDs {
			if _, err := stmt.ExecContext(ctx, userID, id); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE auth_users SET projects_fetched_at = ? WHERE id = ?`, at.Unix(), userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set projects of user %d: %w", userID, err)
	}
	return nil
}

// UserProjectIDs lists the projects Pacer has that a person may read, by id.
func (s *Store) UserProjectIDs(ctx context.Context, userID int64) ([]int64, error) {
	return s.ids(ctx, `SELECT p.id FROM projects p JOIN auth_user_projects u ON u.project_id = p.id
		WHERE u.user_id = ? ORDER BY p.id`, userID)
}

// ProjectIDsByPath lists the ids of the projects Pacer has among the given paths.
func (s *Store) ProjectIDsByPath(ctx context.Context, paths []string) ([]int64, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	args := make([]any, len(paths))
	for i, p := range paths {
		args[i] = p
	}
	return s.ids(ctx, `SELECT id FROM projects WHERE path IN (?`+strings.Repeat(", ?", len(paths)-1)+`) ORDER BY id`, args...)
}

func (s *Store) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: project ids: %w", err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: project ids: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: project ids: %w", err)
	}
	return out, nil
}

// Session is a signed-in browser.
type Session struct {
	IDHash    []byte // SHA-256 of the cookie's value
	UserID    int64
	Username  string // of the user, read with the session
	Name      string
	CSRF      string
	CreatedAt time.Time
	SeenAt    time.Time
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, ss Session) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO auth_sessions(id_hash, user_id, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		ss.IDHash, ss.UserID, ss.CSRF, ss.CreatedAt.Unix(), ss.SeenAt.Unix())
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionByHash returns the session with that id hash and its person, or ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, idHash []byte) (Session, error) {
	var ss Session
	var created, seen int64
	err := s.DB.QueryRowContext(ctx, `SELECT s.id_hash, s.user_id, u.username, u.name, s.csrf, s.created_at, s.seen_at
		FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id WHERE s.id_hash = ?`, idHash).
		Scan(&ss.IDHash, &ss.UserID, &ss.Username, &ss.Name, &ss.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	ss.CreatedAt, ss.SeenAt = time.Unix(created, 0).UTC(), time.Unix(seen, 0).UTC()
	return ss, nil
}

// TouchSession records that a session was used at `at`.
func (s *Store) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE auth_sessions SET seen_at = ? WHERE id_hash = ?`, at.Unix(), idHash); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession removes one session (sign-out, expiry).
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions signs a person out everywhere; it returns how many sessions ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM auth_sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DeleteExpiredSessions removes the sessions last seen before idleBefore or created before
// createdBefore, and sign-ins under way begun before pendingBefore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore, pendingBefore time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM auth_sessions WHERE seen_at < ? OR created_at < ?`, idleBefore.Unix(), createdBefore.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM auth_pending WHERE created_at < ?`, pendingBefore.Unix()); err != nil {
		return n, fmt.Errorf("store: delete stale sign-ins: %w", err)
	}
	return n, nil
}

// PendingSignIn is a sign-in sent to GitLab: the PKCE verifier and where to go after.
type PendingSignIn struct {
	StateHash []byte
	Verifier  string
	ReturnTo  string
	CreatedAt time.Time
}

// SavePendingSignIn stores a sign-in under way.
func (s *Store) SavePendingSignIn(ctx context.Context, p PendingSignIn) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO auth_pending(state_hash, verifier, return_to, created_at) VALUES (?, ?, ?, ?)`,
		p.StateHash, p.Verifier, p.ReturnTo, p.CreatedAt.Unix())
	if err != nil {
		return fmt.Errorf("store: save sign-in: %w", err)
	}
	return nil
}

// TakePendingSignIn returns and removes the sign-in with that state hash (each is used once),
// or ErrNotFound.
func (s *Store) TakePendingSignIn(ctx context.Context, stateHash []byte) (PendingSignIn, error) {
	var p PendingSignIn
	var created int64
	err := s.DB.QueryRowContext(ctx, `DELETE FROM auth_pending WHERE state_hash = ? RETURNING state_hash, verifier, return_to, created_at`, stateHash).
		Scan(&p.StateHash, &p.Verifier, &p.ReturnTo, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return PendingSignIn{}, ErrNotFound
	}
	if err != nil {
		return PendingSignIn{}, fmt.Errorf("store: take sign-in: %w", err)
	}
	p.CreatedAt = time.Unix(created, 0).UTC()
	return p, nil
}

// APIToken is a machine token: a name, the hash of its secret, and the projects it may read
// (none: every project).
type APIToken struct {
	ID         int64
	Name       string
	Hash       []byte
	Projects   []string // paths
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: never
	LastUsedAt *time.Time
}

// CreateAPIToken stores a token; ErrExists if the name is taken.
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE name = ?`, t.Name).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return ErrExists
		}
		var expires *int64
		if t.ExpiresAt != nil {
			v := t.ExpiresAt.Unix()
			expires = &v
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens(name, hash, created_at, expires_at) VALUES (?, ?, ?, ?)
			RETURNING id`, t.Name, t.Hash, t.CreatedAt.Unix(), expires).Scan(&id); err != nil {
			return err
		}
		for _, p := range t.Projects {
			if _, err := tx.ExecContext(ctx, `INSERT INTO api_token_projects(token_id, project_path) VALUES (?, ?)
				ON CONFLICT (token_id, project_path) DO NOTHING`, id, p); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrExists) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: create token %s: %w", t.Name, err)
	}
	return nil
}

// APITokens lists every token, by name.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	return s.apiTokens(ctx, `ORDER BY t.name`)
}

// APITokenByHash returns the token with that hash, or ErrNotFound.
func (s *Store) APITokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	ts, err := s.apiTokens(ctx, `WHERE t.hash = ?`, hash)
	if err != nil {
		return APIToken{}, err
	}
	if len(ts) == 0 {
		return APIToken{}, ErrNotFound
	}
	return ts[0], nil
}

func (s *Store) apiTokens(ctx context.Context, where string, args ...any) ([]APIToken, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT t.id, t.name, t.hash, t.created_at, t.expires_at, t.last_used_at
		FROM api_tokens t `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var t APIToken
		var created int64
		var expires, used *int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Hash, &created, &expires, &used); err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		t.CreatedAt = time.Unix(created, 0).UTC()
		if expires != nil {
			v := time.Unix(*expires, 0).UTC()
			t.ExpiresAt = &v
		}
		if used != nil {
			v := time.Unix(*used, 0).UTC()
			t.LastUsedAt = &v
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	rows.Close()
	for i := range out {
		if out[i].Projects, err = s.apiTokenProjects(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apiTokenProjects is the project paths a token is limited to, sorted; none means every project.
func (s *Store) apiTokenProjects(ctx context.Context, id int64) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT project_path FROM api_token_projects WHERE token_id = ? ORDER BY project_path`, id)
	if err != nil {
		return nil, fmt.Errorf("store: token projects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("store: token projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// TouchAPIToken records a use of a token, at most once a minute.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		at.Unix(), id, at.Add(-time.Minute).Unix())
	if err != nil {
		return fmt.Errorf("store: touch token: %w", err)
	}
	return nil
}

// DeleteAPIToken revokes a token by name; ErrNotFound if there is none.
func (s *Store) DeleteAPIToken(ctx context.Context, name string) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("store: revoke token %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
