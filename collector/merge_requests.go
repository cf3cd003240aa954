package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

// Overlaps re-read a little before each cursor: GitLab stamps updated_at before its transaction
// commits, so a row can appear with a time just below one already seen.
const (
	mrOverlap = 5 * time.Minute
	seekSlack = time.Second
)

// syncMergeRequests lists the project's MRs changed since its cursor (state=all,
// order_by=updated_at, sort=asc, updated_after) and saves them page by page with the cursor.
func (s *syncer) syncMergeRequests(ctx context.Context, p store.Project) error {
	from, ok, err := s.st.Cursor(ctx, p.ID, store.ResourceMergeRequests)
	if err != nil {
		return err
	}
	if ok {
		from = from.Add(-mrOverlap)
	} else {
		from = s.since()
	}
	seen := map[int64]bool{}
	fetch := func(ctx context.Context, after time.Time, page int64) ([]*apiMergeRequest, *gitlab.Response, error) {
		// Only the option struct's own OrderBy/Sort are set: setting ListOptions' as well makes
		// client-go send order_by twice.
		opt := &gitlab.ListProjectMergeRequestsOptions{
			ListOptions:  gitlab.ListOptions{PerPage: 100, Page: page},
			State:        gitlab.Ptr("all"),
			OrderBy:      gitlab.Ptr("updated_at"),
			Sort:         gitlab.Ptr("asc"),
			UpdatedAfter: gitlab.Ptr(after),
		}
		mrs, resp, err := getJSON[[]*apiMergeRequest](ctx, s.gl, fmt.Sprintf("projects/%d/merge_requests", p.ID), opt)
		if err != nil {
			return nil, resp, explain("list merge requests of "+p.Path, err)
		}
		return mrs, resp, nil
	}
	save := func(ctx context.Context, mrs []*apiMergeRequest, cursor time.Time) error {
		rows := make([]store.MergeRequest, 0, len(mrs))
		for _, m := range mrs {
			rows = append(rows, mergeRequestRow(p.ID, m))
			if m.Author != nil {
				if err := s.users.ensure(ctx, m.Author.ID, m.Author.Username); err != nil {
					return err
				}
			}
		}
		if err := s.st.SaveMergeRequests(ctx, p.ID, rows, cursor); err != nil {
			return err
		}
		n := 0
		for _, m := range mrs {
			if !seen[m.IID] {
				seen[m.IID] = true
				n++
			}
		}
		s.addMergeRequests(p.ID, n)
		return nil
	}
	key := func(m *apiMergeRequest) time.Time { return timeOrZero(m.UpdatedAt) }
	err = seekList(ctx, from, seekSlack, fetch, key, save)
	if httpStatus(err) == http.StatusForbidden {
		// Merge requests are disabled for this project (or hidden from the token's role).
		s.opt.Logger.Info("merge requests not available", "project", p.Path)
		return nil
	}
	return err
}

