package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// The GraphQL path reads default-branch pipelines with their finish time and coverage in the
// listing itself: REST lists pipelines without either and needs a GET per pipeline that
// decides a coverage figure (syncCoverage), about one per project and active day. The rows are
// the REST path's: the same pipelines (ref = default branch, updated after the cursor less the
// overlap), the same columns, and the same finish time and coverage for the successful ones.

// gqlPipelinesQuery lists a project's pipelines on one ref updated after $since. GitLab's
// Project.pipelines takes no sort: it lists newest first (id descending).
const gqlPipelinesQuery = `query($path: ID!, $ref: String!, $since: Time, $first: Int!, $after: String) {
  project(fullPath: $path) {
    pipelines(ref: $ref, updatedAfter: $since, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id iid sha ref status source createdAt updatedAt finishedAt coverage }
    }
  }
  queryComplexity { score limit }
}`

type gqlPipeline struct {
	ID         string     `json:"id"`
	IID        string     `json:"iid"`
	SHA        string     `json:"sha"`
	Ref        string     `json:"ref"`
	Status     string     `json:"status"`
	Source     string     `json:"source"`
	CreatedAt  *time.Time `json:"createdAt"`
	UpdatedAt  *time.Time `json:"updatedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Coverage   *float64   `json:"coverage"`
}

// row is the pipeline as REST's listing and single-pipeline endpoint give it together.
func (n *gqlPipeline) row(p store.Project) (store.Pipeline, error) {
	id := gid(n.ID)
	iid, err := strconv.ParseInt(n.IID, 10, 64)
	if err != nil || id == 0 {
		return store.Pipeline{}, fmt.Errorf("pipeline id %q, iid %q", n.ID, n.IID)
	}
	x := store.Pipeline{ID: id, IID: iid, ProjectID: p.ID, Ref: n.Ref, SHA: n.SHA, Status: strings.ToLower(n.Status),
		Source: n.Source, CreatedAt: timeOrZero(n.CreatedAt), UpdatedAt: timeOrZero(n.UpdatedAt),
		WebURL: p.WebURL + "/-/pipelines/" + strconv.FormatInt(id, 10)}
	if x.Status == "success" {
		// What GET /pipelines/:id says of a successful pipeline; coverage out of 0-100 is
		// none, as parseCoverage decides on REST.
		x.FinishedAt = secsPtr(n.FinishedAt)
		if c := n.Coverage; c != nil && *c >= 0 && *c <= 100 {
			v := *c
			x.Coverage = &v
		}
		x.DetailFetched = true
	}
	return x, nil
}

// syncPipelinesGraphQL is syncPipelines and, for the pipelines it lists, syncCoverage, through
// GraphQL. Project.pipelines lists newest first (no sort argument), so unlike REST's listing by
// update time, a page does not cover a range of update times: every page is saved as it comes,
// with its finish times and coverage, but the cursor moves only once the whole listing is in,
// to the latest update seen. Paging by id is keyset paging, so no pipeline is skipped because
// another was updated meanwhile; a pipeline updated after the listing passed it has an update
// time after the listing began, which the overlap covers on the next sync (and, for a listing
// longer than half the overlap, the cursor is held back by the listing's duration).
func (s *syncer) syncPipelinesGraphQL(ctx context.Context, p store.Project) error {
	if p.DefaultBranch == "" {
		return nil // an empty repository has no default branch and no pipelines on it
	}
	from, err := s.pipelinesFrom(ctx, p)
	if err != nil {
		return err
	}
	started := time.Now()
	what := "list pipelines of " + p.Path
	seen := map[int64]bool{}
	var top time.Time
	var after any
	for {
		var out struct {
			Project *struct {
				Pipelines *struct {
					PageInfo gqlPageInfo   `json:"pageInfo"`
					Nodes    []gqlPipeline `json:"nodes"`
				} `json:"pipelines"`
			} `json:"project"`
		}
		size := s.gqlPipelines.get()
		vars := map[string]any{"path": p.Path, "ref": p.DefaultBranch, "since": from.UTC().Format(time.RFC3339),
			"first": size, "after": after}
		t0 := time.Now()
		err := s.graphql(ctx, what, gqlPipelinesQuery, vars, &out)
		var ge *gqlError
		if errors.As(err, &ge) && ge.shrinks() && size > 1 {
			s.opt.Logger.Debug("graphql page shrinks", "project", p.Path, "from", size, "to", s.gqlPipelines.shrink(size), "err", ge.msg)
			continue
		}
		if err != nil {
			return err
		}
		s.gqlPipelines.done(size, time.Since(t0))
		if out.Project == nil {
			return explain(what, fmt.Errorf("GraphQL has no project %s: %w", p.Path, errProjectGone))
		}
		if out.Project.Pipelines == nil {
			// CI/CD is off for the project, or hidden from the token's role (REST's 403).
			s.opt.Logger.Info("pipelines not available", "project", p.Path)
			return nil
		}
		page := out.Project.Pipelines
		rows := make([]store.Pipeline, 0, len(page.Nodes))
		for i := range page.Nodes {
			x, err := page.Nodes[i].row(p)
			if err != nil {
				return &gqlError{what: what, msg: err.Error()}
			}
			if x.UpdatedAt.After(top) {
				top = x.UpdatedAt
			}
			if x.Ref != p.DefaultBranch {
				continue // the ref filter is the server's; checked again in case one ignores it
			}
			rows = append(rows, x)
		}
		if err := s.savePipelinesWithDetail(ctx, p, rows, from, seen); err != nil {
			return err
		}
		if !page.PageInfo.HasNextPage || len(page.Nodes) == 0 {
			break
		}
		after = page.PageInfo.EndCursor
	}
	if top.IsZero() {
		return nil // nothing listed: the cursor stays where it is, as on REST
	}
	if d := time.Since(started); d > pipelineOverlap/2 {
		top = top.Add(-d.Round(time.Second))
	}
	return s.st.SavePipelines(ctx, p.ID, nil, top)
}

// savePipelinesWithDetail saves one page of pipelines (with the cursor at most at from, where it
// already is) and then the finish time and coverage of its successful ones. Should the sync stop
// between the two, the cursor has not moved and the next sync lists the page again; until then
// the pipelines lack their detail, which syncCoverage reads through REST where it matters.
func (s *syncer) savePipelinesWithDetail(ctx context.Context, p store.Project, rows []store.Pipeline, from time.Time, seen map[int64]bool) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.st.SavePipelines(ctx, p.ID, rows, from); err != nil {
		return err
	}
	n, read := 0, 0
	for _, x := range rows {
		if !seen[x.ID] {
			seen[x.ID] = true
			n++
		}
		if !x.DetailFetched {
			continue
		}
		if _, err := s.st.SetPipelineDetail(ctx, x.ID, x.UpdatedAt, x.FinishedAt, x.Coverage); err != nil {
			return err
		}
		read++
	}
	s.add(func(pr *Progress) {
		pr.Pipelines += int64(n)
		pr.Coverage += int64(read)
	})
	return nil
}
