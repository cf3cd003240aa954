package gitlabsim

import (
	"encoding/base64"
	"encoding/json"
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

// connection is a page of a connection: its nodes with their cursors, and the total count.
type connection struct {
	items   []any
	cursors []string
	count   int
	hasNext bool
	hasPrev bool
}

type edge struct {
	cursor string
	node   any
}

type pageInfo struct {
	hasNext, hasPrev     bool
	startCursor, endCurs string
}

// keyed is a list item with its keyset position: (t, id), compared in the list's order.
type keyed struct {
	item any
	t    int64
	id   int64
}

type cursorJSON struct {
	T  int64  `json:"t,omitempty"`
	ID string `json:"id"`
}

func encodeCursor(k keyed) string {
	b, _ := json.Marshal(cursorJSON{T: k.t, ID: strconv.FormatInt(k.id, 10)})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (keyed, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return keyed{}, false
	}
	var c cursorJSON
	if json.Unmarshal(b, &c) != nil {
		return keyed{}, false
	}
	id, err := strconv.ParseInt(c.ID, 10, 64)
	if err != nil {
		return keyed{}, false
	}
	return keyed{t: c.T, id: id}, true
}

// paginate pages list (sorted by (t, id), descending when desc) by GitLab's connection
// arguments: first/after forwards, last/before backwards, at most 100 nodes.
func paginateConnection(f *ast.Field, args map[string]any, list []keyed, desc bool) (*connection, error) {
	cmp := func(a, b keyed) int {
		c := 0
		switch {
		case a.t < b.t:
			c = -1
		case a.t > b.t:
			c = 1
		case a.id < b.id:
			c = -1
		case a.id > b.id:
			c = 1
		}
		if desc {
			c = -c
		}
		return c
	}
	first, hasFirst := intArg(args, "first")
	last, hasLast := intArg(args, "last")
	for _, x := range []struct {
		name string
		n    int
		set  bool
	}{{"first", first, hasFirst}, {"last", last, hasLast}} {
		if !x.set {
			continue
		}
		if x.n < 0 {
			return nil, fmt.Errorf("Argument '%s' on Field '%s' cannot be negative", x.name, f.Name)
		}
		if x.n > graphqlMaxPageSize {
			return nil, fmt.Errorf("Argument '%s' on Field '%s' must be at most %d (the maximum page size), got %d", x.name, f.Name, graphqlMaxPageSize, x.n)
		}
	}
	start, end := 0, len(list)
	if s, ok := stringArg(args, "after"); ok {
		c, ok := decodeCursor(s)
		if !ok {
			return nil, fmt.Errorf("Please provide a valid cursor")
		}
		start = sort.Search(len(list), func(i int) bool { return cmp(list[i], c) > 0 })
	}
	if s, ok := stringArg(args, "before"); ok {
		c, ok := decodeCursor(s)
		if !ok {
			return nil, fmt.Errorf("Please provide a valid cursor")
		}
		end = sort.Search(len(list), func(i int) bool { return cmp(list[i], c) >= 0 })
	}
	end = max(end, start)
	win := list[start:end]
	conn := &connection{count: len(list)}
	switch {
	case hasFirst:
		if len(win) > first {
			win, conn.hasNext = win[:first], true
		}
		conn.hasPrev = start > 0
		if hasLast && len(win) > last {
			win = win[len(win)-last:]
		}
	case hasLast:
		if len(win) > last {
			win, conn.hasPrev = win[len(win)-last:], true
		}
		conn.hasNext = end < len(list)
	default: // GitLab's default_max_page_size
		if len(win) > graphqlMaxPageSize {
			win, conn.hasNext = win[:graphqlMaxPageSize], true
		}
		conn.hasPrev = start > 0
	}
	for _, k := range win {
		conn.items = append(conn.items, k.item)
		conn.cursors = append(conn.cursors, encodeCursor(k))
	}
	return conn, nil
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
		mrs = append(mrs, p.mrs...)
	}
	return ex.mergeRequestConnection(mrs, args, f)
}

