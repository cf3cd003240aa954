package gitlabsim

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routes() {
	const v4 = "GET /api/v4"
	s.handle(v4+"/user", s.currentUser)
	s.handle(v4+"/users/{id}", s.getUser)
	s.handle(v4+"/groups/{id}", s.getGroup)
	s.handle(v4+"/groups/{id}/projects", s.listGroupProjects)
	s.handle(v4+"/projects", s.listProjects)
	s.handle(v4+"/projects/{id}", s.getProject)
	s.handle(v4+"/projects/{id}/merge_requests", s.listMergeRequests)
	s.handle(v4+"/projects/{id}/merge_requests/{iid}", s.getMergeRequest)
	s.handle(v4+"/projects/{id}/merge_requests/{iid}/commits", s.listMRCommits)
	s.handle(v4+"/projects/{id}/merge_requests/{iid}/notes", s.listMRNotes)
	s.handle(v4+"/projects/{id}/merge_requests/{iid}/approvals", s.getMRApprovals)
	s.handle(v4+"/projects/{id}/environments", s.listEnvironments)
	s.handle(v4+"/projects/{id}/deployments", s.listDeployments)
	s.handle(v4+"/projects/{id}/deployments/{deployment_id}", s.getDeployment)
	s.handle(v4+"/projects/{id}/deployments/{deployment_id}/merge_requests", s.listDeploymentMRs)
	s.handle(v4+"/projects/{id}/pipelines", s.listPipelines)
	s.handle(v4+"/projects/{id}/pipelines/{pipeline_id}", s.getPipeline)
	s.oauthRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
}

func (s *Server) currentUser(w http.ResponseWriter, r *http.Request, now time.Time) error {
	if c := callerOf(r); c.user != nil {
		writeJSON(w, http.StatusOK, userFull(c.user))
		return nil
	}
	u := &user{id: 1, username: "pacer-reader", name: "Pacer Reader", createdAt: s.org.start.AddDate(-2, 0, 0)}
	writeJSON(w, http.StatusOK, userFull(u))
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, now time.Time) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notFound("User")
	}
	u := s.org.userByID[id]
	if u == nil {
		return notFound("User")
	}
	writeJSON(w, http.StatusOK, userFull(u))
	return nil
}

func (s *Server) group(r *http.Request) (*group, error) {
	id := r.PathValue("id")
	var g *group
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		g = s.org.groupByID[n]
	} else {
		g = s.org.groupByPath[id]
	}
	if g == nil {
		return nil, notFound("Group")
	}
	return g, nil
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, now time.Time) error {
	g, err := s.group(r)
	if err != nil {
		return err
	}
	var parent *int64
	if g.parent != nil {
		parent = &g.parent.id
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": g.id, "name": g.name, "path": g.path, "full_name": g.name,
		"full_path": g.fullPath, "parent_id": parent, "visibility": "private", "web_url": WebBase + "/groups/" + g.fullPath})
	return nil
}

func within(g, top *group) bool {
	for x := g; x != nil; x = x.parent {
		if x == top {
			return true
		}
	}
	return false
}

func (s *Server) listGroupProjects(w http.ResponseWriter, r *http.Request, now time.Time) error {
	g, err := s.group(r)
	if err != nil {
		return err
	}
	sub, _, err := boolParam(r, "include_subgroups")
	if err != nil {
		return err
	}
	archived, archivedSet, err := boolParam(r, "archived")
	if err != nil {
		return err
	}
	shared, sharedSet, err := boolParam(r, "with_shared")
	if err != nil {
		return err
	}
	if !sharedSet {
		shared = true // GitLab's default pulls in projects shared into the group
	}
	simple, _, err := boolParam(r, "simple")
	if err != nil {
		return err
	}
	orderBy, err := enumParam(r, "order_by", "created_at", "id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity", "star_count")
	if err != nil {
		return err
	}
	sortDir, err := enumParam(r, "sort", "desc", "asc", "desc")
	if err != nil {
		return err
	}
	c := callerOf(r)
	var ps []*project
	for _, p := range s.org.projects {
		in := p.group == g || (sub && within(p.group, g))
		if p.shared && p.group != g {
			in = shared && g == s.org.top // shared into the top group
		}
		if !in || (archivedSet && p.archived != archived) || !s.sees(c, p) {
			continue
		}
		ps = append(ps, p)
	}
	sortProjects(ps, orderBy, sortDir)
	s.writeProjects(w, r, ps, simple, now)
	return nil
}

