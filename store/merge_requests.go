package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MergeRequest is a GitLab merge request as listed, with the facts derived from its commits
// and notes (zero until those were fetched).
type MergeRequest struct {
	ProjectID       int64
	IID             int64
	ID              int64
	Title           string
	State           string // opened | closed | locked | merged
	Draft           bool
	AuthorID        int64
	AuthorUsername  string
	Labels          []string // as GitLab gives them
	SourceBranch    string
	TargetBranch    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	MergedAt        *time.Time
	ClosedAt        *time.Time
	SHA             string
	MergeCommitSHA  string
	SquashCommitSHA string
	WebURL          string
	UserNotesCount  int64

	// Derived; written only by ReplaceMergeRequestDetails.
	CommitCount      int64
	EarliestCommitAt *time.Time // min(authored_date) over its commits (first_commit_at column, before the created_at rule)
	FirstReviewAt    *time.Time
	FirstApprovalAt  *time.Time
	DetailsUpdatedAt *time.Time // the updated_at its commits and notes were fetched for; nil: never
}

// DetailsCurrent reports whether the commits and notes stored for the MR were fetched for its
// current version.
func (m MergeRequest) DetailsCurrent() bool {
	return m.DetailsUpdatedAt != nil && m.DetailsUpdatedAt.Equal(m.UpdatedAt)
}

// MRCommit is one commit of a merge request.
type MRCommit struct {
	SHA        string
	AuthoredAt time.Time
	// Author identifies who authored it: the lower-cased author email, else the name.
	Author string
	// Reverts lists the SHAs its message says it reverts ("This reverts commit S.").
	Reverts []string
}

// NoteKind says what a kept note of an MR is.
type NoteKind string

// The notes Pacer keeps: human comments and the two approval system notes.
const (
	NoteComment    NoteKind = "comment"    // a non-system note
	NoteApproved   NoteKind = "approved"   // "approved this merge request"
	NoteUnapproved NoteKind = "unapproved" // "unapproved this merge request"
)

// MRNote is a review event of a merge request. Approvals read from the approvals API (where
// the notes say nothing) are stored as NoteApproved with ID = -(approver's user id).
type MRNote struct {
	ID             int64
	Kind           NoteKind
	AuthorID       int64
	AuthorUsername string
	CreatedAt      time.Time
}

// ReviewInput is what DeriveReview needs about one merge request.
type ReviewInput struct {
	AuthorID  int64
	CreatedAt time.Time
	MergedAt  *time.Time // nil: not merged, so no "at or before merged_at" bound applies
	Commits   []MRCommit
	Notes     []MRNote
	// IsBot says whether a note's author is a bot (BotRule builds one); nil means nobody is.
	IsBot func(userID int64, username string) bool
}

// ReviewFacts are the per-MR instants of SPEC section 3 that come from commits and notes.
type ReviewFacts struct {
	// EarliestCommitAt is the earliest authored instant among the commits; nil without commits.
	EarliestCommitAt *time.Time
	// FirstCommitAt applies the spec's rule: EarliestCommitAt, or CreatedAt when there are no
	// commits or the earliest is after CreatedAt.
	FirstCommitAt time.Time
	// FirstApprovalAt is the earliest approval by a human other than the author, at or before
	// the merge, even if later withdrawn.
	FirstApprovalAt *time.Time
	// FirstReviewAt is the earliest of a comment by a human other than the author and
	// FirstApprovalAt, at or before the merge.
	FirstReviewAt *time.Time
}

