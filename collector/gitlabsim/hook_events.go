package gitlabsim

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The events a moving organisation sends to webhooks, and their payloads in the shapes of
// GitLab's webhook events documentation (merge request, pipeline and deployment events).

// watcher hears of the events of the organisation's moves: tell runs after the organisation's
// lock is released, with the events of the move, when wants says someone listens.
type watcher struct {
	wants func() bool
	tell  func([]hookEvent)
}

// watch registers a watcher of every move of the organisation (Advance, AdvanceTo, Pulse).
func (o *Org) watch(w watcher) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.watchers = append(o.watchers, w)
}

// movedLocked collects the events of (from, to] for the watchers that want them; the caller
// holds o.mu and calls tellWatchers with the result after releasing it.
func (o *Org) movedLocked(from, to time.Time) (evs []hookEvent, tell []func([]hookEvent)) {
	if !to.After(from) {
		return nil, nil
	}
	for _, w := range o.watchers {
		if w.wants() {
			tell = append(tell, w.tell)
		}
	}
	if len(tell) == 0 {
		return nil, nil
	}
	return o.hookEvents(from, to), tell
}

func tellWatchers(evs []hookEvent, tell []func([]hookEvent)) {
	if len(evs) == 0 {
		return
	}
	for _, f := range tell {
		f(evs)
	}
}

