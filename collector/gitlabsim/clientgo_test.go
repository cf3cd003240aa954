package gitlabsim

import (
	"net/http"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"
)

func newClient(t *testing.T, s *Server) *gitlab.Client {
	t.Helper()
	// Many quick retries: the fault tests inject a failure into a quarter of the requests.
	// A limiter of our own, as the collector has: client-go's default limiter is configured
	// lazily from the first response, unsynchronised, which races when a client's first
	// requests run concurrently (TestConcurrentAdvance).
	c, err := gitlab.NewClient(DefaultToken, gitlab.WithBaseURL(s.URL()+"/api/v4"),
		gitlab.WithCustomLimiter(rate.NewLimiter(rate.Inf, 1)),
		gitlab.WithCustomRetryWaitMinMax(time.Millisecond, 10*time.Millisecond), gitlab.WithCustomRetryMax(30))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientGoDecodesEveryEndpoint lists every endpoint the collector uses through
// client-go v1.46.0 and checks the decoded values against the ground truth.
func TestClientGoDecodesEveryEndpoint(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 7, Days: 14, End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	tr := o.Truth()

	projects, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
		return c.Groups.ListGroupProjects("acme", &gitlab.ListGroupProjectsOptions{
			ListOptions: gitlab.ListOptions{PerPage: 5}, IncludeSubGroups: gitlab.Ptr(true),
			Archived: gitlab.Ptr(false), WithShared: gitlab.Ptr(false)}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != len(tr.Projects) {
		t.Fatalf("group projects: got %d, truth %d", len(projects), len(tr.Projects))
	}
	want := map[int64]TruthProject{}
	for _, p := range tr.Projects {
		want[p.ID] = p
	}
	for _, p := range projects {
		if w, ok := want[p.ID]; !ok || w.Path != p.PathWithNamespace || w.DefaultBranch != p.DefaultBranch {
			t.Errorf("project %d %s %s not in truth (%+v)", p.ID, p.PathWithNamespace, p.DefaultBranch, w)
		}
	}
	if g, _, err := c.Groups.GetGroup("acme/commerce", nil); err != nil || g.ParentID != 71 || g.FullPath != "acme/commerce" {
		t.Fatalf("get group: %+v %v", g, err)
	}
	mono, ok := tr.FindProject("acme/monolith")
	if !ok {
		t.Fatal("no monolith in the truth")
	}
	pid := mono.ID
	if _, _, err := c.Projects.GetProject("acme/monolith", nil); err != nil {
		t.Fatalf("get project by path: %v", err)
	}

	mrs, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		return c.MergeRequests.ListProjectMergeRequests(pid, &gitlab.ListProjectMergeRequestsOptions{
			ListOptions: gitlab.ListOptions{PerPage: 100}, State: gitlab.Ptr("all"),
			OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("asc")}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	truthMRs := map[int64]TruthMR{}
	for _, m := range tr.MergeRequests {
		if m.ProjectID == pid {
			truthMRs[m.IID] = m
			if f, ok := tr.FindMR(pid, m.IID); !ok || f.ID != m.ID {
				t.Fatalf("FindMR(%d, %d) = %+v, %v", pid, m.IID, f, ok)
			}
		}
	}
	for _, d := range tr.Deployments {
		if f, ok := tr.FindDeployment(d.ID); !ok || f.SHA != d.SHA {
			t.Fatalf("FindDeployment(%d) = %+v, %v", d.ID, f, ok)
		}
	}
	if len(mrs) != len(truthMRs) || len(mrs) == 0 {
		t.Fatalf("MRs: got %d, truth %d", len(mrs), len(truthMRs))
	}
	for _, m := range mrs {
		w := truthMRs[m.IID]
		if m.State != w.State || !m.CreatedAt.Equal(w.CreatedAt) || !m.UpdatedAt.Equal(w.UpdatedAt) ||
			m.Author.Username != w.Author || m.TargetBranch != w.TargetBranch || m.Title != w.Title {
			t.Fatalf("MR !%d decoded %+v, truth %+v", m.IID, m, w)
		}
		if (m.MergedAt == nil) != (w.MergedAt == nil) || m.MergedAt != nil && !m.MergedAt.Equal(*w.MergedAt) {
			t.Fatalf("MR !%d merged_at %v, truth %v", m.IID, m.MergedAt, w.MergedAt)
		}
	}
	// One MR in depth: commits, notes, approvals, author.
	var mr TruthMR
	for _, m := range truthMRs {
		if m.MergedAt != nil && m.FirstApprovalAt != nil {
			mr = m
			break
		}
	}
	commits, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
		return c.MergeRequests.GetMergeRequestCommits(pid, mr.IID, &gitlab.GetMergeRequestCommitsOptions{ListOptions: gitlab.ListOptions{PerPage: 2}}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != mr.CommitCount {
		t.Fatalf("commits: %d, truth %d", len(commits), mr.CommitCount)
	}
	var minAuthored time.Time
	for _, cm := range commits {
		if minAuthored.IsZero() || cm.AuthoredDate.Before(minAuthored) {
			minAuthored = *cm.AuthoredDate
		}
	}
	if !minAuthored.Equal(*mr.MinAuthoredAt) {
		t.Fatalf("min authored %v, truth %v", minAuthored, mr.MinAuthoredAt)
	}
	notes, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
		return c.Notes.ListMergeRequestNotes(pid, mr.IID, &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 3},
			OrderBy: gitlab.Ptr("created_at"), Sort: gitlab.Ptr("asc")}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	var firstApproval *time.Time
	for _, n := range notes {
		if n.System && n.Body == "approved this merge request" && n.Author.Username != mr.Author && firstApproval == nil && !n.CreatedAt.After(*mr.MergedAt) {
			firstApproval = n.CreatedAt
		}
	}
	if firstApproval == nil || !firstApproval.Equal(*mr.FirstApprovalAt) {
		t.Fatalf("first approval from notes %v, truth %v", firstApproval, mr.FirstApprovalAt)
	}
	if _, _, err := c.MergeRequests.GetMergeRequestApprovals(pid, mr.IID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.MergeRequests.GetMergeRequest(pid, mr.IID, nil); err != nil {
		t.Fatal(err)
	}
	u, _, err := c.Users.GetUser(mrs[0].Author.ID, gitlab.GetUsersOptions{})
	if err != nil || u.Username != mrs[0].Author.Username {
		t.Fatalf("user: %v %v", u, err)
	}

	envs, _, err := c.Environments.ListEnvironments(pid, &gitlab.ListEnvironmentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}})
	if err != nil || len(envs) == 0 {
		t.Fatalf("environments: %v %v", envs, err)
	}
	var deps []TruthDeployment
	for _, d := range tr.Deployments {
		if d.ProjectID == pid {
			deps = append(deps, d)
		}
	}
	got := 0
	for _, e := range envs {
		if e.Tier != "production" {
			continue
		}
		ds, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Deployment, *gitlab.Response, error) {
			return c.Deployments.ListProjectDeployments(pid, &gitlab.ListProjectDeploymentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
				Environment: gitlab.Ptr(e.Name), Status: gitlab.Ptr("success"), OrderBy: gitlab.Ptr("finished_at"), Sort: gitlab.Ptr("asc"),
				FinishedAfter: gitlab.Ptr(time.Unix(0, 0))}, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		got += len(ds)
		for _, d := range ds[:min(3, len(ds))] {
			if d.Deployable.FinishedAt == nil {
				t.Fatalf("deployment %d without deployable.finished_at", d.ID)
			}
			links, _, err := c.DeploymentMergeRequests.ListDeploymentMergeRequests(pid, d.ID, &gitlab.ListMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}})
			if err != nil {
				t.Fatal(err)
			}
			_ = links
		}
	}
	if got != len(deps) {
		t.Fatalf("deployments: got %d, truth %d", got, len(deps))
	}

	pipes, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.PipelineInfo, *gitlab.Response, error) {
		return c.Pipelines.ListProjectPipelines(pid, &gitlab.ListProjectPipelinesOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
			Ref: gitlab.Ptr(mono.DefaultBranch), OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("asc")}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	cov := 0
	for _, pl := range pipes[:min(20, len(pipes))] {
		full, _, err := c.Pipelines.GetPipeline(pid, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.Coverage != "" {
			cov++
		}
	}
	if cov == 0 {
		t.Errorf("no coverage on 20 default-branch pipelines")
	}
	if got := s.RequestsByRoute()["GET /api/v4/projects/{id}/merge_requests"]; got == 0 {
		t.Errorf("requests by route: %v", s.RequestsByRoute())
	}
	_ = http.StatusOK
}
