package gitlabsim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// The resolvers of the GraphQL subset: the same organisation, at the same instant, as the REST
// API shows (api.go), in GraphQL's shapes.

// GraphQLVersion is what metadata { version } answers.
const GraphQLVersion = "18.2.0-ee"

type metadata struct{}

type complexityInfo struct{ score, limit int }

type repository struct{ p *project }

type label struct {
	title string
}

// commitRef is a commit of a merge request.
type commitRef struct {
	m *mergeRequest
	c commit
}

// resolve returns the Go value of field f of v, an object of type typeName.
func (ex *gqlExec) resolve(typeName string, v any, f *ast.Field) (any, error) {
	args := f.ArgumentMap(ex.vars)
	switch {
	case strings.HasSuffix(typeName, "Connection"):
		c := v.(*connection)
		switch f.Name {
		case "count":
			return c.count, nil
		case "nodes":
			return c.items, nil
		case "edges":
			out := make([]any, len(c.items))
			for i := range c.items {
				out[i] = edge{cursor: c.cursors[i], node: c.items[i]}
			}
			return out, nil
		case "pageInfo":
			pi := pageInfo{hasNext: c.hasNext, hasPrev: c.hasPrev}
			if n := len(c.cursors); n > 0 {
				pi.startCursor, pi.endCurs = c.cursors[0], c.cursors[n-1]
			}
			return pi, nil
		}
	case strings.HasSuffix(typeName, "Edge"):
		e := v.(edge)
		if f.Name == "cursor" {
			return e.cursor, nil
		}
		return e.node, nil
	case typeName == "PageInfo":
		pi := v.(pageInfo)
		switch f.Name {
		case "hasNextPage":
			return pi.hasNext, nil
		case "hasPreviousPage":
			return pi.hasPrev, nil
		case "startCursor":
			return nilIfEmpty(pi.startCursor), nil
		case "endCursor":
			return nilIfEmpty(pi.endCurs), nil
		}
	case typeName == "UserCore", typeName == "MergeRequestAuthor", typeName == "MergeRequestReviewer", typeName == "CurrentUser":
		return userField(v.(*user), f.Name), nil
	}
	fn := graphqlResolvers[typeName+"."+f.Name]
	if fn == nil {
		return nil, fmt.Errorf("Field '%s' on type '%s' is not available in the simulator", f.Name, typeName)
	}
	return fn(ex, v, args, f)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func userField(u *user, name string) any {
	switch name {
	case "id":
		return gid("User", u.id)
	case "username":
		return u.username
	case "name":
		return u.name
	case "bot":
		return u.bot
	case "state":
		return "active"
	case "webUrl":
		return WebBase + "/" + u.username
	}
	return nil // publicEmail
}

type resolverFunc func(ex *gqlExec, v any, args map[string]any, f *ast.Field) (any, error)

// graphqlResolvers maps "Type.field" to its resolver, for the types that are not connections,
// edges, PageInfo or users (resolve handles those).
var graphqlResolvers = graphqlResolverTable()

func graphqlResolverTable() map[string]resolverFunc {
	rs := map[string]resolverFunc{
		"Query.project":      resolveProject,
		"Query.projects":     resolveProjects,
		"Query.group":        resolveGroup,
		"Query.mergeRequest": resolveMergeRequestByID,
		"Query.currentUser":  resolveCurrentUser,
		"Query.metadata":     func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return metadata{}, nil },
		"Query.queryComplexity": func(ex *gqlExec, _ any, _ map[string]any, _ *ast.Field) (any, error) {
			return complexityInfo{ex.score, ex.limit}, nil
		},
		"Metadata.version":    func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return GraphQLVersion, nil },
		"Metadata.revision":   func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return "5a1e7d0c3b2", nil },
		"Metadata.enterprise": func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return true, nil },
		"QueryComplexity.score": func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
			return v.(complexityInfo).score, nil
		},
		"QueryComplexity.limit": func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
			return v.(complexityInfo).limit, nil
		},
	}
	for name, fn := range map[string]func(*gqlExec, *group, map[string]any, *ast.Field) (any, error){
		"id": func(_ *gqlExec, g *group, _ map[string]any, _ *ast.Field) (any, error) {
			return gid("Group", g.id), nil
		},
		"name":     func(_ *gqlExec, g *group, _ map[string]any, _ *ast.Field) (any, error) { return g.name, nil },
		"fullPath": func(_ *gqlExec, g *group, _ map[string]any, _ *ast.Field) (any, error) { return g.fullPath, nil },
		"fullName": func(_ *gqlExec, g *group, _ map[string]any, _ *ast.Field) (any, error) { return groupFullName(g), nil },
		"webUrl": func(_ *gqlExec, g *group, _ map[string]any, _ *ast.Field) (any, error) {
			return WebBase + "/groups/" + g.fullPath, nil
		},
		"mergeRequests": resolveGroupMergeRequests,
		"projects":      resolveGroupProjects,
	} {
		rs["Group."+name] = func(ex *gqlExec, v any, args map[string]any, f *ast.Field) (any, error) {
			return fn(ex, v.(*group), args, f)
		}
	}
	for name, fn := range map[string]func(*gqlExec, *project, map[string]any, *ast.Field) (any, error){
		"id": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) {
			return gid("Project", p.id), nil
		},
		"name":     func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return p.name, nil },
		"path":     func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return p.path, nil },
		"fullPath": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return p.fullPath, nil },
		"nameWithNamespace": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) {
			return groupFullName(p.group) + " / " + p.name, nil
		},
		"archived": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return p.archived, nil },
		"webUrl": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) {
			return p.webURL(WebBase), nil
		},
		"createdAt": func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) {
			return gqlTime(p.createdAt), nil
		},
		"lastActivityAt": func(ex *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) {
			return gqlTime(ex.s.org.projectSimple(p, ex.now).LastActivityAt.t), nil
		},
		"group":         func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return p.group, nil },
		"repository":    func(_ *gqlExec, p *project, _ map[string]any, _ *ast.Field) (any, error) { return repository{p}, nil },
		"mergeRequest":  resolveProjectMergeRequest,
		"mergeRequests": resolveProjectMergeRequests,
		"pipelines":     resolvePipelines,
	} {
		rs["Project."+name] = func(ex *gqlExec, v any, args map[string]any, f *ast.Field) (any, error) {
			return fn(ex, v.(*project), args, f)
		}
	}
	rs["Repository.rootRef"] = func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
		return v.(repository).p.defaultBranch, nil
	}
	rs["Repository.empty"] = func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return false, nil }
	rs["Repository.exists"] = func(*gqlExec, any, map[string]any, *ast.Field) (any, error) { return true, nil }
	rs["Label.id"] = func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
		h := fnv.New32a()
		h.Write([]byte(v.(label).title))
		return gid("ProjectLabel", int64(h.Sum32()%1000000)+1), nil
	}
	rs["Label.title"] = func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) { return v.(label).title, nil }
	for name, fn := range mergeRequestFields {
		rs["MergeRequest."+name] = func(ex *gqlExec, v any, args map[string]any, f *ast.Field) (any, error) {
			return fn(ex, v.(*mergeRequest), args, f)
		}
	}
	for name, fn := range commitFields {
		rs["Commit."+name] = func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
			return fn(v.(commitRef)), nil
		}
	}
	for name, fn := range noteFields {
		rs["Note."+name] = func(_ *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
			return fn(v.(*note)), nil
		}
	}
	for name, fn := range pipelineFields {
		rs["Pipeline."+name] = func(ex *gqlExec, v any, _ map[string]any, _ *ast.Field) (any, error) {
			return fn(v.(*pipeline), ex.now), nil
		}
	}
	return rs
}

