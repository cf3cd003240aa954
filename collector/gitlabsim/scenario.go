package gitlabsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scenario builds a small organisation by hand, for tests of edge cases that a generated one
// reaches only by chance: projects in group "acme" with production environments, people,
// merge requests with explicit commits, approvals and times, and deployments with explicit
// refs, SHAs, finish times and GitLab links. Org returns it at an instant, served and reported
// (Truth) like a generated one. Call Deploy in finish order per environment.
type Scenario struct {
	o     *Org
	users map[string]*user
}

// ScenarioProject is one project of a Scenario.
type ScenarioProject struct {
	s *Scenario
	p *project
}

// ScenarioMR is one merge request of a Scenario.
type ScenarioMR struct{ m *mergeRequest }

// MRSpec describes a merge request. Author and commit authors are usernames, created on first
// use with the email <username>@acme.example.
type MRSpec struct {
	Author  string
	Title   string
	Branch  string // source branch; default feature/<iid>
	Labels  []string
	Created time.Time
	Merged  time.Time // zero: still open
	Commits []CommitSpec
	// ApprovedBy approves at ApprovedAt (a system note), when set.
	ApprovedBy string
	ApprovedAt time.Time
}

// CommitSpec describes one commit, oldest first.
type CommitSpec struct {
	Author string    // username; default the MR's author
	Email  string    // author_email as git recorded it; default <username>@acme.example; "-" for none
	At     time.Time // authored_date
	// Message is the full message; default "Work on <title>". Its first line is the title.
	Message string
}

// NewScenario starts an empty organisation whose history begins at start.
func NewScenario(start time.Time) *Scenario {
	o := &Org{
		opt:         GenOptions{Seed: 1, End: start, Days: 1, Services: 1, Scale: 1},
		r:           newRnd(1),
		userByID:    map[int64]*user{},
		groupByID:   map[int64]*group{},
		groupByPath: map[string]*group{},
		projByID:    map[int64]*project{},
		projByPath:  map[string]*project{},
		start:       start.UTC(),
		now:         start.UTC(),
	}
	o.top = o.newGroup(71, "acme", nil)
	o.nextID.mr, o.nextID.note, o.nextID.deploy, o.nextID.job, o.nextID.env = 20000, 900000, 40000, 7000000, 500
	return &Scenario{o: o, users: map[string]*user{}}
}

func (s *Scenario) user(username string) *user {
	if u := s.users[username]; u != nil {
		return u
	}
	u := s.o.newUser(int64(1000+len(s.users)), username, strings.ToUpper(username[:1])+username[1:], false)
	u.tzOffset = 0
	s.users[username] = u
	s.o.humans = append(s.o.humans, u)
	return u
}

// Project adds acme/<name> with default branch main, owned by lead, and a production
// environment for each name in envs ("production" when none).
func (s *Scenario) Project(name, lead string, envs ...string) *ScenarioProject {
	o := s.o
	id := int64(3100 + 10*len(o.projects))
	p := &project{id: id, name: name, path: name, group: o.top, fullPath: o.top.fullPath + "/" + name,
		defaultBranch: "main", kind: kindService, createdAt: o.start.AddDate(0, -6, 0),
		pipeByID: map[int64]*pipeline{}, deployByID: map[int64]*deployment{}, team: []*user{s.user(lead)},
		initialSHA: o.r.sha(), initialAt: o.start.AddDate(0, -3, 0)}
	if len(envs) == 0 {
		envs = []string{"production"}
	}
	for _, n := range envs {
		o.nextID.env++
		p.envs = append(p.envs, &environment{id: o.nextID.env, project: p, name: n, tier: "production",
			state: "available", createdAt: o.start.Add(-time.Hour), production: true, releases: true, startAt: o.start})
	}
	setProjectMember(p, p.team[0], MaintainerAccess)
	o.projects = append(o.projects, p)
	o.projByID[p.id] = p
	o.projByPath[p.fullPath] = p
	return &ScenarioProject{s: s, p: p}
}

// Member makes username (created on first use) a direct member of the project with the given
// role, or removes them with NoAccess. A project's lead is its Maintainer from the start.
func (sp *ScenarioProject) Member(username string, level AccessLevel) *ScenarioProject {
	u := sp.s.user(username)
	if level == NoAccess {
		delete(sp.p.members, u)
		return sp
	}
	setProjectMember(sp.p, u, level)
	return sp
}

// GroupMember makes username (created on first use) a member of the top group "acme" with
// the given role: they see every project of the scenario.
func (s *Scenario) GroupMember(username string, level AccessLevel) {
	u := s.user(username)
	if level == NoAccess {
		delete(s.o.top.members, u)
		return
	}
	setGroupMember(s.o.top, u, level)
}

// Person adds username (created on first use) without any membership, e.g. someone who signs
// in and sees nothing.
func (s *Scenario) Person(username string) { s.user(username) }

