package gitlabsim

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Truth is what a full sync of the organisation at Now should store, and the facts the SPEC §3
// rules derive from it. It is computed from the generator's own model, not from the JSON the
// server sends. Rules used: the default production pattern `^(production|prod)(/|$)` for
// environments without a tier, the default rework rules, and bots = GitLab's bot flag, the
// `^(project|group)_\d+_bot` and `^service_account_` patterns, and Org.BotUsernames().
type Truth struct {
	Now           time.Time
	Projects      []TruthProject     // synced projects: archived and shared-in excluded; by id
	MergeRequests []TruthMR          // every MR of those projects; by project id, iid
	Environments  []TruthEnvironment // environments of those projects; by id
	Deployments   []TruthDeployment  // successful production deployments; by id
	Pipelines     []TruthPipeline    // default-branch pipelines; by id
}

// TruthProject is one project a group sync must find.
type TruthProject struct {
	ID            int64
	Path          string // path_with_namespace
	DefaultBranch string
}

// TruthEnvironment is one environment and whether it counts as production.
type TruthEnvironment struct {
	ID         int64
	ProjectID  int64
	Name       string
	Tier       string // "" when GitLab gives none
	Production bool   // tier production, or no tier and a name matching the default pattern
}

// TruthMR is one merge request as GitLab shows it at Now, with its derived facts.
type TruthMR struct {
	ProjectID       int64
	IID             int64
	ID              int64
	State           string // opened, closed, merged
	Title           string
	Draft           bool
	AuthorID        int64
	Author          string // username
	Bot             bool   // author is a bot by the rules above
	SourceBranch    string
	TargetBranch    string
	Labels          []string // sorted
	CreatedAt       time.Time
	UpdatedAt       time.Time
	MergedAt        *time.Time
	ClosedAt        *time.Time
	MergeCommitSHA  string
	SquashCommitSHA string
	UserNotesCount  int
	CommitCount     int
	// MinAuthoredAt is min(authored_date) over the current commits (nil without commits);
	// FirstCommitAt applies the SPEC rule: created_at when there are none or that is later.
	MinAuthoredAt *time.Time
	FirstCommitAt time.Time
	// FirstReviewAt and FirstApprovalAt follow SPEC §3 (human, non-author; at or before
	// merged_at for merged MRs; for unmerged MRs, everything so far).
	FirstReviewAt   *time.Time
	FirstApprovalAt *time.Time
	DeployedAt      *time.Time // merged MRs only
	Rework          bool
	InScope         bool // merged into the project's default branch
}

// TruthDeployment is one successful production deployment at Now.
type TruthDeployment struct {
	ID              int64
	IID             int64
	ProjectID       int64
	EnvironmentID   int64
	Environment     string
	SHA             string
	FinishedAt      time.Time // deployable.finished_at, or updated_at for API-created ones
	API             bool      // created through the API (deployable null)
	First           bool      // its environment's first successful deployment
	LinkedIIDs      []int64   // every MR GitLab links to it (visible at Now), sorted
	CountedIIDs     []int64   // links that count: first-deployment 7-day rule and bots removed
	Rollback        bool
	Rework          bool
	ChangeFailure   bool
	RecoverySeconds *int64 // for a change failure
}

// TruthPipeline is one default-branch pipeline at Now.
type TruthPipeline struct {
	ID         int64
	IID        int64
	ProjectID  int64
	SHA        string
	Source     string
	Status     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
	Coverage   *float64 // percent; nil when the pipeline reports none (or is not finished)
}

var (
	botPattern         = regexp.MustCompile(`^(project|group)_\d+_bot|^service_account_`)
	prodPattern        = regexp.MustCompile(`^(production|prod)(/|$)`)
	reworkLabels       = []string{"hotfix", "bug", "incident", "regression", "revert", "rollback"}
	reworkTitlePattern = regexp.MustCompile(`(?i)^(revert|hotfix)`)
	reworkBranch       = regexp.MustCompile(`(?i)^(hotfix|revert)[/-]`)
)

func (o *Org) isBot(u *user) bool {
	return u.bot || botPattern.MatchString(u.username) || slices.Contains(o.BotUsernames(), u.username)
}

func isRework(m *mergeRequest) bool {
	for _, l := range m.labels {
		for _, w := range reworkLabels {
			if strings.EqualFold(l, w) {
				return true
			}
		}
	}
	return reworkTitlePattern.MatchString(m.title) || reworkBranch.MatchString(m.sourceBranch)
}