// apiMergeRequest is the part of GitLab's merge request entity Pacer stores.
type apiMergeRequest struct {
	ID              int64      `json:"id"`
	IID             int64      `json:"iid"`
	Title           string     `json:"title"`
	State           string     `json:"state"`
	Draft           bool       `json:"draft"`
	Labels          []string   `json:"labels"`
	SourceBranch    string     `json:"source_branch"`
	TargetBranch    string     `json:"target_branch"`
	CreatedAt       *time.Time `json:"created_at"`
	UpdatedAt       *time.Time `json:"updated_at"`
	MergedAt        *time.Time `json:"merged_at"`
	ClosedAt        *time.Time `json:"closed_at"`
	SHA             string     `json:"sha"`
	MergeCommitSHA  string     `json:"merge_commit_sha"`
	SquashCommitSHA string     `json:"squash_commit_sha"`
	WebURL          string     `json:"web_url"`
	UserNotesCount  int64      `json:"user_notes_count"`
	Author          *struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"author"`
}

func mergeRequestRow(projectID int64, m *apiMergeRequest) store.MergeRequest {
	r := store.MergeRequest{
		ProjectID: projectID, IID: m.IID, ID: m.ID, Title: m.Title, State: m.State, Draft: m.Draft,
		Labels: m.Labels, SourceBranch: m.SourceBranch, TargetBranch: m.TargetBranch,
		CreatedAt: timeOrZero(m.CreatedAt), UpdatedAt: timeOrZero(m.UpdatedAt),
		MergedAt: secsPtr(m.MergedAt), ClosedAt: secsPtr(m.ClosedAt), SHA: m.SHA,
		MergeCommitSHA: m.MergeCommitSHA, SquashCommitSHA: m.SquashCommitSHA, WebURL: m.WebURL,
		UserNotesCount: m.UserNotesCount,
	}
	if m.Author != nil {
		r.AuthorID, r.AuthorUsername = m.Author.ID, m.Author.Username
	}
	return r
}

// syncMergeRequestDetails fetches commits and notes of every MR whose stored details are not
// those of its current version (see store.MergeRequestsNeedingDetails for which MRs), derives
// first commit, first review and first approval, and writes them in batches (writeBatch).
// Driven by the store, not by the listing, so MRs left behind by an interrupted sync are
// picked up by the next one.
func (s *syncer) syncMergeRequestDetails(ctx context.Context, p store.Project) error {
	mrs, err := s.st.MergeRequestsNeedingDetails(ctx, p.ID)
	if err != nil {
		return err
	}
	b := s.detailsBatch(p)
	var mu sync.Mutex
	var gone []int64
	err = parallel(ctx, s.opt.Concurrency, mrs, func(ctx context.Context, m store.MergeRequest) error {
		d, ok, err := s.mergeRequestDetails(ctx, p, m)
		if err != nil {
			return err
		}
		if !ok {
			// GitLab answers 404 for its commits or notes, and for the MR, while the project
			// is still there: the MR was deleted since it was listed. Keeping it would count
			// an MR GitLab no longer has, and ask again forever.
			if err := s.st.DeleteMergeRequest(ctx, p.ID, m.IID); err != nil {
				return err
			}
			mu.Lock()
			gone = append(gone, m.IID)
			mu.Unlock()
			return nil
		}
		return b.add(d)
	})
	// Details fetched before a failure or a cancellation are written too: they are complete,
	// and dropping them would only cost their requests again next time.
	if ferr := b.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if len(gone) > 0 {
		s.opt.Logger.Warn("merge requests deleted in GitLab (404) were removed", "project", p.Path, "iids", gone)
	}
	return err
}

// Fetched items (an MR's details, a deployment's links) wait at most this many items, or this
// long, before they are written.
const (
	writeBatchSize = 100
	writeBatchAge  = 500 * time.Millisecond
)

// writeBatch gathers fetched items and writes them several at a time, in one transaction: a
// transaction per MR's details was a third of a full sync's CPU. Nothing is lost by waiting:
// each item's rows and the mark that they are current (details_updated_at, links_fetched_at)
// commit together, so an item fetched but not yet written is fetched again by the next sync,
// exactly as if the sync had stopped before fetching it.
type writeBatch[T any] struct {
	max    int
	maxAge time.Duration
	// write stores items in one transaction and returns how many it wrote; an error with
	// written > 0 names items skipped while the others were committed.
	write func(ctx context.Context, items []T) (written int, err error)

	mu      sync.Mutex
	pending []T
	since   time.Time // when the oldest pending item arrived

	writing sync.Mutex // one batch written at a time, in arrival order
}

func newWriteBatch[T any](write func(ctx context.Context, items []T) (int, error)) *writeBatch[T] {
	return &writeBatch[T]{max: writeBatchSize, maxAge: writeBatchAge, write: write}
}

// add queues one item and writes the batch when it is full or its oldest item has waited
// maxAge. The caller that fills the batch writes it, so a failed write counts as that caller's
// item failure.
func (b *writeBatch[T]) add(item T) error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.since = time.Now()
	}
	b.pending = append(b.pending, item)
	due := len(b.pending) >= b.max || time.Since(b.since) >= b.maxAge
	b.mu.Unlock()
	if !due {
		return nil
	}
	return b.flush()
}

// flush writes whatever is pending. It does not take the sync's context: the write is short,
// and items already fetched when Ctrl-C arrives are worth keeping.
func (b *writeBatch[T]) flush() error {
	b.writing.Lock()
	defer b.writing.Unlock()
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.write(ctx, batch)
	return err
}

// mergeRequestDetails fetches one MR's details; ok is false when GitLab no longer has it.
func (s *syncer) mergeRequestDetails(ctx context.Context, p store.Project, m store.MergeRequest) (d store.MergeRequestDetails, ok bool, err error) {
	base := fmt.Sprintf("projects/%d/merge_requests/%d", p.ID, m.IID)
	commits, err := allPages(ctx, func(ctx context.Context, page int64) ([]apiCommit, *gitlab.Response, error) {
		return getJSON[[]apiCommit](ctx, s.gl, base+"/commits", gitlab.ListOptions{PerPage: 100, Page: page})
	})
	if httpStatus(err) == http.StatusNotFound {
		return d, false, s.confirmDeleted(ctx, p, m.IID, err)
	}
	if err != nil {
		return d, false, explain(fmt.Sprintf("list commits of %s!%d", p.Path, m.IID), err)
	}
	notes, err := allPages(ctx, func(ctx context.Context, page int64) ([]apiNote, *gitlab.Response, error) {
		return getJSON[[]apiNote](ctx, s.gl, base+"/notes", gitlab.ListOptions{PerPage: 100, Page: page})
	})
	if httpStatus(err) == http.StatusNotFound {
		return d, false, s.confirmDeleted(ctx, p, m.IID, err)
	}
	if err != nil {
		return d, false, explain(fmt.Sprintf("list notes of %s!%d", p.Path, m.IID), err)
	}

	d = store.MergeRequestDetails{ProjectID: p.ID, IID: m.IID, UpdatedAt: m.UpdatedAt}
	for _, c := range commits {
		if c.AuthoredDate == nil {
			continue
		}
		d.Commits = append(d.Commits, store.MRCommit{SHA: c.ID, AuthoredAt: secs(*c.AuthoredDate),
			Author: commitAuthor(c.AuthorEmail, c.AuthorName), Reverts: RevertedSHAs(c.Message)})
	}
	approvalNotes := false
	for _, n := range notes {
		kind, keep := noteKind(n)
		if !keep || n.CreatedAt == nil {
			continue
		}
		if kind != store.NoteComment {
			approvalNotes = true
		}
		d.Notes = append(d.Notes, store.MRNote{ID: n.ID, Kind: kind, AuthorID: n.Author.ID,
			AuthorUsername: n.Author.Username, CreatedAt: secs(*n.CreatedAt)})
	}
	if !approvalNotes {
		// The notes say nothing about approvals: ask the approvals API, whose approved_at
		// (GitLab 13.x+) times the approvals still standing.
		extra, err := s.approvals(ctx, p, m.IID)
		if err != nil {
			return d, false, err
		}
		d.Notes = append(d.Notes, extra...)
	}
	if err := s.users.ensure(ctx, m.AuthorID, m.AuthorUsername); err != nil {
		return d, false, err
	}
	for _, n := range d.Notes {
		if err := s.users.ensure(ctx, n.AuthorID, n.AuthorUsername); err != nil {
			return d, false, err
		}
	}
	d.Facts = store.DeriveReview(store.ReviewInput{AuthorID: m.AuthorID, CreatedAt: m.CreatedAt, MergedAt: m.MergedAt,
		Commits: d.Commits, Notes: d.Notes, IsBot: s.users.isBot})
	return d, true, nil
}

// confirmDeleted checks, after a 404 for an MR's commits or notes (notFound), that the MR is
// gone while its project is still readable: nil means deleted. GitLab answers 404 alike when the
// token lost access to the project or the project moved, and then the MR must stay: the MR
// cursor has passed it, so a deleted row would never be listed again.
func (s *syncer) confirmDeleted(ctx context.Context, p store.Project, iid int64, notFound error) error {
	return s.confirmGone(ctx, p, fmt.Sprintf("merge_requests/%d", iid), fmt.Sprintf("%s!%d", p.Path, iid), notFound)
}

// confirmGone checks, after a 404 (notFound) on an item of project p or on something of it,
// that the item (path relative to the project; empty when the 404 was for the item itself) is
// gone while the project is still readable: nil means gone. Otherwise the 404 says the project
// is unreadable (access lost, moved), or something odd, and is an error: recording "gone" then
// would lose data for good. One or two requests, only after a 404.
func (s *syncer) confirmGone(ctx context.Context, p store.Project, item, what string, notFound error) error {
	if item != "" {
		_, _, err := getJSON[struct{}](ctx, s.gl, fmt.Sprintf("projects/%d/%s", p.ID, item), nil)
		switch {
		case err == nil:
			return explain(what, fmt.Errorf("it exists, but a request about it answered: %w", notFound))
		case httpStatus(err) != http.StatusNotFound:
			return explain(what, err)
		}
	}
	if _, _, err := getJSON[struct{}](ctx, s.gl, fmt.Sprintf("projects/%d", p.ID), nil); err != nil {
		return explain(fmt.Sprintf("project %s (%s answers 404)", p.Path, what), err)
	}
	return nil
}

// apiCommit and apiNote are the fields Pacer reads of GitLab's commit and note entities.
type apiCommit struct {
	ID           string     `json:"id"`
	AuthoredDate *time.Time `json:"authored_date"`
	AuthorName   string     `json:"author_name"`
	AuthorEmail  string     `json:"author_email"`
	Message      string     `json:"message"`
}

// commitAuthor is the identity author-days count a commit under: the lower-cased email, else
// the lower-cased name (GitLab has no user id for a commit's author).
func commitAuthor(email, name string) string {
	if e := strings.ToLower(strings.TrimSpace(email)); e != "" {
		return e
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// revertLine is git's revert message: "This reverts commit <sha>." (GitLab's revert button and
// `git revert` both write it), with a full or abbreviated SHA.
var revertLine = regexp.MustCompile(`(?i)\bThis reverts commit ([0-9a-f]{7,40})\b`)

// RevertedSHAs lists, lower-cased and without repeats, the SHAs a commit message says it
// reverts.
func RevertedSHAs(message string) []string {
	var out []string
	for _, m := range revertLine.FindAllStringSubmatch(message, -1) {
		sha := strings.ToLower(m[1])
		if !slices.Contains(out, sha) {
			out = append(out, sha)
		}
	}
	return out
}

type apiNote struct {
	ID        int64      `json:"id"`
	Body      string     `json:"body"`
	System    bool       `json:"system"`
	CreatedAt *time.Time `json:"created_at"`
	Author    struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"author"`
}