// listProjects serves GET /projects: the projects the caller can read (all of them for the
// simulator's own token), membership=true or not, as every project is private.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, now time.Time) error {
	if _, _, err := boolParam(r, "membership"); err != nil {
		return err
	}
	archived, archivedSet, err := boolParam(r, "archived")
	if err != nil {
		return err
	}
	simple, _, err := boolParam(r, "simple")
	if err != nil {
		return err
	}
	minLevel := NoAccess
	if v := r.URL.Query().Get("min_access_level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains([]AccessLevel{GuestAccess, ReporterAccess, DeveloperAccess, MaintainerAccess, OwnerAccess, 5, 15}, AccessLevel(n)) {
			return badValue("min_access_level")
		}
		minLevel = AccessLevel(n)
	}
	orderBy, err := enumParam(r, "order_by", "created_at", "id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity", "star_count")
	if err != nil {
		return err
	}
	sortDir, err := enumParam(r, "sort", "desc", "asc", "desc")
	if err != nil {
		return err
	}
	c := callerOf(r)
	var ps []*project
	for _, p := range s.org.projects {
		if archivedSet && p.archived != archived {
			continue
		}
		if c.user != nil && s.org.access(c.user, p) < max(minLevel, GuestAccess) {
			continue
		}
		ps = append(ps, p)
	}
	sortProjects(ps, orderBy, sortDir)
	s.writeProjects(w, r, ps, simple, now)
	return nil
}

func sortProjects(ps []*project, orderBy, sortDir string) {
	key := func(p *project) string {
		switch orderBy {
		case "name", "path":
			return p.path
		case "id", "star_count", "similarity":
			return strconv.FormatInt(1e12+p.id, 10)
		default:
			return p.createdAt.UTC().Format("2006-01-02T15:04:05.000000000") // fixed width: sorts as text
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := key(ps[i]), key(ps[j])
		if a == b {
			a, b = strconv.FormatInt(1e12+ps[i].id, 10), strconv.FormatInt(1e12+ps[j].id, 10)
		}
		if sortDir == "asc" {
			return a < b
		}
		return a > b
	})
}