func resolveProjectMergeRequests(ex *gqlExec, p *project, args map[string]any, f *ast.Field) (any, error) {
	return ex.mergeRequestConnection(p.mrs, args, f)
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

var mergeRequestFields = map[string]func(*gqlExec, *mergeRequest, map[string]any, *ast.Field) (any, error){
	"id": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return gid("MergeRequest", m.id), nil
	},
	"iid": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return strconv.FormatInt(m.iid, 10), nil
	},
	"title": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.titleAt(ex.now), nil
	},
	"description": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.description, nil
	},
	"state": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.state(ex.now), nil
	},
	"draft": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.draft(ex.now), nil
	},
	"createdAt": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return gqlTime(m.createdAt), nil
	},
	"updatedAt": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return gqlTime(m.updatedAt(ex.now)), nil
	},
	"mergedAt": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		if !m.mergedBy(ex.now) {
			return nil, nil
		}
		return gqlTime(m.mergedAt), nil
	},
	"closedAt": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		if m.mergedBy(ex.now) || !m.closedBy(ex.now) {
			return nil, nil
		}
		return gqlTime(m.closedAt), nil
	},
	"sourceBranch": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.sourceBranch, nil
	},
	"targetBranch": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.targetBranch, nil
	},
	"sourceProjectId": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.project.id, nil
	},
	"targetProjectId": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.project.id, nil
	},
	"projectId": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.project.id, nil
	},
	"project": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.project, nil
	},
	"diffHeadSha": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return nilIfEmpty(m.headSHA(ex.now)), nil
	},
	"mergeCommitSha": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		if !m.mergedBy(ex.now) {
			return nil, nil
		}
		return nilIfEmpty(m.mergeSHA), nil
	},
	"squashCommitSha": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		if !m.mergedBy(ex.now) {
			return nil, nil
		}
		return nilIfEmpty(m.squashSHA), nil
	},
	"squash": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) { return m.squash, nil },
	"webUrl": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.project.webURL(WebBase) + "/-/merge_requests/" + strconv.FormatInt(m.iid, 10), nil
	},
	"author": func(_ *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) { return m.author, nil },
	"mergeUser": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		if !m.mergedBy(ex.now) {
			return nil, nil
		}
		return m.mergeUser, nil
	},
	"labels": func(_ *gqlExec, m *mergeRequest, args map[string]any, f *ast.Field) (any, error) {
		list := make([]keyed, len(m.labels))
		for i, l := range m.labels {
			list[i] = keyed{item: label{l}, id: int64(i)}
		}
		return paginateConnection(f, args, list, false)
	},
	"reviewers": func(_ *gqlExec, m *mergeRequest, args map[string]any, f *ast.Field) (any, error) {
		list := make([]keyed, len(m.reviewers))
		for i, u := range m.reviewers {
			list[i] = keyed{item: u, id: int64(i)}
		}
		return paginateConnection(f, args, list, false)
	},
	"approvedBy": func(ex *gqlExec, m *mergeRequest, args map[string]any, f *ast.Field) (any, error) {
		cur := m.approvalsAt(ex.now)
		list := make([]keyed, len(cur))
		for i, n := range cur {
			list[i] = keyed{item: n.author, id: int64(i)}
		}
		return paginateConnection(f, args, list, false)
	},
	"approved": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return len(m.approvalsAt(ex.now)) > 0, nil
	},
	"userNotesCount": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return m.userNotesCount(ex.now), nil
	},
	"commitCount": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		return len(m.commitsAt(ex.now)), nil
	},
	"commits":                    resolveCommits,
	"commitsWithoutMergeCommits": resolveCommits,
	"notes":                      resolveNotes,
	"headPipeline": func(ex *gqlExec, m *mergeRequest, _ map[string]any, _ *ast.Field) (any, error) {
		head := m.headSHA(ex.now)
		var last *pipeline
		for _, pl := range m.pipelines {
			if pl.id != 0 && !pl.createdAt.After(ex.now) && pl.sha == head && (last == nil || pl.id > last.id) {
				last = pl
			}
		}
		return last, nil
	},
}