// DeriveReview computes first commit, first review and first approval of one MR (SPEC
// section 3). It is pure, so the metrics can recompute the facts with another bot rule.
func DeriveReview(in ReviewInput) ReviewFacts {
	var f ReviewFacts
	for _, c := range in.Commits {
		if f.EarliestCommitAt == nil || c.AuthoredAt.Before(*f.EarliestCommitAt) {
			t := c.AuthoredAt.UTC()
			f.EarliestCommitAt = &t
		}
	}
	f.FirstCommitAt = in.CreatedAt.UTC()
	if f.EarliestCommitAt != nil && !f.EarliestCommitAt.After(in.CreatedAt) {
		f.FirstCommitAt = *f.EarliestCommitAt
	}
	counts := func(n MRNote) bool {
		if n.AuthorID == in.AuthorID {
			return false
		}
		if in.IsBot != nil && in.IsBot(n.AuthorID, n.AuthorUsername) {
			return false
		}
		return in.MergedAt == nil || !n.CreatedAt.After(*in.MergedAt)
	}
	var firstComment *time.Time
	for _, n := range in.Notes {
		if !counts(n) {
			continue
		}
		t := n.CreatedAt.UTC()
		switch n.Kind {
		case NoteApproved:
			if f.FirstApprovalAt == nil || t.Before(*f.FirstApprovalAt) {
				f.FirstApprovalAt = &t
			}
		case NoteComment:
			if firstComment == nil || t.Before(*firstComment) {
				firstComment = &t
			}
		}
	}
	f.FirstReviewAt = firstComment
	if f.FirstApprovalAt != nil && (f.FirstReviewAt == nil || f.FirstApprovalAt.Before(*f.FirstReviewAt)) {
		t := *f.FirstApprovalAt
		f.FirstReviewAt = &t
	}
	return f
}

const mrColumns = `project_id, iid, id, title, state, draft, author_id, author_username, labels,
	source_branch, target_branch, created_at, updated_at, merged_at, closed_at, sha, merge_commit_sha,
	squash_commit_sha, web_url, user_notes_count, commit_count, first_commit_at, first_review_at,
	first_approval_at, details_updated_at`

func scanMergeRequest(sc interface{ Scan(...any) error }) (MergeRequest, error) {
	var m MergeRequest
	var labels string
	var created, updated int64
	var merged, closed, first, review, approval, details sql.NullInt64
	err := sc.Scan(&m.ProjectID, &m.IID, &m.ID, &m.Title, &m.State, &m.Draft, &m.AuthorID, &m.AuthorUsername,
		&labels, &m.SourceBranch, &m.TargetBranch, &created, &updated, &merged, &closed, &m.SHA,
		&m.MergeCommitSHA, &m.SquashCommitSHA, &m.WebURL, &m.UserNotesCount, &m.CommitCount, &first,
		&review, &approval, &details)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(labels), &m.Labels); err != nil {
		return m, fmt.Errorf("labels of MR !%d: %w", m.IID, err)
	}
	m.CreatedAt, m.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	m.MergedAt, m.ClosedAt = fromEpochNull(merged), fromEpochNull(closed)
	m.EarliestCommitAt, m.FirstReviewAt = fromEpochNull(first), fromEpochNull(review)
	m.FirstApprovalAt, m.DetailsUpdatedAt = fromEpochNull(approval), fromEpochNull(details)
	return m, nil
}

