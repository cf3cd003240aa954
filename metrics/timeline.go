package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// ErrNotFound is the answer about an MR or a person the engine does not know, or whose
// projects it does not see: the two are indistinguishable on purpose.
var ErrNotFound = errors.New("metrics: not found")

// Timeline is one MR's history as the rules of SPEC section 3 read it: its commits, notes and
// every production deployment that GitLab links to it or that ran its branch, each with the
// rule that made it count or not, and its derived facts.
type Timeline struct {
	ProjectID     int64
	Project       string // full path
	ProjectURL    string
	IID           int64
	Title         string
	Author        string
	State         string // opened | closed | locked | merged
	Labels        []string
	SourceBranch  string
	TargetBranch  string
	DefaultBranch string
	SHA           string // head
	WebURL        string
	CreatedAt     time.Time
	MergedAt      *time.Time
	Bot           bool // authored by a bot: excluded everywhere

	// Facts are the MR's derived facts (its stages, category, service); nil when it is not
	// counted, and Excluded then says why.
	Facts    *MergeRequest
	Excluded string

	Commits     []TimelineCommit     // by authored instant
	Notes       []TimelineNote       // by time
	Deployments []TimelineDeployment // by finish time

	// The rule that decided each instant of the facts, for people.
	FirstCommitRule string
	ReviewRule      string
	ReviewEndRule   string
	DeployRule      string
}

// TimelineCommit is one commit of the MR.
type TimelineCommit struct {
	SHA        string
	AuthoredAt time.Time
	Earliest   bool // the earliest authored instant
}

// TimelineNote is a comment, approval or withdrawn approval on the MR.
type TimelineNote struct {
	Kind   string // comment | approved | unapproved
	Author string
	At     time.Time
	Counts bool   // counts as a review (or approval)
	First  bool   // it is first_review_at
	Rule   string // why it counts or not
}

// TimelineDeployment is a successful production deployment GitLab links to the MR, or one
// that ran the MR's source branch at its head.
type TimelineDeployment struct {
	ID          int64
	Environment string
	Service     string
	Ref, SHA    string
	FinishedAt  time.Time
	URL         string // the job on GitLab
	Linked      bool   // GitLab links it to the MR
	BeforeMerge bool   // a deploy before merge
	Counted     bool   // the first deployment of its environment to ship the MR
	Delivered   bool   // the earliest counted one: deployed_at
	Rule        string
}

// The rules' wording, shared with docs/dashboard.md.
const (
	RuleEarliestCommit    = "earliest authored commit"
	RuleNoCommits         = "no commits: opened used"
	RuleCommitAfterOpen   = "first commit after opening: opened used"
	RuleFirstComment      = "first comment by someone other than the author"
	RuleFirstApproval     = "first approval by someone other than the author"
	RuleNoReview          = "no review before the merge: pickup runs to the merge"
	RuleReviewAfterProd   = "review after it reached production: pickup runs to production"
	RuleMerged            = "merged"
	RuleDeployBeforeMerge = "deployed before merge: review ends in production, deploy stage 0"
	RuleDeployed          = "first production deployment that shipped it"
	RuleNotDeployed       = "not deployed: delivered at the merge"
	RuleSevenDays         = "first deployment ignored by the 7-day rule"
)