func groupFullName(g *group) string {
	name := g.name
	for x := g.parent; x != nil; x = x.parent {
		name = x.name + " / " + name
	}
	return name
}

func resolveCurrentUser(ex *gqlExec, _ any, _ map[string]any, _ *ast.Field) (any, error) {
	switch {
	case ex.anon:
		return nil, nil
	case ex.c.user != nil:
		return ex.c.user, nil
	}
	return &user{id: 1, username: "pacer-reader", name: "Pacer Reader"}, nil // as GET /user
}

func resolveProject(ex *gqlExec, _ any, args map[string]any, _ *ast.Field) (any, error) {
	path, _ := stringArg(args, "fullPath")
	p := ex.s.org.projByPath[path]
	if p == nil {
		for _, x := range ex.s.org.projects { // GitLab finds full paths case-insensitively
			if strings.EqualFold(x.fullPath, path) {
				p = x
			}
		}
	}
	if p == nil || !ex.seesProject(p) {
		return nil, nil // GitLab answers null for a project it does not show
	}
	return p, nil
}

func (ex *gqlExec) seesProject(p *project) bool { return !ex.anon && ex.s.sees(ex.c, p) }

// resolveProjects serves Query.projects: the projects the caller can read, by ids or full
// paths, in id order.
func resolveProjects(ex *gqlExec, _ any, args map[string]any, f *ast.Field) (any, error) {
	ids, hasIDs := stringsArg(args, "ids")
	paths, hasPaths := stringsArg(args, "fullPaths")
	if len(paths) > 50 {
		return nil, fmt.Errorf("You cannot provide more than 50 full_paths")
	}
	search, _ := stringArg(args, "search")
	var list []keyed
	for _, p := range ex.s.org.projects {
		if !ex.seesProject(p) {
			continue
		}
		if hasIDs && !slices.ContainsFunc(ids, func(s string) bool { n, ok := gidID(s, "Project"); return ok && n == p.id }) {
			continue
		}
		if hasPaths && !slices.ContainsFunc(paths, func(s string) bool { return strings.EqualFold(s, p.fullPath) }) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(p.name+" "+p.fullPath), strings.ToLower(search)) {
			continue
		}
		list = append(list, keyed{item: p, id: p.id})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	return paginateConnection(f, args, list, false)
}

