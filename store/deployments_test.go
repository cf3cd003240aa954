package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestDeploymentsAndTheirLinks(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	envs := []store.Environment{{ID: 10, Name: "production", Tier: "production", Production: true}, {ID: 11, Name: "staging", Tier: "staging"}}
	for i := 0; i < 2; i++ {
		if err := s.UpsertEnvironments(ctx, 1, envs); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Environments(ctx, 1)
	if len(got) != 2 || got[0].Name != "production" || !got[0].Production || got[0].ProjectID != 1 {
		t.Fatalf("environments %+v", got)
	}
	d := func(id int64, finished time.Time) store.Deployment {
		return store.Deployment{ID: id, IID: id, ProjectID: 1, EnvironmentID: 10, Environment: "production", SHA: "s",
			Status: "success", CreatedAt: finished.Add(-time.Minute), UpdatedAt: finished, FinishedAt: finished}
	}
	old, recent := d(1, at(0)), d(2, at(0).Add(30*time.Hour))
	for i := 0; i < 2; i++ {
		if err := s.SaveDeployments(ctx, 1, []store.Deployment{old, recent}, recent.FinishedAt); err != nil {
			t.Fatal(err)
		}
	}
	need, _ := s.DeploymentsNeedingLinks(ctx, 1)
	if len(need) != 2 {
		t.Fatalf("never fetched: %d need links", len(need))
	}
	now := at(0).Add(31 * time.Hour)
	links := []store.MRLink{{ProjectID: 1, IID: 4}, {ProjectID: 1, IID: 3}, {ProjectID: 1, IID: 3}}
	for _, dep := range need {
		if err := s.ReplaceDeploymentMergeRequests(ctx, dep.ID, links, now); err != nil {
			t.Fatal(err)
		}
	}
	// The old one was fetched more than 24 h after it finished: final. The recent one is fetched
	// again until then.
	need, _ = s.DeploymentsNeedingLinks(ctx, 1)
	if len(need) != 1 || need[0].ID != 2 {
		t.Fatalf("need %+v", need)
	}
	if l, _ := s.DeploymentMergeRequests(ctx, 2); !reflect.DeepEqual(l, []store.MRLink{{1, 3}, {1, 4}}) {
		t.Fatalf("links %+v", l)
	}
	if err := s.ReplaceDeploymentMergeRequests(ctx, 2, []store.MRLink{{1, 5}}, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.DeploymentMergeRequests(ctx, 2); !reflect.DeepEqual(l, []store.MRLink{{1, 5}}) {
		t.Fatalf("links not replaced: %+v", l)
	}
	if need, _ = s.DeploymentsNeedingLinks(ctx, 1); len(need) != 0 {
		t.Fatalf("still needing: %+v", need)
	}
	// Saving the page again keeps the fetch time.
	if err := s.SaveDeployments(ctx, 1, []store.Deployment{old, recent}, recent.FinishedAt); err != nil {
		t.Fatal(err)
	}
	if need, _ = s.DeploymentsNeedingLinks(ctx, 1); len(need) != 0 {
		t.Fatalf("re-save forgot the links fetch: %+v", need)
	}
	if err := s.ReplaceDeploymentMergeRequests(ctx, 99, nil, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing deployment: %v", err)
	}
	// An environment that stops counting as production takes its deployments with it.
	if err := s.SetEnvironmentProduction(ctx, 10, false); err != nil {
		t.Fatal(err)
	}
	if deps, _ := s.Deployments(ctx, 1); len(deps) != 0 {
		t.Fatalf("deployments of a non-production environment kept: %+v", deps)
	}
}

func TestPipelinesLoseDetailWhenTheyChange(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	p := store.Pipeline{ID: 5, IID: 1, ProjectID: 1, Ref: "main", SHA: "a", Status: "success", Source: "push",
		CreatedAt: at(0), UpdatedAt: at(10)}
	if err := s.SavePipelines(ctx, 1, []store.Pipeline{p}, at(10)); err != nil {
		t.Fatal(err)
	}
	cov := 88.5
	if ok, err := s.SetPipelineDetail(ctx, 5, at(10), ptr(at(9)), &cov); err != nil || !ok {
		t.Fatal(ok, err)
	}
	// Listed again unchanged: detail kept.
	if err := s.SavePipelines(ctx, 1, []store.Pipeline{p}, at(10)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.SuccessfulPipelines(ctx, 1)
	if len(got) != 1 || !got[0].DetailFetched || got[0].Coverage == nil || *got[0].Coverage != 88.5 || !got[0].FinishedAt.Equal(at(9)) {
		t.Fatalf("after unchanged re-list: %+v", got)
	}
	// Retried: the listed pipeline moved on, so the old detail is dropped, and a detail read for
	// the old version is refused.
	p.UpdatedAt = at(30)
	if err := s.SavePipelines(ctx, 1, []store.Pipeline{p}, at(30)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Pipelines(ctx, 1)
	if got[0].DetailFetched || got[0].Coverage != nil || got[0].FinishedAt != nil {
		t.Fatalf("stale detail kept: %+v", got[0])
	}
	if ok, _ := s.SetPipelineDetail(ctx, 5, at(10), ptr(at(9)), &cov); ok {
		t.Fatal("detail for an old version was written")
	}
	if ok, _ := s.SetPipelineDetail(ctx, 5, at(30), ptr(at(29)), nil); !ok {
		t.Fatal("detail for the current version refused")
	}
	got, _ = s.Pipelines(ctx, 1)
	if !got[0].DetailFetched || got[0].Coverage != nil {
		t.Fatalf("pipeline without coverage: %+v", got[0])
	}
}

func TestProjectsAndSyncStatus(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 2, "acme/web")
	seedProject(t, s, 1, "acme/api")
	// A rename keeps the id; a new project taking an old path pushes the old holder aside.
	if err := s.UpsertProject(ctx, store.Project{ID: 1, Path: "acme/api-v2", DefaultBranch: "main", DiscoveredAt: at(500)}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertProject(ctx, store.Project{ID: 3, Path: "acme/web", DefaultBranch: "main", DiscoveredAt: at(1)}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	if !reflect.DeepEqual(paths, []string{"acme/api-v2", "acme/web", "acme/web (moved #2)"}) {
		t.Fatalf("paths %q", paths)
	}
	if p, _ := s.Project(ctx, 1); !p.DiscoveredAt.Equal(t0) {
		t.Fatalf("discovered_at changed on upsert: %v", p.DiscoveredAt)
	}

	if err := s.StartProjectSync(ctx, 1, at(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishProjectSync(ctx, 1, at(11), 7, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.StartProjectSync(ctx, 1, at(20)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishProjectSync(ctx, 1, at(21), 3, errors.New("collector: list merge requests: 403 Forbidden")); err != nil {
		t.Fatal(err)
	}
	if err := s.StartProjectSync(ctx, 3, at(30)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor(ctx, 1, store.ResourceEnvironments, at(20)); err != nil {
		t.Fatal(err)
	}
	syncs, err := s.ProjectSyncs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 3 {
		t.Fatalf("%d syncs", len(syncs))
	}
	api, web := syncs[0], syncs[1]
	if api.Project.ID != 1 || api.Error == "" || api.Requests != 3 || api.OKAt == nil || !api.OKAt.Equal(at(11)) ||
		!api.FinishedAt.Equal(at(21)) || api.Running() || !api.Cursors[store.ResourceEnvironments].Equal(at(20)) {
		t.Fatalf("api %+v", api)
	}
	if web.Project.ID != 3 || !web.Running() || web.OKAt != nil {
		t.Fatalf("web %+v", web)
	}
	if syncs[2].StartedAt != nil {
		t.Fatalf("never synced project has a start: %+v", syncs[2])
	}
}