func (e *environment) isProduction() bool {
	if e.tier != "" {
		return e.tier == "production"
	}
	return prodPattern.MatchString(e.name)
}

func tp(t time.Time) *time.Time { return &t }

func (p *project) synced() bool { return !p.archived && !p.shared }

// Truth computes the ground truth at Now.
func (o *Org) Truth() *Truth {
	o.mu.RLock()
	defer o.mu.RUnlock()
	now := o.now
	t := &Truth{Now: now}
	for _, p := range o.projects {
		if !p.synced() {
			continue
		}
		t.Projects = append(t.Projects, TruthProject{ID: p.id, Path: p.fullPath, DefaultBranch: p.defaultBranch})

		for _, e := range p.envs {
			if !e.createdAt.After(now) {
				t.Environments = append(t.Environments, TruthEnvironment{ID: e.id, ProjectID: p.id, Name: e.name,
					Tier: e.tier, Production: e.isProduction()})
			}
		}
		deps, deployedAt := o.truthDeployments(p, now)
		t.Deployments = append(t.Deployments, deps...)

		for _, m := range p.mrs {
			if !m.exists(now) {
				continue
			}
			t.MergeRequests = append(t.MergeRequests, o.truthMR(m, now, deployedAt[m]))
		}
		for _, pl := range p.pipelines {
			if pl.ref != p.defaultBranch || pl.id == 0 || pl.createdAt.After(now) {
				continue
			}
			tpl := TruthPipeline{ID: pl.id, IID: pl.iid, ProjectID: p.id, SHA: pl.sha, Source: pl.source,
				Status: pl.statusAt(now), CreatedAt: pl.createdAt, UpdatedAt: pl.updatedAt(now)}
			if !now.Before(pl.finished) {
				tpl.FinishedAt = tp(pl.finished)
				if pl.hasCoverage {
					c := pl.coverage
					tpl.Coverage = &c
				}
			}
			t.Pipelines = append(t.Pipelines, tpl)
		}
	}
	sort.Slice(t.Projects, func(i, j int) bool { return t.Projects[i].ID < t.Projects[j].ID })
	sort.Slice(t.Environments, func(i, j int) bool { return t.Environments[i].ID < t.Environments[j].ID })
	sort.Slice(t.Deployments, func(i, j int) bool { return t.Deployments[i].ID < t.Deployments[j].ID })
	sort.Slice(t.Pipelines, func(i, j int) bool { return t.Pipelines[i].ID < t.Pipelines[j].ID })
	sort.Slice(t.MergeRequests, func(i, j int) bool {
		a, b := t.MergeRequests[i], t.MergeRequests[j]
		if a.ProjectID != b.ProjectID {
			return a.ProjectID < b.ProjectID
		}
		return a.IID < b.IID
	})
	return t
}

func (o *Org) truthMR(m *mergeRequest, now time.Time, deployed *time.Time) TruthMR {
	p := m.project
	tm := TruthMR{ProjectID: p.id, IID: m.iid, ID: m.id, State: m.state(now), Title: m.titleAt(now),
		Draft: m.draft(now), AuthorID: m.author.id, Author: m.author.username, Bot: o.isBot(m.author),
		SourceBranch: m.sourceBranch, TargetBranch: m.targetBranch, Labels: append([]string{}, m.labels...),
		CreatedAt: m.createdAt, UpdatedAt: m.updatedAt(now), UserNotesCount: m.userNotesCount(now),
		Rework: isRework(m)}
	merged := m.mergedBy(now)
	if merged {
		tm.MergedAt = tp(m.mergedAt)
		tm.MergeCommitSHA = m.mergeSHA
		tm.SquashCommitSHA = m.squashSHA
		tm.InScope = m.targetBranch == p.defaultBranch
		tm.DeployedAt = deployed
	}
	if m.closedBy(now) {
		tm.ClosedAt = tp(m.closedAt)
	}
	commits := m.commitsAt(now)
	tm.CommitCount = len(commits)
	tm.FirstCommitAt = m.createdAt
	for _, c := range commits {
		if tm.MinAuthoredAt == nil || c.authored.Before(*tm.MinAuthoredAt) {
			tm.MinAuthoredAt = tp(c.authored)
		}
	}
	if tm.MinAuthoredAt != nil && tm.MinAuthoredAt.Before(m.createdAt) {
		tm.FirstCommitAt = *tm.MinAuthoredAt
	}
	limit := now
	if merged {
		limit = m.mergedAt
	}
	for _, n := range m.notesAt(limit) {
		if n.author == m.author || o.isBot(n.author) {
			continue
		}
		switch n.kind {
		case noteApproved:
			if tm.FirstApprovalAt == nil {
				tm.FirstApprovalAt = tp(n.at)
			}
			if tm.FirstReviewAt == nil {
				tm.FirstReviewAt = tp(n.at)
			}
		case noteComment:
			if tm.FirstReviewAt == nil {
				tm.FirstReviewAt = tp(n.at)
			}
		}
	}
	return tm
}

