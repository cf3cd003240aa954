package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// A sync ends when its last project does. Projects are taken up to --concurrency at a time in
// the order given, so a large project that happens to come late runs on alone at the end with
// fewer requests in flight than the pace allows. Through GraphQL, how many MRs each project
// has to list is one cheap query per 30 projects (mergeRequests(updatedAfter:) { count }), so
// the largest start first; the counts also size the estimate of the time left from the start.

// gqlCountBatch is how many projects one count query asks about: each alias scores 7 (the
// connection's 3, doubled for its default page of 100, and the project's 1), 30 score 213.
const gqlCountBatch = 30

// gqlCountQuery counts the MRs of n projects ($p0 … with $s0 …) changed since each one's bound.
func gqlCountQuery(n int) string {
	var vars, fields []string
	for i := range n {
		vars = append(vars, fmt.Sprintf("$p%d: ID!, $s%d: Time", i, i))
		fields = append(fields, fmt.Sprintf("p%d: project(fullPath: $p%d) { mergeRequests(updatedAfter: $s%d) { count } }", i, i, i))
	}
	return `query(` + strings.Join(vars, ", ") + `) {
  ` + strings.Join(fields, "\n  ") + `
  queryComplexity { score limit }
}`
}

// largestFirst orders projects by the MRs they have to list, most first, when GraphQL counts
// them; otherwise, or for projects it did not count, it keeps the given order (after the
// counted ones). A failed count only costs the ordering: it is logged and the sync goes on.
func (s *syncer) largestFirst(ctx context.Context, projects []store.Project) []store.Project {
	if !s.graphQL.Load() || len(projects) < 2 {
		return projects
	}
	counts := map[int64]int64{}
	for start := 0; start < len(projects); start += gqlCountBatch {
		batch := projects[start:min(start+gqlCountBatch, len(projects))]
		vars := map[string]any{}
		for i, p := range batch {
			from, ok, err := s.st.Cursor(ctx, p.ID, store.ResourceMergeRequests)
			if err != nil {
				s.opt.Logger.Debug("projects keep their order", "err", err)
				return projects
			}
			if ok {
				from = from.Add(-mrOverlap)
			} else {
				from = s.since()
			}
			vars[fmt.Sprintf("p%d", i)] = p.Path
			vars[fmt.Sprintf("s%d", i)] = from.UTC().Format(time.RFC3339)
		}
		var raw map[string]json.RawMessage
		if err := s.graphql(ctx, "count merge requests", gqlCountQuery(len(batch)), vars, &raw); err != nil {
			s.opt.Logger.Info("projects keep their order: GraphQL did not count their merge requests", "err", err)
			return projects
		}
		for i, p := range batch {
			var x *struct {
				MergeRequests *struct {
					Count int64 `json:"count"`
				} `json:"mergeRequests"`
			}
			if json.Unmarshal(raw[fmt.Sprintf("p%d", i)], &x) == nil && x != nil && x.MergeRequests != nil {
				counts[p.ID] = x.MergeRequests.Count
			}
		}
	}
	ordered := append([]store.Project(nil), projects...)
	sort.SliceStable(ordered, func(i, j int) bool {
		ci, iok := counts[ordered[i].ID]
		cj, jok := counts[ordered[j].ID]
		if iok != jok {
			return iok
		}
		return ci > cj
	})
	s.mu.Lock()
	for id, n := range counts {
		s.work[id] = &projectWork{counted: n, isCounted: true}
	}
	s.mu.Unlock()
	return ordered
}