// MRTimeline is the timeline of MR iid of project projectID; ErrNotFound when there is none
// or the engine does not see the project.
func (e *Engine) MRTimeline(ctx context.Context, projectID, iid int64) (*Timeline, error) {
	if !e.sees(projectID) {
		return nil, ErrNotFound
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	wrap := func(what string, err error) error { return fmt.Errorf("metrics: timeline %s: %w", what, err) }
	t := &Timeline{ProjectID: projectID, IID: iid}
	var labels string
	var created int64
	var merged sql.NullInt64
	var authorID int64
	err := e.st.DB.QueryRowContext(ctx, `SELECT p.path, p.web_url, p.default_branch, m.title, m.author_id, m.author_username,
		m.state, m.labels, m.source_branch, m.target_branch, m.sha, m.web_url, m.created_at, m.merged_at
		FROM merge_requests m JOIN projects p ON p.id = m.project_id
		WHERE m.project_id = ? AND m.iid = ?`, projectID, iid).Scan(&t.Project, &t.ProjectURL, &t.DefaultBranch,
		&t.Title, &authorID, &t.Author, &t.State, &labels, &t.SourceBranch, &t.TargetBranch, &t.SHA, &t.WebURL, &created, &merged)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap("read merge request", err)
	}
	t.Labels = parseLabels(labels)
	sort.Strings(t.Labels)
	t.CreatedAt = unix(created)
	t.MergedAt = unixPtr(merged)

	users, err := e.st.Users(ctx)
	if err != nil {
		return nil, wrap("read users", err)
	}
	isBot := store.BotRule(users, e.cfg.Bots.Usernames)
	t.Bot = isBot(authorID, t.Author)

	// The facts, as the lists and figures read them.
	facts, err := e.mrBatch(ctx, `SELECT f.project_id, f.iid, f.service, f.author, f.created_at, f.first_commit_at, f.first_review_at,
		f.first_approval_at, f.merged_at, f.deployed_at, f.delivered_at, f.coding_seconds, f.pickup_seconds,
		f.review_seconds, f.deploy_seconds, f.cycle_seconds, f.rework, f.unapproved,
		f.project, f.title, f.labels, f.source_branch, f.web_url, f.category, f.before_merge, f.approvals
		FROM mr_facts f WHERE f.project_id = ? AND f.iid = ?`, []any{projectID, iid})
	if err != nil {
		return nil, err
	}
	if len(facts) > 0 {
		t.Facts = facts[0]
	}
	switch {
	case t.Facts != nil:
	case t.MergedAt == nil:
		t.Excluded = "It is not merged (" + t.State + "): only merged MRs count."
	case t.Bot:
		t.Excluded = "A bot authored it: bots' MRs are left out everywhere."
	case t.DefaultBranch == "" || t.TargetBranch != t.DefaultBranch:
		t.Excluded = fmt.Sprintf("It targets %s, not the default branch %s: only MRs into the default branch count.", t.TargetBranch, t.DefaultBranch)
	default:
		t.Excluded = "Its facts are not derived yet: they are after the next refresh."
	}

	// Commits.
	rows, err := e.st.DB.QueryContext(ctx, `SELECT sha, authored_at FROM mr_commits WHERE project_id = ? AND mr_iid = ? ORDER BY authored_at, sha`, projectID, iid)
	if err != nil {
		return nil, wrap("read commits", err)
	}
	for rows.Next() {
		var c TimelineCommit
		var at int64
		if err := rows.Scan(&c.SHA, &at); err != nil {
			rows.Close()
			return nil, wrap("read commits", err)
		}
		c.AuthoredAt = unix(at)
		t.Commits = append(t.Commits, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("read commits", err)
	}
	switch {
	case len(t.Commits) == 0:
		t.FirstCommitRule = RuleNoCommits
	case t.Commits[0].AuthoredAt.After(t.CreatedAt):
		t.FirstCommitRule = RuleCommitAfterOpen
		t.Commits[0].Earliest = true
	default:
		t.FirstCommitRule = RuleEarliestCommit
		t.Commits[0].Earliest = true
	}

	// Deployments (before the notes: a deploy before merge ends the review).
	if err := e.timelineDeployments(ctx, t, projectID, iid); err != nil {
		return nil, err
	}
	reviewEnd := t.MergedAt
	t.ReviewEndRule = RuleMerged
	t.DeployRule = RuleNotDeployed
	for _, d := range t.Deployments {
		if d.Delivered {
			t.DeployRule = RuleDeployed
			if d.BeforeMerge {
				at := d.FinishedAt
				reviewEnd = &at
				t.ReviewEndRule = RuleDeployBeforeMerge
				t.DeployRule = RuleDeployBeforeMerge
			}
		}
	}

	// Notes.
	rows, err = e.st.DB.QueryContext(ctx, `SELECT kind, author_id, author_username, created_at FROM mr_notes
		WHERE project_id = ? AND mr_iid = ? ORDER BY created_at, note_id`, projectID, iid)
	if err != nil {
		return nil, wrap("read notes", err)
	}
	for rows.Next() {
		var n TimelineNote
		var id, at int64
		if err := rows.Scan(&n.Kind, &id, &n.Author, &at); err != nil {
			rows.Close()
			return nil, wrap("read notes", err)
		}
		n.At = unix(at)
		switch {
		case id == authorID:
			n.Rule = "by the author: not a review"
		case isBot(id, n.Author):
			n.Rule = "by a bot: not counted"
		case t.MergedAt != nil && n.At.After(*t.MergedAt):
			n.Rule = "after the merge: not counted"
		case n.Kind == string(store.NoteUnapproved):
			n.Rule = "approval withdrawn: the approval before it still counts"
		case n.Kind == string(store.NoteApproved):
			n.Counts, n.Rule = true, "approval"
		default:
			n.Counts, n.Rule = true, "review comment"
		}
		t.Notes = append(t.Notes, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("read notes", err)
	}
	t.ReviewRule = RuleNoReview
	for i := range t.Notes {
		n := &t.Notes[i]
		if !n.Counts {
			continue
		}
		n.First = true
		switch {
		case reviewEnd != nil && n.At.After(*reviewEnd):
			t.ReviewRule = RuleReviewAfterProd
			n.Rule += ": " + RuleReviewAfterProd
		case n.Kind == string(store.NoteApproved):
			t.ReviewRule = RuleFirstApproval
		default:
			t.ReviewRule = RuleFirstComment
		}
		break
	}
	return t, nil
}

// timelineDeployments reads the production deployments GitLab links to the MR and those that
// ran its source branch at its head, and says which ships it by the rules of SPEC section 3.
func (e *Engine) timelineDeployments(ctx context.Context, t *Timeline, projectID, iid int64) error {
	rows, err := e.st.DB.QueryContext(ctx, `SELECT d.id, d.environment_id, COALESCE(e.name, d.environment), COALESCE(e.tier, ''),
		e.id IS NOT NULL, d.ref, d.sha, d.job_url, d.finished_at,
		EXISTS (SELECT 1 FROM deployment_merge_requests l WHERE l.deployment_id = d.id AND l.project_id = ? AND l.mr_iid = ?),
		(SELECT f.id FROM deployments f WHERE f.project_id = d.project_id AND f.environment_id = d.environment_id
			AND f.status = 'success' ORDER BY f.finished_at, f.id LIMIT 1)
		FROM deployments d LEFT JOIN environments e ON e.id = d.environment_id
		WHERE d.project_id = ? AND d.status = 'success' AND (
			d.id IN (SELECT l.deployment_id FROM deployment_merge_requests l WHERE l.project_id = ? AND l.mr_iid = ?)
			OR (? != '' AND d.ref = ? AND lower(d.sha) = ?))
		ORDER BY d.finished_at, d.id`,
		projectID, iid, projectID, projectID, iid, t.SourceBranch, t.SourceBranch, strings.ToLower(t.SHA))
	if err != nil {
		return fmt.Errorf("metrics: timeline read deployments: %w", err)
	}
	defer rows.Close()
	type envKey = int64
	firstShip := map[envKey]bool{}
	delivered := -1
	created := t.CreatedAt.Unix()
	for rows.Next() {
		var d TimelineDeployment
		var envID, finished, firstID int64
		var tier string
		var known bool
		if err := rows.Scan(&d.ID, &envID, &d.Environment, &tier, &known, &d.Ref, &d.SHA, &d.URL, &finished, &d.Linked, &firstID); err != nil {
			return fmt.Errorf("metrics: timeline read deployments: %w", err)
		}
		if !e.isProduction(d.Environment, tier, known) {
			continue
		}
		d.FinishedAt = unix(finished)
		d.Service = e.res.environmentService(t.Project, d.Environment)
		branchHead := t.SourceBranch != "" && d.Ref == t.SourceBranch && strings.EqualFold(d.SHA, t.SHA)
		ships := false
		switch {
		case t.Bot:
			d.Rule = "a bot's MR: not counted"
		case t.MergedAt == nil:
			d.Rule = "the MR is not merged: not counted"
		case branchHead && finished > created && finished < t.MergedAt.Unix():
			ships, d.BeforeMerge = true, true
			d.Rule = "deployed before merge: ran its branch at its head SHA between opening and merge"
		case d.Linked && finished < t.MergedAt.Unix():
			d.Rule = "linked by GitLab but finished before the merge: ignored"
		case d.Linked && d.ID == firstID && t.MergedAt.Unix() < finished-firstDeployGrace:
			d.Rule = RuleSevenDays + ": the environment's first deployment links the whole history, and this MR was merged more than 7 days before it"
		case d.Linked:
			ships = true
			d.Rule = "linked by GitLab"
		default:
			d.Rule = "ran its branch, but not between opening and merge: not a deploy before merge"
		}
		if ships {
			if firstShip[envID] {
				d.Rule += "; not counted: only the first deployment of " + d.Environment + " to ship an MR counts it"
			} else {
				firstShip[envID] = true
				d.Counted = true
			}
		}
		t.Deployments = append(t.Deployments, d)
		if d.Counted && delivered < 0 {
			delivered = len(t.Deployments) - 1
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: timeline read deployments: %w", err)
	}
	if delivered >= 0 {
		t.Deployments[delivered].Delivered = true
	}
	return nil
}

// Review is a comment or approval someone gave on another person's MR.
type Review struct {
	ProjectID int64
	Project   string
	IID       int64
	Title     string
	WebURL    string
	MRAuthor  string
	Kind      string // comment | approved
	At        time.Time
}

// ReviewsBy lists the comments and approvals username (any case) gave on others' MRs in the
// filter's range, newest first, over the projects the engine sees whose service passes the
// filter's service rule (a team narrows to its services; a team of authors does not narrow
// reviews). At most limit are returned; total counts them all.
func (e *Engine) ReviewsBy(ctx context.Context, username string, f Filter, limit int) (out []Review, total int, err error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, 0, err
	}
	sc := e.scopeOf(f)
	rows, err := e.st.DB.QueryContext(ctx, `SELECT n.project_id, p.path, n.mr_iid, m.title, m.web_url, m.author_username, n.kind, n.created_at
		FROM mr_notes n JOIN merge_requests m ON m.project_id = n.project_id AND m.iid = n.mr_iid
		JOIN projects p ON p.id = n.project_id
		WHERE lower(n.author_username) = lower(?) AND n.kind IN ('comment', 'approved') AND n.author_id != m.author_id
			AND n.created_at >= ? AND n.created_at < ?
		ORDER BY n.created_at DESC, n.note_id DESC`, username, sc.from, sc.to)
	if err != nil {
		return nil, 0, fmt.Errorf("metrics: reviews by %s: %w", username, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Review
		var at int64
		if err := rows.Scan(&r.ProjectID, &r.Project, &r.IID, &r.Title, &r.WebURL, &r.MRAuthor, &r.Kind, &at); err != nil {
			return nil, 0, fmt.Errorf("metrics: reviews by %s: %w", username, err)
		}
		if !sc.projectOK(r.ProjectID) {
			continue
		}
		svc := e.res.projectService(r.Project)
		if !sc.serviceOK(svc) && !anyOK(&sc, e.res.splitServices(r.Project)) {
			continue
		}
		if sc.team != nil && len(sc.teamSvc) > 0 && !sc.teamSvc[svc] {
			continue
		}
		r.At = unix(at)
		total++
		if len(out) < limit {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("metrics: reviews by %s: %w", username, err)
	}
	return out, total, nil
}

func anyOK(sc *scope, services []string) bool {
	for _, s := range services {
		if sc.serviceOK(s) {
			return true
		}
	}
	return false
}

// Author is the spelling of username (any case) that GitLab gave, when someone of that name
// authored an MR or a note in a project the engine sees; ErrNotFound otherwise.
func (e *Engine) Author(ctx context.Context, username string) (string, error) {
	rows, err := e.st.DB.QueryContext(ctx, `SELECT project_id, author_username FROM merge_requests WHERE lower(author_username) = lower(?)
		UNION ALL SELECT project_id, author_username FROM mr_notes WHERE lower(author_username) = lower(?)`, username, username)
	if err != nil {
		return "", fmt.Errorf("metrics: author %s: %w", username, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return "", fmt.Errorf("metrics: author %s: %w", username, err)
		}
		if e.sees(id) {
			return name, nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("metrics: author %s: %w", username, err)
	}
	return "", ErrNotFound
}