// Path is the project's full path.
func (sp *ScenarioProject) Path() string { return sp.p.fullPath }

// ID is the project's id.
func (sp *ScenarioProject) ID() int64 { return sp.p.id }

// MR adds a merge request.
func (sp *ScenarioProject) MR(spec MRSpec) *ScenarioMR {
	o, p := sp.s.o, sp.p
	o.nextID.mr++
	p.nextIID++
	author := sp.s.user(spec.Author)
	m := &mergeRequest{id: o.nextID.mr, iid: p.nextIID, project: p, author: author, title: spec.Title,
		sourceBranch: spec.Branch, targetBranch: p.defaultBranch, createdAt: spec.Created.UTC(),
		labels: append([]string(nil), spec.Labels...), mergeUser: author}
	if m.sourceBranch == "" {
		m.sourceBranch = fmt.Sprintf("feature/%d", m.iid)
	}
	parent := p.initialSHA
	for _, cs := range spec.Commits {
		u := author
		if cs.Author != "" {
			u = sp.s.user(cs.Author)
		}
		msg := cs.Message
		if msg == "" {
			msg = "Work on " + spec.Title + "\n"
		}
		email := cs.Email
		switch email {
		case "":
			email = u.email()
		case "-":
			email = ""
		}
		c := commit{sha: o.r.sha(), authored: cs.At.UTC(), committed: cs.At.UTC(), title: strings.SplitN(msg, "\n", 2)[0],
			message: msg, author: u, name: u.name, email: email, parent: parent}
		parent = c.sha
		m.allCommits = append(m.allCommits, c)
	}
	if len(m.allCommits) > 0 {
		m.pushes = []push{{at: m.createdAt.Add(-time.Minute), start: 0, end: len(m.allCommits)}}
	}
	m.touches = []time.Time{m.createdAt}
	if spec.ApprovedBy != "" {
		o.nextID.note++
		n := &note{id: o.nextID.note, at: spec.ApprovedAt.UTC(), author: sp.s.user(spec.ApprovedBy),
			body: "approved this merge request", kind: noteApproved, mr: m}
		m.notes = append(m.notes, n)
		m.touches = append(m.touches, n.at)
	}
	if !spec.Merged.IsZero() {
		m.mergedAt = spec.Merged.UTC()
		m.mergeSHA = o.r.sha()
		m.touches = append(m.touches, m.mergedAt)
		p.insertMerge(m)
	}
	sort.Slice(m.touches, func(i, j int) bool { return m.touches[i].Before(m.touches[j]) })
	p.mrs = append(p.mrs, m)
	return &ScenarioMR{m}
}

// IID is the MR's iid.
func (sm *ScenarioMR) IID() int64 { return sm.m.iid }

// HeadSHA is the SHA of the MR's last commit.
func (sm *ScenarioMR) HeadSHA() string { return sm.m.allCommits[len(sm.m.allCommits)-1].sha }

// CommitSHA is the SHA of the MR's i-th commit (oldest first).
func (sm *ScenarioMR) CommitSHA(i int) string { return sm.m.allCommits[i].sha }

// MergeSHA is the MR's merge commit SHA (empty while open).
func (sm *ScenarioMR) MergeSHA() string { return sm.m.mergeSHA }

// Branch is the MR's source branch.
func (sm *ScenarioMR) Branch() string { return sm.m.sourceBranch }

// Deploy adds a successful deployment of ref at sha to environment env (the first one when
// env is empty), finished at finished, that GitLab links to links (visible a minute later). It
// returns the deployment's id.
func (sp *ScenarioProject) Deploy(env, ref, sha string, finished time.Time, links ...*ScenarioMR) int64 {
	o, p := sp.s.o, sp.p
	e := p.envs[0]
	for _, x := range p.envs {
		if x.name == env {
			e = x
		}
	}
	finished = finished.UTC()
	o.nextID.deploy++
	o.nextID.job++
	p.nextDeployIID++
	d := &deployment{id: o.nextID.deploy, iid: p.nextDeployIID, project: p, env: e, ref: ref, sha: sha,
		shaAt: finished.Add(-10 * time.Minute), status: "success", createdAt: finished.Add(-5 * time.Minute),
		startedAt: finished.Add(-4 * time.Minute), finished: finished, dbFinished: finished, user: p.team[0],
		jobID: o.nextID.job, jobName: "deploy:" + e.slug(), linkAt: finished.Add(time.Minute), first: len(e.chain) == 0}
	for _, l := range links {
		d.links = append(d.links, l.m)
	}
	e.chain = append(e.chain, d)
	e.lastSuccess = d
	p.deployments = append(p.deployments, d)
	p.deployByID[d.id] = d
	return d.id
}

// Org returns the organisation at now. Build nothing more on the Scenario afterwards.
func (s *Scenario) Org(now time.Time) *Org {
	s.o.now = now.UTC()
	s.o.opt.End = s.o.now
	return s.o
}