// writeProjects answers a page of ps, in GitLab's simple or full representation.
func (s *Server) writeProjects(w http.ResponseWriter, r *http.Request, ps []*project, simple bool, now time.Time) {
	ps = paginate(w, r, ps)
	if simple {
		out := make([]projectSimpleJSON, 0, len(ps))
		for _, p := range ps {
			out = append(out, s.org.projectSimple(p, now))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, s.org.projectFull(p, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) project(r *http.Request) (*project, error) {
	id := r.PathValue("id")
	var p *project
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		p = s.org.projByID[n]
	} else {
		p = s.org.projByPath[id]
	}
	if p == nil || !s.sees(callerOf(r), p) {
		return nil, notFound("Project") // GitLab hides a private project from non-members
	}
	return p, nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.org.projectFull(p, now))
	return nil
}

type mrFilter struct {
	state                       string
	orderBy, sort               string
	createdAfter, createdBefore time.Time
	updatedAfter, updatedBefore time.Time
	hasCA, hasCB, hasUA, hasUB  bool
	targetBranch, sourceBranch  string
	authorUsername              string
	authorID                    int64
	iids                        []int64
	labels                      []string
	draft, draftSet             bool
}

func parseMRFilter(r *http.Request) (mrFilter, error) {
	var f mrFilter
	var err error
	q := r.URL.Query()
	if f.state, err = enumParam(r, "state", "all", "opened", "closed", "locked", "merged", "all"); err != nil {
		return f, err
	}
	if f.orderBy, err = enumParam(r, "order_by", "created_at", "created_at", "updated_at", "merged_at", "title", "label_priority", "milestone_due", "popularity", "priority"); err != nil {
		return f, err
	}
	if f.sort, err = enumParam(r, "sort", "desc", "asc", "desc"); err != nil {
		return f, err
	}
	for _, x := range []struct {
		name string
		t    *time.Time
		ok   *bool
	}{{"created_after", &f.createdAfter, &f.hasCA}, {"created_before", &f.createdBefore, &f.hasCB},
		{"updated_after", &f.updatedAfter, &f.hasUA}, {"updated_before", &f.updatedBefore, &f.hasUB}} {
		if *x.t, *x.ok, err = timeParam(r, x.name); err != nil {
			return f, err
		}
	}
	f.targetBranch, f.sourceBranch, f.authorUsername = q.Get("target_branch"), q.Get("source_branch"), q.Get("author_username")
	if v := q.Get("author_id"); v != "" {
		if f.authorID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, badParam("author_id")
		}
	}
	for _, v := range append(q["iids[]"], q["iids"]...) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return f, badParam("iids")
		}
		f.iids = append(f.iids, n)
	}
	if v := q.Get("labels"); v != "" {
		f.labels = strings.Split(v, ",")
	}
	if f.draft, f.draftSet, err = boolParam(r, "draft"); err != nil {
		return f, err
	}
	if !f.draftSet {
		if v, set, err := boolParam(r, "wip"); err == nil && set {
			f.draft, f.draftSet = v, true
		}
	}
	return f, nil
}

