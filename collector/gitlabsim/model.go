package gitlabsim

import (
	"sort"
	"strings"
	"time"
)

// The model holds every planned event with its instant. What GitLab would show at Org.Now() is
// derived on read: an item exists once its creation instant has passed, a merge request's state,
// commits, notes and updated_at are those of the events at or before now. Advance only moves
// now forward and plans more activity, so what was visible stays consistent.

type user struct {
	id        int64
	username  string
	name      string
	bot       bool // GitLab's bot flag (project/group access-token users)
	tzOffset  int  // seconds east of UTC, used for commit dates
	gitEmail  int  // how their commits spell their email: gitEmailPlain, ...
	createdAt time.Time
}

func (u *user) email() string { return u.username + "@acme.example" }

// commitEmail is the author email of the user's commits: usually email(), for some people
// capitalised as their git config has it, for one nobody ever configured (empty).
func (u *user) commitEmail() string {
	switch u.gitEmail {
	case gitEmailCapitalised:
		return strings.ToUpper(u.username[:1]) + u.username[1:] + "@Acme.example"
	case gitEmailNone:
		return ""
	}
	return u.email()
}

const (
	gitEmailPlain = iota
	gitEmailCapitalised
	gitEmailNone
)

type group struct {
	id       int64
	name     string
	path     string
	fullPath string
	parent   *group
	members  map[*user]AccessLevel
}

type projectKind int

const (
	kindService projectKind = iota
	kindMonolith
	kindAPIDeploys // deployments created through the API: deployable null
	kindNoTier     // production environment without a tier, named prod/eu
	kindLateProd   // production starts late: its first deployment links old history
	kindArchived
	kindShared
)

type project struct {
	id            int64
	name          string
	path          string
	fullPath      string
	group         *group
	defaultBranch string
	kind          projectKind
	archived      bool
	shared        bool // lives outside the org's group, shared into it
	createdAt     time.Time
	activeUntil   time.Time // archived projects stop here

	beforeMerge    bool    // the team deploys an MR's branch to production before merging it
	mrPerDay       float64 // human MRs per weekday
	releasesPerDay float64 // production releases per weekday
	hasCoverage    bool
	coverageBase   float64 // the service's usual level, 82-94%
	coverage       float64 // current coverage, drifts pipeline by pipeline
	coverageDrift  float64 // per-pipeline drift bias

	team    []*user
	bot     *user                 // the project access-token bot
	members map[*user]AccessLevel // direct members; group members are on the groups

	envs        []*environment
	mrs         []*mergeRequest // by iid
	merges      []*mergeRequest // merged into the default branch, by mergedAt
	deployments []*deployment   // by creation (id assigned lazily)
	pipelines   []*pipeline
	pipeByID    map[int64]*pipeline
	deployByID  map[int64]*deployment

	initialSHA    string
	initialAt     time.Time
	nextIID       int64
	nextDeployIID int64
	nextPipeIID   int64
}

func (p *project) webURL(base string) string { return base + "/" + p.fullPath }

// headAt returns the default branch head at t: the merge commit of the last MR merged at or
// before t, or the initial commit.
func (p *project) headAt(t time.Time) (sha string, at time.Time) {
	i := sort.Search(len(p.merges), func(i int) bool { return p.merges[i].mergedAt.After(t) })
	if i == 0 {
		return p.initialSHA, p.initialAt
	}
	m := p.merges[i-1]
	return m.mergeSHA, m.mergedAt
}

// mergedBetween returns MRs merged into the default branch with lo < mergedAt <= hi.
func (p *project) mergedBetween(lo, hi time.Time) []*mergeRequest {
	i := sort.Search(len(p.merges), func(i int) bool { return p.merges[i].mergedAt.After(lo) })
	j := sort.Search(len(p.merges), func(i int) bool { return p.merges[i].mergedAt.After(hi) })
	if j <= i {
		return nil
	}
	return append([]*mergeRequest(nil), p.merges[i:j]...)
}

