package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// The GraphQL path reads the same merge requests as the REST path and writes the same rows, in
// far fewer requests: a listing query returns 100 MRs with their authors' bot flags (REST needs
// a GET /users/:id per new author), and a details query returns the commits, notes and
// approvers of a batch of MRs at once (REST needs two or three requests per MR). What is asked
// for, and when, is the REST path's: the listing is incremental by updatedAfter from the same
// cursor with the same overlap, saved page by page with the cursor; details are driven by the
// store (store.MergeRequestsNeedingDetails), so both paths, and a sync that switches from one
// to the other halfway, end in the same rows.

// gqlUserFields are the fields of a user Pacer stores (store.User), bot flag included.
const gqlUserFields = `id username name bot`

// gqlListQuery lists a project's MRs changed since $since, oldest change first.
const gqlListQuery = `query($path: ID!, $first: Int!, $after: String, $since: Time) {
  project(fullPath: $path) {
    mergeRequests(updatedAfter: $since, sort: UPDATED_ASC, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id iid title state draft createdAt updatedAt mergedAt closedAt sourceBranch targetBranch
        diffHeadSha mergeCommitSha squashCommitSha webUrl userNotesCount
        author { ` + gqlUserFields + ` }
        labels { nodes { title } }
      }
    }
  }
  queryComplexity { score limit }
}`

const gqlCommitsField = `commits(first: 100%s) { pageInfo { hasNextPage endCursor } nodes { sha authoredDate authorName authorEmail message } }`
const gqlNotesField = `notes(first: 100%s) { pageInfo { hasNextPage endCursor } nodes { id body system createdAt author { ` + gqlUserFields + ` } } }`

// gqlDetailsQuery reads the commits, notes and approvers of the MRs with the given iids.
var gqlDetailsQuery = `query($path: ID!, $iids: [String!], $first: Int!) {
  project(fullPath: $path) {
    mergeRequests(iids: $iids, first: $first) {
      pageInfo { hasNextPage endCursor }
      nodes {
        iid
        ` + fmt.Sprintf(gqlCommitsField, "") + `
        ` + fmt.Sprintf(gqlNotesField, "") + `
        approvedBy { nodes { ` + gqlUserFields + ` } }
      }
    }
  }
  queryComplexity { score limit }
}`

// gqlMoreQuery reads the next pages of one MR's commits and notes, for an MR with more than
// a page of either.
func gqlMoreQuery(commits, notes bool) string {
	var vars, fields []string
	if commits {
		vars = append(vars, "$commitsAfter: String")
		fields = append(fields, fmt.Sprintf(gqlCommitsField, ", after: $commitsAfter"))
	}
	if notes {
		vars = append(vars, "$notesAfter: String")
		fields = append(fields, fmt.Sprintf(gqlNotesField, ", after: $notesAfter"))
	}
	return `query($path: ID!, $iid: String!, ` + strings.Join(vars, ", ") + `) {
  project(fullPath: $path) {
    mergeRequest(iid: $iid) {
      ` + strings.Join(fields, "\n      ") + `
    }
  }
  queryComplexity { score limit }
}`
}

type gqlPageInfo struct {
	HasNextPage bool   `json:"hasNextPage"`
	EndCursor   string `json:"endCursor"`
}

type gqlUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Bot      bool   `json:"bot"`
}

func (u *gqlUser) user() store.User {
	return store.User{ID: gid(u.ID), Username: u.Username, Name: u.Name, Bot: u.Bot}
}

type gqlMergeRequest struct {
	ID              string     `json:"id"`
	IID             string     `json:"iid"`
	Title           string     `json:"title"`
	State           string     `json:"state"`
	Draft           bool       `json:"draft"`
	CreatedAt       *time.Time `json:"createdAt"`
	UpdatedAt       *time.Time `json:"updatedAt"`
	MergedAt        *time.Time `json:"mergedAt"`
	ClosedAt        *time.Time `json:"closedAt"`
	SourceBranch    string     `json:"sourceBranch"`
	TargetBranch    string     `json:"targetBranch"`
	DiffHeadSha     string     `json:"diffHeadSha"`
	MergeCommitSha  string     `json:"mergeCommitSha"`
	SquashCommitSha string     `json:"squashCommitSha"`
	WebURL          string     `json:"webUrl"`
	UserNotesCount  int64      `json:"userNotesCount"`
	Author          *gqlUser   `json:"author"`
	Labels          struct {
		Nodes []struct {
			Title string `json:"title"`
		} `json:"nodes"`
	} `json:"labels"`
}

