package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// A batch replaces each deployment's links with its fetch time, and skips (and names) a
// deployment whose row is gone without touching the others.
func TestReplaceDeploymentMergeRequestsBatch(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	seedProject(t, s, 1, "acme/api")
	if err := s.UpsertEnvironments(ctx, 1, []store.Environment{{ID: 10, Name: "production", Tier: "production", Production: true}}); err != nil {
		t.Fatal(err)
	}
	var deps []store.Deployment
	for id := int64(1); id <= 2; id++ {
		f := at(int(id))
		deps = append(deps, store.Deployment{ID: id, IID: id, ProjectID: 1, EnvironmentID: 10, Environment: "production",
			SHA: "s", Status: "success", CreatedAt: f.Add(-time.Minute), UpdatedAt: f, FinishedAt: f})
	}
	if err := s.SaveDeployments(ctx, 1, deps, at(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceDeploymentMergeRequests(ctx, 1, []store.MRLink{{ProjectID: 1, IID: 9}}, at(3)); err != nil {
		t.Fatal(err)
	}
	fetched := at(60 * 48) // two days after: the links are final
	missing, err := s.ReplaceDeploymentMergeRequestsBatch(ctx, []store.DeploymentLinks{
		{DeploymentID: 1, Links: []store.MRLink{{ProjectID: 1, IID: 4}, {ProjectID: 1, IID: 3}}, FetchedAt: fetched},
		{DeploymentID: 77, Links: []store.MRLink{{ProjectID: 1, IID: 5}}, FetchedAt: fetched},
		{DeploymentID: 2, FetchedAt: fetched},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(missing, []int64{77}) {
		t.Fatalf("missing = %v, want [77]", missing)
	}
	if l, _ := s.DeploymentMergeRequests(ctx, 1); !reflect.DeepEqual(l, []store.MRLink{{ProjectID: 1, IID: 3}, {ProjectID: 1, IID: 4}}) {
		t.Fatalf("links of 1 = %+v, want !3 and !4 only", l)
	}
	if l, _ := s.DeploymentMergeRequests(ctx, 2); len(l) != 0 {
		t.Fatalf("links of 2 = %+v, want none", l)
	}
	if l, _ := s.DeploymentMergeRequests(ctx, 77); len(l) != 0 {
		t.Fatalf("links of the missing deployment were written: %+v", l)
	}
	if need, _ := s.DeploymentsNeedingLinks(ctx, 1); len(need) != 0 {
		t.Fatalf("fetch times not recorded, still needing links: %+v", need)
	}
}