// resolveCommits lists an MR's commits newest first, as GitLab (and the REST list) does.
func resolveCommits(ex *gqlExec, m *mergeRequest, args map[string]any, f *ast.Field) (any, error) {
	cs := m.commitsAt(ex.now)
	list := make([]keyed, len(cs))
	for i := range cs {
		list[i] = keyed{item: commitRef{m, cs[len(cs)-1-i]}, id: int64(i)}
	}
	return paginateConnection(f, args, list, false)
}

// resolveNotes lists an MR's notes oldest first, system notes (the approvals among them)
// included unless the filter says otherwise.
func resolveNotes(ex *gqlExec, m *mergeRequest, args map[string]any, f *ast.Field) (any, error) {
	filter, _ := stringArg(args, "filter")
	var list []keyed
	for _, n := range m.notesAt(ex.now) {
		if filter == "ONLY_COMMENTS" && n.system() || filter == "ONLY_ACTIVITY" && !n.system() {
			continue
		}
		list = append(list, keyed{item: n, t: n.at.UnixNano(), id: n.id})
	}
	return paginateConnection(f, args, list, false)
}

var commitFields = map[string]func(commitRef) any{
	"id":      func(r commitRef) any { return "gid://gitlab/CommitPresenter/" + r.c.sha },
	"sha":     func(r commitRef) any { return r.c.sha },
	"shortId": func(r commitRef) any { return r.c.sha[:8] },
	"title":   func(r commitRef) any { return r.c.title },
	"message": func(r commitRef) any { return commitMessage(r.c) },
	"description": func(r commitRef) any {
		_, rest, _ := strings.Cut(commitMessage(r.c), "\n")
		return nilIfEmpty(strings.TrimLeft(rest, "\n"))
	},
	"authoredDate":   func(r commitRef) any { return gqlTimeIn(r.c.authored, r.c.author.tzOffset) },
	"committedDate":  func(r commitRef) any { return gqlTimeIn(r.c.committed, r.c.author.tzOffset) },
	"authorName":     func(r commitRef) any { return r.c.name },
	"authorEmail":    func(r commitRef) any { return r.c.email },
	"committerName":  func(r commitRef) any { return r.c.name },
	"committerEmail": func(r commitRef) any { return r.c.email },
	"author": func(r commitRef) any {
		// GitLab links a commit to the user whose email it carries, case-insensitively.
		if r.c.email != "" && strings.EqualFold(r.c.email, r.c.author.email()) {
			return r.c.author
		}
		return nil
	},
	"webUrl": func(r commitRef) any { return r.m.project.webURL(WebBase) + "/-/commit/" + r.c.sha },
}

// commitMessage is the message as the REST API gives it.
func commitMessage(c commit) string {
	if c.message == "" {
		return c.title + "\n"
	}
	return c.message
}

var noteFields = map[string]func(*note) any{
	"id": func(n *note) any {
		model := "Note"
		if n.typ != "" {
			model = n.typ
		}
		return gid(model, n.id)
	},
	"body":      func(n *note) any { return n.body },
	"system":    func(n *note) any { return n.system() },
	"internal":  func(n *note) any { return false },
	"createdAt": func(n *note) any { return gqlTime(n.at) },
	"updatedAt": func(n *note) any { return gqlTime(n.at) },
	"author":    func(n *note) any { return n.author },
	"systemNoteIconName": func(n *note) any {
		switch n.kind {
		case noteApproved:
			return "approval"
		case noteUnapproved:
			return "unapproval"
		case noteSystem:
			if strings.HasPrefix(n.body, "added ") {
				return "commit"
			}
			return "pencil"
		}
		return nil
	},
	"url": func(n *note) any {
		return n.mr.project.webURL(WebBase) + "/-/merge_requests/" + strconv.FormatInt(n.mr.iid, 10) + "#note_" + strconv.FormatInt(n.id, 10)
	},
}

