package gitlabsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

var testEnd = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func smallOrg(seed int64) *Org {
	return Generate(GenOptions{Seed: seed, End: testEnd, Days: 14, Services: 5, Scale: 0.5})
}

// get sends an authenticated GET and returns the response with its body read.
func get(t *testing.T, s *Server, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("PRIVATE-TOKEN", DefaultToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	opt := GenOptions{Seed: 11, End: testEnd, Days: 20, Services: 6}
	a, b := Generate(opt).Truth(), Generate(opt).Truth()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two organisations from one seed differ")
	}
	opt.Seed = 12
	if c := Generate(opt).Truth(); reflect.DeepEqual(a.MergeRequests, c.MergeRequests) {
		t.Fatal("different seeds gave the same merge requests")
	}
	// Advancing is deterministic too.
	x, y := Generate(opt), Generate(opt)
	x.Advance(5 * time.Hour)
	y.Advance(5 * time.Hour)
	if !reflect.DeepEqual(x.Truth(), y.Truth()) {
		t.Fatal("advancing two equal organisations gave different results")
	}
}

func TestGenerateShape(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 5, End: testEnd, Days: 45})
	tr := o.Truth()
	if len(tr.Projects) != 12 {
		t.Errorf("%d synced projects, want 12", len(tr.Projects))
	}
	weekdays, perDay := 0, map[string]int{}
	for d := o.start; d.Before(o.now); d = d.Add(24 * time.Hour) {
		if !weekend(d) {
			weekdays++
		}
	}
	inHours, monolith := 0, 0
	for _, d := range tr.Deployments {
		perDay[d.FinishedAt.Format(time.DateOnly)]++
		if m := d.FinishedAt.Hour()*60 + d.FinishedAt.Minute(); m >= 8*60 && m < 17*60+30 {
			inHours++
		}
		if o.projByID[d.ProjectID].kind == kindMonolith && strings.HasSuffix(d.Environment, "checkout") && !weekend(d.FinishedAt) {
			monolith++
		}
	}
	avg := float64(len(tr.Deployments)) / float64(weekdays)
	if avg < 30 || avg > 50 {
		t.Errorf("%.1f production deployments per weekday, want about 40", avg)
	}
	if m := float64(monolith) / float64(weekdays); m < 10 || m > 16 {
		t.Errorf("monolith releases %.1f a day, want 10-15", m)
	}
	if f := float64(inHours) / float64(len(tr.Deployments)); f < 0.85 {
		t.Errorf("only %.0f%% of deployments inside working hours", 100*f)
	}
	var bots, drafts, other, closed, rework, unapproved, many, clamped int
	for _, m := range tr.MergeRequests {
		switch {
		case m.Bot:
			bots++
		case m.State == "closed":
			closed++
		case m.Draft:
			drafts++
		case m.MergedAt != nil && !m.InScope:
			other++
		}
		if m.InScope && !m.Bot {
			if m.Rework {
				rework++
			}
			if m.FirstApprovalAt == nil {
				unapproved++
			}
			if m.MinAuthoredAt != nil && m.MinAuthoredAt.After(m.CreatedAt) {
				clamped++
			}
		}
		if m.CommitCount > 100 {
			many++
		}
		for _, x := range []*time.Time{&m.CreatedAt, &m.UpdatedAt, m.MergedAt, m.FirstReviewAt} {
			if x != nil && !x.Truncate(time.Millisecond).Equal(*x) {
				t.Fatalf("MR %d!%d has a time finer than GitLab's milliseconds: %v", m.ProjectID, m.IID, x)
			}
		}
	}
	for name, n := range map[string]int{"bot": bots, "draft": drafts, "other-branch": other, "closed": closed,
		"rework": rework, "unapproved": unapproved, ">100 commits": many, "authored after created": clamped} {
		if n == 0 {
			t.Errorf("no %s merge requests", name)
		}
	}
	forced := 0
	for _, p := range o.projects {
		for _, m := range p.mrs {
			for _, ps := range m.pushes {
				if ps.force && !ps.at.After(o.now) {
					forced++
				}
			}
		}
	}
	if forced == 0 {
		t.Errorf("no force-pushes")
	}
	longTalks := 0
	for _, p := range o.projects {
		for _, m := range p.mrs {
			if len(m.notesAt(o.now)) > 100 {
				longTalks++
			}
		}
	}
	if longTalks == 0 {
		t.Errorf("no MR with more than 100 notes")
	}
	// Every merge into the default branch that a later successful deployment's SHA contains is
	// linked to some deployment of that environment (GitLab's commit-range linking).
	unlinked := 0
	for _, p := range o.projects {
		for _, e := range p.envs {
			if !e.production {
				continue
			}
			linked := map[*mergeRequest]bool{}
			var last *deployment
			for _, d := range e.chain {
				if d.id != 0 && d.status == "success" && !o.now.Before(d.linkAt) {
					for _, m := range d.links {
						linked[m] = true
					}
					if last == nil || d.shaAt.After(last.shaAt) {
						last = d
					}
				}
			}
			for _, m := range p.merges {
				if last != nil && !m.mergedAt.After(last.shaAt) && !linked[m] {
					unlinked++
				}
			}
		}
	}
	if unlinked != 0 {
		t.Errorf("%d merges shipped by a deployment but linked to none", unlinked)
	}
	var redeploys, failed int
	for _, p := range o.projects {
		for _, e := range p.envs {
			var prev *deployment
			for _, d := range e.chain {
				if !e.production || d.id == 0 {
					continue
				}
				if d.status != "success" {
					failed++
					continue
				}
				if prev != nil && prev.sha == d.sha {
					redeploys++
				}
				prev = d
			}
		}
	}
	if redeploys == 0 || failed == 0 {
		t.Errorf("%d redeploys of the same SHA, %d failed or canceled production deployments", redeploys, failed)
	}
	// The truth's rollback rule (from SHAs and finish order) finds exactly the planned rollbacks.
	for _, p := range o.projects {
		if !p.synced() {
			continue
		}
		for _, d := range p.deployments {
			if d.id == 0 || !d.env.production || d.status != "success" || o.now.Before(d.dbFinished) {
				continue
			}
			td, ok := tr.FindDeployment(d.id)
			if !ok || td.Rollback != d.rollback {
				t.Errorf("deployment %d: planned rollback %v, truth %+v (found %v)", d.id, d.rollback, td, ok)
			}
		}
	}
	var rollbacks, api, noLinks, cf, coverage, noCoverage int
	for _, d := range tr.Deployments {
		if d.Rollback {
			rollbacks++
		}
		if d.API {
			api++
		}
		if len(d.LinkedIIDs) == 0 {
			noLinks++
		}
		if d.ChangeFailure {
			cf++
		}
	}
	for _, p := range tr.Pipelines {
		if p.Coverage != nil {
			coverage++
			if *p.Coverage < 55 || *p.Coverage > 100 {
				t.Errorf("pipeline %d coverage %v", p.ID, *p.Coverage)
			}
		} else if p.Status == "success" {
			noCoverage++
		}
	}
	for name, n := range map[string]int{"rollback": rollbacks, "API-created": api, "link-less": noLinks,
		"change-failure": cf, "covered pipeline": coverage, "uncovered successful pipeline": noCoverage} {
		if n == 0 {
			t.Errorf("no %s deployments or pipelines", name)
		}
	}
	if r := float64(cf) / float64(len(tr.Deployments)); r > 0.25 {
		t.Errorf("change failure rate %.2f is not realistic", r)
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	for _, h := range [][]string{{"PRIVATE-TOKEN", ""}, {"PRIVATE-TOKEN", "wrong"}, {"PRIVATE-TOKEN", "", "Authorization", "Bearer nope"}} {
		resp, body := get(t, s, "/api/v4/projects/acme%2Fmonolith", h...)
		if resp.StatusCode != 401 || strings.TrimSpace(string(body)) != `{"message":"401 Unauthorized"}` {
			t.Errorf("%v: %d %s", h, resp.StatusCode, body)
		}
	}
	if resp, body := get(t, s, "/api/v4/projects/acme%2Fmonolith", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+DefaultToken); resp.StatusCode != 200 {
		t.Errorf("bearer token: %d %s", resp.StatusCode, body)
	}
	if s.Requests() != 4 {
		t.Errorf("counted %d requests, want 4", s.Requests())
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	for path, want := range map[string]string{
		"/api/v4/projects/999999":                           `{"message":"404 Project Not Found"}`,
		"/api/v4/projects/acme%2Fnope":                      `{"message":"404 Project Not Found"}`,
		"/api/v4/groups/nope/projects":                      `{"message":"404 Group Not Found"}`,
		"/api/v4/users/4":                                   `{"message":"404 User Not Found"}`,
		"/api/v4/projects/acme%2Fmonolith/merge_requests/1": `{"message":"404 Merge Request Not Found"}`,
		"/api/v4/projects/acme%2Fmonolith/pipelines/1":      `{"message":"404 Not found"}`,
		"/api/v4/nothing/here":                              `{"error":"404 Not Found"}`,
		"/api/v4/projects/acme%2Fmonolith/merge_requests?pagination=keyset&order_by=id&sort=asc": `{"message":"Keyset pagination is not yet available for this type of request"}`,
	} {
		resp, body := get(t, s, path)
		code := 404
		if strings.Contains(path, "keyset") {
			code = 405
		}
		if resp.StatusCode != code || strings.TrimSpace(string(body)) != want {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestPagingHeaders(t *testing.T) {
	t.Parallel()
	o := smallOrg(2)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	p := o.projects[0]
	total := 0
	for _, m := range p.mrs {
		if m.exists(o.now) {
			total++
		}
	}
	seen := map[int64]bool{}
	path := fmt.Sprintf("/api/v4/projects/%d/merge_requests?state=all&per_page=7", p.id)
	for page := 1; ; page++ {
		resp, body := get(t, s, path)
		h := resp.Header
		if h.Get("X-Total") != "" || h.Get("X-Total-Pages") != "" || strings.Contains(h.Get("Link"), `rel="last"`) {
			t.Fatalf("totals sent: %v", h)
		}
		if h.Get("X-Page") != strconv.Itoa(page) || h.Get("X-Per-Page") != "7" {
			t.Fatalf("page headers %q %q", h.Get("X-Page"), h.Get("X-Per-Page"))
		}
		if h.Get("RateLimit-Limit") == "" || h.Get("RateLimit-Remaining") == "" || h.Get("RateLimit-Reset") == "" {
			t.Fatalf("no RateLimit headers: %v", h)
		}
		var mrs []struct{ IID int64 }
		if err := json.Unmarshal(body, &mrs); err != nil {
			t.Fatal(err)
		}
		for _, m := range mrs {
			if seen[m.IID] {
				t.Fatalf("MR !%d on two pages", m.IID)
			}
			seen[m.IID] = true
		}
		next := h.Get("X-Next-Page")
		links := h.Get("Link")
		if !strings.Contains(links, `rel="first"`) || (page > 1) != strings.Contains(links, `rel="prev"`) ||
			(h.Get("X-Prev-Page") != "") != (page > 1) {
			t.Fatalf("page %d: Link %q X-Prev-Page %q", page, links, h.Get("X-Prev-Page"))
		}
		if next == "" {
			if strings.Contains(links, `rel="next"`) || len(mrs) == 0 {
				t.Fatalf("last page %d: Link %q, %d items", page, links, len(mrs))
			}
			break
		}
		// Follow the Link header, as a client that never looks at totals does.
		u := linkRel(links, "next")
		pu, err := url.Parse(u)
		if err != nil || pu.Query().Get("page") != next || pu.Query().Get("state") != "all" {
			t.Fatalf("next link %q (X-Next-Page %s): %v", u, next, err)
		}
		path = pu.RequestURI()
	}
	if len(seen) != total {
		t.Fatalf("paged %d MRs, want %d", len(seen), total)
	}
	// per_page is capped at 100; the default is 20.
	resp, _ := get(t, s, fmt.Sprintf("/api/v4/projects/%d/merge_requests?per_page=500", p.id))
	if resp.Header.Get("X-Per-Page") != "100" {
		t.Errorf("per_page=500 gave %s", resp.Header.Get("X-Per-Page"))
	}
	resp, _ = get(t, s, fmt.Sprintf("/api/v4/projects/%d/merge_requests", p.id))
	if resp.Header.Get("X-Per-Page") != "20" {
		t.Errorf("default per_page %s", resp.Header.Get("X-Per-Page"))
	}
}

func TestDeploymentFilterRules(t *testing.T) {
	t.Parallel()
	o := smallOrg(3)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	base := "/api/v4/projects/acme%2Fmonolith/deployments?"
	at := "2026-02-20T00:00:00Z"
	for q, want := range map[string]string{
		"finished_after=" + at + "&status=success":                                               "`finished_at` filter requires `finished_at` sort.",
		"finished_after=" + at + "&order_by=finished_at":                                         "`finished_at` filter must be combined with `success` status filter.",
		"finished_before=" + at + "&order_by=finished_at&status=failed":                          "`finished_at` filter must be combined with `success` status filter.",
		"order_by=finished_at&status=success":                                                    "`finished_at` filter and `finished_at` sorting must be paired",
		"updated_after=" + at + "&finished_after=" + at + "&order_by=finished_at&status=success": "Both `updated_at` filter and `finished_at` filter can not be specified",
		"updated_after=" + at: "`updated_at` filter requires `updated_at` sort",
	} {
		resp, body := get(t, s, base+q)
		var e struct{ Message string }
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != 400 || e.Message != "400 Bad request - "+want {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if resp, body := get(t, s, base+"status=bogus"); resp.StatusCode != 400 || !strings.Contains(string(body), "status does not have a valid value") {
		t.Errorf("bad status: %d %s", resp.StatusCode, body)
	}
	// The allowed forms answer, and finished_after is inclusive.
	var want []TruthDeployment
	cut, _ := time.Parse(time.RFC3339, at)
	for _, d := range o.Truth().Deployments {
		if d.Environment == "production/checkout" && !d.FinishedAt.Before(cut) && o.projByID[d.ProjectID].kind == kindMonolith {
			want = append(want, d)
		}
	}
	resp, body := get(t, s, base+"environment=production%2Fcheckout&status=success&order_by=finished_at&sort=asc&per_page=100&finished_after="+at)
	var got []struct {
		ID         int64
		Deployable *struct {
			FinishedAt time.Time `json:"finished_at"`
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d deployments, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !got[i].Deployable.FinishedAt.Equal(want[i].FinishedAt) {
			t.Fatalf("deployment %d: got %d at %v, want %d at %v", i, got[i].ID, got[i].Deployable.FinishedAt, want[i].ID, want[i].FinishedAt)
		}
	}
	if strings.Contains(string(body), `"finished_at":"`) && strings.Contains(strings.SplitN(string(body), `"deployable"`, 2)[0], `"finished_at"`) {
		t.Errorf("a top-level finished_at in the deployment entity")
	}
	if resp, _ := get(t, s, base+"updated_after="+at+"&order_by=updated_at"); resp.StatusCode != 200 {
		t.Errorf("updated_after with order_by=updated_at: %d", resp.StatusCode)
	}
}

func TestAPIDeploymentsHaveNoDeployable(t *testing.T) {
	t.Parallel()
	o := smallOrg(4)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	_, body := get(t, s, "/api/v4/projects/acme%2Fdata%2Fetl/deployments?status=success&per_page=5")
	var ds []map[string]any
	if err := json.Unmarshal(body, &ds); err != nil || len(ds) == 0 {
		t.Fatalf("%v %s", err, body)
	}
	for _, d := range ds {
		if v, ok := d["deployable"]; !ok || v != nil {
			t.Errorf("API-created deployment with deployable %v", v)
		}
	}
}

func TestGroupProjectsFilters(t *testing.T) {
	t.Parallel()
	o := smallOrg(5)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	list := func(opt gitlab.ListGroupProjectsOptions, group string) []string {
		opt.PerPage = 100
		ps, _, err := c.Groups.ListGroupProjects(group, &opt)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.PathWithNamespace)
		}
		return out
	}
	has := func(ps []string, p string) bool {
		for _, x := range ps {
			if x == p {
				return true
			}
		}
		return false
	}
	all := list(gitlab.ListGroupProjectsOptions{IncludeSubGroups: gitlab.Ptr(true)}, "acme")
	if !has(all, "acme/platform/legacy-billing") || !has(all, "partners/shared-lib") || !has(all, "acme/data/etl") {
		t.Errorf("defaults should include archived and shared projects: %v", all)
	}
	synced := list(gitlab.ListGroupProjectsOptions{IncludeSubGroups: gitlab.Ptr(true), Archived: gitlab.Ptr(false), WithShared: gitlab.Ptr(false)}, "acme")
	if has(synced, "acme/platform/legacy-billing") || has(synced, "partners/shared-lib") || len(synced) != len(o.Truth().Projects) {
		t.Errorf("archived=false&with_shared=false: %v", synced)
	}
	top := list(gitlab.ListGroupProjectsOptions{WithShared: gitlab.Ptr(false)}, "acme")
	if len(top) != 1 || top[0] != "acme/monolith" {
		t.Errorf("without subgroups: %v", top)
	}
	sub := list(gitlab.ListGroupProjectsOptions{}, "acme/data")
	if !has(sub, "acme/data/etl") || has(sub, "acme/monolith") {
		t.Errorf("subgroup by path: %v", sub)
	}
	// simple=true omits archived, like GitLab.
	_, body := get(t, s, "/api/v4/groups/71/projects?simple=true&include_subgroups=true")
	if strings.Contains(string(body), `"archived"`) {
		t.Errorf("simple view has archived")
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	o := smallOrg(6)
	s := NewServer(o, ServerOptions{Faults: Faults{Seed: 1, RateLimit: 1}})
	defer s.Close()
	before := time.Now().Unix()
	resp, body := get(t, s, "/api/v4/projects/acme%2Fmonolith")
	reset, _ := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64)
	// now+1s at the server, in whole seconds (the test may run slowly under -race).
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || reset < before+1 || reset > time.Now().Unix()+2 ||
		string(body) != "Retry later\n" {
		t.Errorf("429: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	s.SetFaults(Faults{Seed: 1, ServerError: 1})
	codes := map[int]bool{}
	for range 30 {
		resp, _ := get(t, s, "/api/v4/projects/acme%2Fmonolith")
		codes[resp.StatusCode] = true
	}
	if !codes[500] || !codes[502] || !codes[503] || len(codes) != 3 {
		t.Errorf("server errors: %v", codes)
	}
	s.SetFaults(Faults{Seed: 1, Drop: 1})
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v4/projects/acme%2Fmonolith", nil)
	req.Header.Set("PRIVATE-TOKEN", DefaultToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a dropped connection answered %d", resp.StatusCode)
	}
	s.SetFaults(Faults{Seed: 1, Slow: 1, SlowBy: 150 * time.Millisecond})
	start := time.Now()
	if resp, _ := get(t, s, "/api/v4/projects/acme%2Fmonolith"); resp.StatusCode != 200 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("slow: %d after %v", resp.StatusCode, time.Since(start))
	}
	s.SetFaults(Faults{})
	if resp, _ := get(t, s, "/api/v4/projects/acme%2Fmonolith"); resp.StatusCode != 200 {
		t.Errorf("after faults off: %d", resp.StatusCode)
	}
	// 34 requests, or 35 when net/http retried the dropped one on a fresh connection.
	if n := s.Requests(); n < 34 || n > 35 || s.RequestsByRoute()["GET /api/v4/projects/{id}"] != n {
		t.Errorf("counted %d requests: %v", s.Requests(), s.RequestsByRoute())
	}
	// client-go retries through a mix of faults and still gets every MR.
	s.SetFaults(Faults{Seed: 2, RateLimit: 0.1, ServerError: 0.1, Drop: 0.05, RetryAfter: -1})
	c := newClient(t, s)
	mrs, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		return c.MergeRequests.ListProjectMergeRequests("acme/monolith", &gitlab.ListProjectMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 10}}, p)
	})
	want := 0
	for _, m := range o.Truth().MergeRequests {
		if m.ProjectID == o.projByPath["acme/monolith"].id {
			want++
		}
	}
	if err != nil || len(mrs) != want {
		t.Errorf("through faults: %d MRs of %d, %v", len(mrs), want, err)
	}
}

func TestGitLabComHeadersAndBare429(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(7), ServerOptions{LikeGitLabCom: true})
	defer s.Close()
	for path, want := range map[string]bool{"/api/v4/groups/acme/projects": false, "/api/v4/users/1001": false,
		"/api/v4/projects/acme%2Fmonolith": false, "/api/v4/projects/acme%2Fmonolith/merge_requests": true} {
		resp, _ := get(t, s, path)
		if got := resp.Header.Get("RateLimit-Limit") != ""; got != want {
			t.Errorf("%s: RateLimit-Limit present %v, want %v", path, got, want)
		}
	}
	s.SetFaults(Faults{Seed: 3, RateLimit: 1, BareRateLimit: 1})
	resp, _ := get(t, s, "/api/v4/projects/acme%2Fmonolith/merge_requests")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" || resp.Header.Get("RateLimit-Reset") != "" {
		t.Errorf("bare 429: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestRateLimitEnforced(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(7), ServerOptions{RateLimit: 3})
	defer s.Close()
	var codes []int
	for range 5 {
		resp, _ := get(t, s, "/api/v4/user")
		codes = append(codes, resp.StatusCode)
		if resp.Header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("RateLimit-Limit %q", resp.Header.Get("RateLimit-Limit"))
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Errorf("codes %v", codes)
	}
}

// TestAdvance: activity moves MRs forward, updated_at never goes back, and updated_after
// returns exactly the MRs that changed.
func TestAdvance(t *testing.T) {
	t.Parallel()
	o := smallOrg(8)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	before := o.Truth()
	t0 := o.Now()
	o.Advance(30 * time.Hour) // Monday 00:00 to Tuesday 06:00
	if !o.Now().Equal(t0.Add(30 * time.Hour)) {
		t.Fatalf("now %v", o.Now())
	}
	after := o.Truth()
	old := map[[2]int64]TruthMR{}
	for _, m := range before.MergeRequests {
		old[[2]int64{m.ProjectID, m.IID}] = m
	}
	changed := map[[2]int64]bool{}
	var created, merged, forced int
	for _, m := range after.MergeRequests {
		k := [2]int64{m.ProjectID, m.IID}
		b, ok := old[k]
		if !ok {
			created++
			changed[k] = true
			continue
		}
		if m.UpdatedAt.Before(b.UpdatedAt) {
			t.Fatalf("MR %v updated_at went back", k)
		}
		if m.UpdatedAt.After(b.UpdatedAt) {
			changed[k] = true
		} else if keepDeployFacts(&m, b); norm(m) != norm(b) { // a deployment does not touch the MR
			t.Errorf("MR %v changed without moving updated_at:\n%s\n%s", k, norm(b), norm(m))
		}
		if b.MergedAt == nil && m.MergedAt != nil {
			merged++
		}
		if b.MinAuthoredAt != nil && m.MinAuthoredAt != nil && !b.MinAuthoredAt.Equal(*m.MinAuthoredAt) {
			forced++
		}
	}
	if created == 0 || merged == 0 || len(changed) == created {
		t.Errorf("advance: %d created, %d merged, %d changed", created, merged, len(changed))
	}
	c := newClient(t, s)
	got := map[[2]int64]bool{}
	for _, p := range after.Projects {
		mrs := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
			return c.MergeRequests.ListProjectMergeRequests(p.ID, &gitlab.ListProjectMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
				State: gitlab.Ptr("all"), OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("asc"), UpdatedAfter: gitlab.Ptr(t0.Add(time.Millisecond))}, o)
		})
		for _, m := range mrs {
			got[[2]int64{p.ID, m.IID}] = true
		}
	}
	if !reflect.DeepEqual(got, changed) {
		t.Errorf("updated_after returned %d MRs, %d changed", len(got), len(changed))
	}
	t.Logf("advance 30h: %d new, %d merged, %d changed, %d first-commit moves", created, merged, len(changed), forced)
}