// rest is the MR as the REST path reads it, so both paths build their rows in one place.
func (m *gqlMergeRequest) rest() (*apiMergeRequest, error) {
	iid, err := strconv.ParseInt(m.IID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("merge request iid %q: %w", m.IID, err)
	}
	r := &apiMergeRequest{ID: gid(m.ID), IID: iid, Title: m.Title, State: strings.ToLower(m.State), Draft: m.Draft,
		SourceBranch: m.SourceBranch, TargetBranch: m.TargetBranch, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		MergedAt: m.MergedAt, ClosedAt: m.ClosedAt, SHA: m.DiffHeadSha, MergeCommitSHA: m.MergeCommitSha,
		SquashCommitSHA: m.SquashCommitSha, WebURL: m.WebURL, UserNotesCount: m.UserNotesCount}
	r.Labels = make([]string, 0, len(m.Labels.Nodes))
	for _, l := range m.Labels.Nodes {
		r.Labels = append(r.Labels, l.Title)
	}
	if m.Author != nil {
		r.Author = &struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		}{ID: gid(m.Author.ID), Username: m.Author.Username}
	}
	return r, nil
}

type gqlCommits struct {
	PageInfo gqlPageInfo `json:"pageInfo"`
	Nodes    []struct {
		SHA          string     `json:"sha"`
		AuthoredDate *time.Time `json:"authoredDate"`
		AuthorName   string     `json:"authorName"`
		AuthorEmail  string     `json:"authorEmail"`
		Message      string     `json:"message"`
	} `json:"nodes"`
}

type gqlNotes struct {
	PageInfo gqlPageInfo `json:"pageInfo"`
	Nodes    []struct {
		ID        string     `json:"id"`
		Body      string     `json:"body"`
		System    bool       `json:"system"`
		CreatedAt *time.Time `json:"createdAt"`
		Author    *gqlUser   `json:"author"`
	} `json:"nodes"`
}

type gqlDetails struct {
	IID        string      `json:"iid"`
	Commits    *gqlCommits `json:"commits"`
	Notes      *gqlNotes   `json:"notes"`
	ApprovedBy struct {
		Nodes []gqlUser `json:"nodes"`
	} `json:"approvedBy"`
}

// syncMergeRequestsGraphQL is syncMergeRequests through GraphQL: the same bound (cursor less the
// overlap, or since), the same rows, saved page by page with the cursor they cover. Paging
// follows GraphQL's keyset cursors (endCursor), which, unlike REST offsets, do not skip an item
// that moves to the end while the listing runs. Pages are GitLab's largest, 100 MRs (the nodes
// are light), smaller after a page timed out or was too complex, growing back while fast.
func (s *syncer) syncMergeRequestsGraphQL(ctx context.Context, p store.Project) error {
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
	var after any
	for {
		var out struct {
			Project *struct {
				MergeRequests struct {
					PageInfo gqlPageInfo       `json:"pageInfo"`
					Nodes    []gqlMergeRequest `json:"nodes"`
				} `json:"mergeRequests"`
			} `json:"project"`
		}
		size := s.gqlList.get()
		vars := map[string]any{"path": p.Path, "first": size, "after": after, "since": from.UTC().Format(time.RFC3339)}
		start := time.Now()
		err := s.graphql(ctx, "list merge requests of "+p.Path, gqlListQuery, vars, &out)
		var ge *gqlError
		if errors.As(err, &ge) && ge.shrinks() && size > 1 {
			// Too heavy: the same page again, smaller.
			s.opt.Logger.Debug("graphql page shrinks", "project", p.Path, "from", size, "to", s.gqlList.shrink(size), "err", ge.msg)
			continue
		}
		if err != nil {
			return err
		}
		s.gqlList.done(size, time.Since(start))
		if out.Project == nil {
			return explain("list merge requests of "+p.Path, fmt.Errorf("GraphQL has no project %s: %w", p.Path, errProjectGone))
		}
		page := out.Project.MergeRequests
		rows := make([]store.MergeRequest, 0, len(page.Nodes))
		var top time.Time
		for i := range page.Nodes {
			n := &page.Nodes[i]
			m, err := n.rest()
			if err != nil {
				return &gqlError{what: "list merge requests of " + p.Path, msg: err.Error()}
			}
			rows = append(rows, mergeRequestRow(p.ID, m))
			if k := timeOrZero(m.UpdatedAt); k.After(top) {
				top = k
			}
			if n.Author != nil {
				if err := s.users.learn(ctx, n.Author.user()); err != nil {
					return err
				}
			}
		}
		if len(rows) > 0 {
			if err := s.st.SaveMergeRequests(ctx, p.ID, rows, top); err != nil {
				return err
			}
			k := 0
			for _, r := range rows {
				if !seen[r.IID] {
					seen[r.IID] = true
					k++
				}
			}
			s.addMergeRequests(p.ID, k)
		}
		if !page.PageInfo.HasNextPage || len(page.Nodes) == 0 {
			return nil
		}
		after = page.PageInfo.EndCursor
	}
}

