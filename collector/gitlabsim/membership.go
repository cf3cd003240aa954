package gitlabsim

import (
	"fmt"
	"sort"
	"strings"
)

// AccessLevel is a GitLab membership role, with GitLab's numeric values.
type AccessLevel int

// GitLab's access levels, as min_access_level takes them.
const (
	NoAccess         AccessLevel = 0
	GuestAccess      AccessLevel = 10
	ReporterAccess   AccessLevel = 20
	DeveloperAccess  AccessLevel = 30
	MaintainerAccess AccessLevel = 40
	OwnerAccess      AccessLevel = 50
)

// sharedAccess is the role a project shared into the top group gives that group's members
// at most (the group_access_level projectFull reports).
const sharedAccess = DeveloperAccess

// User is a person who can sign in at the simulator's /oauth/authorize, with what they see.
type User struct {
	ID       int64
	Username string
	Name     string
	// Sees says in a few words what the person can read, e.g. "sees every project",
	// "sees acme/commerce (5 projects) and acme/monolith", "sees acme/data/etl only".
	Sees string
}

// Members of groups and projects. The generator assigns them without drawing from the
// organisation's random source, so adding them changed nothing else a seed produces:
//
//   - the first two people are Owner and Maintainer of the top group: they see every project,
//     the archived one and the one shared into the group included;
//   - the last person is Reporter of one project and member of nothing else;
//   - the one before is member of nothing (signs in, sees no project);
//   - everybody else is Developer of one subgroup, the one where they work on the largest
//     share of the projects (its first member is Maintainer: the team lead), and a direct
//     Developer of the monolith (which sits in the top group) when they work on it.

func (o *Org) assignMembers() {
	hs := o.humans
	if len(hs) == 0 {
		return
	}
	var subs []*group
	for _, g := range o.groups {
		if g.parent == o.top && o.hasProjects(g) {
			subs = append(subs, g)
		}
	}
	setGroupMember(o.top, hs[0], OwnerAccess)
	if len(hs) > 1 {
		setGroupMember(o.top, hs[1], MaintainerAccess)
	}
	last := len(hs)
	if len(hs) >= 4 {
		last = len(hs) - 2
		if p := o.oneProject(); p != nil {
			setProjectMember(p, hs[len(hs)-1], ReporterAccess)
		}
	}
	// Teams: each person joins the subgroup where they work on the largest share of the
	// projects, no subgroup taking more than its fair part of the people.
	size := map[*group]int{}
	for _, p := range o.projects {
		size[p.group]++
	}
	members := map[*group]int{}
	limit := (last - 2 + len(subs) - 1) / max(len(subs), 1)
	for i := 2; i < last; i++ {
		u := hs[i]
		count := map[*group]int{}
		for _, p := range o.projects {
			if !inTeam(p, u) {
				continue
			}
			if p.group == o.top && !p.shared {
				setProjectMember(p, u, DeveloperAccess)
			}
			count[p.group]++
		}
		var best *group
		score := -1.0
		for k := range subs {
			g := subs[(i+k)%len(subs)]
			if members[g] >= limit {
				continue
			}
			if v := float64(count[g]) / float64(size[g]); v > score {
				best, score = g, v
			}
		}
		if best == nil {
			continue
		}
		level := DeveloperAccess
		if members[best] == 0 {
			level = MaintainerAccess // the team lead
		}
		members[best]++
		setGroupMember(best, u, level)
	}
}

// oneProject is the project the one-project person sees: the first ordinary service in a
// subgroup, else the first project of the top group.
func (o *Org) oneProject() *project {
	for _, p := range o.projects {
		if p.kind == kindService && p.group.parent == o.top {
			return p
		}
	}
	for _, p := range o.projects {
		if !p.shared {
			return p
		}
	}
	return nil
}

func (o *Org) hasProjects(g *group) bool {
	for _, p := range o.projects {
		if p.group == g {
			return true
		}
	}
	return false
}

func inTeam(p *project, u *user) bool {
	for _, x := range p.team {
		if x == u {
			return true
		}
	}
	return false
}