func resolveGroup(ex *gqlExec, _ any, args map[string]any, _ *ast.Field) (any, error) {
	path, _ := stringArg(args, "fullPath")
	g := ex.s.org.groupByPath[path]
	if g == nil || ex.anon {
		return nil, nil
	}
	if ex.c.user != nil { // a person sees a group if they see a project in it
		seen := false
		for _, p := range ex.s.org.projects {
			if within(p.group, g) && ex.seesProject(p) {
				seen = true
				break
			}
		}
		if !seen {
			return nil, nil
		}
	}
	return g, nil
}

// groupProjects are the projects of g (and of its subgroups with includeSubgroups) that the
// caller sees; shared-in projects live elsewhere and are not among them.
func (ex *gqlExec) groupProjects(g *group, args map[string]any, archivedDefault bool) []*project {
	sub, _ := boolArg(args, "includeSubgroups")
	archived, set := boolArg(args, "includeArchived")
	if !set {
		archived = archivedDefault
	}
	var ps []*project
	for _, p := range ex.s.org.projects {
		in := p.group == g || sub && within(p.group, g)
		if !in || p.archived && !archived || !ex.seesProject(p) {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

func resolveGroupProjects(ex *gqlExec, g *group, args map[string]any, f *ast.Field) (any, error) {
	var list []keyed
	for _, p := range ex.groupProjects(g, args, true) {
		list = append(list, keyed{item: p, id: p.id})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	return paginateConnection(f, args, list, false)
}

func resolveGroupMergeRequests(ex *gqlExec, g *group, args map[string]any, f *ast.Field) (any, error) {
	var mrs []*mergeRequest
	for _, p := range ex.groupProjects(g, args, false) {
		mrs = append(mrs, ex.deployedIn(p, p.mrs, args)...)
	}
	return ex.mergeRequestConnection(mrs, args, f)
}

func resolveProjectMergeRequests(ex *gqlExec, p *project, args map[string]any, f *ast.Field) (any, error) {
	return ex.mergeRequestConnection(ex.deployedIn(p, p.mrs, args), args, f)
}

// deployedIn applies the deploymentId argument (GitLab's MergeRequestsFinder#by_deployment): the
// MRs GitLab linked to that deployment of p, exactly those GET
// /projects/:id/deployments/:deployment_id/merge_requests lists (none until the links appear a
// few minutes after the deployment succeeded, none for an unknown id). Without the argument,
// mrs.
func (ex *gqlExec) deployedIn(p *project, mrs []*mergeRequest, args map[string]any) []*mergeRequest {
	s, ok := stringArg(args, "deploymentId")
	if !ok {
		return mrs
	}
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return nil
	}
	d := p.deployByID[id]
	if d == nil || d.createdAt.After(ex.now) || d.statusAt(ex.now) != "success" || ex.now.Before(d.linkAt) {
		return nil
	}
	return d.links
}

func resolveProjectMergeRequest(ex *gqlExec, p *project, args map[string]any, _ *ast.Field) (any, error) {
	s, _ := stringArg(args, "iid")
	iid, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, nil
	}
	i := sort.Search(len(p.mrs), func(i int) bool { return p.mrs[i].iid >= iid })
	if i == len(p.mrs) || p.mrs[i].iid != iid || !p.mrs[i].exists(ex.now) {
		return nil, nil
	}
	return p.mrs[i], nil
}

func resolveMergeRequestByID(ex *gqlExec, _ any, args map[string]any, _ *ast.Field) (any, error) {
	s, _ := stringArg(args, "id")
	id, ok := gidID(s, "MergeRequest")
	if !ok {
		return nil, fmt.Errorf("%s is not a valid GitLab ID.", s)
	}
	for _, p := range ex.s.org.projects {
		for _, m := range p.mrs {
			if m.id == id && m.exists(ex.now) && ex.seesProject(p) {
				return m, nil
			}
		}
	}
	return nil, nil
}

// mergeRequestConnection filters mrs as GitLab's MergeRequestsFinder (the same rules as the REST
// list, mrFilter.apply) and pages them by the sort's keyset.
func (ex *gqlExec) mergeRequestConnection(mrs []*mergeRequest, args map[string]any, f *ast.Field) (any, error) {
	flt := mrFilter{state: "all", orderBy: "created_at", sort: "asc"}
	if s, ok := stringArg(args, "state"); ok {
		flt.state = s
	}
	for _, x := range []struct {
		name string
		t    *time.Time
		ok   *bool
	}{{"createdAfter", &flt.createdAfter, &flt.hasCA}, {"createdBefore", &flt.createdBefore, &flt.hasCB},
		{"updatedAfter", &flt.updatedAfter, &flt.hasUA}, {"updatedBefore", &flt.updatedBefore, &flt.hasUB}} {
		var err error
		if *x.t, *x.ok, err = timeArg(args, x.name); err != nil {
			return nil, err
		}
	}
	if iids, ok := stringsArg(args, "iids"); ok {
		for _, s := range iids {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Argument 'iids' on Field '%s' has an invalid value (%q)", f.Name, s)
			}
			flt.iids = append(flt.iids, n)
		}
		if len(flt.iids) == 0 {
			flt.iids = []int64{-1} // an empty list matches nothing
		}
	}
	flt.labels, _ = stringsArg(args, "labels")
	flt.authorUsername, _ = stringArg(args, "authorUsername")
	flt.draft, flt.draftSet = boolArg(args, "draft")
	mergedAfter, hasMA, err := timeArg(args, "mergedAfter")
	if err != nil {
		return nil, err
	}
	mergedBefore, hasMB, err := timeArg(args, "mergedBefore")
	if err != nil {
		return nil, err
	}
	sources, hasSources := stringsArg(args, "sourceBranches")
	targets, hasTargets := stringsArg(args, "targetBranches")

	sortArg, _ := stringArg(args, "sort")
	sortArg = strings.ToLower(sortArg)
	desc := strings.HasSuffix(sortArg, "_desc")
	key := func(m *mergeRequest) (time.Time, bool) {
		switch strings.TrimSuffix(strings.TrimSuffix(sortArg, "_desc"), "_asc") {
		case "updated":
			return m.updatedAt(ex.now), true
		case "merged_at":
			return m.mergedAt, m.mergedBy(ex.now)
		case "closed_at":
			return m.closedAt, m.closedBy(ex.now)
		}
		return m.createdAt, true
	}
	var list []keyed
	for _, m := range flt.apply(mrs, ex.now) {
		if hasSources && !slices.Contains(sources, m.sourceBranch) || hasTargets && !slices.Contains(targets, m.targetBranch) {
			continue
		}
		if hasMA || hasMB {
			if !m.mergedBy(ex.now) || hasMA && m.mergedAt.Before(mergedAfter) || hasMB && m.mergedAt.After(mergedBefore) {
				continue
			}
		}
		t, ok := key(m)
		k := keyed{item: m, t: t.UnixNano(), id: m.id}
		if !ok { // no such time: last in either direction, as GitLab's NULLS LAST
			k.t = maxKey
			if desc {
				k.t = -maxKey
			}
		}
		list = append(list, k)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		less := a.t < b.t || a.t == b.t && a.id < b.id
		if desc {
			return b.t < a.t || a.t == b.t && b.id < a.id
		}
		return less
	})
	return paginateConnection(f, args, list, desc)
}

const maxKey = 1 << 62