// SaveMergeRequests upserts one listed page of a project's MRs and advances the project's MR
// cursor to `cursor` in the same transaction, so the cursor never passes an uncommitted MR.
// Derived facts and the details mark are kept: an MR whose updated_at moved simply no longer
// has current details.
func (s *Store) SaveMergeRequests(ctx context.Context, projectID int64, mrs []MergeRequest, cursor time.Time) error {
	err := s.ingestTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO merge_requests(project_id, iid, id, title, state, draft,
				author_id, author_username, labels, source_branch, target_branch, created_at, updated_at,
				merged_at, closed_at, sha, merge_commit_sha, squash_commit_sha, web_url, user_notes_count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(project_id, iid) DO UPDATE SET id = excluded.id, title = excluded.title,
				state = excluded.state, draft = excluded.draft, author_id = excluded.author_id,
				author_username = excluded.author_username, labels = excluded.labels,
				source_branch = excluded.source_branch, target_branch = excluded.target_branch,
				created_at = excluded.created_at, updated_at = excluded.updated_at,
				merged_at = excluded.merged_at, closed_at = excluded.closed_at, sha = excluded.sha,
				merge_commit_sha = excluded.merge_commit_sha, squash_commit_sha = excluded.squash_commit_sha,
				web_url = excluded.web_url, user_notes_count = excluded.user_notes_count
			WHERE excluded.updated_at >= merge_requests.updated_at`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		// A stored row newer than the listed one (a webhook fetched the MR after this page was
		// listed) is kept: GitLab's updated_at only moves forward, and the cursor, which stays
		// below it, brings the newer version to the next sync anyway.
		for _, m := range mrs {
			if m.ProjectID != projectID {
				return fmt.Errorf("MR !%d belongs to project %d, not %d", m.IID, m.ProjectID, projectID)
			}
			labels := m.Labels
			if labels == nil {
				labels = []string{}
			}
			lj, err := json.Marshal(labels)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, m.ProjectID, m.IID, m.ID, m.Title, m.State, m.Draft, m.AuthorID,
				m.AuthorUsername, string(lj), m.SourceBranch, m.TargetBranch, m.CreatedAt.Unix(), m.UpdatedAt.Unix(),
				epochPtr(m.MergedAt), epochPtr(m.ClosedAt), m.SHA, m.MergeCommitSHA, m.SquashCommitSHA, m.WebURL,
				m.UserNotesCount); err != nil {
				return fmt.Errorf("MR !%d: %w", m.IID, err)
			}
		}
		return advanceCursor(ctx, tx, projectID, ResourceMergeRequests, cursor)
	})
	if err != nil {
		return fmt.Errorf("store: save merge requests of project %d: %w", projectID, err)
	}
	return nil
}

// MergeRequest returns one MR, or ErrNotFound.
func (s *Store) MergeRequest(ctx context.Context, projectID, iid int64) (MergeRequest, error) {
	m, err := scanMergeRequest(s.DB.QueryRowContext(ctx, `SELECT `+mrColumns+` FROM merge_requests
		WHERE project_id = ? AND iid = ?`, projectID, iid))
	if errors.Is(err, sql.ErrNoRows) {
		return MergeRequest{}, ErrNotFound
	}
	if err != nil {
		return MergeRequest{}, fmt.Errorf("store: merge request %d!%d: %w", projectID, iid, err)
	}
	return m, nil
}

// MergeRequests lists a project's MRs by iid.
func (s *Store) MergeRequests(ctx context.Context, projectID int64) ([]MergeRequest, error) {
	return s.queryMergeRequests(ctx, `SELECT `+mrColumns+` FROM merge_requests WHERE project_id = ? ORDER BY iid`, projectID)
}

// MergeRequestsNeedingDetails lists the MRs whose commits and notes must be (re)fetched: merged
// into the project's current default branch, the only MRs the metrics count, and not fetched
// for their current updated_at. Open MRs are left until they merge (merging changes updated_at);
// closed MRs and MRs into other branches never count. Oldest first.
func (s *Store) MergeRequestsNeedingDetails(ctx context.Context, projectID int64) ([]MergeRequest, error) {
	return s.queryMergeRequests(ctx, `SELECT `+mrColumns+` FROM merge_requests m
		WHERE m.project_id = ? AND m.state = 'merged'
			AND m.target_branch = (SELECT default_branch FROM projects WHERE id = m.project_id)
			AND (m.details_updated_at IS NULL OR m.details_updated_at <> m.updated_at)
		ORDER BY m.updated_at, m.iid`, projectID)
}

func (s *Store) queryMergeRequests(ctx context.Context, q string, args ...any) ([]MergeRequest, error) {
	return queryAll(ctx, s, "merge requests", q, scanMergeRequest, args...)
}

// MergeRequestDetails are the commits and kept notes of one MR version, with the facts derived
// from them.
type MergeRequestDetails struct {
	ProjectID int64
	IID       int64
	UpdatedAt time.Time // the MR updated_at these were fetched for
	Commits   []MRCommit
	Notes     []MRNote
	Facts     ReviewFacts
}

// ReplaceMergeRequestDetails replaces an MR's commits and notes (force pushes rewrite commits)
// and writes the derived columns, in one transaction. The MR row must exist (ErrNotFound).
func (s *Store) ReplaceMergeRequestDetails(ctx context.Context, d MergeRequestDetails) error {
	missing, err := s.ReplaceMergeRequestDetailsBatch(ctx, []MergeRequestDetails{d})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("store: replace details of MR %d!%d: %w", d.ProjectID, d.IID, ErrNotFound)
	}
	return nil
}

// ReplaceMergeRequestDetailsBatch does what ReplaceMergeRequestDetails does for several MRs in
// one transaction: one commit (and one fsync of the WAL) per batch instead of per MR was a third
// of a full sync's CPU. Each MR's rows and its details_updated_at, the per-MR mark that its
// details are current, still commit together. An MR whose row no longer exists is skipped and
// returned in missing (nothing of it is written); the others are committed. err means nothing
// was written.
func (s *Store) ReplaceMergeRequestDetailsBatch(ctx context.Context, ds []MergeRequestDetails) (missing []int64, err error) {
	if len(ds) == 0 {
		return nil, nil
	}
	var cur *MergeRequestDetails
	err = s.ingestTx(ctx, func(tx *sql.Tx) error {
		missing = missing[:0]
		upd, err := tx.PrepareContext(ctx, `UPDATE merge_requests SET commit_count = ?, first_commit_at = ?,
				first_review_at = ?, first_approval_at = ?, details_updated_at = ?
			WHERE project_id = ? AND iid = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		delCommits, err := tx.PrepareContext(ctx, `DELETE FROM mr_commits WHERE project_id = ? AND mr_iid = ?`)
		if err != nil {
			return err
		}
		defer delCommits.Close()
		delNotes, err := tx.PrepareContext(ctx, `DELETE FROM mr_notes WHERE project_id = ? AND mr_iid = ?`)
		if err != nil {
			return err
		}
		defer delNotes.Close()
		// The rows of the whole batch go in multi-row INSERTs: one statement per row was most of
		// what remained of the write's CPU. Rows keep their order, so OR IGNORE / OR REPLACE
		// resolve duplicates as row-by-row inserts would.
		var commitArgs, noteArgs []any
		for i := range ds {
			d := &ds[i]
			cur = d
			res, err := upd.ExecContext(ctx, len(d.Commits), epochPtr(d.Facts.EarliestCommitAt), epochPtr(d.Facts.FirstReviewAt),
				epochPtr(d.Facts.FirstApprovalAt), d.UpdatedAt.Unix(), d.ProjectID, d.IID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// The UPDATE came first, so nothing of this MR was written.
				missing = append(missing, d.IID)
				continue
			}
			if _, err := delCommits.ExecContext(ctx, d.ProjectID, d.IID); err != nil {
				return err
			}
			if _, err := delNotes.ExecContext(ctx, d.ProjectID, d.IID); err != nil {
				return err
			}
			for _, c := range d.Commits {
				commitArgs = append(commitArgs, d.ProjectID, d.IID, c.SHA, c.AuthoredAt.Unix(), c.Author, strings.Join(c.Reverts, " "))
			}
			// A note twice in one answer keeps its last row (GitLab's pages can overlap).
			last := make(map[int64]int, len(d.Notes))
			for i, n := range d.Notes {
				last[n.ID] = i
			}
			for i, n := range d.Notes {
				if last[n.ID] != i {
					continue
				}
				noteArgs = append(noteArgs, d.ProjectID, d.IID, n.ID, string(n.Kind), n.AuthorID, n.AuthorUsername, n.CreatedAt.Unix())
			}
		}
		cur = nil
		if err := insertRows(ctx, tx, `INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at, author, reverts) VALUES `,
			` ON CONFLICT (project_id, mr_iid, sha) DO NOTHING`, 6, commitArgs); err != nil {
			return fmt.Errorf("commits: %w", err)
		}
		if err := insertRows(ctx, tx, `INSERT INTO mr_notes(project_id, mr_iid, note_id, kind,
				author_id, author_username, created_at) VALUES `,
			` ON CONFLICT (project_id, mr_iid, note_id) DO NOTHING`, 7, noteArgs); err != nil {
			return fmt.Errorf("notes: %w", err)
		}
		cur = nil
		return nil
	})
	if err != nil {
		if cur != nil {
			return nil, fmt.Errorf("store: replace details of %d MRs (at MR %d!%d): %w", len(ds), cur.ProjectID, cur.IID, err)
		}
		return nil, fmt.Errorf("store: replace details of %d MRs: %w", len(ds), err)
	}
	return missing, nil
}