// errProjectGone says GraphQL answered null for a project REST found.
var errProjectGone = errors.New("project not found")

// syncMergeRequestDetailsGraphQL is syncMergeRequestDetails through GraphQL: the same MRs (from
// the store), the same rows, in batches of MRs per query. The batch size adapts: a query that
// times out or is too complex is split in half and asked again, and later batches start from
// the smaller size, growing by a quarter after each quick answer.
func (s *syncer) syncMergeRequestDetailsGraphQL(ctx context.Context, p store.Project) error {
	mrs, err := s.st.MergeRequestsNeedingDetails(ctx, p.ID)
	if err != nil {
		return err
	}
	b := s.detailsBatch(p)
	var mu sync.Mutex
	var gone []int64
	// Each batch is cut at the size learnt so far when it is sent (parallelBatches); a batch
	// that fails for its size is split when asked (detailsOf).
	err = parallelBatches(ctx, s.opt.Concurrency, mrs, s.gqlBatch.get, false, func(ctx context.Context, batch []store.MergeRequest) error {
		ds, deleted, err := s.detailsOf(ctx, p, batch)
		for _, d := range ds {
			if aerr := b.add(d); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		mu.Lock()
		gone = append(gone, deleted...)
		mu.Unlock()
		return err
	})
	if ferr := b.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if len(gone) > 0 {
		s.opt.Logger.Warn("merge requests deleted in GitLab (404) were removed", "project", p.Path, "iids", gone)
	}
	return err
}

// detailsOf reads the details of a batch of MRs in one query, splitting the batch while the
// query is too heavy. It returns the details read (also when a part failed) and the iids of
// MRs GitLab no longer has (removed from the store).
func (s *syncer) detailsOf(ctx context.Context, p store.Project, batch []store.MergeRequest) ([]store.MergeRequestDetails, []int64, error) {
	iids := make([]string, len(batch))
	for i, m := range batch {
		iids[i] = strconv.FormatInt(m.IID, 10)
	}
	var out struct {
		Project *struct {
			MergeRequests struct {
				PageInfo gqlPageInfo  `json:"pageInfo"`
				Nodes    []gqlDetails `json:"nodes"`
			} `json:"mergeRequests"`
		} `json:"project"`
	}
	what := fmt.Sprintf("details of %d merge requests of %s", len(batch), p.Path)
	start := time.Now()
	err := s.graphql(ctx, what, gqlDetailsQuery, map[string]any{"path": p.Path, "iids": iids, "first": len(iids)}, &out)
	var ge *gqlError
	if errors.As(err, &ge) && ge.shrinks() && len(batch) > 1 {
		size := s.gqlBatch.shrink(len(batch))
		s.opt.Logger.Debug("graphql batch shrinks", "project", p.Path, "from", len(batch), "to", size, "err", ge.msg)
		var ds []store.MergeRequestDetails
		var gone []int64
		var errs []error
		for i := 0; i < len(batch); i += size {
			d, g, err := s.detailsOf(ctx, p, batch[i:min(i+size, len(batch))])
			ds, gone = append(ds, d...), append(gone, g...)
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			}
		}
		return ds, gone, errors.Join(errs...)
	}
	if err != nil {
		return nil, nil, err
	}
	s.gqlBatch.done(len(batch), time.Since(start))
	if out.Project == nil {
		return nil, nil, explain(what, fmt.Errorf("GraphQL has no project %s: %w", p.Path, errProjectGone))
	}
	if out.Project.MergeRequests.PageInfo.HasNextPage {
		return nil, nil, &gqlError{what: what, msg: "the answer has more merge requests than asked for"}
	}
	nodes := map[int64]*gqlDetails{}
	for i := range out.Project.MergeRequests.Nodes {
		n := &out.Project.MergeRequests.Nodes[i]
		iid, err := strconv.ParseInt(n.IID, 10, 64)
		if err != nil {
			return nil, nil, &gqlError{what: what, msg: fmt.Sprintf("merge request iid %q", n.IID)}
		}
		nodes[iid] = n
	}
	var ds []store.MergeRequestDetails
	var gone []int64
	var errs []error
	for _, m := range batch {
		n, ok := nodes[m.IID]
		if !ok {
			// Not in the answer: deleted since it was listed, if REST agrees (and the project is
			// still readable), exactly as the REST path decides on a 404.
			if err := s.confirmDeleted(ctx, p, m.IID, fmt.Errorf("GraphQL has no merge request !%d", m.IID)); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.st.DeleteMergeRequest(ctx, p.ID, m.IID); err != nil {
				errs = append(errs, err)
				continue
			}
			gone = append(gone, m.IID)
			continue
		}
		d, err := s.gqlMergeRequestDetails(ctx, p, m, n)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		ds = append(ds, d)
	}
	return ds, gone, errors.Join(errs...)
}

