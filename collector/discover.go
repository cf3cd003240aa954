package collector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

// discover lists the projects to sync: each group's own projects and its subgroups', without
// archived projects or projects shared into the group, plus each listed project; de-duplicated
// by id and recorded in the store. A group or project that cannot be read is reported as a
// failure and the others go on; a rejected token stops the sync.
func (s *syncer) discover(ctx context.Context) ([]store.Project, error) {
	byID := map[int64]*gitlab.Project{}
	for _, g := range dedupe(s.opt.Groups) {
		ps, err := s.groupProjects(ctx, g)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, errUnauthorized) {
				return nil, err
			}
			s.opt.Logger.Error("group failed", "group", g, "err", err)
			s.fail(g, err)
			continue
		}
		for _, p := range ps {
			byID[p.ID] = p
		}
	}
	for _, path := range dedupe(s.opt.Projects) {
		p, _, err := s.gl.Projects.GetProject(path, &gitlab.GetProjectOptions{}, reqOpts(ctx)...)
		if err != nil {
			err = explain("project "+path, err)
			if ctx.Err() != nil || errors.Is(err, errUnauthorized) {
				return nil, err
			}
			s.opt.Logger.Error("project failed", "project", path, "err", err)
			s.fail(path, err)
			continue
		}
		byID[p.ID] = p
	}
	now := s.now()
	out := make([]store.Project, 0, len(byID))
	for _, p := range byID {
		sp := store.Project{ID: p.ID, Path: p.PathWithNamespace, Name: p.Name, DefaultBranch: p.DefaultBranch,
			WebURL: p.WebURL, Archived: p.Archived, DiscoveredAt: now}
		if err := s.st.UpsertProject(ctx, sp); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	s.opt.Logger.Info("projects discovered", "projects", len(out), "groups", len(s.opt.Groups))
	return out, nil
}

func (s *syncer) groupProjects(ctx context.Context, group string) ([]*gitlab.Project, error) {
	opt := &gitlab.ListGroupProjectsOptions{
		ListOptions:      gitlab.ListOptions{PerPage: 100},
		IncludeSubGroups: gitlab.Ptr(true),
		Archived:         gitlab.Ptr(false),
		WithShared:       gitlab.Ptr(false),
	}
	var out []*gitlab.Project
	for page := int64(1); page > 0; {
		opt.Page = page
		ps, resp, err := s.gl.Groups.ListGroupProjects(group, opt, reqOpts(ctx)...)
		if err != nil {
			return nil, explain(fmt.Sprintf("list projects of group %s", group), err)
		}
		for _, p := range ps {
			// archived=false is the server's filter; checked again in case a server ignores it.
			if !p.Archived {
				out = append(out, p)
			}
		}
		page = nextPage(resp)
	}
	return out, nil
}

// dedupe drops repeated and empty paths, keeping the first spelling, comparing without case or
// surrounding slashes (GitLab paths are case-insensitive).
func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		p = strings.Trim(strings.TrimSpace(p), "/")
		k := strings.ToLower(p)
		if p == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}