// resolvePipelines serves Project.pipelines: the same finder as the REST list (strict
// updated bounds), newest first.
func resolvePipelines(ex *gqlExec, p *project, args map[string]any, f *ast.Field) (any, error) {
	ref, hasRef := stringArg(args, "ref")
	sha, hasSHA := stringArg(args, "sha")
	source, hasSource := stringArg(args, "source")
	status, hasStatus := stringArg(args, "status")
	scope, _ := stringArg(args, "scope")
	username, hasUser := stringArg(args, "username")
	ua, hasUA, err := timeArg(args, "updatedAfter")
	if err != nil {
		return nil, err
	}
	ub, hasUB, err := timeArg(args, "updatedBefore")
	if err != nil {
		return nil, err
	}
	var list []keyed
	for _, pl := range p.pipelines {
		if pl.id == 0 || pl.createdAt.After(ex.now) {
			continue
		}
		st := pl.statusAt(ex.now)
		if hasRef && pl.ref != ref || hasSHA && pl.sha != sha || hasSource && pl.source != source ||
			hasStatus && st != strings.ToLower(status) || hasUser && (pl.user == nil || pl.user.username != username) {
			continue
		}
		switch scope {
		case "RUNNING", "PENDING":
			if st != strings.ToLower(scope) {
				continue
			}
		case "FINISHED":
			if st != "success" && st != "failed" && st != "canceled" && st != "skipped" {
				continue
			}
		case "TAGS":
			continue
		}
		upd := pl.updatedAt(ex.now)
		if hasUA && !upd.After(ua) || hasUB && !upd.Before(ub) {
			continue
		}
		list = append(list, keyed{item: pl, id: pl.id})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id > list[j].id })
	return paginateConnection(f, args, list, true)
}

var pipelineFields = map[string]func(*pipeline, time.Time) any{
	"id":  func(pl *pipeline, _ time.Time) any { return gid("Ci::Pipeline", pl.id) },
	"iid": func(pl *pipeline, _ time.Time) any { return strconv.FormatInt(pl.iid, 10) },
	"sha": func(pl *pipeline, _ time.Time) any { return pl.sha },
	"beforeSha": func(pl *pipeline, _ time.Time) any {
		return cmpOr(pl.beforeSHA, "0000000000000000000000000000000000000000")
	},
	"ref":       func(pl *pipeline, _ time.Time) any { return pl.ref },
	"status":    func(pl *pipeline, now time.Time) any { return strings.ToUpper(pl.statusAt(now)) },
	"source":    func(pl *pipeline, _ time.Time) any { return pl.source },
	"createdAt": func(pl *pipeline, _ time.Time) any { return gqlTime(pl.createdAt) },
	"updatedAt": func(pl *pipeline, now time.Time) any { return gqlTime(pl.updatedAt(now)) },
	"startedAt": func(pl *pipeline, now time.Time) any {
		if now.Before(pl.startedAt) {
			return nil
		}
		return gqlTime(pl.startedAt)
	},
	"finishedAt": func(pl *pipeline, now time.Time) any {
		if now.Before(pl.finished) {
			return nil
		}
		return gqlTime(pl.finished)
	},
	"duration": func(pl *pipeline, now time.Time) any {
		if now.Before(pl.finished) {
			return nil
		}
		return int64(pl.finished.Sub(pl.startedAt) / time.Second)
	},
	"queuedDuration": func(pl *pipeline, now time.Time) any {
		if now.Before(pl.startedAt) {
			return nil
		}
		return float64(pl.startedAt.Sub(pl.createdAt) / time.Second)
	},
	"coverage": func(pl *pipeline, now time.Time) any {
		if now.Before(pl.finished) || !pl.hasCoverage {
			return nil
		}
		// The same decimal the REST API shows, as a Float.
		f, _ := strconv.ParseFloat(formatCoverage(pl.coverage), 64)
		return f
	},
	"path": func(pl *pipeline, _ time.Time) any {
		return fmt.Sprintf("/%s/-/pipelines/%d", pl.project.fullPath, pl.id)
	},
	"user": func(pl *pipeline, _ time.Time) any { return pl.user },
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