// keepDeployFacts copies what a deployment derives for an MR from b to m.
func keepDeployFacts(m *TruthMR, b TruthMR) {
	m.DeployedAt, m.DeliveredAt, m.BeforeMerge, m.ReviewEnd = b.DeployedAt, b.DeliveredAt, b.BeforeMerge, b.ReviewEnd
	m.PickupSeconds, m.ReviewSeconds, m.DeploySeconds, m.CycleSeconds = b.PickupSeconds, b.ReviewSeconds, b.DeploySeconds, b.CycleSeconds
}

// TestLinksAppearLater: a deployment's MR links become visible minutes after it finished.
func TestLinksAppearLater(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 9, End: time.Date(2026, 3, 3, 11, 0, 0, 0, time.UTC), Days: 10, Services: 3})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	// Find a deployment with links that are not visible yet, step by step.
	for step := 0; step < 40; step++ {
		o.mu.RLock()
		var pending *deployment
		for _, p := range o.projects {
			for _, d := range p.deployments {
				if d.id != 0 && d.status == "success" && !o.now.Before(d.finished) && o.now.Before(d.linkAt) && len(d.links) > 0 {
					pending = d
				}
			}
		}
		o.mu.RUnlock()
		if pending == nil {
			o.Advance(3 * time.Minute)
			continue
		}
		links, _, err := c.DeploymentMergeRequests.ListDeploymentMergeRequests(pending.project.id, pending.id, nil)
		if err != nil || len(links) != 0 {
			t.Fatalf("links before they exist: %d, %v", len(links), err)
		}
		o.Advance(11 * time.Minute)
		links, _, err = c.DeploymentMergeRequests.ListDeploymentMergeRequests(pending.project.id, pending.id, &gitlab.ListMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}})
		if err != nil || len(links) != len(pending.links) {
			t.Fatalf("links after: %d of %d, %v", len(links), len(pending.links), err)
		}
		return
	}
	t.Fatal("no deployment with pending links found")
}