func setGroupMember(g *group, u *user, level AccessLevel) {
	if g.members == nil {
		g.members = map[*user]AccessLevel{}
	}
	g.members[u] = level
}

func setProjectMember(p *project, u *user, level AccessLevel) {
	if p.members == nil {
		p.members = map[*user]AccessLevel{}
	}
	p.members[u] = level
}

// access is u's role in p, as GitLab computes it: the highest of the direct membership, the
// memberships of the project's group and its ancestors, and (for a project shared into the top
// group) the top group's membership capped at the share's level.
func (o *Org) access(u *user, p *project) AccessLevel {
	level := p.members[u]
	for g := p.group; g != nil; g = g.parent {
		level = max(level, g.members[u])
	}
	if p.shared {
		for g := o.top; g != nil; g = g.parent {
			level = max(level, min(g.members[u], sharedAccess))
		}
	}
	return level
}

// visible returns the projects u is a member of with at least minLevel (Guest when lower), in
// the organisation's order.
func (o *Org) visible(u *user, minLevel AccessLevel) []*project {
	minLevel = max(minLevel, GuestAccess)
	var out []*project
	for _, p := range o.projects {
		if o.access(u, p) >= minLevel {
			out = append(out, p)
		}
	}
	return out
}

func (o *Org) userByName(username string) *user {
	for _, u := range o.users {
		if u.username == username {
			return u
		}
	}
	return nil
}

// VisibleProjects returns the ids, ascending, of the projects username is a member of (any
// role, archived and shared projects included): what GET /api/v4/projects?membership=true lists
// for them. It is empty for an unknown user.
func (o *Org) VisibleProjects(username string) []int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	u := o.userByName(username)
	if u == nil {
		return nil
	}
	var ids []int64
	for _, p := range o.visible(u, GuestAccess) {
		ids = append(ids, p.id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// ProjectAccess returns username's role in the project with the given full path (NoAccess
// when they are no member or either is unknown).
func (o *Org) ProjectAccess(username, projectPath string) AccessLevel {
	o.mu.RLock()
	defer o.mu.RUnlock()
	u, p := o.userByName(username), o.projByPath[projectPath]
	if u == nil || p == nil {
		return NoAccess
	}
	return o.access(u, p)
}

// Users returns the people who can sign in (bots and renovate-bot excluded): those who see
// every project first, then by what they see and by username.
func (o *Org) Users() []User {
	o.mu.RLock()
	defer o.mu.RUnlock()
	type ranked struct {
		User
		rank int
	}
	var rs []ranked
	for _, u := range o.humans {
		sees, rank := o.sees(u)
		rs = append(rs, ranked{User{ID: u.id, Username: u.username, Name: u.name, Sees: sees}, rank})
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].rank != rs[j].rank {
			return rs[i].rank < rs[j].rank
		}
		if rs[i].Sees != rs[j].Sees {
			return rs[i].Sees < rs[j].Sees
		}
		return rs[i].Username < rs[j].Username
	})
	out := make([]User, len(rs))
	for i, r := range rs {
		out[i] = r.User
	}
	return out
}

// sees describes what u can read and ranks it: 0 every project, 1 a group's projects, 2 some
// projects, 3 none.
func (o *Org) sees(u *user) (string, int) {
	vis := o.visible(u, GuestAccess)
	switch {
	case len(vis) == 0:
		return "sees no project", 3
	case len(vis) == len(o.projects):
		return "sees every project", 0
	}
	covered := map[*project]bool{}
	var parts []string
	for _, g := range o.groups {
		if g.members[u] == NoAccess {
			continue
		}
		n := 0
		for _, p := range vis {
			if within(p.group, g) {
				covered[p] = true
				n++
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%d %s)", g.fullPath, n, plural(n, "project")))
	}
	for _, p := range vis {
		if !covered[p] {
			parts = append(parts, p.fullPath)
		}
	}
	if len(vis) == 1 && len(parts) == 1 && !strings.Contains(parts[0], "(") {
		return "sees " + parts[0] + " only", 2
	}
	rank := 2
	if len(parts) > 0 && strings.Contains(parts[0], "(") {
		rank = 1
	}
	return "sees " + joinAnd(parts), rank
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func joinAnd(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