func (p *project) insertMerge(m *mergeRequest) {
	i := sort.Search(len(p.merges), func(i int) bool { return p.merges[i].mergedAt.After(m.mergedAt) })
	p.merges = append(p.merges, nil)
	copy(p.merges[i+1:], p.merges[i:])
	p.merges[i] = m
}

type environment struct {
	id          int64
	project     *project
	name        string
	tier        string // "" means GitLab gives none (null)
	state       string
	externalURL string
	createdAt   time.Time
	production  bool // production by tier or by the default name pattern
	releases    bool // receives deployments
	startAt     time.Time
	busyUntil   time.Time
	holdUntil   time.Time   // a branch deployed before merge is being watched: no releases
	lastSuccess *deployment // of any ref
	lastMain    *deployment // of the default branch: GitLab links MRs from its SHA on
	chain       []*deployment
}

func (e *environment) slug() string {
	b := []byte(e.name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

type deployment struct {
	id        int64 // 0 until its creation instant has been simulated
	iid       int64
	project   *project
	env       *environment
	ref       string
	sha       string
	shaAt     time.Time // when that SHA became the branch head
	status    string    // final status: success, failed, canceled
	createdAt time.Time
	startedAt time.Time
	finished  time.Time // the job's finish: deployable.finished_at
	// dbFinished is GitLab's own deployments.finished_at, set when the deployment turns
	// successful, a moment after the job finished: the finished_* filters, the finished_at
	// order, the status change and updated_at use it. For API-created deployments the two agree.
	dbFinished time.Time
	user       *user
	api        bool // created through the API: deployable null
	jobID      int64
	jobName    string
	pipeline   *pipeline
	links      []*mergeRequest // MRs GitLab links once the deployment succeeded
	linkAt     time.Time       // when the links become visible
	first      bool            // first successful deployment of its environment
	rollback   bool            // planned as a rollback (informational; truth recomputes)
}

func (d *deployment) createdAtTime() time.Time { return d.createdAt }

// statusAt is the status GitLab shows at t.
func (d *deployment) statusAt(t time.Time) string {
	if t.Before(d.dbFinished) {
		if d.api || !t.Before(d.startedAt) {
			return "running"
		}
		return "created"
	}
	return d.status
}

func (d *deployment) updatedAt(t time.Time) time.Time {
	if !t.Before(d.dbFinished) {
		return d.dbFinished
	}
	if !t.Before(d.startedAt) {
		return d.startedAt
	}
	return d.createdAt
}

type pipeline struct {
	id          int64
	iid         int64
	project     *project
	ref         string
	sha         string
	beforeSHA   string
	source      string
	status      string // final
	createdAt   time.Time
	startedAt   time.Time
	finished    time.Time
	coverage    float64
	hasCoverage bool
	user        *user
}

func (p *pipeline) createdAtTime() time.Time { return p.createdAt }

func (p *pipeline) statusAt(t time.Time) string {
	switch {
	case !t.Before(p.finished):
		return p.status
	case !t.Before(p.startedAt):
		return "running"
	default:
		return "pending"
	}
}

func (p *pipeline) updatedAt(t time.Time) time.Time {
	switch {
	case !t.Before(p.finished):
		return p.finished
	case !t.Before(p.startedAt):
		return p.startedAt
	default:
		return p.createdAt
	}
}

type noteKind int

const (
	noteComment noteKind = iota
	noteApproved
	noteUnapproved
	noteSystem // other system notes: pushes, review requests, draft status
)

type note struct {
	id     int64
	at     time.Time
	author *user
	body   string
	kind   noteKind
	typ    string // "", DiffNote, DiscussionNote
	mr     *mergeRequest
}

func (n *note) createdAtTime() time.Time { return n.at }
func (n *note) system() bool             { return n.kind != noteComment }

type commit struct {
	sha       string
	authored  time.Time
	committed time.Time
	title     string
	message   string // the full message; empty: the title and a newline
	author    *user
	name      string // author_name and author_email as git recorded them
	email     string
	parent    string
}

// push is one push to the source branch: the MR's commits become allCommits[start:end].
type push struct {
	at         time.Time
	start, end int
	force      bool
}

type mergeRequest struct {
	id           int64
	iid          int64
	project      *project
	author       *user
	title        string
	description  string
	draftUntil   time.Time // draft while now is before this
	labels       []string
	sourceBranch string
	targetBranch string
	createdAt    time.Time
	mergedAt     time.Time // zero: never merged
	closedAt     time.Time // zero: never closed
	mergeUser    *user
	squash       bool
	mergeSHA     string // merge commit on the target branch: its head after the merge
	squashSHA    string
	reviewers    []*user
	coAuthor     *user // writes every other commit (pairing, a hand-over), nil for most MRs
	revertOf     *mergeRequest
	revertMsg    string // the first commit's message, for a revert

	allCommits []commit
	pushes     []push
	notes      []*note     // by time
	touches    []time.Time // every instant that moves updated_at, sorted
	pipelines  []*pipeline
}

func (m *mergeRequest) exists(t time.Time) bool { return !t.Before(m.createdAt) }

func (m *mergeRequest) state(t time.Time) string {
	switch {
	case !m.mergedAt.IsZero() && !t.Before(m.mergedAt):
		return "merged"
	case !m.closedAt.IsZero() && !t.Before(m.closedAt):
		return "closed"
	default:
		return "opened"
	}
}

func (m *mergeRequest) mergedBy(t time.Time) bool {
	return !m.mergedAt.IsZero() && !t.Before(m.mergedAt)
}

func (m *mergeRequest) closedBy(t time.Time) bool {
	return !m.closedAt.IsZero() && !t.Before(m.closedAt)
}

func (m *mergeRequest) draft(t time.Time) bool { return t.Before(m.draftUntil) }

func (m *mergeRequest) titleAt(t time.Time) string {
	if m.draft(t) {
		return "Draft: " + m.title
	}
	return m.title
}

func (m *mergeRequest) updatedAt(t time.Time) time.Time {
	i := sort.Search(len(m.touches), func(i int) bool { return m.touches[i].After(t) })
	if i == 0 {
		return m.createdAt
	}
	return m.touches[i-1]
}

// commitsAt returns the MR's commits at t, oldest first.
func (m *mergeRequest) commitsAt(t time.Time) []commit {
	i := sort.Search(len(m.pushes), func(i int) bool { return m.pushes[i].at.After(t) })
	if i == 0 {
		return nil
	}
	p := m.pushes[i-1]
	return m.allCommits[p.start:p.end]
}

// notesAt returns the notes created at or before t, oldest first.
func (m *mergeRequest) notesAt(t time.Time) []*note {
	i := sort.Search(len(m.notes), func(i int) bool { return m.notes[i].at.After(t) })
	return m.notes[:i]
}

func (m *mergeRequest) userNotesCount(t time.Time) int {
	n := 0
	for _, x := range m.notesAt(t) {
		if x.kind == noteComment {
			n++
		}
	}
	return n
}

// approvalsAt returns the current approvals at t (approved and not since unapproved), in order.
func (m *mergeRequest) approvalsAt(t time.Time) []*note {
	var cur []*note
	for _, n := range m.notesAt(t) {
		switch n.kind {
		case noteApproved:
			cur = append(cur, n)
		case noteUnapproved:
			for i, a := range cur {
				if a.author == n.author {
					cur = append(cur[:i], cur[i+1:]...)
					break
				}
			}
		}
	}
	return cur
}

func (m *mergeRequest) headSHA(t time.Time) string {
	c := m.commitsAt(t)
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1].sha
}