// gqlMergeRequestDetails builds one MR's details from its node, reading the rest of its commits
// and notes when it has more than a page of either, exactly as mergeRequestDetails does from
// REST: the same commits, the same kept notes, the approvals API where the notes say nothing
// about approvals but GitLab lists approvers.
func (s *syncer) gqlMergeRequestDetails(ctx context.Context, p store.Project, m store.MergeRequest, n *gqlDetails) (store.MergeRequestDetails, error) {
	d := store.MergeRequestDetails{ProjectID: p.ID, IID: m.IID, UpdatedAt: m.UpdatedAt}
	if n.Commits == nil || n.Notes == nil {
		return d, &gqlError{what: fmt.Sprintf("details of %s!%d", p.Path, m.IID), msg: "commits or notes missing from the answer"}
	}
	commits, notes := *n.Commits, *n.Notes
	allCommits, allNotes := commits.Nodes, notes.Nodes
	for commits.PageInfo.HasNextPage || notes.PageInfo.HasNextPage {
		more, err := s.moreDetails(ctx, p, m.IID, commits.PageInfo, notes.PageInfo)
		if err != nil {
			return d, err
		}
		if commits.PageInfo.HasNextPage {
			if more.Commits == nil || more.Commits.PageInfo.HasNextPage && more.Commits.PageInfo.EndCursor == commits.PageInfo.EndCursor {
				return d, &gqlError{what: fmt.Sprintf("commits of %s!%d", p.Path, m.IID), msg: "the next page did not move on"}
			}
			commits = *more.Commits
			allCommits = append(allCommits, commits.Nodes...)
		}
		if notes.PageInfo.HasNextPage {
			if more.Notes == nil || more.Notes.PageInfo.HasNextPage && more.Notes.PageInfo.EndCursor == notes.PageInfo.EndCursor {
				return d, &gqlError{what: fmt.Sprintf("notes of %s!%d", p.Path, m.IID), msg: "the next page did not move on"}
			}
			notes = *more.Notes
			allNotes = append(allNotes, notes.Nodes...)
		}
	}
	for _, c := range allCommits {
		if c.AuthoredDate == nil {
			continue
		}
		d.Commits = append(d.Commits, store.MRCommit{SHA: c.SHA, AuthoredAt: secs(*c.AuthoredDate),
			Author: commitAuthor(c.AuthorEmail, c.AuthorName), Reverts: RevertedSHAs(c.Message)})
	}
	known := map[int64]store.User{}
	approvalNotes := false
	for _, gn := range allNotes {
		an := apiNote{ID: gid(gn.ID), Body: gn.Body, System: gn.System, CreatedAt: gn.CreatedAt}
		if gn.Author != nil {
			u := gn.Author.user()
			an.Author.ID, an.Author.Username = u.ID, u.Username
			known[u.ID] = u
		}
		kind, keep := noteKind(an)
		if !keep || an.CreatedAt == nil {
			continue
		}
		if kind != store.NoteComment {
			approvalNotes = true
		}
		d.Notes = append(d.Notes, store.MRNote{ID: an.ID, Kind: kind, AuthorID: an.Author.ID,
			AuthorUsername: an.Author.Username, CreatedAt: secs(*an.CreatedAt)})
	}
	if !approvalNotes && len(n.ApprovedBy.Nodes) > 0 {
		// GitLab lists approvers but the notes say nothing about them, and GraphQL's approvedBy
		// has no times: the approvals API has (approved_at), as on the REST path. Where GraphQL
		// lists no approver, that API would list none either, and is not asked.
		extra, err := s.approvals(ctx, p, m.IID)
		if err != nil {
			return d, err
		}
		for _, a := range n.ApprovedBy.Nodes {
			u := a.user()
			known[u.ID] = u
		}
		d.Notes = append(d.Notes, extra...)
	}
	if err := s.users.ensure(ctx, m.AuthorID, m.AuthorUsername); err != nil {
		return d, err
	}
	for _, note := range d.Notes {
		var err error
		if u, ok := known[note.AuthorID]; ok {
			err = s.users.learn(ctx, u)
		} else {
			err = s.users.ensure(ctx, note.AuthorID, note.AuthorUsername)
		}
		if err != nil {
			return d, err
		}
	}
	d.Facts = store.DeriveReview(store.ReviewInput{AuthorID: m.AuthorID, CreatedAt: m.CreatedAt, MergedAt: m.MergedAt,
		Commits: d.Commits, Notes: d.Notes, IsBot: s.users.isBot})
	return d, nil
}