// truthDeployments applies SPEC §3 per production environment and returns each merged MR's
// deploy instant.
func (o *Org) truthDeployments(p *project, now time.Time) ([]TruthDeployment, map[*mergeRequest]*time.Time) {
	var out []TruthDeployment
	deployedAt := map[*mergeRequest]*time.Time{}
	for _, e := range p.envs {
		if !e.isProduction() {
			continue
		}
		var ds []*deployment
		for _, d := range e.chain {
			if d.id != 0 && !d.createdAt.After(now) && d.statusAt(now) == "success" {
				ds = append(ds, d)
			}
		}
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].finished.Before(ds[j].finished) })
		firstDeployed := map[string]time.Time{}
		start := len(out)
		for i, d := range ds {
			td := TruthDeployment{ID: d.id, IID: d.iid, ProjectID: p.id, EnvironmentID: e.id, Environment: e.name,
				SHA: d.sha, FinishedAt: d.finished, API: d.api, First: i == 0}
			if _, ok := firstDeployed[d.sha]; !ok {
				firstDeployed[d.sha] = d.finished
			}
			if i > 0 {
				prev := ds[i-1]
				td.Rollback = d.sha != prev.sha && firstDeployed[d.sha].Before(firstDeployed[prev.sha])
			}
			rework := td.Rollback
			if !now.Before(d.linkAt) {
				for _, m := range d.links {
					td.LinkedIIDs = append(td.LinkedIIDs, m.iid)
					if td.First && d.finished.Sub(m.mergedAt) > 7*24*time.Hour {
						continue
					}
					if !o.isBot(m.author) {
						td.CountedIIDs = append(td.CountedIIDs, m.iid)
						if isRework(m) {
							rework = true
						}
					}
					if td.First && d.finished.Sub(m.mergedAt) > 7*24*time.Hour || d.finished.Before(m.mergedAt) {
						continue
					}
					if cur := deployedAt[m]; cur == nil || d.finished.Before(*cur) {
						deployedAt[m] = tp(d.finished)
					}
				}
			}
			slices.Sort(td.LinkedIIDs)
			slices.Sort(td.CountedIIDs)
			td.Rework = rework
			out = append(out, td)
		}
		for i := start + 1; i < len(out); i++ {
			if out[i].Rework {
				cf := &out[i-1]
				cf.ChangeFailure = true
				s := out[i].FinishedAt.Unix() - cf.FinishedAt.Unix() // as a store of Unix seconds computes it
				cf.RecoverySeconds = &s
			}
		}
	}
	return out, deployedAt
}

// FindMR returns the merge request iid of a project.
func (t *Truth) FindMR(projectID, iid int64) (TruthMR, bool) {
	i := sort.Search(len(t.MergeRequests), func(i int) bool {
		m := t.MergeRequests[i]
		return m.ProjectID > projectID || m.ProjectID == projectID && m.IID >= iid
	})
	if i < len(t.MergeRequests) && t.MergeRequests[i].ProjectID == projectID && t.MergeRequests[i].IID == iid {
		return t.MergeRequests[i], true
	}
	return TruthMR{}, false
}

// FindDeployment returns the successful production deployment with GitLab id id.
func (t *Truth) FindDeployment(id int64) (TruthDeployment, bool) {
	i := sort.Search(len(t.Deployments), func(i int) bool { return t.Deployments[i].ID >= id })
	if i < len(t.Deployments) && t.Deployments[i].ID == id {
		return t.Deployments[i], true
	}
	return TruthDeployment{}, false
}

// FindProject returns the synced project with the given path.
func (t *Truth) FindProject(path string) (TruthProject, bool) {
	for _, p := range t.Projects {
		if p.Path == path {
			return p, true
		}
	}
	return TruthProject{}, false
}
