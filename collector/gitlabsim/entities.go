package gitlabsim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// JSON entities in GitLab's shapes (lib/api/entities), with the fields client-go decodes.

// jtime marshals as GitLab does: RFC 3339 with milliseconds, "Z" for UTC.
type jtime struct{ t time.Time }

func (j jtime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + j.t.Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

// jt is a UTC time, or null when zero.
func jt(t time.Time) *jtime {
	if t.IsZero() {
		return nil
	}
	return &jtime{t.UTC()}
}

// jtz is a time in a fixed UTC offset (commit dates keep the committer's offset).
func jtz(t time.Time, offset int) *jtime {
	if offset == 0 {
		return &jtime{t.UTC()}
	}
	return &jtime{t.In(time.FixedZone("", offset))}
}

type userBasicJSON struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

func userBasic(u *user) *userBasicJSON {
	if u == nil {
		return nil
	}
	return &userBasicJSON{ID: u.id, Username: u.username, Name: u.name, State: "active",
		AvatarURL: "https://secure.gravatar.com/avatar/" + strconv.FormatInt(u.id, 16) + "?s=80&d=identicon",
		WebURL:    WebBase + "/" + u.username}
}

type userJSON struct {
	userBasicJSON
	CreatedAt       *jtime  `json:"created_at"`
	Bio             string  `json:"bio"`
	Location        string  `json:"location"`
	PublicEmail     *string `json:"public_email"`
	LinkedIn        string  `json:"linkedin"`
	Twitter         string  `json:"twitter"`
	Discord         string  `json:"discord"`
	WebsiteURL      string  `json:"website_url"`
	Organization    string  `json:"organization"`
	JobTitle        string  `json:"job_title"`
	Pronouns        *string `json:"pronouns"`
	Bot             bool    `json:"bot"`
	WorkInformation *string `json:"work_information"`
	Followers       int     `json:"followers"`
	Following       int     `json:"following"`
	IsFollowed      bool    `json:"is_followed"`
	LocalTime       *string `json:"local_time"`
}

func userFull(u *user) userJSON {
	j := userJSON{userBasicJSON: *userBasic(u), CreatedAt: jt(u.createdAt), Bot: u.bot}
	if !u.bot {
		j.JobTitle = "Engineer"
		j.Organization = "Acme"
	}
	return j
}

type namespaceJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

type projectSimpleJSON struct {
	ID                int64         `json:"id"`
	Description       string        `json:"description"`
	Name              string        `json:"name"`
	NameWithNamespace string        `json:"name_with_namespace"`
	Path              string        `json:"path"`
	PathWithNamespace string        `json:"path_with_namespace"`
	CreatedAt         *jtime        `json:"created_at"`
	DefaultBranch     string        `json:"default_branch"`
	TagList           []string      `json:"tag_list"`
	Topics            []string      `json:"topics"`
	SSHURLToRepo      string        `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string        `json:"http_url_to_repo"`
	WebURL            string        `json:"web_url"`
	ReadmeURL         string        `json:"readme_url"`
	ForksCount        int           `json:"forks_count"`
	AvatarURL         *string       `json:"avatar_url"`
	StarCount         int           `json:"star_count"`
	LastActivityAt    *jtime        `json:"last_activity_at"`
	Namespace         namespaceJSON `json:"namespace"`
}

type sharedWithJSON struct {
	GroupID          int64  `json:"group_id"`
	GroupName        string `json:"group_name"`
	GroupFullPath    string `json:"group_full_path"`
	GroupAccessLevel int    `json:"group_access_level"`
}

type projectJSON struct {
	projectSimpleJSON
	Visibility                string           `json:"visibility"`
	Archived                  bool             `json:"archived"`
	EmptyRepo                 bool             `json:"empty_repo"`
	CreatorID                 int64            `json:"creator_id"`
	OpenIssuesCount           int              `json:"open_issues_count"`
	IssuesAccessLevel         string           `json:"issues_access_level"`
	MergeRequestsAccessLevel  string           `json:"merge_requests_access_level"`
	BuildsAccessLevel         string           `json:"builds_access_level"`
	MergeMethod               string           `json:"merge_method"`
	SquashOption              string           `json:"squash_option"`
	SharedWithGroups          []sharedWithJSON `json:"shared_with_groups"`
	OnlyAllowMergeIfPipeline  bool             `json:"only_allow_merge_if_pipeline_succeeds"`
	RemoveSourceBranchDefault bool             `json:"remove_source_branch_after_merge"`
}

func (o *Org) projectSimple(p *project, now time.Time) projectSimpleJSON {
	g := p.group
	ns := namespaceJSON{ID: g.id, Name: g.name, Path: g.path, Kind: "group", FullPath: g.fullPath,
		WebURL: WebBase + "/groups/" + g.fullPath}
	if g.parent != nil {
		id := g.parent.id
		ns.ParentID = &id
	}
	last := p.createdAt
	for i := len(p.mrs) - 1; i >= 0 && i >= len(p.mrs)-20; i-- {
		if u := p.mrs[i]; u.exists(now) {
			last = maxTime(last, u.updatedAt(now))
		}
	}
	nameNS := ""
	for x := g; x != nil; x = x.parent {
		nameNS = x.name + " / " + nameNS
	}
	return projectSimpleJSON{ID: p.id, Description: "The " + p.name + " service.", Name: p.name,
		NameWithNamespace: nameNS + p.name, Path: p.path, PathWithNamespace: p.fullPath,
		CreatedAt: jt(p.createdAt), DefaultBranch: p.defaultBranch, TagList: []string{}, Topics: []string{},
		SSHURLToRepo:  "git@gitlab.acme.example:" + p.fullPath + ".git",
		HTTPURLToRepo: WebBase + "/" + p.fullPath + ".git", WebURL: p.webURL(WebBase),
		ReadmeURL:      WebBase + "/" + p.fullPath + "/-/blob/" + p.defaultBranch + "/README.md",
		LastActivityAt: jt(last), Namespace: ns}
}

func (o *Org) projectFull(p *project, now time.Time) projectJSON {
	j := projectJSON{projectSimpleJSON: o.projectSimple(p, now), Visibility: "private", Archived: p.archived,
		CreatorID: p.team[0].id, IssuesAccessLevel: "enabled", MergeRequestsAccessLevel: "enabled",
		BuildsAccessLevel: "enabled", MergeMethod: "merge", SquashOption: "default_off",
		SharedWithGroups: []sharedWithJSON{}}
	if p.shared {
		j.SharedWithGroups = append(j.SharedWithGroups, sharedWithJSON{GroupID: o.top.id, GroupName: o.top.name,
			GroupFullPath: o.top.fullPath, GroupAccessLevel: 30})
	}
	return j
}

type referencesJSON struct {
	Short    string `json:"short"`
	Relative string `json:"relative"`
	Full     string `json:"full"`
}

type timeStatsJSON struct {
	TimeEstimate        int     `json:"time_estimate"`
	TotalTimeSpent      int     `json:"total_time_spent"`
	HumanTimeEstimate   *string `json:"human_time_estimate"`
	HumanTotalTimeSpent *string `json:"human_total_time_spent"`
}

type taskStatusJSON struct {
	Count          int `json:"count"`
	CompletedCount int `json:"completed_count"`
}

type mergeRequestJSON struct {
	ID                          int64            `json:"id"`
	IID                         int64            `json:"iid"`
	ProjectID                   int64            `json:"project_id"`
	Title                       string           `json:"title"`
	Description                 string           `json:"description"`
	State                       string           `json:"state"`
	CreatedAt                   *jtime           `json:"created_at"`
	UpdatedAt                   *jtime           `json:"updated_at"`
	MergedBy                    *userBasicJSON   `json:"merged_by"`
	MergeUser                   *userBasicJSON   `json:"merge_user"`
	MergedAt                    *jtime           `json:"merged_at"`
	ClosedBy                    *userBasicJSON   `json:"closed_by"`
	ClosedAt                    *jtime           `json:"closed_at"`
	TargetBranch                string           `json:"target_branch"`
	SourceBranch                string           `json:"source_branch"`
	UserNotesCount              int              `json:"user_notes_count"`
	Upvotes                     int              `json:"upvotes"`
	Downvotes                   int              `json:"downvotes"`
	Author                      *userBasicJSON   `json:"author"`
	Assignees                   []*userBasicJSON `json:"assignees"`
	Assignee                    *userBasicJSON   `json:"assignee"`
	Reviewers                   []*userBasicJSON `json:"reviewers"`
	SourceProjectID             int64            `json:"source_project_id"`
	TargetProjectID             int64            `json:"target_project_id"`
	Labels                      []string         `json:"labels"`
	Draft                       bool             `json:"draft"`
	WorkInProgress              bool             `json:"work_in_progress"`
	Milestone                   *struct{}        `json:"milestone"`
	MergeWhenPipelineSucceeds   bool             `json:"merge_when_pipeline_succeeds"`
	MergeStatus                 string           `json:"merge_status"`
	DetailedMergeStatus         string           `json:"detailed_merge_status"`
	SHA                         string           `json:"sha"`
	MergeCommitSHA              *string          `json:"merge_commit_sha"`
	SquashCommitSHA             *string          `json:"squash_commit_sha"`
	DiscussionLocked            *bool            `json:"discussion_locked"`
	ShouldRemoveSourceBranch    *bool            `json:"should_remove_source_branch"`
	ForceRemoveSourceBranch     bool             `json:"force_remove_source_branch"`
	PreparedAt                  *jtime           `json:"prepared_at"`
	Reference                   string           `json:"reference"`
	References                  referencesJSON   `json:"references"`
	WebURL                      string           `json:"web_url"`
	TimeStats                   timeStatsJSON    `json:"time_stats"`
	Squash                      bool             `json:"squash"`
	SquashOnMerge               bool             `json:"squash_on_merge"`
	TaskCompletionStatus        taskStatusJSON   `json:"task_completion_status"`
	HasConflicts                bool             `json:"has_conflicts"`
	BlockingDiscussionsResolved bool             `json:"blocking_discussions_resolved"`
	ApprovalsBeforeMerge        *int             `json:"approvals_before_merge"`
}

// mergeRequestFullJSON is the single-MR entity (Entities::MergeRequest).
type mergeRequestFullJSON struct {
	mergeRequestJSON
	Subscribed                  bool              `json:"subscribed"`
	ChangesCount                string            `json:"changes_count"`
	LatestBuildStartedAt        *jtime            `json:"latest_build_started_at"`
	LatestBuildFinishedAt       *jtime            `json:"latest_build_finished_at"`
	FirstDeployedToProductionAt *jtime            `json:"first_deployed_to_production_at"`
	Pipeline                    *pipelineJSON     `json:"pipeline"`
	HeadPipeline                *pipelineFullJSON `json:"head_pipeline"`
	DiffRefs                    map[string]string `json:"diff_refs"`
	MergeError                  *string           `json:"merge_error"`
	User                        map[string]bool   `json:"user"`
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (o *Org) mergeRequestJSON(m *mergeRequest, now time.Time) mergeRequestJSON {
	p := m.project
	state := m.state(now)
	j := mergeRequestJSON{ID: m.id, IID: m.iid, ProjectID: p.id, Title: m.titleAt(now), Description: m.description,
		State: state, CreatedAt: jt(m.createdAt), UpdatedAt: jt(m.updatedAt(now)),
		TargetBranch: m.targetBranch, SourceBranch: m.sourceBranch, UserNotesCount: m.userNotesCount(now),
		Author: userBasic(m.author), Assignees: []*userBasicJSON{userBasic(m.author)}, Assignee: userBasic(m.author),
		Reviewers: []*userBasicJSON{}, SourceProjectID: p.id, TargetProjectID: p.id,
		Labels: append([]string{}, m.labels...), Draft: m.draft(now), WorkInProgress: m.draft(now),
		MergeStatus: "can_be_merged", DetailedMergeStatus: "mergeable", SHA: m.headSHA(now),
		ForceRemoveSourceBranch: true, PreparedAt: jt(m.createdAt.Add(2 * time.Second)),
		Reference: "!" + strconv.FormatInt(m.iid, 10),
		References: referencesJSON{Short: "!" + strconv.FormatInt(m.iid, 10), Relative: "!" + strconv.FormatInt(m.iid, 10),
			Full: p.fullPath + "!" + strconv.FormatInt(m.iid, 10)},
		WebURL: p.webURL(WebBase) + "/-/merge_requests/" + strconv.FormatInt(m.iid, 10), Squash: m.squash,
		BlockingDiscussionsResolved: true}
	for _, r := range m.reviewers {
		j.Reviewers = append(j.Reviewers, userBasic(r))
	}
	if j.Draft {
		j.DetailedMergeStatus = "draft_status"
	}
	switch state {
	case "merged":
		j.MergedBy, j.MergeUser, j.MergedAt = userBasic(m.mergeUser), userBasic(m.mergeUser), jt(m.mergedAt)
		j.MergeCommitSHA, j.SquashCommitSHA = strp(m.mergeSHA), strp(m.squashSHA)
		j.SquashOnMerge = m.squash
		j.DetailedMergeStatus = "not_open"
	case "closed":
		j.ClosedBy, j.ClosedAt = userBasic(m.author), jt(m.closedAt)
		j.DetailedMergeStatus = "not_open"
	}
	return j
}

func (o *Org) mergeRequestFull(m *mergeRequest, now time.Time) mergeRequestFullJSON {
	j := mergeRequestFullJSON{mergeRequestJSON: o.mergeRequestJSON(m, now),
		ChangesCount: strconv.Itoa(1 + len(m.commitsAt(now))*3), User: map[string]bool{"can_merge": false},
		DiffRefs: map[string]string{"base_sha": m.project.initialSHA, "head_sha": m.headSHA(now), "start_sha": m.project.initialSHA}}
	// GitLab's MR metrics record the first deployment to a production-tier environment that
	// the MR was linked to.
	for _, e := range m.project.envs {
		if e.tier != "production" {
			continue
		}
		for _, d := range e.chain {
			if d.id == 0 || now.Before(d.linkAt) || d.statusAt(now) != "success" || !slices.Contains(d.links, m) {
				continue
			}
			if j.FirstDeployedToProductionAt == nil || d.finished.Before(j.FirstDeployedToProductionAt.t) {
				j.FirstDeployedToProductionAt = jt(d.finished)
			}
		}
	}
	var head *pipeline
	for _, pl := range m.pipelines {
		if pl.id != 0 && !pl.createdAt.After(now) && pl.ref != m.project.defaultBranch {
			head = pl
		}
	}
	if head != nil {
		b := o.pipelineBasic(head, now)
		f := o.pipelineFull(head, now)
		j.Pipeline, j.HeadPipeline = &b, &f
	}
	return j
}

type noteJSON struct {
	ID           int64          `json:"id"`
	Type         *string        `json:"type"`
	Body         string         `json:"body"`
	Attachment   *string        `json:"attachment"`
	Author       *userBasicJSON `json:"author"`
	CreatedAt    *jtime         `json:"created_at"`
	UpdatedAt    *jtime         `json:"updated_at"`
	System       bool           `json:"system"`
	NoteableID   int64          `json:"noteable_id"`
	NoteableType string         `json:"noteable_type"`
	ProjectID    int64          `json:"project_id"`
	Resolvable   bool           `json:"resolvable"`
	Confidential bool           `json:"confidential"`
	Internal     bool           `json:"internal"`
	Imported     bool           `json:"imported"`
	ImportedFrom string         `json:"imported_from"`
	NoteableIID  int64          `json:"noteable_iid"`
	CommandsChg  struct{}       `json:"commands_changes"`
}

func noteEntity(n *note) noteJSON {
	return noteJSON{ID: n.id, Type: strp(n.typ), Body: n.body, Author: userBasic(n.author), CreatedAt: jt(n.at),
		UpdatedAt: jt(n.at), System: n.system(), NoteableID: n.mr.id, NoteableType: "MergeRequest",
		ProjectID: n.mr.project.id, Resolvable: n.typ == "DiffNote", ImportedFrom: "none", NoteableIID: n.mr.iid}
}

type commitJSON struct {
	ID               string            `json:"id"`
	ShortID          string            `json:"short_id"`
	CreatedAt        *jtime            `json:"created_at"`
	ParentIDs        []string          `json:"parent_ids"`
	Title            string            `json:"title"`
	Message          string            `json:"message"`
	AuthorName       string            `json:"author_name"`
	AuthorEmail      string            `json:"author_email"`
	AuthoredDate     *jtime            `json:"authored_date"`
	CommitterName    string            `json:"committer_name"`
	CommitterEmail   string            `json:"committer_email"`
	CommittedDate    *jtime            `json:"committed_date"`
	Trailers         map[string]string `json:"trailers"`
	ExtendedTrailers map[string]string `json:"extended_trailers"`
	WebURL           string            `json:"web_url"`
}

func commitEntity(p *project, c commit) commitJSON {
	off := c.author.tzOffset
	msg := c.message
	if msg == "" {
		msg = c.title + "\n"
	}
	return commitJSON{ID: c.sha, ShortID: c.sha[:8], CreatedAt: jtz(c.committed, off), ParentIDs: []string{c.parent},
		Title: c.title, Message: msg, AuthorName: c.name, AuthorEmail: c.email,
		AuthoredDate: jtz(c.authored, off), CommitterName: c.name, CommitterEmail: c.email,
		CommittedDate: jtz(c.committed, off), Trailers: map[string]string{}, ExtendedTrailers: map[string]string{},
		WebURL: p.webURL(WebBase) + "/-/commit/" + c.sha}
}

type approverJSON struct {
	User       *userBasicJSON `json:"user"`
	ApprovedAt *jtime         `json:"approved_at"`
}

type approvalsJSON struct {
	ID                             int64          `json:"id"`
	IID                            int64          `json:"iid"`
	ProjectID                      int64          `json:"project_id"`
	Title                          string         `json:"title"`
	Description                    string         `json:"description"`
	State                          string         `json:"state"`
	CreatedAt                      *jtime         `json:"created_at"`
	UpdatedAt                      *jtime         `json:"updated_at"`
	MergeStatus                    string         `json:"merge_status"`
	Approved                       bool           `json:"approved"`
	ApprovalsRequired              int            `json:"approvals_required"`
	ApprovalsLeft                  int            `json:"approvals_left"`
	RequirePasswordToApprove       bool           `json:"require_password_to_approve"`
	ApprovedBy                     []approverJSON `json:"approved_by"`
	SuggestedApprovers             []any          `json:"suggested_approvers"`
	Approvers                      []any          `json:"approvers"`
	ApproverGroups                 []any          `json:"approver_groups"`
	UserHasApproved                bool           `json:"user_has_approved"`
	UserCanApprove                 bool           `json:"user_can_approve"`
	ApprovalRulesLeft              []any          `json:"approval_rules_left"`
	HasApprovalRules               bool           `json:"has_approval_rules"`
	MergeRequestApproversAvailable bool           `json:"merge_request_approvers_available"`
	MultipleApprovalRulesAvailable bool           `json:"multiple_approval_rules_available"`
}

type environmentBasicJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	ExternalURL string `json:"external_url"`
	CreatedAt   *jtime `json:"created_at"`
	UpdatedAt   *jtime `json:"updated_at"`
}

type environmentJSON struct {
	environmentBasicJSON
	Description         *string   `json:"description"`
	Tier                *string   `json:"tier"`
	State               string    `json:"state"`
	AutoStopAt          *jtime    `json:"auto_stop_at"`
	AutoStopSetting     string    `json:"auto_stop_setting"`
	KubernetesNamespace *string   `json:"kubernetes_namespace"`
	FluxResourcePath    *string   `json:"flux_resource_path"`
	ClusterAgent        *struct{} `json:"cluster_agent"`
}

func envBasic(e *environment, now time.Time) environmentBasicJSON {
	upd := e.createdAt
	for i := len(e.chain) - 1; i >= 0; i-- {
		if d := e.chain[i]; d.id != 0 && !d.createdAt.After(now) {
			upd = maxTime(upd, d.updatedAt(now))
			break
		}
	}
	return environmentBasicJSON{ID: e.id, Name: e.name, Slug: e.slug(), ExternalURL: e.externalURL,
		CreatedAt: jt(e.createdAt), UpdatedAt: jt(upd)}
}

func envFull(e *environment, now time.Time) environmentJSON {
	return environmentJSON{environmentBasicJSON: envBasic(e, now), Tier: strp(e.tier), State: e.state,
		AutoStopSetting: "always"}
}

type pipelineJSON struct {
	ID        int64   `json:"id"`
	IID       int64   `json:"iid"`
	ProjectID int64   `json:"project_id"`
	SHA       string  `json:"sha"`
	Ref       string  `json:"ref"`
	Status    string  `json:"status"`
	Source    string  `json:"source"`
	CreatedAt *jtime  `json:"created_at"`
	UpdatedAt *jtime  `json:"updated_at"`
	WebURL    string  `json:"web_url"`
	Name      *string `json:"name"`
}

type detailedStatusJSON struct {
	Icon         string  `json:"icon"`
	Text         string  `json:"text"`
	Label        string  `json:"label"`
	Group        string  `json:"group"`
	Tooltip      string  `json:"tooltip"`
	HasDetails   bool    `json:"has_details"`
	DetailsPath  string  `json:"details_path"`
	Illustration *string `json:"illustration"`
	Favicon      string  `json:"favicon"`
}

type pipelineFullJSON struct {
	pipelineJSON
	BeforeSHA      string             `json:"before_sha"`
	Tag            bool               `json:"tag"`
	YamlErrors     *string            `json:"yaml_errors"`
	User           *userBasicJSON     `json:"user"`
	StartedAt      *jtime             `json:"started_at"`
	FinishedAt     *jtime             `json:"finished_at"`
	CommittedAt    *jtime             `json:"committed_at"`
	Duration       *int64             `json:"duration"`
	QueuedDuration *int64             `json:"queued_duration"`
	Coverage       *string            `json:"coverage"`
	DetailedStatus detailedStatusJSON `json:"detailed_status"`
}

func (o *Org) pipelineBasic(pl *pipeline, now time.Time) pipelineJSON {
	return pipelineJSON{ID: pl.id, IID: pl.iid, ProjectID: pl.project.id, SHA: pl.sha, Ref: pl.ref,
		Status: pl.statusAt(now), Source: pl.source, CreatedAt: jt(pl.createdAt), UpdatedAt: jt(pl.updatedAt(now)),
		WebURL: pl.project.webURL(WebBase) + "/-/pipelines/" + strconv.FormatInt(pl.id, 10)}
}

// formatCoverage renders coverage as GitLab does: a decimal string such as "87.65" or "90.0".
func formatCoverage(c float64) string {
	s := strconv.FormatFloat(c, 'f', -1, 64)
	if math.Trunc(c) == c {
		s += ".0"
	}
	return s
}

func (o *Org) pipelineFull(pl *pipeline, now time.Time) pipelineFullJSON {
	st := pl.statusAt(now)
	j := pipelineFullJSON{pipelineJSON: o.pipelineBasic(pl, now), BeforeSHA: pl.beforeSHA, User: userBasic(pl.user),
		DetailedStatus: detailedStatusJSON{Icon: "status_" + st, Text: st, Label: st, Group: st, Tooltip: st,
			HasDetails: true, DetailsPath: fmt.Sprintf("/%s/-/pipelines/%d", pl.project.fullPath, pl.id),
			Favicon: "/assets/ci_favicons/favicon_status_" + st + ".png"}}
	if j.BeforeSHA == "" {
		j.BeforeSHA = "0000000000000000000000000000000000000000"
	}
	q := int64(pl.startedAt.Sub(pl.createdAt) / time.Second)
	if !now.Before(pl.startedAt) {
		j.StartedAt = jt(pl.startedAt)
		j.QueuedDuration = &q
	}
	if !now.Before(pl.finished) {
		j.FinishedAt = jt(pl.finished)
		d := int64(pl.finished.Sub(pl.startedAt) / time.Second)
		j.Duration = &d
		if pl.hasCoverage {
			s := formatCoverage(pl.coverage)
			j.Coverage = &s
		}
	}
	return j
}

type jobJSON struct {
	ID             int64          `json:"id"`
	Status         string         `json:"status"`
	Stage          string         `json:"stage"`
	Name           string         `json:"name"`
	Ref            string         `json:"ref"`
	Tag            bool           `json:"tag"`
	Coverage       *float64       `json:"coverage"`
	AllowFailure   bool           `json:"allow_failure"`
	CreatedAt      *jtime         `json:"created_at"`
	StartedAt      *jtime         `json:"started_at"`
	FinishedAt     *jtime         `json:"finished_at"`
	ErasedAt       *jtime         `json:"erased_at"`
	Duration       *float64       `json:"duration"`
	QueuedDuration *float64       `json:"queued_duration"`
	User           *userBasicJSON `json:"user"`
	Commit         commitJSON     `json:"commit"`
	Pipeline       pipelineJSON   `json:"pipeline"`
	WebURL         string         `json:"web_url"`
	Artifacts      []any          `json:"artifacts"`
	Runner         *struct{}      `json:"runner"`
	TagList        []string       `json:"tag_list"`
}

type deploymentJSON struct {
	ID          int64                `json:"id"`
	IID         int64                `json:"iid"`
	Ref         string               `json:"ref"`
	SHA         string               `json:"sha"`
	CreatedAt   *jtime               `json:"created_at"`
	UpdatedAt   *jtime               `json:"updated_at"`
	Status      string               `json:"status"`
	User        *userBasicJSON       `json:"user"`
	Environment environmentBasicJSON `json:"environment"`
	Deployable  *jobJSON             `json:"deployable"`
}

func (o *Org) deploymentEntity(d *deployment, now time.Time) deploymentJSON {
	st := d.statusAt(now)
	j := deploymentJSON{ID: d.id, IID: d.iid, Ref: d.ref, SHA: d.sha, CreatedAt: jt(d.createdAt),
		UpdatedAt: jt(d.updatedAt(now)), Status: st, User: userBasic(d.user), Environment: envBasic(d.env, now)}
	if d.api {
		return j // created through the API: no job
	}
	p := d.project
	jobStatus := st
	if st == "created" {
		jobStatus = "pending"
	}
	job := &jobJSON{ID: d.jobID, Status: jobStatus, Stage: "deploy", Name: d.jobName, Ref: d.ref,
		CreatedAt: jt(d.createdAt), User: userBasic(d.user), WebURL: p.webURL(WebBase) + "/-/jobs/" + strconv.FormatInt(d.jobID, 10),
		Artifacts: []any{}, TagList: []string{"deploy"}}
	q := d.startedAt.Sub(d.createdAt).Seconds()
	if !now.Before(d.startedAt) {
		job.StartedAt = jt(d.startedAt)
		job.QueuedDuration = &q
	}
	if !now.Before(d.finished) {
		job.FinishedAt = jt(d.finished)
		dur := d.finished.Sub(d.startedAt).Seconds()
		job.Duration = &dur
	}
	mu := d.user
	job.Commit = commitJSON{ID: d.sha, ShortID: d.sha[:8], CreatedAt: jt(d.shaAt), ParentIDs: []string{},
		Title: "Merge branch into '" + d.ref + "'", Message: "Merge branch into '" + d.ref + "'\n",
		AuthorName: mu.name, AuthorEmail: mu.email(), AuthoredDate: jt(d.shaAt), CommitterName: mu.name,
		CommitterEmail: mu.email(), CommittedDate: jt(d.shaAt), Trailers: map[string]string{},
		ExtendedTrailers: map[string]string{}, WebURL: p.webURL(WebBase) + "/-/commit/" + d.sha}
	if d.pipeline != nil {
		job.Pipeline = o.pipelineBasic(d.pipeline, now)
	}
	j.Deployable = job
	return j
}
