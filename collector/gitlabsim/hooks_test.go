package gitlabsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// receiver records the webhook requests it gets and answers them with status.
type receiver struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, b)
	st := rc.status
	rc.mu.Unlock()
	if st == 0 {
		st = http.StatusAccepted
	}
	w.WriteHeader(st)
	_, _ = w.Write([]byte("ok"))
}

// Hooks are managed through the REST API as GitLab's are: added, listed, edited and deleted on
// groups and projects; the token never comes back; a read_api token may list but not add.
func TestHookRegistrationAPI(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 3, Days: 10, End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Scale: 0.2})
	s := NewServer(o, ServerOptions{ReadOnlyTokens: []string{"glpat-read-only"}})
	defer s.Close()
	c := newClient(t, s)

	gh, resp, err := c.Groups.AddGroupHook("acme", &gitlab.AddGroupHookOptions{URL: gitlab.Ptr("https://pacer.example.com/hooks/gitlab"),
		Token: gitlab.Ptr("s3cret"), PushEvents: gitlab.Ptr(false), MergeRequestsEvents: gitlab.Ptr(true),
		PipelineEvents: gitlab.Ptr(true), DeploymentEvents: gitlab.Ptr(true), Name: gitlab.Ptr("Pacer")})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("add group hook: %v %v", resp, err)
	}
	if gh.PushEvents || !gh.MergeRequestsEvents || !gh.PipelineEvents || !gh.DeploymentEvents || gh.GroupID != 71 || gh.Name != "Pacer" {
		t.Fatalf("group hook: %+v", gh)
	}
	ph, _, err := c.Projects.AddProjectHook("acme/monolith", &gitlab.AddProjectHookOptions{URL: gitlab.Ptr("https://x.example/h")})
	if err != nil || !ph.PushEvents || ph.MergeRequestsEvents {
		t.Fatalf("project hook with GitLab's defaults (push events only): %+v %v", ph, err)
	}
	list, _, err := c.Groups.ListGroupHooks("acme", nil)
	if err != nil || len(list) != 1 || list[0].ID != gh.ID {
		t.Fatalf("list group hooks: %+v %v", list, err)
	}
	raw, err := http.NewRequest(http.MethodGet, s.URL()+"/api/v4/groups/acme/hooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Header.Set("PRIVATE-TOKEN", DefaultToken)
	r, err := http.DefaultClient.Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), `"token"`) {
		t.Fatalf("the hook's token came back: %s", b)
	}
	edited, _, err := c.Groups.EditGroupHook("acme", gh.ID, &gitlab.EditGroupHookOptions{URL: gitlab.Ptr("https://pacer.example.com/hooks/gitlab"),
		PipelineEvents: gitlab.Ptr(false)})
	if err != nil || edited.PipelineEvents || !edited.DeploymentEvents {
		t.Fatalf("edit: %+v %v", edited, err)
	}
	if hs := s.Hooks(); len(hs) != 2 || hs[0].Token != "s3cret" || hs[0].Group != "acme" || hs[1].Project != "acme/monolith" {
		t.Fatalf("registered hooks: %+v", hs)
	}
	if _, err := c.Projects.DeleteProjectHook("acme/monolith", ph.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Projects.GetProjectHook("acme/monolith", ph.ID); err == nil {
		t.Fatal("a deleted hook is still there")
	}

	ro, err := gitlab.NewClient("glpat-read-only", gitlab.WithBaseURL(s.URL()+"/api/v4"), gitlab.WithCustomRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ro.Groups.ListGroupHooks("acme", nil); err != nil {
		t.Fatalf("a read_api token lists hooks: %v", err)
	}
	_, resp, err = ro.Groups.AddGroupHook("acme", &gitlab.AddGroupHookOptions{URL: gitlab.Ptr("https://x.example/h")})
	if resp == nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "insufficient_scope") {
		t.Fatalf("a read_api token added a hook: %v %v", resp, err)
	}
	pat, _, err := ro.PersonalAccessTokens.GetSinglePersonalAccessToken()
	if err != nil || len(pat.Scopes) != 1 || pat.Scopes[0] != "read_api" {
		t.Fatalf("personal_access_tokens/self: %+v %v", pat, err)
	}
}