// moreDetails reads the next page of an MR's commits and/or notes, those whose page info says
// there is more.
func (s *syncer) moreDetails(ctx context.Context, p store.Project, iid int64, commits, notes gqlPageInfo) (*gqlDetails, error) {
	vars := map[string]any{"path": p.Path, "iid": strconv.FormatInt(iid, 10)}
	if commits.HasNextPage {
		vars["commitsAfter"] = commits.EndCursor
	}
	if notes.HasNextPage {
		vars["notesAfter"] = notes.EndCursor
	}
	var out struct {
		Project *struct {
			MergeRequest *gqlDetails `json:"mergeRequest"`
		} `json:"project"`
	}
	what := fmt.Sprintf("more commits and notes of %s!%d", p.Path, iid)
	if err := s.graphql(ctx, what, gqlMoreQuery(commits.HasNextPage, notes.HasNextPage), vars, &out); err != nil {
		return nil, err
	}
	if out.Project == nil || out.Project.MergeRequest == nil {
		// Deleted between two pages: fail this MR; the next sync finds it gone.
		return nil, explain(what, fmt.Errorf("merge request gone: %w", errProjectGone))
	}
	return out.Project.MergeRequest, nil
}

// detailsBatch is the write batch of MR details both paths share.
func (s *syncer) detailsBatch(p store.Project) *writeBatch[store.MergeRequestDetails] {
	return newWriteBatch(func(ctx context.Context, ds []store.MergeRequestDetails) (int, error) {
		missing, err := s.st.ReplaceMergeRequestDetailsBatch(ctx, ds)
		if err != nil {
			return 0, err
		}
		s.add(func(pr *Progress) { pr.Details += int64(len(ds) - len(missing)) })
		var errs []error
		for _, iid := range missing {
			errs = append(errs, fmt.Errorf("store: replace details of MR %d!%d: %w", p.ID, iid, store.ErrNotFound))
		}
		return len(ds) - len(missing), errors.Join(errs...)
	})
}
