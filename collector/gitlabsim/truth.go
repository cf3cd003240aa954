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
	DeployedAt      *time.Time // merged MRs only: the first production deployment that shipped it
	Rework          bool
	InScope         bool   // merged into the project's default branch
	HeadSHA         string // the MR's `sha`: its source branch head
	// Category is the investment category by the built-in rules: "rework", "tech debt" or
	// "feature".
	Category string
	// Reverts lists the iids of the merged MRs this merged rework MR reverts (title rule
	// `Revert "T"` or a commit message naming one of their SHAs), sorted.
	Reverts []int64
	// The facts of a merged MR (SPEC §3), nil or zero for others. BeforeMerge: deployed_at came
	// before merged_at (a deploy before merge). Durations are differences of Unix seconds, as a
	// store of Unix seconds computes them; DeploySeconds is nil when not deployed.
	BeforeMerge   bool
	DeliveredAt   *time.Time
	ReviewEnd     *time.Time
	CodingSeconds int64
	PickupSeconds int64
	ReviewSeconds int64
	DeploySeconds *int64
	CycleSeconds  int64
	// AuthorDays are the distinct (commit author identity, UTC day of authored_date) pairs of
	// the MR's current commits: the identity is the lower-cased author email, or the
	// lower-cased author name when the email is empty.
	AuthorDays []AuthorDay
}

// AuthorDay is one commit author's UTC day.
type AuthorDay struct {
	Identity string
	Day      time.Time // UTC midnight
}

// TruthDeployment is one successful production deployment at Now.
type TruthDeployment struct {
	ID            int64
	IID           int64
	ProjectID     int64
	EnvironmentID int64
	Environment   string
	SHA           string
	FinishedAt    time.Time // deployable.finished_at, or updated_at for API-created ones
	API           bool      // created through the API (deployable null)
	First         bool      // its environment's first successful deployment
	Ref           string    // the branch deployed
	LinkedIIDs    []int64   // every MR GitLab links to it (visible at Now), sorted
	// CountedIIDs are the human-authored MRs it ships (a GitLab link not ignored by the
	// first-deployment 7-day rule nor finished before the merge, or a deploy before merge) and
	// that no earlier deployment of its environment shipped; BeforeMergeIIDs are those of them
	// it shipped before their merge. Both sorted.
	CountedIIDs     []int64
	BeforeMergeIIDs []int64
	Rollback        bool
	Rework          bool
	// Blames is the id of the deployment this rework deployment blames (0: none); BlamedBy, of
	// the first rework deployment that blames this one (0: not a change failure).
	Blames, BlamedBy int64
	ChangeFailure    bool
	RecoverySeconds  *int64 // for a change failure
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
	techDebtLabels     = []string{"tech-debt", "technical-debt", "tech debt", "refactor", "refactoring", "maintenance",
		"chore", "dependencies"}
	techDebtTitle  = regexp.MustCompile(`(?i)^(refactor|chore|build|ci|deps)(\(.+\))?!?:`)
	techDebtBranch = regexp.MustCompile(`^(refactor|chore|deps|maintenance)[/-]`)
	revertLine     = regexp.MustCompile(`This reverts commit ([0-9a-f]{40})`)
)

// The built-in investment categories (SPEC §3), in rule order.
const (
	CategoryRework   = "rework"
	CategoryTechDebt = "tech debt"
	CategoryFeature  = "feature"
)

func (o *Org) isBot(u *user) bool {
	return u.bot || botPattern.MatchString(u.username) || slices.Contains(o.BotUsernames(), u.username)
}

func hasLabel(m *mergeRequest, names []string) bool {
	for _, l := range m.labels {
		for _, w := range names {
			if strings.EqualFold(l, w) {
				return true
			}
		}
	}
	return false
}

func isRework(m *mergeRequest) bool {
	return hasLabel(m, reworkLabels) || reworkTitlePattern.MatchString(m.title) || reworkBranch.MatchString(m.sourceBranch)
}

func isTechDebt(m *mergeRequest) bool {
	return hasLabel(m, techDebtLabels) || techDebtTitle.MatchString(m.title) || techDebtBranch.MatchString(m.sourceBranch)
}

