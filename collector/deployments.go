package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

const (
	// environmentsRefresh is how often a project's environments are listed again (tiers rarely
	// change; a deployment to an unknown environment triggers a listing at once).
	environmentsRefresh = 24 * time.Hour
	// deploymentOverlap re-reads deployments before the cursor. The cursor is our finish time
	// (deployable.finished_at, or updated_at for API-created deployments), while GitLab filters
	// on its own deployments.finished_at, set when the deployment turned successful: normally
	// the same instant or a moment later, so an hour is a wide margin, and cheap.
	deploymentOverlap = time.Hour
)

// IsProduction says whether an environment counts as production (SPEC section 2): GitLab's tier
// production, or, when GitLab gives no tier, a name matching the configured pattern.
func IsProduction(tier, name string, pattern *regexp.Regexp) bool {
	if tier != "" {
		return tier == "production"
	}
	return pattern != nil && pattern.MatchString(name)
}

// environments returns the project's environments by id, listing them from GitLab when they
// were never listed, are older than environmentsRefresh, or force is set. It also re-applies
// the configured production pattern to stored environments (the config may have changed) and
// reports whether some environment newly counts as production, in which case its past
// deployments must be read again.
func (s *syncer) environments(ctx context.Context, p store.Project, force bool) (map[int64]store.Environment, bool, error) {
	stored, err := s.st.Environments(ctx, p.ID)
	if err != nil {
		return nil, false, err
	}
	was := map[int64]bool{}
	for _, e := range stored {
		was[e.ID] = e.Production
	}
	listedAt, ok, err := s.st.Cursor(ctx, p.ID, store.ResourceEnvironments)
	if err != nil {
		return nil, false, err
	}
	pattern := s.opt.Config.Production.Pattern
	if force || !ok || s.now().Sub(listedAt) >= environmentsRefresh {
		envs, err := allPages(ctx, func(ctx context.Context, page int64) ([]*gitlab.Environment, *gitlab.Response, error) {
			opt := &gitlab.ListEnvironmentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: page}}
			return s.gl.Environments.ListEnvironments(p.ID, opt, reqOpts(ctx)...)
		})
		if err != nil {
			return nil, false, explain("list environments of "+p.Path, err)
		}
		rows := make([]store.Environment, 0, len(envs))
		for _, e := range envs {
			rows = append(rows, store.Environment{ID: e.ID, ProjectID: p.ID, Name: e.Name, Tier: e.Tier,
				ExternalURL: e.ExternalURL, Production: IsProduction(e.Tier, e.Name, pattern)})
		}
		if err := s.st.UpsertEnvironments(ctx, p.ID, rows); err != nil {
			return nil, false, err
		}
		if err := s.st.SetCursor(ctx, p.ID, store.ResourceEnvironments, s.now()); err != nil {
			return nil, false, err
		}
		if stored, err = s.st.Environments(ctx, p.ID); err != nil {
			return nil, false, err
		}
	}
	out := map[int64]store.Environment{}
	newlyProduction := false
	for _, e := range stored {
		prod := IsProduction(e.Tier, e.Name, pattern)
		if prod != e.Production {
			if err := s.st.SetEnvironmentProduction(ctx, e.ID, prod); err != nil {
				return nil, false, err
			}
			e.Production = prod
		}
		if prev, ok := was[e.ID]; prod && (!ok || !prev) {
			newlyProduction = true
		}
		out[e.ID] = e
	}
	return out, newlyProduction, nil
}