// noteKind classifies a note: every non-system note is a comment; of the system notes only the
// approval ones are kept. The notes API has no working system filter, so this is done here.
func noteKind(n apiNote) (store.NoteKind, bool) {
	if n.Author.ID == 0 {
		return "", false
	}
	if !n.System {
		return store.NoteComment, true
	}
	switch strings.ToLower(strings.TrimSpace(n.Body)) {
	case "approved this merge request":
		return store.NoteApproved, true
	case "unapproved this merge request":
		return store.NoteUnapproved, true
	}
	return "", false
}

// approvals reads GET /projects/:id/merge_requests/:iid/approvals into our own struct:
// client-go's MergeRequestApproverUser drops approved_at. Approvals without a time cannot be
// placed and are left out; a 403/404 (approvals unavailable) means none.
func (s *syncer) approvals(ctx context.Context, p store.Project, iid int64) ([]store.MRNote, error) {
	req, err := s.gl.NewRequest(http.MethodGet, fmt.Sprintf("projects/%d/merge_requests/%d/approvals", p.ID, iid), nil, reqOpts(ctx))
	if err != nil {
		return nil, fmt.Errorf("collector: approvals of %s!%d: %w", p.Path, iid, err)
	}
	var body struct {
		ApprovedBy []struct {
			User struct {
				ID       int64  `json:"id"`
				Username string `json:"username"`
			} `json:"user"`
			ApprovedAt *time.Time `json:"approved_at"`
		} `json:"approved_by"`
	}
	_, err = s.gl.Do(req, &body)
	switch httpStatus(err) {
	case http.StatusNotFound, http.StatusForbidden:
		return nil, nil
	}
	if err != nil {
		return nil, explain(fmt.Sprintf("approvals of %s!%d", p.Path, iid), err)
	}
	var out []store.MRNote
	for _, a := range body.ApprovedBy {
		if a.ApprovedAt == nil || a.User.ID == 0 {
			continue
		}
		out = append(out, store.MRNote{ID: -a.User.ID, Kind: store.NoteApproved, AuthorID: a.User.ID,
			AuthorUsername: a.User.Username, CreatedAt: secs(*a.ApprovedAt)})
	}
	return out, nil
}