// When the organisation moves, every hook that asked for an event gets it, with GitLab's
// headers and a payload naming the object, in the order things happened; group hooks hear of
// their subgroups' projects. Pulse opens, merges and deploys.
func TestHookDeliveries(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	o := Generate(GenOptions{Seed: 5, Days: 10, End: end, Scale: 0.3})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	rc := &receiver{}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	if _, err := s.AddHook("acme", hs.URL+"/hooks/gitlab", "tok"); err != nil {
		t.Fatal(err)
	}
	o.Advance(3 * time.Hour)
	var steps []string
	for i := range 6 {
		steps = append(steps, o.Pulse(o.Now().Add(time.Duration(i+1)*time.Second)))
	}
	t.Logf("pulses: %v", steps)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.FlushHooks(ctx); err != nil {
		t.Fatal(err)
	}
	log := s.HookDeliveries()
	if len(log) == 0 || len(log) != len(rc.got) {
		t.Fatalf("%d deliveries logged, %d received", len(log), len(rc.got))
	}
	kinds := map[string]int{}
	uuids := map[string]bool{}
	var last time.Time
	for i, r := range rc.got {
		h := r.Header
		if h.Get("X-Gitlab-Token") != "tok" || h.Get("User-Agent") != "GitLab/"+GitLabVersion ||
			h.Get("X-Gitlab-Instance") != s.URL() || h.Get("X-Gitlab-Event-UUID") == "" || h.Get("Idempotency-Key") == "" ||
			h.Get("X-Gitlab-Webhook-UUID") == "" || h.Get("Content-Type") != "application/json" {
			t.Fatalf("delivery %d headers: %v", i, h)
		}
		if uuids[h.Get("X-Gitlab-Event-UUID")] {
			t.Fatalf("delivery %d repeats an event UUID", i)
		}
		uuids[h.Get("X-Gitlab-Event-UUID")] = true
		var p struct {
			ObjectKind string `json:"object_kind"`
			Project    struct {
				ID   int64  `json:"id"`
				Path string `json:"path_with_namespace"`
			} `json:"project"`
			Attrs struct {
				ID     int64  `json:"id"`
				IID    int64  `json:"iid"`
				Action string `json:"action"`
				Status string `json:"status"`
			} `json:"object_attributes"`
			DeploymentID int64  `json:"deployment_id"`
			Status       string `json:"status"`
		}
		if err := json.Unmarshal(rc.bodies[i], &p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Project.Path, "acme/") || p.Project.ID != log[i].ProjectID {
			t.Fatalf("delivery %d is about %+v, logged %+v", i, p.Project, log[i])
		}
		switch h.Get("X-Gitlab-Event") {
		case "Merge Request Hook":
			if p.ObjectKind != "merge_request" || p.Attrs.IID != log[i].ObjectID || p.Attrs.Action == "" {
				t.Fatalf("MR delivery %d: %+v", i, p)
			}
			kinds["mr:"+p.Attrs.Action]++
		case "Pipeline Hook":
			if p.ObjectKind != "pipeline" || p.Attrs.ID != log[i].ObjectID || p.Attrs.Status == "" {
				t.Fatalf("pipeline delivery %d: %+v", i, p)
			}
			kinds["pipeline"]++
		case "Deployment Hook":
			if p.ObjectKind != "deployment" || p.DeploymentID != log[i].ObjectID || p.Status == "" {
				t.Fatalf("deployment delivery %d: %+v", i, p)
			}
			kinds["deployment:"+p.Status]++
		default:
			t.Fatalf("delivery %d: event %q", i, h.Get("X-Gitlab-Event"))
		}
		if log[i].OrgInstant.Before(last) {
			t.Fatalf("delivery %d happened before the one it follows", i)
		}
		last = log[i].OrgInstant
	}
	t.Logf("deliveries: %v", kinds)
	for _, k := range []string{"mr:open", "mr:merge", "mr:approved", "pipeline", "deployment:success"} {
		if kinds[k] == 0 {
			t.Errorf("no %s delivery among %v", k, kinds)
		}
	}
	if !strings.HasPrefix(steps[0], "opened ") || !strings.HasPrefix(steps[1], "merged ") || !strings.HasPrefix(steps[2], "deployed ") {
		t.Errorf("pulses: %v", steps)
	}
}

// A hook that keeps failing is disabled for a while after four failures in a row, as GitLab
// does, and editing it enables it again.
func TestHookDisabledAfterFailures(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 5, Days: 7, End: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Scale: 0.3})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	rc := &receiver{status: http.StatusUnauthorized}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	id, err := s.AddHook("acme/monolith", hs.URL, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		o.Pulse(o.Now().Add(time.Second))
	}
	if err := s.FlushHooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := s.HookDeliveries()
	sent, skipped := 0, 0
	for _, d := range log {
		if d.Status != 0 {
			sent++
		} else if strings.Contains(d.Err, "disabled") {
			skipped++
		}
	}
	if sent != 4 || skipped == 0 {
		t.Fatalf("sent %d, skipped %d of %d: GitLab stops after four failures in a row", sent, skipped, len(log))
	}
	c := newClient(t, s)
	h, _, err := c.Projects.GetProjectHook("acme/monolith", id)
	if err != nil || h.AlertStatus != "temporarily_disabled" || h.DisabledUntil == nil {
		t.Fatalf("hook: %+v %v", h, err)
	}
	if _, _, err := c.Projects.EditProjectHook("acme/monolith", id, &gitlab.EditProjectHookOptions{Token: gitlab.Ptr("right")}); err != nil {
		t.Fatal(err)
	}
	h, _, err = c.Projects.GetProjectHook("acme/monolith", id)
	if err != nil || h.AlertStatus != "executable" {
		t.Fatalf("an edited hook is enabled again: %+v %v", h, err)
	}
	var ae *gitlab.ErrorResponse
	_, _, err = c.Projects.AddProjectHook("acme/monolith", &gitlab.AddProjectHookOptions{URL: gitlab.Ptr("not a url")})
	if !errors.As(err, &ae) || ae.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a bad URL: %v", err)
	}
}