// hookEvents are the events that happened in (from, to], in the order they happened: merge
// request events (open, update on a push or an edit, approved, unapproved, merge, close; a
// comment is a note event and is not sent), pipeline events (running and the final status)
// and deployment events (running and the final status).
func (o *Org) hookEvents(from, to time.Time) []hookEvent {
	var evs []hookEvent
	in := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	for _, p := range o.projects {
		for _, m := range p.mrs {
			if m.createdAt.After(to) || !m.updatedAt(to).After(from) {
				continue
			}
			seen := map[time.Time]bool{}
			for _, t := range m.touches {
				if !in(t) || seen[t] {
					continue
				}
				seen[t] = true
				action, actor, oldrev, ok := mrAction(m, t)
				if !ok {
					continue
				}
				evs = append(evs, hookEvent{header: "Merge Request Hook", flag: "merge_requests_events", project: p,
					object: m.iid, action: action, at: t, body: o.mrHookBody(m, t, action, actor, oldrev)})
			}
		}
		for _, pl := range p.pipelines {
			if pl.id == 0 {
				continue
			}
			for _, t := range []time.Time{pl.startedAt, pl.finished} {
				if in(t) {
					st := pl.statusAt(t)
					evs = append(evs, hookEvent{header: "Pipeline Hook", flag: "pipeline_events", project: p, object: pl.id,
						action: st, at: t, body: o.pipelineHookBody(pl, t)})
				}
			}
		}
		for _, d := range p.deployments {
			if d.id == 0 {
				continue
			}
			ts := []time.Time{d.startedAt, d.dbFinished}
			if !d.dbFinished.After(d.startedAt) {
				ts = ts[1:] // finished the moment it started: one event
			}
			for _, t := range ts {
				if in(t) {
					evs = append(evs, hookEvent{header: "Deployment Hook", flag: "deployment_events", project: p, object: d.id,
						action: d.statusAt(t), at: t, body: o.deploymentHookBody(d, t)})
				}
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}

// mrAction names what moved an MR at t, as a merge request event's action, with who did it;
// ok is false for a move that sends no merge request event (a comment or another system note).
func mrAction(m *mergeRequest, t time.Time) (action string, actor *user, oldrev string, ok bool) {
	switch {
	case t.Equal(m.createdAt):
		return "open", m.author, "", true
	case !m.mergedAt.IsZero() && t.Equal(m.mergedAt):
		return "merge", m.mergeUser, "", true
	case !m.closedAt.IsZero() && t.Equal(m.closedAt):
		return "close", m.author, "", true
	}
	for i, ps := range m.pushes {
		if ps.at.Equal(t) {
			if i > 0 {
				prev := m.pushes[i-1]
				oldrev = m.allCommits[prev.end-1].sha
			}
			return "update", m.author, oldrev, true
		}
	}
	if !m.draftUntil.IsZero() && t.Equal(m.draftUntil) {
		return "update", m.author, "", true
	}
	i := sort.Search(len(m.notes), func(i int) bool { return !m.notes[i].at.Before(t) })
	sawNote := false
	for ; i < len(m.notes) && m.notes[i].at.Equal(t); i++ {
		sawNote = true
		switch m.notes[i].kind {
		case noteApproved:
			return "approved", m.notes[i].author, "", true
		case noteUnapproved:
			return "unapproved", m.notes[i].author, "", true
		}
	}
	if sawNote {
		return "", nil, "", false
	}
	return "update", m.author, "", true // an edit of the description or the labels
}

// hookTime is the "2016-08-12 15:23:28 UTC" form several webhook payloads use.
func hookTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02 15:04:05 UTC")
	return &s
}

// isoTime is the "2013-12-03T17:23:34Z" form of merge request events.
func isoTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

type hookUserJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Username  string `json:"username"`
	AvatarURL string `json:"avatar_url"`
	Email     string `json:"email"`
}

func hookUser(u *user) *hookUserJSON {
	if u == nil {
		return nil
	}
	return &hookUserJSON{ID: u.id, Name: u.name, Username: u.username,
		AvatarURL: "https://secure.gravatar.com/avatar/" + strconv.FormatInt(u.id, 16) + "?s=80&d=identicon", Email: "[REDACTED]"}
}

type hookProjectJSON struct {
	ID                int64   `json:"id"`
	Name              string  `json:"name"`
	Description       string  `json:"description"`
	WebURL            string  `json:"web_url"`
	AvatarURL         *string `json:"avatar_url"`
	GitSSHURL         string  `json:"git_ssh_url"`
	GitHTTPURL        string  `json:"git_http_url"`
	Namespace         string  `json:"namespace"`
	VisibilityLevel   int     `json:"visibility_level"`
	PathWithNamespace string  `json:"path_with_namespace"`
	DefaultBranch     string  `json:"default_branch"`
	CIConfigPath      string  `json:"ci_config_path"`
	Homepage          string  `json:"homepage"`
	URL               string  `json:"url"`
	SSHURL            string  `json:"ssh_url"`
	HTTPURL           string  `json:"http_url"`
}

func hookProject(p *project) hookProjectJSON {
	ssh := "git@gitlab.acme.example:" + p.fullPath + ".git"
	httpURL := p.webURL(WebBase) + ".git"
	return hookProjectJSON{ID: p.id, Name: p.name, Description: "The " + p.name + " service.", WebURL: p.webURL(WebBase),
		GitSSHURL: ssh, GitHTTPURL: httpURL, Namespace: p.group.name, PathWithNamespace: p.fullPath,
		DefaultBranch: p.defaultBranch, Homepage: p.webURL(WebBase), URL: ssh, SSHURL: ssh, HTTPURL: httpURL}
}

type hookLabelJSON struct {
	ID        int64   `json:"id"`
	Title     string  `json:"title"`
	Color     string  `json:"color"`
	ProjectID int64   `json:"project_id"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at"`
	Template  bool    `json:"template"`
	Type      string  `json:"type"`
}

func hookLabels(p *project, names []string) []hookLabelJSON {
	out := []hookLabelJSON{}
	for _, n := range names {
		var id int64 = 1000
		for _, c := range n {
			id = id*31 + int64(c)%1000
		}
		out = append(out, hookLabelJSON{ID: id%100000 + 1, Title: n, Color: "#6699cc", ProjectID: p.id,
			CreatedAt: isoTime(p.createdAt), UpdatedAt: isoTime(p.createdAt), Type: "ProjectLabel"})
	}
	return out
}

func (o *Org) mrHookBody(m *mergeRequest, t time.Time, action string, actor *user, oldrev string) []byte {
	p := m.project
	proj := hookProject(p)
	state := m.state(t)
	stateID := map[string]int{"opened": 1, "closed": 2, "merged": 3}[state]
	attrs := map[string]any{
		"id": m.id, "iid": m.iid, "target_branch": m.targetBranch, "source_branch": m.sourceBranch,
		"source_project_id": p.id, "target_project_id": p.id, "author_id": m.author.id,
		"assignee_ids": []int64{m.author.id}, "assignee_id": m.author.id, "reviewer_ids": []int64{},
		"title": m.titleAt(t), "created_at": isoTime(m.createdAt), "updated_at": isoTime(m.updatedAt(t)),
		"last_edited_at": nil, "last_edited_by_id": nil, "milestone_id": nil, "state_id": stateID, "state": state,
		"blocking_discussions_resolved": true, "work_in_progress": m.draft(t), "draft": m.draft(t),
		"first_contribution": false, "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
		"description": m.description, "url": p.webURL(WebBase) + "/-/merge_requests/" + strconv.FormatInt(m.iid, 10),
		"source": proj, "target": proj, "labels": hookLabels(p, m.labels), "action": action,
		"merge_commit_sha": nil, "time_estimate": 0, "total_time_spent": 0,
	}
	for _, r := range m.reviewers {
		attrs["reviewer_ids"] = append(attrs["reviewer_ids"].([]int64), r.id)
	}
	if state == "merged" {
		attrs["merge_commit_sha"] = m.mergeSHA
		attrs["merge_user_id"] = m.mergeUser.id
		attrs["detailed_merge_status"] = "not_open"
	}
	if cs := m.commitsAt(t); len(cs) > 0 {
		c := cs[len(cs)-1]
		attrs["last_commit"] = map[string]any{"id": c.sha, "message": c.message, "title": c.title,
			"timestamp": jtz(c.authored, c.author.tzOffset), "url": p.webURL(WebBase) + "/-/commit/" + c.sha,
			"author": map[string]string{"name": c.name, "email": c.email}}
	}
	if oldrev != "" {
		attrs["oldrev"] = oldrev
	}
	changes := map[string]any{}
	prev := m.createdAt
	for _, x := range m.touches {
		if x.Before(t) {
			prev = x
		}
	}
	if action != "open" {
		changes["updated_at"] = map[string]any{"previous": hookTime(prev), "current": hookTime(t)}
	}
	switch action {
	case "merge":
		changes["state_id"] = map[string]int{"previous": 1, "current": 3}
	case "close":
		changes["state_id"] = map[string]int{"previous": 1, "current": 2}
	}
	if !m.draftUntil.IsZero() && t.Equal(m.draftUntil) {
		changes["draft"] = map[string]bool{"previous": true, "current": false}
		changes["title"] = map[string]string{"previous": "Draft: " + m.title, "current": m.title}
	}
	reviewers := []*hookUserJSON{}
	for _, r := range m.reviewers {
		reviewers = append(reviewers, hookUser(r))
	}
	body := map[string]any{
		"object_kind": "merge_request", "event_type": "merge_request", "user": hookUser(actor), "project": proj,
		"repository":        map[string]string{"name": p.name, "url": proj.GitSSHURL, "description": proj.Description, "homepage": proj.Homepage},
		"object_attributes": attrs, "labels": hookLabels(p, m.labels), "changes": changes,
		"assignees": []*hookUserJSON{hookUser(m.author)}, "reviewers": reviewers,
	}
	return mustJSON(body)
}

func (o *Org) pipelineHookBody(pl *pipeline, t time.Time) []byte {
	p := pl.project
	st := pl.statusAt(t)
	attrs := map[string]any{
		"id": pl.id, "iid": pl.iid, "name": nil, "ref": pl.ref, "tag": false, "sha": pl.sha, "before_sha": pl.beforeSHA,
		"source": pl.source, "status": st, "detailed_status": st, "stages": []string{"build", "test", "deploy"},
		"created_at": hookTime(pl.createdAt), "finished_at": nil, "duration": nil, "queued_duration": nil,
		"variables": []any{}, "url": p.webURL(WebBase) + "/-/pipelines/" + strconv.FormatInt(pl.id, 10),
	}
	if attrs["before_sha"] == "" {
		attrs["before_sha"] = "0000000000000000000000000000000000000000"
	}
	if !t.Before(pl.startedAt) {
		attrs["queued_duration"] = int64(pl.startedAt.Sub(pl.createdAt) / time.Second)
	}
	if !t.Before(pl.finished) {
		attrs["finished_at"] = hookTime(pl.finished)
		attrs["duration"] = int64(pl.finished.Sub(pl.startedAt) / time.Second)
	}
	var mr any
	if strings.HasPrefix(pl.ref, "refs/merge-requests/") {
		iid, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(pl.ref, "refs/merge-requests/"), "/head"), 10, 64)
		for _, m := range p.mrs {
			if m.iid == iid {
				mr = map[string]any{"id": m.id, "iid": m.iid, "title": m.titleAt(t), "source_branch": m.sourceBranch,
					"source_project_id": p.id, "target_branch": m.targetBranch, "target_project_id": p.id, "state": m.state(t),
					"merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
					"url": p.webURL(WebBase) + "/-/merge_requests/" + strconv.FormatInt(m.iid, 10)}
				break
			}
		}
	}
	body := map[string]any{
		"object_kind": "pipeline", "object_attributes": attrs, "merge_request": mr, "user": hookUser(pl.user),
		"project": hookProject(p),
		"commit": map[string]any{"id": pl.sha, "message": "Commit " + pl.sha[:8] + "\n", "title": "Commit " + pl.sha[:8],
			"timestamp": jt(pl.createdAt), "url": p.webURL(WebBase) + "/-/commit/" + pl.sha},
		"builds": []any{},
	}
	return mustJSON(body)
}

func (o *Org) deploymentHookBody(d *deployment, t time.Time) []byte {
	p := d.project
	st := d.statusAt(t)
	var deployableID, deployableURL any
	if !d.api {
		deployableID = d.jobID
		deployableURL = p.webURL(WebBase) + "/-/jobs/" + strconv.FormatInt(d.jobID, 10)
	}
	tier := d.env.tier
	body := map[string]any{
		"object_kind": "deployment", "status": st,
		"status_changed_at": t.UTC().Format("2006-01-02 15:04:05 -0700"),
		"deployment_id":     d.id, "deployable_id": deployableID, "deployable_url": deployableURL,
		"environment": d.env.name, "environment_tier": strp(tier), "environment_slug": d.env.slug(),
		"environment_external_url": d.env.externalURL, "project": hookProject(p), "short_sha": d.sha[:8],
		"user": hookUser(d.user), "user_url": WebBase + "/" + d.user.username,
		"commit_url": p.webURL(WebBase) + "/-/commit/" + d.sha, "commit_title": "Merge branch into '" + d.ref + "'",
		"ref": d.ref,
	}
	return mustJSON(body)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("gitlabsim: webhook payload: " + err.Error())
	}
	return b
}
