package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// The MRs each production deployment shipped are, on REST, one request per deployment
// (GET /deployments/:id/merge_requests): with GraphQL's MRs, half a request per MR in an
// organisation that deploys once per two MRs, and most of a first sync. GitLab's
// Project.mergeRequests takes deploymentId (GitLab 17.1), filtered by the same finder
// (MergeRequestsFinder#by_deployment) as that REST endpoint, so one query can ask for many
// deployments at once, each under its own alias. An instance whose schema lacks deploymentId
// answers with a schema error; the sync then reads links through REST, without giving up
// GraphQL for merge requests.

const (
	// gqlLinksFirst is how many MRs each deployment's alias asks for: a deployment ships one or
	// two MRs as a rule, and a small page keeps each alias cheap (9 points: 25 aliases score 229
	// of 250). A deployment that shipped more gets follow-up queries, 100 MRs each.
	gqlLinksFirst = 20
	// gqlLinksMax is the most deployments asked for in one query.
	gqlLinksMax = 25
)

// gqlLinksQuery asks for the MRs of n deployments ($d0 … $d<n-1>), first MRs each; with after,
// one deployment's MRs from $after on (a follow-up page).
func gqlLinksQuery(n, first int, after bool) string {
	var vars, fields []string
	for i := range n {
		vars = append(vars, fmt.Sprintf("$d%d: String!", i))
		a := ""
		if after {
			a = ", after: $after"
		}
		fields = append(fields, fmt.Sprintf("d%d: mergeRequests(deploymentId: $d%d, first: %d%s) { pageInfo { hasNextPage endCursor } nodes { iid projectId } }", i, i, first, a))
	}
	if after {
		vars = append(vars, "$after: String")
	}
	return `query($path: ID!, ` + strings.Join(vars, ", ") + `) {
  project(fullPath: $path) {
    ` + strings.Join(fields, "\n    ") + `
  }
  queryComplexity { score limit }
}`
}

type gqlLinks struct {
	PageInfo gqlPageInfo `json:"pageInfo"`
	Nodes    []struct {
		IID       string `json:"iid"`
		ProjectID int64  `json:"projectId"`
	} `json:"nodes"`
}

// syncDeploymentLinksGraphQL is syncDeploymentLinks through GraphQL: the same deployments (from
// the store), the same links, in batches of deployments per query.
func (s *syncer) syncDeploymentLinksGraphQL(ctx context.Context, p store.Project) error {
	if s.gqlLinksOff.Load() {
		return s.syncDeploymentLinks(ctx, p)
	}
	deps, err := s.st.DeploymentsNeedingLinks(ctx, p.ID)
	if err != nil || len(deps) == 0 {
		return err
	}
	b := s.linksBatch()
	run := func(ctx context.Context, batch []store.Deployment) error {
		ls, err := s.linksOf(ctx, p, batch)
		for _, l := range ls {
			if aerr := b.add(l); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return err
	}
	// The first batch alone: an instance without deploymentId says so once, not once per batch.
	err = parallelBatches(ctx, s.opt.Concurrency, deps, s.gqlLinks.get, true, run)
	if ferr := b.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	var ge *gqlError
	if errors.As(err, &ge) && ge.schema && ctx.Err() == nil {
		if s.gqlLinksOff.CompareAndSwap(false, true) {
			s.opt.Logger.Info("GraphQL cannot list a deployment's merge requests here (GitLab before 17.1); they are read through REST", "err", ge.msg)
		}
		return s.syncDeploymentLinks(ctx, p)
	}
	return err
}

// linksOf reads the MRs of a batch of deployments in one query (and follow-ups for those that
// shipped more than a page), splitting the batch while the query is too heavy. It returns the
// links read, also when a part failed.
func (s *syncer) linksOf(ctx context.Context, p store.Project, batch []store.Deployment) ([]store.DeploymentLinks, error) {
	fetchedAt := s.now()
	vars := map[string]any{"path": p.Path}
	for i, d := range batch {
		vars[fmt.Sprintf("d%d", i)] = strconv.FormatInt(d.ID, 10)
	}
	var out struct {
		Project map[string]json.RawMessage `json:"project"`
	}
	what := fmt.Sprintf("merge requests of %d deployments of %s", len(batch), p.Path)
	start := time.Now()
	err := s.graphql(ctx, what, gqlLinksQuery(len(batch), gqlLinksFirst, false), vars, &out)
	var ge *gqlError
	if errors.As(err, &ge) && ge.shrinks() && len(batch) > 1 {
		size := s.gqlLinks.shrink(len(batch))
		s.opt.Logger.Debug("graphql batch shrinks", "project", p.Path, "from", len(batch), "to", size, "err", ge.msg)
		var ls []store.DeploymentLinks
		var errs []error
		for i := 0; i < len(batch); i += size {
			l, err := s.linksOf(ctx, p, batch[i:min(i+size, len(batch))])
			ls = append(ls, l...)
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			}
		}
		return ls, errors.Join(errs...)
	}
	if err != nil {
		return nil, err
	}
	s.gqlLinks.done(len(batch), time.Since(start))
	if out.Project == nil {
		return nil, explain(what, fmt.Errorf("GraphQL has no project %s: %w", p.Path, errProjectGone))
	}
	var ls []store.DeploymentLinks
	var errs []error
	for i, d := range batch {
		var conn *gqlLinks
		if raw, ok := out.Project[fmt.Sprintf("d%d", i)]; ok {
			if err := json.Unmarshal(raw, &conn); err != nil {
				return ls, &gqlError{what: what, msg: "the answer is not GitLab's GraphQL JSON: " + err.Error()}
			}
		}
		links, err := s.gqlDeploymentLinks(ctx, p, d, conn)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		ls = append(ls, store.DeploymentLinks{DeploymentID: d.ID, Links: links, FetchedAt: fetchedAt})
	}
	return ls, errors.Join(errs...)
}

// gqlDeploymentLinks turns one deployment's first page into its links, reading the next pages
// when it shipped more MRs than a page holds.
func (s *syncer) gqlDeploymentLinks(ctx context.Context, p store.Project, d store.Deployment, conn *gqlLinks) ([]store.MRLink, error) {
	what := fmt.Sprintf("merge requests of deployment %d of %s", d.ID, p.Path)
	links := []store.MRLink{}
	for {
		if conn == nil {
			return nil, &gqlError{what: what, msg: "missing from the answer"}
		}
		for _, n := range conn.Nodes {
			iid, err := strconv.ParseInt(n.IID, 10, 64)
			if err != nil {
				return nil, &gqlError{what: what, msg: fmt.Sprintf("merge request iid %q", n.IID)}
			}
			pid := n.ProjectID
			if pid == 0 {
				pid = p.ID
			}
			links = append(links, store.MRLink{ProjectID: pid, IID: iid})
		}
		if !conn.PageInfo.HasNextPage {
			return links, nil
		}
		if len(conn.Nodes) == 0 || conn.PageInfo.EndCursor == "" {
			return nil, &gqlError{what: what, msg: "the next page did not move on"}
		}
		var out struct {
			Project *struct {
				D0 *gqlLinks `json:"d0"`
			} `json:"project"`
		}
		vars := map[string]any{"path": p.Path, "d0": strconv.FormatInt(d.ID, 10), "after": conn.PageInfo.EndCursor}
		if err := s.graphql(ctx, what, gqlLinksQuery(1, gqlMaxPage, true), vars, &out); err != nil {
			return nil, err
		}
		if out.Project == nil {
			return nil, explain(what, fmt.Errorf("GraphQL has no project %s: %w", p.Path, errProjectGone))
		}
		conn = out.Project.D0
	}
}