func TestCoverageOnlyOnSinglePipeline(t *testing.T) {
	t.Parallel()
	o := smallOrg(10)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	_, body := get(t, s, "/api/v4/projects/acme%2Fmonolith/pipelines?ref=master&per_page=100")
	if strings.Contains(string(body), "coverage") {
		t.Fatal("the pipeline list has coverage")
	}
	var list []struct{ ID int64 }
	_ = json.Unmarshal(body, &list)
	var asString, asNull int
	for _, p := range list {
		_, b := get(t, s, fmt.Sprintf("/api/v4/projects/acme%%2Fmonolith/pipelines/%d", p.ID))
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		switch v := m["coverage"].(type) {
		case string:
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				t.Errorf("coverage %q", v)
			}
			asString++
		case nil:
			asNull++
		default:
			t.Errorf("coverage as %T", v)
		}
	}
	if asString == 0 || asNull == 0 {
		t.Errorf("coverage strings %d, nulls %d", asString, asNull)
	}
}

func TestHandlerServesWithoutListener(t *testing.T) {
	t.Parallel()
	o := smallOrg(1)
	s := newServer(o, ServerOptions{Token: "t"})
	rec := &recorder{h: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/api/v4/user", nil)
	req.Header.Set("PRIVATE-TOKEN", "t")
	s.Handler().ServeHTTP(rec, req)
	if rec.code != 200 || !strings.Contains(rec.body.String(), "pacer-reader") {
		t.Errorf("%d %s", rec.code, rec.body.String())
	}
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// linkRel returns the URL of the given rel in a Link header.
func linkRel(header, rel string) string {
	for _, part := range strings.Split(header, ",") {
		u, r, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.TrimSpace(r) == `rel="`+rel+`"` {
			return strings.Trim(u, "<>")
		}
	}
	return ""
}