// category applies the built-in investment rules, first match wins.
func category(m *mergeRequest) string {
	switch {
	case isRework(m):
		return CategoryRework
	case isTechDebt(m):
		return CategoryTechDebt
	}
	return CategoryFeature
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
		reverts := o.reverts(p, now)
		deps, deployedAt := o.truthDeployments(p, now, reverts)
		t.Deployments = append(t.Deployments, deps...)

		for _, m := range p.mrs {
			if !m.exists(now) {
				continue
			}
			t.MergeRequests = append(t.MergeRequests, o.truthMR(m, now, deployedAt[m], reverts[m]))
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

// identity is a commit author's identity: the lower-cased email, or the lower-cased name when
// the email is empty.
func (c commit) identity() string {
	if c.email != "" {
		return strings.ToLower(c.email)
	}
	return strings.ToLower(c.name)
}

func (o *Org) truthMR(m *mergeRequest, now time.Time, deployed *time.Time, reverts []*mergeRequest) TruthMR {
	p := m.project
	tm := TruthMR{ProjectID: p.id, IID: m.iid, ID: m.id, State: m.state(now), Title: m.titleAt(now),
		Draft: m.draft(now), AuthorID: m.author.id, Author: m.author.username, Bot: o.isBot(m.author),
		SourceBranch: m.sourceBranch, TargetBranch: m.targetBranch, Labels: append([]string{}, m.labels...),
		CreatedAt: m.createdAt, UpdatedAt: m.updatedAt(now), UserNotesCount: m.userNotesCount(now),
		Rework: isRework(m), HeadSHA: m.headSHA(now), Category: category(m)}
	for _, x := range reverts {
		tm.Reverts = append(tm.Reverts, x.iid)
	}
	slices.Sort(tm.Reverts)
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
	seen := map[AuthorDay]bool{}
	for _, c := range commits {
		if tm.MinAuthoredAt == nil || c.authored.Before(*tm.MinAuthoredAt) {
			tm.MinAuthoredAt = tp(c.authored)
		}
		ad := AuthorDay{Identity: c.identity(), Day: c.authored.UTC().Truncate(24 * time.Hour)}
		if !seen[ad] {
			seen[ad] = true
			tm.AuthorDays = append(tm.AuthorDays, ad)
		}
	}
	sort.Slice(tm.AuthorDays, func(i, j int) bool {
		a, b := tm.AuthorDays[i], tm.AuthorDays[j]
		return a.Identity < b.Identity || a.Identity == b.Identity && a.Day.Before(b.Day)
	})
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
	if merged {
		tm.stages()
	}
	return tm
}

// stages derives delivered_at, review_end and the four stages of a merged MR (SPEC §3) in Unix
// seconds.
func (tm *TruthMR) stages() {
	merged := tm.MergedAt.Unix()
	delivered, reviewEnd := *tm.MergedAt, *tm.MergedAt
	if tm.DeployedAt != nil {
		delivered = *tm.DeployedAt
		if tm.DeployedAt.Unix() < merged {
			tm.BeforeMerge = true
			reviewEnd = *tm.DeployedAt
		}
	}
	tm.DeliveredAt, tm.ReviewEnd = tp(delivered), tp(reviewEnd)
	created, first, end := tm.CreatedAt.Unix(), tm.FirstCommitAt.Unix(), reviewEnd.Unix()
	tm.CodingSeconds = created - first
	if tm.FirstReviewAt != nil && tm.FirstReviewAt.Unix() <= end {
		tm.PickupSeconds = tm.FirstReviewAt.Unix() - created
		tm.ReviewSeconds = end - tm.FirstReviewAt.Unix()
	} else {
		tm.PickupSeconds = end - created
	}
	if tm.DeployedAt != nil {
		var d int64
		if !tm.BeforeMerge {
			d = tm.DeployedAt.Unix() - merged
		}
		tm.DeploySeconds = &d
	}
	tm.CycleSeconds = delivered.Unix() - first
}

// reverts finds, for each merged rework MR R of p, the merged MRs of p it reverts: merged before
// R (in Unix seconds), and named by R's title `Revert "T"` (T exactly their title) or by a
// `This reverts commit S` line of one of R's commit messages (S their merge or squash commit SHA
// or one of their commits' SHAs).
func (o *Org) reverts(p *project, now time.Time) map[*mergeRequest][]*mergeRequest {
	byTitle := map[string][]*mergeRequest{}
	bySHA := map[string][]*mergeRequest{}
	var merged []*mergeRequest
	for _, m := range p.mrs {
		if !m.exists(now) || !m.mergedBy(now) {
			continue
		}
		merged = append(merged, m)
		byTitle[m.title] = append(byTitle[m.title], m)
		shas := []string{m.mergeSHA, m.squashSHA}
		for _, c := range m.commitsAt(now) {
			shas = append(shas, c.sha)
		}
		seen := map[string]bool{}
		for _, s := range shas {
			if s != "" && !seen[s] {
				seen[s] = true
				bySHA[s] = append(bySHA[s], m)
			}
		}
	}
	out := map[*mergeRequest][]*mergeRequest{}
	for _, r := range merged {
		if !isRework(r) {
			continue
		}
		set := map[*mergeRequest]bool{}
		var cands []*mergeRequest
		if t, ok := strings.CutPrefix(r.title, `Revert "`); ok && strings.HasSuffix(t, `"`) {
			cands = append(cands, byTitle[t[:len(t)-1]]...)
		}
		for _, c := range r.commitsAt(now) {
			for _, sm := range revertLine.FindAllStringSubmatch(c.message, -1) {
				cands = append(cands, bySHA[sm[1]]...)
			}
		}
		for _, x := range cands {
			if x != r && x.mergedAt.Unix() < r.mergedAt.Unix() && !set[x] {
				set[x] = true
				out[r] = append(out[r], x)
			}
		}
	}
	return out
}

// truthDeployments applies SPEC §3 per production environment and returns each merged MR's
// deploy instant: what each deployment ships (GitLab links, minus those the first-deployment
// 7-day rule or a finish before the merge ignores, plus deploys before merge), the MRs it counts
// (the first deployment of its environment that shipped them), rollbacks, rework, blame and
// recovery.
func (o *Org) truthDeployments(p *project, now time.Time, reverts map[*mergeRequest][]*mergeRequest) ([]TruthDeployment, map[*mergeRequest]*time.Time) {
	var out []TruthDeployment
	deployedAt := map[*mergeRequest]*time.Time{}
	byBranch := map[string][]*mergeRequest{} // merged MRs by source branch, for deploys before merge
	for _, m := range p.mrs {
		if m.exists(now) && m.mergedBy(now) {
			byBranch[m.sourceBranch] = append(byBranch[m.sourceBranch], m)
		}
	}
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
		shipped := map[*mergeRequest]bool{}  // shipped by an earlier deployment of e
		countedAt := map[*mergeRequest]int{} // the index in ds of the deployment that counts it
		counted := make([][]*mergeRequest, len(ds))
		tds := make([]TruthDeployment, len(ds))
		for i, d := range ds {
			td := TruthDeployment{ID: d.id, IID: d.iid, ProjectID: p.id, EnvironmentID: e.id, Environment: e.name,
				SHA: d.sha, Ref: d.ref, FinishedAt: d.finished, API: d.api, First: i == 0}
			if _, ok := firstDeployed[d.sha]; !ok {
				firstDeployed[d.sha] = d.finished
			}
			if i > 0 {
				prev := ds[i-1]
				td.Rollback = d.sha != prev.sha && firstDeployed[d.sha].Before(firstDeployed[prev.sha])
			}
			fin := d.finished.Unix()
			var ships []*mergeRequest
			before := map[*mergeRequest]bool{}
			if !now.Before(d.linkAt) {
				for _, m := range d.links {
					td.LinkedIIDs = append(td.LinkedIIDs, m.iid)
					merged := m.mergedAt.Unix()
					if td.First && fin-merged > 7*24*3600 || fin < merged {
						continue
					}
					ships = append(ships, m)
				}
			}
			for _, m := range byBranch[d.ref] {
				if m.headSHA(now) == d.sha && fin > m.createdAt.Unix() && fin < m.mergedAt.Unix() {
					ships = append(ships, m)
					before[m] = true
				}
			}
			td.Rework = td.Rollback
			for _, m := range ships {
				if shipped[m] {
					continue
				}
				shipped[m] = true
				if cur := deployedAt[m]; cur == nil || d.finished.Before(*cur) {
					deployedAt[m] = tp(d.finished)
				}
				if o.isBot(m.author) {
					continue
				}
				countedAt[m] = i
				counted[i] = append(counted[i], m)
				td.CountedIIDs = append(td.CountedIIDs, m.iid)
				if before[m] {
					td.BeforeMergeIIDs = append(td.BeforeMergeIIDs, m.iid)
				}
				if isRework(m) {
					td.Rework = true
				}
			}
			slices.Sort(td.LinkedIIDs)
			slices.Sort(td.CountedIIDs)
			slices.Sort(td.BeforeMergeIIDs)
			tds[i] = td
		}
		// Blame: a rollback, or a rework deployment shipping no revert of an MR this environment
		// shipped before it, blames the deployment just before it; otherwise the earliest
		// deployment that first shipped a reverted MR.
		for i := 1; i < len(tds); i++ {
			if !tds[i].Rework {
				continue
			}
			blamed := i - 1
			if !tds[i].Rollback {
				best := -1
				for _, r := range counted[i] {
					if !isRework(r) {
						continue
					}
					for _, x := range reverts[r] {
						if j, ok := countedAt[x]; ok && j < i && (best < 0 || j < best) {
							best = j
						}
					}
				}
				if best >= 0 {
					blamed = best
				}
			}
			cf := &tds[blamed]
			tds[i].Blames = cf.ID
			if cf.BlamedBy == 0 {
				cf.BlamedBy = tds[i].ID
				cf.ChangeFailure = true
				s := tds[i].FinishedAt.Unix() - cf.FinishedAt.Unix() // as a store of Unix seconds computes it
				cf.RecoverySeconds = &s
			}
		}
		out = append(out, tds...)
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
