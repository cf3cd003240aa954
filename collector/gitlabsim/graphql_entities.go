package gitlabsim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// The fields of the records, in GitLab's GraphQL shapes: merge requests, commits, notes and
// pipelines, as the REST entities (entities.go) show the same objects.

// mergeRequestFields resolve MergeRequest's fields.
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

// commitFields resolve Commit's fields.
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

// noteFields resolve Note's fields.
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

// pipelineFields resolve Pipeline's fields.
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