// insertRowsChunk is how many rows one multi-row INSERT carries (7 columns × 64 rows stays far
// below SQLite's limit on bound parameters).
const insertRowsChunk = 64

// insertRows runs prefix + "(?, ...), (?, ...)" + suffix over args, cols values per row, in
// order, in chunks of insertRowsChunk rows.
func insertRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any) error {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	statement := func(rows int) string {
		return prefix + row + strings.Repeat(", "+row, rows-1) + suffix
	}
	full := insertRowsChunk * cols
	var stmt *sql.Stmt
	for len(args) > 0 {
		n := min(len(args), full)
		if n < full {
			_, err := tx.ExecContext(ctx, statement(n/cols), args[:n]...)
			return err
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, statement(insertRowsChunk)); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, args[:n]...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// DeleteMergeRequest removes an MR GitLab no longer has, with its commits and notes.
func (s *Store) DeleteMergeRequest(ctx context.Context, projectID, iid int64) error {
	if _, err := s.ingestExec(ctx, `DELETE FROM merge_requests WHERE project_id = ? AND iid = ?`, projectID, iid); err != nil {
		return fmt.Errorf("store: delete MR %d!%d: %w", projectID, iid, err)
	}
	return nil
}

// MergeRequestCommits lists the stored commits of an MR, oldest authored first.
func (s *Store) MergeRequestCommits(ctx context.Context, projectID, iid int64) ([]MRCommit, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT sha, authored_at, author, reverts FROM mr_commits WHERE project_id = ? AND mr_iid = ?
		ORDER BY authored_at, sha`, projectID, iid)
	if err != nil {
		return nil, fmt.Errorf("store: commits of MR %d!%d: %w", projectID, iid, err)
	}
	defer rows.Close()
	var out []MRCommit
	for rows.Next() {
		var c MRCommit
		var at int64
		var reverts string
		if err := rows.Scan(&c.SHA, &at, &c.Author, &reverts); err != nil {
			return nil, fmt.Errorf("store: commits of MR %d!%d: %w", projectID, iid, err)
		}
		c.AuthoredAt = time.Unix(at, 0).UTC()
		if reverts != "" {
			c.Reverts = strings.Fields(reverts)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MergeRequestNotes lists the stored review events of an MR, oldest first.
func (s *Store) MergeRequestNotes(ctx context.Context, projectID, iid int64) ([]MRNote, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT note_id, kind, author_id, author_username, created_at FROM mr_notes
		WHERE project_id = ? AND mr_iid = ? ORDER BY created_at, note_id`, projectID, iid)
	if err != nil {
		return nil, fmt.Errorf("store: notes of MR %d!%d: %w", projectID, iid, err)
	}
	defer rows.Close()
	var out []MRNote
	for rows.Next() {
		var n MRNote
		var kind string
		var at int64
		if err := rows.Scan(&n.ID, &kind, &n.AuthorID, &n.AuthorUsername, &at); err != nil {
			return nil, fmt.Errorf("store: notes of MR %d!%d: %w", projectID, iid, err)
		}
		n.Kind, n.CreatedAt = NoteKind(kind), time.Unix(at, 0).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}