// apiDeployment is a deployment as GET /projects/:id/deployments returns it, decoded into our
// own struct: client-go's Deployable is a value, so a null deployable (API-created) cannot be
// told from an empty one, and it has no web_url.
type apiDeployment struct {
	ID          int64      `json:"id"`
	IID         int64      `json:"iid"`
	Ref         string     `json:"ref"`
	SHA         string     `json:"sha"`
	Status      string     `json:"status"`
	CreatedAt   *time.Time `json:"created_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	Environment *struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
		Tier string `json:"tier"`
	} `json:"environment"`
	Deployable *struct {
		FinishedAt *time.Time `json:"finished_at"`
		WebURL     string     `json:"web_url"`
	} `json:"deployable"`
}

// finishedAt is the deployment's finish time (SPEC section 2): its job's finished_at, or, for a
// deployment created through the API (no job), its updated_at.
func (d *apiDeployment) finishedAt() time.Time {
	if d.Deployable != nil && d.Deployable.FinishedAt != nil {
		return secs(*d.Deployable.FinishedAt)
	}
	return timeOrZero(d.UpdatedAt)
}

// syncDeployments lists the project's successful deployments finished since the cursor
// (status=success&order_by=finished_at&sort=asc&finished_after: GitLab's only valid pairing for
// a finish-time filter) across all environments in one listing, and saves the production ones.
// Deployments are collected in full whatever Since says: an environment's first deployment
// matters to the metrics.
func (s *syncer) syncDeployments(ctx context.Context, p store.Project) error {
	envs, newly, err := s.environments(ctx, p, false)
	if httpStatus(err) == http.StatusForbidden {
		s.opt.Logger.Info("environments not available", "project", p.Path)
		return nil
	}
	if err != nil {
		return err
	}
	if newly {
		if err := s.st.ResetCursor(ctx, p.ID, store.ResourceDeployments); err != nil {
			return err
		}
	}
	from, ok, err := s.st.Cursor(ctx, p.ID, store.ResourceDeployments)
	if err != nil {
		return err
	}
	if ok {
		from = from.Add(-deploymentOverlap)
	} else {
		// order_by=finished_at must be paired with a finished_* filter: start at the epoch.
		from = time.Unix(0, 0).UTC()
	}
	refreshed := false
	seen := map[int64]bool{}
	fetch := func(ctx context.Context, after time.Time, page int64) ([]*apiDeployment, *gitlab.Response, error) {
		opt := &gitlab.ListProjectDeploymentsOptions{
			ListOptions:   gitlab.ListOptions{PerPage: 100, Page: page},
			Status:        gitlab.Ptr("success"),
			OrderBy:       gitlab.Ptr("finished_at"),
			Sort:          gitlab.Ptr("asc"),
			FinishedAfter: gitlab.Ptr(after),
		}
		req, err := s.gl.NewRequest(http.MethodGet, fmt.Sprintf("projects/%d/deployments", p.ID), opt, reqOpts(ctx))
		if err != nil {
			return nil, nil, fmt.Errorf("collector: list deployments of %s: %w", p.Path, err)
		}
		var out []*apiDeployment
		resp, err := s.gl.Do(req, &out)
		if err != nil {
			return nil, resp, explain("list deployments of "+p.Path, err)
		}
		return out, resp, nil
	}
	save := func(ctx context.Context, deps []*apiDeployment, cursor time.Time) error {
		var rows []store.Deployment
		for _, d := range deps {
			if d.Status != "success" || d.Environment == nil {
				continue
			}
			var env store.Environment
			if env, envs, err = s.deploymentEnvironment(ctx, p, envs, &refreshed, d); err != nil {
				return err
			}
			if !env.Production {
				continue
			}
			rows = append(rows, deploymentRow(p, env, d))
		}
		if err := s.st.SaveDeployments(ctx, p.ID, rows, cursor); err != nil {
			return err
		}
		n := 0
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				n++
			}
		}
		s.add(func(pr *Progress) { pr.Deployments += int64(n) })
		return nil
	}
	err = seekList(ctx, from, deploymentOverlap, fetch, (*apiDeployment).finishedAt, save)
	if httpStatus(err) == http.StatusForbidden {
		s.opt.Logger.Info("deployments not available", "project", p.Path)
		return nil
	}
	return err
}

// deploymentEnvironment is the environment of a deployment (d.Environment must be set): a
// stored one, else the project's environments listed again once (*refreshed; a new
// environment), else what the deployment says of it (deleted since, or hidden), recorded.
// envs is updated with what was learnt and returned.
func (s *syncer) deploymentEnvironment(ctx context.Context, p store.Project, envs map[int64]store.Environment, refreshed *bool,
	d *apiDeployment) (store.Environment, map[int64]store.Environment, error) {
	env, ok := envs[d.Environment.ID]
	if !ok && !*refreshed {
		// A new environment: list them again, once per sync.
		*refreshed = true
		var err error
		if envs, _, err = s.environments(ctx, p, true); err != nil {
			return env, envs, err
		}
		env, ok = envs[d.Environment.ID]
	}
	if !ok {
		// Not listed (deleted since, or hidden): judge by what the deployment says.
		env = store.Environment{ID: d.Environment.ID, ProjectID: p.ID, Name: d.Environment.Name, Tier: d.Environment.Tier,
			Production: IsProduction(d.Environment.Tier, d.Environment.Name, s.opt.Config.Production.Pattern)}
		if err := s.st.UpsertEnvironments(ctx, p.ID, []store.Environment{env}); err != nil {
			return env, envs, err
		}
		envs[env.ID] = env
	}
	return env, envs, nil
}

// deploymentRow is the stored row of a successful deployment to env.
func deploymentRow(p store.Project, env store.Environment, d *apiDeployment) store.Deployment {
	row := store.Deployment{ID: d.ID, IID: d.IID, ProjectID: p.ID, EnvironmentID: env.ID, Environment: env.Name,
		Ref: d.Ref, SHA: d.SHA, Status: d.Status, CreatedAt: timeOrZero(d.CreatedAt), UpdatedAt: timeOrZero(d.UpdatedAt),
		FinishedAt: d.finishedAt()}
	if d.Deployable != nil {
		row.JobURL = d.Deployable.WebURL
	}
	return row
}

// syncDeploymentLinks fetches the MRs of every production deployment whose links are not final
// yet: never fetched, or last fetched within 24 hours of its finish (GitLab links them
// asynchronously; see store.DeploymentsNeedingLinks).
func (s *syncer) syncDeploymentLinks(ctx context.Context, p store.Project) error {
	deps, err := s.st.DeploymentsNeedingLinks(ctx, p.ID)
	if err != nil {
		return err
	}
	b := s.linksBatch()
	err = parallel(ctx, s.opt.Concurrency, deps, func(ctx context.Context, d store.Deployment) error {
		l, err := s.deploymentLinks(ctx, p, d)
		if err != nil {
			return err
		}
		return b.add(l)
	})
	// Links fetched before a failure or a cancellation are written too (see writeBatch).
	if ferr := b.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

// linksBatch is the write batch of deployments' MRs both paths share.
func (s *syncer) linksBatch() *writeBatch[store.DeploymentLinks] {
	return newWriteBatch(func(ctx context.Context, ls []store.DeploymentLinks) (int, error) {
		missing, err := s.st.ReplaceDeploymentMergeRequestsBatch(ctx, ls)
		if err != nil {
			return 0, err
		}
		s.add(func(pr *Progress) { pr.Links += int64(len(ls) - len(missing)) })
		var errs []error
		for _, id := range missing {
			errs = append(errs, fmt.Errorf("store: replace MRs of deployment %d: %w", id, store.ErrNotFound))
		}
		return len(ls) - len(missing), errors.Join(errs...)
	})
}

// deploymentLinks fetches the MRs GitLab links to one deployment (every page). A deployment
// GitLab no longer has (and whose project is still readable) gets an empty, final answer.
func (s *syncer) deploymentLinks(ctx context.Context, p store.Project, d store.Deployment) (store.DeploymentLinks, error) {
	fetchedAt := s.now()
	type linkedMR struct {
		IID       int64 `json:"iid"`
		ProjectID int64 `json:"project_id"`
	}
	path := fmt.Sprintf("projects/%d/deployments/%d/merge_requests", p.ID, d.ID)
	mrs, err := allPages(ctx, func(ctx context.Context, page int64) ([]linkedMR, *gitlab.Response, error) {
		return getJSON[[]linkedMR](ctx, s.gl, path, gitlab.ListOptions{PerPage: 100, Page: page})
	})
	if httpStatus(err) == http.StatusNotFound {
		// Deleted in GitLab since it was listed (and the project still readable): record an
		// empty, final answer.
		what := fmt.Sprintf("deployment %d of %s", d.ID, p.Path)
		if err = s.confirmGone(ctx, p, fmt.Sprintf("deployments/%d", d.ID), what, err); err != nil {
			return store.DeploymentLinks{}, err
		}
		mrs = nil
		fetchedAt = d.FinishedAt.Add(store.LinkRefetchWindow)
	}
	if err != nil {
		return store.DeploymentLinks{}, explain(fmt.Sprintf("list merge requests of deployment %d of %s", d.ID, p.Path), err)
	}
	links := make([]store.MRLink, 0, len(mrs))
	for _, m := range mrs {
		pid := m.ProjectID
		if pid == 0 {
			pid = p.ID
		}
		links = append(links, store.MRLink{ProjectID: pid, IID: m.IID})
	}
	return store.DeploymentLinks{DeploymentID: d.ID, Links: links, FetchedAt: fetchedAt}, nil
}
