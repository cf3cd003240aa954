package gitlabsim

import (
	"fmt"
	"sort"
	"time"
)

// Pulse moves the organisation to t, as AdvanceTo does, then makes one thing happen at t, in
// turn: a merge request is opened; one opened by an earlier pulse is approved and merged; the
// project of that merge is deployed to production, shipping it (GitLab links the MRs at once).
// `pacer demo` calls it every few seconds so that the dashboard has news to show, and the
// simulator's webhooks tell Pacer of it. It returns what happened, in words. A t not after
// Now only runs the step at Now.
func (o *Org) Pulse(t time.Time) string {
	o.mu.Lock()
	from := o.now
	t = t.UTC().Truncate(time.Millisecond)
	if t.After(o.now) {
		o.simulate(o.now, t)
	}
	// Every instant of the step is after the last Now, so its events are this move's.
	t = maxTime(t, from.Add(3*time.Millisecond))
	o.now = t
	what := o.pulse(t)
	evs, tell := o.movedLocked(from, o.now)
	o.mu.Unlock()
	tellWatchers(evs, tell)
	return what
}

// liveProjects are the projects a pulse works in: active services with a production
// environment that has released before.
func (o *Org) liveProjects(t time.Time) []*project {
	var out []*project
	for _, p := range o.projects {
		if p.archived || p.shared || !p.activeAt(t) || len(p.team) == 0 || liveEnv(p, t) == nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

func liveEnv(p *project, t time.Time) *environment {
	for _, e := range p.envs {
		if e.production && e.releases && !t.Before(e.startAt) && e.lastMain != nil {
			return e
		}
	}
	return nil
}

func (o *Org) pulse(t time.Time) string {
	if o.pendPipes.at == nil { // an organisation built by hand (NewScenario)
		o.pendNotes.at = (*note).createdAtTime
		o.pendPipes.at = (*pipeline).createdAtTime
		o.pendDeps.at = (*deployment).createdAtTime
	}
	ps := o.liveProjects(t)
	if len(ps) == 0 {
		return "nothing: no project has a production environment"
	}
	step := o.pulses % 3
	o.pulses++
	switch {
	case step == 1 && len(o.liveOpen) > 0:
		m := o.liveOpen[0]
		o.liveOpen = o.liveOpen[1:]
		o.liveMerge(m, t)
		o.liveShip = m.project
		return fmt.Sprintf("merged %s!%d", m.project.fullPath, m.iid)
	case step == 2 && o.liveShip != nil:
		p := o.liveShip
		o.liveShip = nil
		if d := o.liveDeploy(p, t); d != nil {
			return fmt.Sprintf("deployed %s to %s (deployment %d, %d merge requests)", p.fullPath, d.env.name, d.id, len(d.links))
		}
		return "nothing to deploy in " + p.fullPath
	}
	p := ps[(o.pulses/3)%len(ps)]
	m := o.liveOpenMR(p, t)
	o.liveOpen = append(o.liveOpen, m)
	return fmt.Sprintf("opened %s!%d", p.fullPath, m.iid)
}

// liveOpenMR opens a feature MR in p at t with a few commits of the last hours.
func (o *Org) liveOpenMR(p *project, t time.Time) *mergeRequest {
	r := o.r
	author := pick(r, p.team)
	o.nextID.mr += int64(1 + r.IntN(3))
	p.nextIID++
	title := pick(r, verbs) + " " + pick(r, objects)
	m := &mergeRequest{id: o.nextID.mr, iid: p.nextIID, project: p, author: author, title: title,
		sourceBranch: "feature/" + slug(title), targetBranch: p.defaultBranch, createdAt: t, mergeUser: author}
	o.addCommits(m, 1+r.IntN(3), t.Add(-3*time.Hour), t.Add(-10*time.Minute), author, t, false)
	m.touches = []time.Time{t}
	p.mrs = append(p.mrs, m)
	return m
}

// liveMerge approves m (by a teammate) a moment before t and merges it at t; the merge
// commit's pipeline starts a few seconds later.
func (o *Org) liveMerge(m *mergeRequest, t time.Time) {
	r := o.r
	p := m.project
	reviewers := othersThan(p.team, m.author)
	if len(reviewers) == 0 {
		reviewers = othersThan(o.humans, m.author)
	}
	reviewer := pick(r, reviewers)
	o.nextID.note += int64(1 + r.IntN(40))
	n := &note{id: o.nextID.note, at: t.Add(-time.Millisecond), author: reviewer, body: "approved this merge request",
		kind: noteApproved, mr: m}
	m.notes = append(m.notes, n)
	m.reviewers = []*user{reviewer}
	m.mergedAt, m.mergeSHA, m.mergeUser = t, r.sha(), m.author
	p.insertMerge(m)
	m.touches = append(m.touches, n.at, t)
	sort.Slice(m.touches, func(i, j int) bool { return m.touches[i].Before(m.touches[j]) })
	pl := o.newPipeline(p, p.defaultBranch, m.mergeSHA, "push", t.Add(r.between(2*time.Second, 10*time.Second)), m.author)
	m.pipelines = append(m.pipelines, pl)
}

// liveDeploy releases p's default branch head to its production environment, finishing at t;
// GitLab links the MRs merged since the last release at once.
func (o *Org) liveDeploy(p *project, t time.Time) *deployment {
	r := o.r
	e := liveEnv(p, t)
	if e == nil {
		return nil
	}
	sha, shaAt := p.headAt(t)
	if last := e.lastMain; last != nil && !shaAt.After(last.shaAt) {
		return nil // shipped already
	}
	o.nextID.deploy += int64(1 + r.IntN(4))
	p.nextDeployIID++
	d := &deployment{id: o.nextID.deploy, iid: p.nextDeployIID, project: p, env: e, ref: p.defaultBranch, sha: sha,
		shaAt: shaAt, status: "success", createdAt: t.Add(-3 * time.Millisecond), startedAt: t.Add(-2 * time.Millisecond),
		finished: t.Add(-time.Millisecond), dbFinished: t, linkAt: t, api: p.kind == kindAPIDeploys}
	if d.api {
		d.user = o.deployer
		d.startedAt = d.createdAt
	} else {
		o.nextID.job += int64(1 + r.IntN(50))
		d.jobID = o.nextID.job
		d.user = pick(r, p.team)
		d.jobName = "deploy:" + e.slug()
		d.pipeline = o.pipelineFor(p, sha, d.createdAt)
	}
	if prev := e.lastMain; prev != nil {
		d.links = p.mergedBetween(prev.shaAt, shaAt)
	}
	d.first = e.lastSuccess == nil
	e.lastSuccess, e.lastMain = d, d
	e.busyUntil = maxTime(e.busyUntil, d.dbFinished)
	e.chain = append(e.chain, d)
	p.deployments = append(p.deployments, d)
	p.deployByID[d.id] = d
	return d
}