// apply filters and sorts mrs as GitLab's MergeRequestsFinder: "after" bounds are inclusive,
// updated_before is inclusive, created_before inclusive; ties broken by id.
func (f mrFilter) apply(mrs []*mergeRequest, now time.Time) []*mergeRequest {
	type row struct {
		m   *mergeRequest
		key time.Time
		s   string
	}
	var rows []row
	for _, m := range mrs {
		if !m.exists(now) {
			continue
		}
		if f.state != "all" && m.state(now) != f.state {
			continue
		}
		if f.hasCA && m.createdAt.Before(f.createdAfter) || f.hasCB && m.createdAt.After(f.createdBefore) {
			continue
		}
		upd := m.updatedAt(now)
		if f.hasUA && upd.Before(f.updatedAfter) || f.hasUB && upd.After(f.updatedBefore) {
			continue
		}
		if f.targetBranch != "" && m.targetBranch != f.targetBranch || f.sourceBranch != "" && m.sourceBranch != f.sourceBranch {
			continue
		}
		if f.authorUsername != "" && m.author.username != f.authorUsername || f.authorID != 0 && m.author.id != f.authorID {
			continue
		}
		if len(f.iids) > 0 && !slices.Contains(f.iids, m.iid) {
			continue
		}
		if f.draftSet && m.draft(now) != f.draft {
			continue
		}
		ok := true
		for _, l := range f.labels {
			if !slices.Contains(m.labels, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		rw := row{m: m, key: m.createdAt}
		switch f.orderBy {
		case "updated_at":
			rw.key = upd
		case "merged_at":
			if m.mergedBy(now) {
				rw.key = m.mergedAt
			} else {
				rw.key = time.Time{}
			}
		case "title":
			rw.s = strings.ToLower(m.titleAt(now))
		}
		rows = append(rows, rw)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		var less bool
		switch {
		case a.s != b.s:
			less = a.s < b.s
		case !a.key.Equal(b.key):
			less = a.key.Before(b.key)
		default:
			less = a.m.id < b.m.id
		}
		if f.sort == "desc" {
			return !less && (a.s != b.s || !a.key.Equal(b.key) || a.m.id != b.m.id)
		}
		return less
	})
	out := make([]*mergeRequest, len(rows))
	for i, rw := range rows {
		out[i] = rw.m
	}
	return out
}

func (s *Server) listMergeRequests(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	f, err := parseMRFilter(r)
	if err != nil {
		return err
	}
	mrs := paginate(w, r, f.apply(p.mrs, now))
	out := make([]mergeRequestJSON, 0, len(mrs))
	for _, m := range mrs {
		out = append(out, s.org.mergeRequestJSON(m, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) mergeRequest(r *http.Request, now time.Time) (*mergeRequest, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	iid, err := strconv.ParseInt(r.PathValue("iid"), 10, 64)
	if err != nil {
		return nil, notFound("Merge Request")
	}
	i := sort.Search(len(p.mrs), func(i int) bool { return p.mrs[i].iid >= iid })
	if i == len(p.mrs) || p.mrs[i].iid != iid || !p.mrs[i].exists(now) {
		return nil, notFound("Merge Request")
	}
	return p.mrs[i], nil
}

func (s *Server) getMergeRequest(w http.ResponseWriter, r *http.Request, now time.Time) error {
	m, err := s.mergeRequest(r, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.org.mergeRequestFull(m, now))
	return nil
}

func (s *Server) listMRCommits(w http.ResponseWriter, r *http.Request, now time.Time) error {
	m, err := s.mergeRequest(r, now)
	if err != nil {
		return err
	}
	cs := m.commitsAt(now)
	rev := make([]commit, len(cs)) // newest first, as GitLab lists them
	for i, c := range cs {
		rev[len(cs)-1-i] = c
	}
	rev = paginate(w, r, rev)
	out := make([]commitJSON, 0, len(rev))
	for _, c := range rev {
		out = append(out, commitEntity(m.project, c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listMRNotes(w http.ResponseWriter, r *http.Request, now time.Time) error {
	m, err := s.mergeRequest(r, now)
	if err != nil {
		return err
	}
	if _, err := enumParam(r, "order_by", "created_at", "created_at", "updated_at"); err != nil {
		return err
	}
	dir, err := enumParam(r, "sort", "desc", "asc", "desc")
	if err != nil {
		return err
	}
	ns := append([]*note(nil), m.notesAt(now)...) // created_at == updated_at: one order serves both
	if dir == "desc" {
		slices.Reverse(ns)
	}
	ns = paginate(w, r, ns)
	out := make([]noteJSON, 0, len(ns))
	for _, n := range ns {
		out = append(out, noteEntity(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getMRApprovals(w http.ResponseWriter, r *http.Request, now time.Time) error {
	m, err := s.mergeRequest(r, now)
	if err != nil {
		return err
	}
	cur := m.approvalsAt(now)
	j := approvalsJSON{ID: m.id, IID: m.iid, ProjectID: m.project.id, Title: m.titleAt(now), Description: m.description,
		State: m.state(now), CreatedAt: jt(m.createdAt), UpdatedAt: jt(m.updatedAt(now)), MergeStatus: "can_be_merged",
		Approved: true, ApprovedBy: []approverJSON{}, SuggestedApprovers: []any{}, Approvers: []any{},
		ApproverGroups: []any{}, ApprovalRulesLeft: []any{}, UserCanApprove: true}
	for _, n := range cur {
		j.ApprovedBy = append(j.ApprovedBy, approverJSON{User: userBasic(n.author), ApprovedAt: jt(n.at)})
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	name, search, states := q.Get("name"), q.Get("search"), q.Get("states")
	if states != "" && states != "available" && states != "stopping" && states != "stopped" {
		return badValue("states")
	}
	var es []*environment
	for _, e := range p.envs {
		if e.createdAt.After(now) || name != "" && e.name != name || search != "" && !strings.Contains(e.name, search) ||
			states != "" && e.state != states {
			continue
		}
		es = append(es, e)
	}
	es = paginate(w, r, es)
	out := make([]environmentJSON, 0, len(es))
	for _, e := range es {
		out = append(out, envFull(e, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var deploymentStatuses = []string{"created", "running", "success", "failed", "canceled", "skipped", "blocked"}

// listDeployments follows GitLab's DeploymentsFinder, including its validation: finished_*
// filters need order_by=finished_at and status=success, order_by=finished_at needs a finished_*
// filter, updated_* needs order_by=updated_at, and updated_* and finished_* exclude each other.
func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	orderBy, err := enumParam(r, "order_by", "id", "id", "iid", "created_at", "updated_at", "finished_at", "ref")
	if err != nil {
		return err
	}
	dir, err := enumParam(r, "sort", "asc", "asc", "desc")
	if err != nil {
		return err
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(deploymentStatuses, status) {
		return badValue("status")
	}
	ua, hasUA, err := timeParam(r, "updated_after")
	if err != nil {
		return err
	}
	ub, hasUB, err := timeParam(r, "updated_before")
	if err != nil {
		return err
	}
	fa, hasFA, err := timeParam(r, "finished_after")
	if err != nil {
		return err
	}
	fb, hasFB, err := timeParam(r, "finished_before")
	if err != nil {
		return err
	}
	byUpdated, byFinished := hasUA || hasUB, hasFA || hasFB
	switch {
	case byUpdated && byFinished:
		return badRequest("Both `updated_at` filter and `finished_at` filter can not be specified")
	case byUpdated && orderBy != "updated_at":
		return badRequest("`updated_at` filter requires `updated_at` sort")
	case byFinished && orderBy != "finished_at":
		return badRequest("`finished_at` filter requires `finished_at` sort.")
	case orderBy == "finished_at" && !byFinished:
		return badRequest("`finished_at` filter and `finished_at` sorting must be paired")
	case byFinished && status != "success":
		return badRequest("`finished_at` filter must be combined with `success` status filter.")
	}
	env := q.Get("environment")
	var ds []*deployment
	for _, d := range p.deployments {
		if d.id == 0 || d.createdAt.After(now) || env != "" && d.env.name != env {
			continue
		}
		st := d.statusAt(now)
		if status != "" && st != status {
			continue
		}
		upd := d.updatedAt(now)
		// UpdatedAtFilterable: both updated bounds inclusive; finished_after inclusive,
		// finished_before exclusive (Deployment's scopes).
		if hasUA && upd.Before(ua) || hasUB && upd.After(ub) {
			continue
		}
		if hasFA && d.dbFinished.Before(fa) || hasFB && !d.dbFinished.Before(fb) {
			continue
		}
		ds = append(ds, d)
	}
	key := func(d *deployment) time.Time {
		switch orderBy {
		case "updated_at":
			return d.updatedAt(now)
		case "finished_at":
			return d.dbFinished
		}
		return time.Time{} // id, iid, created_at, ref: id order
	}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		ka, kb := key(a), key(b)
		less := ka.Before(kb) || ka.Equal(kb) && a.id < b.id
		if dir == "desc" {
			return !less && a.id != b.id
		}
		return less
	})
	ds = paginate(w, r, ds)
	out := make([]deploymentJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.org.deploymentEntity(d, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deployment(r *http.Request, now time.Time) (*deployment, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("deployment_id"), 10, 64)
	if err != nil {
		return nil, notFound("Deployment")
	}
	if d := p.deployByID[id]; d != nil && !d.createdAt.After(now) {
		return d, nil
	}
	return nil, notFound("Deployment")
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, now time.Time) error {
	d, err := s.deployment(r, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.org.deploymentEntity(d, now))
	return nil
}

// listDeploymentMRs lists the MRs GitLab linked to a deployment. Links appear a few minutes
// after a successful deployment finished (GitLab links them in a background job).
func (s *Server) listDeploymentMRs(w http.ResponseWriter, r *http.Request, now time.Time) error {
	d, err := s.deployment(r, now)
	if err != nil {
		return err
	}
	f, err := parseMRFilter(r)
	if err != nil {
		return err
	}
	var linked []*mergeRequest
	if d.statusAt(now) == "success" && !now.Before(d.linkAt) {
		linked = d.links
	}
	mrs := paginate(w, r, f.apply(linked, now))
	out := make([]mergeRequestJSON, 0, len(mrs))
	for _, m := range mrs {
		out = append(out, s.org.mergeRequestJSON(m, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var pipelineStatuses = []string{"created", "waiting_for_resource", "preparing", "pending", "running", "success",
	"failed", "canceled", "skipped", "manual", "scheduled"}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	orderBy, err := enumParam(r, "order_by", "id", "id", "status", "ref", "updated_at", "user_id")
	if err != nil {
		return err
	}
	dir, err := enumParam(r, "sort", "desc", "asc", "desc")
	if err != nil {
		return err
	}
	scope, err := enumParam(r, "scope", "", "running", "pending", "finished", "branches", "tags")
	if err != nil {
		return err
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(pipelineStatuses, status) {
		return badValue("status")
	}
	ua, hasUA, err := timeParam(r, "updated_after")
	if err != nil {
		return err
	}
	ub, hasUB, err := timeParam(r, "updated_before")
	if err != nil {
		return err
	}
	ca, hasCA, err := timeParam(r, "created_after")
	if err != nil {
		return err
	}
	cb, hasCB, err := timeParam(r, "created_before")
	if err != nil {
		return err
	}
	ref, source, sha := q.Get("ref"), q.Get("source"), q.Get("sha")
	var ps []*pipeline
	for _, pl := range p.pipelines {
		if pl.id == 0 || pl.createdAt.After(now) {
			continue
		}
		st := pl.statusAt(now)
		if ref != "" && pl.ref != ref || source != "" && pl.source != source || sha != "" && pl.sha != sha ||
			status != "" && st != status {
			continue
		}
		switch scope {
		case "running", "pending":
			if st != scope {
				continue
			}
		case "finished":
			if st != "success" && st != "failed" && st != "canceled" && st != "skipped" {
				continue
			}
		case "tags":
			continue
		}
		// Ci::Pipeline's updated_after/before and created_after/before are strict.
		upd := pl.updatedAt(now)
		if hasUA && !upd.After(ua) || hasUB && !upd.Before(ub) || hasCA && !pl.createdAt.After(ca) ||
			hasCB && !pl.createdAt.Before(cb) {
			continue
		}
		ps = append(ps, pl)
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		var less bool
		switch orderBy {
		case "updated_at":
			ua, ub := a.updatedAt(now), b.updatedAt(now)
			less = ua.Before(ub) || ua.Equal(ub) && a.id < b.id
		case "ref":
			less = a.ref < b.ref || a.ref == b.ref && a.id < b.id
		case "status":
			sa, sb := a.statusAt(now), b.statusAt(now)
			less = sa < sb || sa == sb && a.id < b.id
		default:
			less = a.id < b.id
		}
		if dir == "desc" {
			return !less && a.id != b.id
		}
		return less
	})
	ps = paginate(w, r, ps)
	out := make([]pipelineJSON, 0, len(ps))
	for _, pl := range ps {
		out = append(out, s.org.pipelineBasic(pl, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, now time.Time) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("pipeline_id"), 10, 64)
	if err != nil {
		return notFound("")
	}
	if pl := p.pipeByID[id]; pl != nil && !pl.createdAt.After(now) {
		writeJSON(w, http.StatusOK, s.org.pipelineFull(pl, now))
		return nil
	}
	return &apiError{http.StatusNotFound, "message", "404 Not found"}
}
