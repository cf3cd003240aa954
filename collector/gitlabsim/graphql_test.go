package gitlabsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// graphqlPost sends a query to /api/graphql with the simulator's token (unless hdr replaces or
// removes it) and returns the status and the decoded body.
func graphqlPost(t *testing.T, s *Server, query string, vars map[string]any, hdr ...string) (int, graphqlTestResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/api/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out graphqlTestResponse
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	out.raw = raw
	return resp.StatusCode, out
}

type graphqlTestResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message   string `json:"message"`
		Locations []struct {
			Line, Column int
		} `json:"locations"`
		Path []any `json:"path"`
	} `json:"errors"`
	raw []byte
}

func (r graphqlTestResponse) firstError() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

// TestGraphQLProbe: the cheap probe a client sends first.
func TestGraphQLProbe(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	code, r := graphqlPost(t, s, `{ currentUser { username bot } metadata { version } queryComplexity { score limit } }`, nil)
	if code != 200 || len(r.Errors) > 0 {
		t.Fatalf("probe: %d %s", code, r.raw)
	}
	want := `{"currentUser":{"username":"pacer-reader","bot":false},"metadata":{"version":"` + GraphQLVersion +
		`"},"queryComplexity":{"score":8,"limit":250}}`
	if string(r.Data) != want {
		t.Fatalf("probe:\n got %s\nwant %s", r.Data, want)
	}
}

// The query the collector's GraphQL path is expected to send, more or less.
const graphqlMRQuery = `query($path: ID!, $after: String, $since: Time, $first: Int) {
  project(fullPath: $path) {
    id fullPath
    mergeRequests(first: $first, after: $after, updatedAfter: $since, sort: UPDATED_ASC, state: all) {
      count
      pageInfo { hasNextPage endCursor }
      nodes {
        iid id title state draft createdAt updatedAt mergedAt closedAt sourceBranch targetBranch
        diffHeadSha mergeCommitSha squashCommitSha webUrl
        author { id username bot }
        labels(first: 20) { nodes { title } }
        commits(first: 100) { pageInfo { hasNextPage endCursor } nodes { sha authoredDate authorName authorEmail message } }
        notes(first: 100) { pageInfo { hasNextPage endCursor } nodes { id body system createdAt author { id username bot } } }
        approvedBy { nodes { id username bot } }
      }
    }
  }
  queryComplexity { score limit }
}`

type gqlUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Bot      bool   `json:"bot"`
}

type gqlPage struct {
	HasNextPage bool   `json:"hasNextPage"`
	EndCursor   string `json:"endCursor"`
}

type gqlMR struct {
	IID             string   `json:"iid"`
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	State           string   `json:"state"`
	Draft           bool     `json:"draft"`
	CreatedAt       string   `json:"createdAt"`
	UpdatedAt       string   `json:"updatedAt"`
	MergedAt        *string  `json:"mergedAt"`
	ClosedAt        *string  `json:"closedAt"`
	SourceBranch    string   `json:"sourceBranch"`
	TargetBranch    string   `json:"targetBranch"`
	DiffHeadSha     *string  `json:"diffHeadSha"`
	MergeCommitSha  *string  `json:"mergeCommitSha"`
	SquashCommitSha *string  `json:"squashCommitSha"`
	WebURL          string   `json:"webUrl"`
	Author          *gqlUser `json:"author"`
	Labels          struct {
		Nodes []struct{ Title string } `json:"nodes"`
	} `json:"labels"`
	Commits struct {
		PageInfo gqlPage `json:"pageInfo"`
		Nodes    []struct {
			Sha          string `json:"sha"`
			AuthoredDate string `json:"authoredDate"`
			AuthorName   string `json:"authorName"`
			AuthorEmail  string `json:"authorEmail"`
			Message      string `json:"message"`
		} `json:"nodes"`
	} `json:"commits"`
	Notes struct {
		PageInfo gqlPage `json:"pageInfo"`
		Nodes    []struct {
			ID        string   `json:"id"`
			Body      string   `json:"body"`
			System    bool     `json:"system"`
			CreatedAt string   `json:"createdAt"`
			Author    *gqlUser `json:"author"`
		} `json:"nodes"`
	} `json:"notes"`
	ApprovedBy struct {
		Nodes []gqlUser `json:"nodes"`
	} `json:"approvedBy"`
}

type gqlMRResponse struct {
	Data struct {
		Project *struct {
			ID            string `json:"id"`
			FullPath      string `json:"fullPath"`
			MergeRequests struct {
				Count    int     `json:"count"`
				PageInfo gqlPage `json:"pageInfo"`
				Nodes    []gqlMR `json:"nodes"`
			} `json:"mergeRequests"`
		} `json:"project"`
		QueryComplexity struct {
			Score int `json:"score"`
			Limit int `json:"limit"`
		} `json:"queryComplexity"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

func secs(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func strOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestGraphQLAgreesWithREST reads every MR of a project through client-go's GraphQL.Do, page by
// page, and compares each with what the REST API answers for it: fields, commits, notes,
// approvals and bot flags.
func TestGraphQLAgreesWithREST(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 7, Days: 14, End: testEnd})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	const path = "acme/monolith"

	var mrs []gqlMR
	after := ""
	pages := 0
	for {
		vars := map[string]any{"path": path, "first": 20}
		if after != "" {
			vars["after"] = after
		}
		var resp gqlMRResponse
		if _, err := c.GraphQL.Do(gitlab.GraphQLQuery{Query: graphqlMRQuery, Variables: vars}, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Errors) > 0 || resp.Data.Project == nil {
			t.Fatalf("errors: %+v", resp.Errors)
		}
		if sc := resp.Data.QueryComplexity; sc.Limit != 250 || sc.Score <= 0 || sc.Score > 250 {
			t.Fatalf("complexity %+v", sc)
		}
		conn := resp.Data.Project.MergeRequests
		mrs = append(mrs, conn.Nodes...)
		pages++
		if !conn.PageInfo.HasNextPage {
			if len(mrs) != conn.Count {
				t.Fatalf("read %d MRs, count says %d", len(mrs), conn.Count)
			}
			break
		}
		after = conn.PageInfo.EndCursor
	}
	if pages < 2 {
		t.Fatalf("only %d page(s): the test needs paging", pages)
	}

	rest, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		return c.MergeRequests.ListProjectMergeRequests(path, &gitlab.ListProjectMergeRequestsOptions{
			ListOptions: gitlab.ListOptions{PerPage: 100}, State: gitlab.Ptr("all"),
			OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("asc")}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != len(mrs) {
		t.Fatalf("GraphQL %d MRs, REST %d", len(mrs), len(rest))
	}
	bots := map[string]bool{}
	var sawBot, sawApproval, sawSystem, sawSquash bool
	for i, r := range rest {
		g := mrs[i]
		if g.IID != strconv.FormatInt(r.IID, 10) || g.ID != gid("MergeRequest", r.ID) {
			t.Fatalf("MR %d: order or ids differ: GraphQL %s %s", r.IID, g.IID, g.ID)
		}
		if g.Title != r.Title || g.State != r.State || g.Draft != r.Draft || g.SourceBranch != r.SourceBranch ||
			g.TargetBranch != r.TargetBranch || g.WebURL != r.WebURL || strOr(g.DiffHeadSha) != r.SHA ||
			strOr(g.MergeCommitSha) != r.MergeCommitSHA || strOr(g.SquashCommitSha) != r.SquashCommitSHA {
			t.Errorf("MR %d differs:\nGraphQL %+v\nREST %+v", r.IID, g, r)
		}
		if g.CreatedAt != secs(r.CreatedAt) || g.UpdatedAt != secs(r.UpdatedAt) || strOr(g.MergedAt) != secs(r.MergedAt) ||
			strOr(g.ClosedAt) != secs(r.ClosedAt) {
			t.Errorf("MR %d times differ: %s %s %v %v vs %v %v %v %v", r.IID, g.CreatedAt, g.UpdatedAt, g.MergedAt, g.ClosedAt,
				r.CreatedAt, r.UpdatedAt, r.MergedAt, r.ClosedAt)
		}
		if g.Author == nil || g.Author.Username != r.Author.Username || g.Author.ID != gid("User", r.Author.ID) {
			t.Errorf("MR %d author %+v vs %+v", r.IID, g.Author, r.Author)
		}
		var labels []string
		for _, l := range g.Labels.Nodes {
			labels = append(labels, l.Title)
		}
		if strings.Join(labels, ",") != strings.Join(r.Labels, ",") {
			t.Errorf("MR %d labels %v vs %v", r.IID, labels, r.Labels)
		}
		// Every user's bot flag agrees with GET /users/:id, which the REST path asks.
		checkBot := func(u *gqlUser) {
			if u == nil {
				return
			}
			if _, ok := bots[u.ID]; !ok {
				id, _ := gidID(u.ID, "User")
				ru, _, err := c.Users.GetUser(id, gitlab.GetUsersOptions{})
				if err != nil {
					t.Fatal(err)
				}
				bots[u.ID] = ru.Bot
			}
			if u.Bot != bots[u.ID] {
				t.Errorf("MR %d: user %s bot %v, REST says %v", r.IID, u.Username, u.Bot, bots[u.ID])
			}
			sawBot = sawBot || u.Bot
		}
		checkBot(g.Author)
		sawSquash = sawSquash || g.SquashCommitSha != nil

		commits, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
			return c.MergeRequests.GetMergeRequestCommits(path, r.IID, &gitlab.GetMergeRequestCommitsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		if g.Commits.PageInfo.HasNextPage != (len(commits) > 100) {
			t.Errorf("MR %d: %d commits, hasNextPage %v", r.IID, len(commits), g.Commits.PageInfo.HasNextPage)
		}
		if len(g.Commits.Nodes) != min(len(commits), 100) {
			t.Fatalf("MR %d: GraphQL %d commits, REST %d", r.IID, len(g.Commits.Nodes), len(commits))
		}
		for j, gc := range g.Commits.Nodes {
			rc := commits[j]
			ad, err := time.Parse(time.RFC3339, gc.AuthoredDate)
			if err != nil || gc.Sha != rc.ID || !ad.Equal(*rc.AuthoredDate) || gc.AuthorName != rc.AuthorName ||
				gc.AuthorEmail != rc.AuthorEmail || gc.Message != rc.Message {
				t.Errorf("MR %d commit %d: GraphQL %+v, REST %+v", r.IID, j, gc, rc)
			}
		}

		notes, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
			return c.Notes.ListMergeRequestNotes(path, r.IID, &gitlab.ListMergeRequestNotesOptions{
				ListOptions: gitlab.ListOptions{PerPage: 100}, OrderBy: gitlab.Ptr("created_at"), Sort: gitlab.Ptr("asc")}, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Notes.Nodes) != min(len(notes), 100) || g.Notes.PageInfo.HasNextPage != (len(notes) > 100) {
			t.Fatalf("MR %d: GraphQL %d notes (more: %v), REST %d", r.IID, len(g.Notes.Nodes), g.Notes.PageInfo.HasNextPage, len(notes))
		}
		for j, gn := range g.Notes.Nodes {
			rn := notes[j]
			id, ok := gidID(strings.NewReplacer("/DiffNote/", "/Note/", "/DiscussionNote/", "/Note/").Replace(gn.ID), "Note")
			if !ok || id != rn.ID || gn.Body != rn.Body || gn.System != rn.System || gn.CreatedAt != secs(rn.CreatedAt) ||
				gn.Author == nil || gn.Author.Username != rn.Author.Username {
				t.Errorf("MR %d note %d: GraphQL %+v, REST %+v", r.IID, j, gn, rn)
			}
			sawSystem = sawSystem || gn.System
			checkBot(gn.Author)
		}

		appr, _, err := c.MergeRequestApprovals.GetConfiguration(path, r.IID)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, u := range g.ApprovedBy.Nodes {
			got = append(got, u.Username)
			checkBot(&u)
		}
		for _, a := range appr.ApprovedBy {
			want = append(want, a.User.Username)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("MR %d approvedBy %v, REST %v", r.IID, got, want)
		}
		sawApproval = sawApproval || len(got) > 0
	}
	if !sawBot || !sawApproval || !sawSystem || !sawSquash {
		t.Errorf("the project lacks cases: bot %v approval %v system notes %v squash %v", sawBot, sawApproval, sawSystem, sawSquash)
	}
}

// TestGraphQLPipelinesAgreeWithREST: default-branch pipelines with their coverage, in bulk,
// against the REST list and each pipeline's own coverage.
func TestGraphQLPipelinesAgreeWithREST(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 7, Days: 14, End: testEnd})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	const path = "acme/monolith"
	since := testEnd.Add(-7 * 24 * time.Hour)
	const q = `query($path: ID!, $ref: String!, $since: Time, $after: String) {
  project(fullPath: $path) {
    pipelines(ref: $ref, updatedAfter: $since, first: 50, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id iid sha ref status source createdAt updatedAt finishedAt coverage path }
    }
  }
}`
	type node struct {
		ID, IID, Sha, Ref, Status, Source, CreatedAt, UpdatedAt string
		FinishedAt                                              *string
		Coverage                                                *float64
		Path                                                    string
	}
	var got []node
	after := ""
	for {
		vars := map[string]any{"path": path, "ref": "master", "since": since.Format(time.RFC3339)}
		if after != "" {
			vars["after"] = after
		}
		var resp struct {
			Data struct {
				Project struct {
					Pipelines struct {
						PageInfo gqlPage `json:"pageInfo"`
						Nodes    []node  `json:"nodes"`
					} `json:"pipelines"`
				} `json:"project"`
			} `json:"data"`
		}
		if _, err := c.GraphQL.Do(gitlab.GraphQLQuery{Query: q, Variables: vars}, &resp); err != nil {
			t.Fatal(err)
		}
		p := resp.Data.Project.Pipelines
		got = append(got, p.Nodes...)
		if !p.PageInfo.HasNextPage {
			break
		}
		after = p.PageInfo.EndCursor
	}
	rest, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.PipelineInfo, *gitlab.Response, error) {
		return c.Pipelines.ListProjectPipelines(path, &gitlab.ListProjectPipelinesOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
			Ref: gitlab.Ptr("master"), UpdatedAfter: &since}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rest) || len(got) < 51 {
		t.Fatalf("GraphQL %d pipelines, REST %d (the test needs more than a page)", len(got), len(rest))
	}
	withCoverage := 0
	for i, r := range rest {
		g := got[i]
		if g.ID != gid("Ci::Pipeline", r.ID) || g.IID != strconv.FormatInt(r.IID, 10) || g.Sha != r.SHA || g.Ref != r.Ref ||
			g.Status != strings.ToUpper(r.Status) || g.Source != r.Source || g.CreatedAt != secs(r.CreatedAt) ||
			g.UpdatedAt != secs(r.UpdatedAt) || g.Path != "/"+path+"/-/pipelines/"+strconv.FormatInt(r.ID, 10) {
			t.Errorf("pipeline %d: GraphQL %+v, REST %+v", r.ID, g, r)
		}
		full, _, err := c.Pipelines.GetPipeline(path, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var cov string
		if g.Coverage != nil {
			cov = formatCoverage(*g.Coverage)
			withCoverage++
		}
		if cov != full.Coverage || strOr(g.FinishedAt) != secs(full.FinishedAt) {
			t.Errorf("pipeline %d: coverage %q finished %v, REST %q %v", r.ID, cov, g.FinishedAt, full.Coverage, full.FinishedAt)
		}
	}
	if withCoverage == 0 {
		t.Error("no pipeline with coverage")
	}
}

// TestGraphQLDeploymentMergeRequestsAgreeWithREST: mergeRequests(deploymentId:) lists the MRs
// GitLab linked to a deployment, as GET /deployments/:id/merge_requests does (nothing before the
// links appear, nothing for an unknown id), many deployments in one query through aliases.
func TestGraphQLDeploymentMergeRequestsAgreeWithREST(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 7, Days: 14, End: testEnd})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	const path = "acme/monolith"
	deps, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Deployment, *gitlab.Response, error) {
		return c.Deployments.ListProjectDeployments(path, &gitlab.ListProjectDeploymentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{999999999} // unknown: no MRs
	for _, d := range deps {
		ids = append(ids, d.ID)
	}
	var vars, fields []string
	args := map[string]any{"path": path}
	for i, id := range ids {
		vars = append(vars, fmt.Sprintf("$d%d: String!", i))
		fields = append(fields, fmt.Sprintf("d%d: mergeRequests(deploymentId: $d%d, first: 100) { pageInfo { hasNextPage } nodes { iid projectId } }", i, i))
		args[fmt.Sprintf("d%d", i)] = strconv.FormatInt(id, 10)
	}
	type conn struct {
		PageInfo gqlPage `json:"pageInfo"`
		Nodes    []struct {
			IID       string `json:"iid"`
			ProjectID int64  `json:"projectId"`
		} `json:"nodes"`
	}
	checked, linked, empty := 0, 0, 0
	for start := 0; start < len(ids); start += 10 {
		end := min(start+10, len(ids))
		q := "query($path: ID!, " + strings.Join(vars[start:end], ", ") + ") { project(fullPath: $path) { " +
			strings.Join(fields[start:end], " ") + " } queryComplexity { score limit } }"
		code, r := graphqlPost(t, s, q, args)
		if code != 200 || len(r.Errors) > 0 {
			t.Fatalf("%d %s", code, r.raw)
		}
		var data struct {
			Project map[string]conn `json:"project"`
		}
		if err := json.Unmarshal(r.Data, &data); err != nil {
			t.Fatal(err)
		}
		for i := start; i < end; i++ {
			got := data.Project[fmt.Sprintf("d%d", i)]
			var want []string
			if i > 0 {
				mrs, _, err := c.DeploymentMergeRequests.ListDeploymentMergeRequests(path, ids[i], &gitlab.ListMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range mrs {
					want = append(want, fmt.Sprintf("%d!%d", m.ProjectID, m.IID))
				}
			}
			var have []string
			for _, n := range got.Nodes {
				have = append(have, fmt.Sprintf("%d!%s", n.ProjectID, n.IID))
			}
			sort.Strings(want)
			sort.Strings(have)
			if strings.Join(have, ",") != strings.Join(want, ",") || got.PageInfo.HasNextPage {
				t.Errorf("deployment %d: GraphQL %v, REST %v", ids[i], have, want)
			}
			checked++
			if len(want) > 0 {
				linked++
			} else {
				empty++
			}
		}
	}
	if linked == 0 || empty < 2 {
		t.Errorf("%d deployments checked, %d with MRs, %d without: the test needs both", checked, linked, empty)
	}
}

// TestGraphQLLimits: page size, complexity, depth and query size, answered as GitLab does.
func TestGraphQLLimits(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()

	// A page over 100: the field is null, the error names it, the rest of the data stands.
	code, r := graphqlPost(t, s, `{ project(fullPath: "acme/monolith") { fullPath mergeRequests(first: 101) { nodes { iid } } } }`, nil)
	if code != 200 || !strings.Contains(r.firstError(), "at most 100") ||
		string(r.Data) != `{"project":{"fullPath":"acme/monolith","mergeRequests":null}}` {
		t.Errorf("first: 101: %d %s", code, r.raw)
	}
	if len(r.Errors) == 1 && (len(r.Errors[0].Path) != 2 || r.Errors[0].Path[1] != "mergeRequests" || len(r.Errors[0].Locations) != 1) {
		t.Errorf("error path or location: %+v", r.Errors[0])
	}

	// The score of a simple query, worked out by hand: iid 1, nodes 1+1; mergeRequests is a
	// resolver connection: (2 + 1 + 1 for its default sort) × (1 + 50 × 0.01) = 6; project a
	// resolver: 6 + 1; queryComplexity 1 + score 1.
	code, r = graphqlPost(t, s, `{ project(fullPath: "acme/monolith") { mergeRequests(first: 50) { nodes { iid } } } queryComplexity { score } }`, nil)
	if code != 200 || !strings.HasSuffix(string(r.Data), `"queryComplexity":{"score":9}}`) {
		t.Errorf("score: %d %s", code, r.raw)
	}

	// Too complex: no data, GitLab's message.
	var b strings.Builder
	b.WriteString("{")
	for i := range 30 {
		b.WriteString("p" + strconv.Itoa(i) + `: project(fullPath: "acme/monolith") { mergeRequests(first: 100) { nodes { iid title } } } `)
	}
	b.WriteString("}")
	code, r = graphqlPost(t, s, b.String(), nil)
	if code != 200 || r.Data != nil || !regexp.MustCompile(`^Query has complexity of \d+, which exceeds max complexity of 250$`).MatchString(r.firstError()) {
		t.Errorf("complexity: %d %s", code, r.raw)
	}

	// Too large: 422 before anything is parsed.
	code, r = graphqlPost(t, s, "{ metadata { version } }"+strings.Repeat(" ", graphqlMaxQuerySize), nil)
	if code != http.StatusUnprocessableEntity || r.firstError() != "Query too large" {
		t.Errorf("size: %d %s", code, r.raw)
	}

	// Too deep.
	deep := `{ project(fullPath: "acme/monolith") { ` + strings.Repeat("group { projects { nodes { ", 7) + "id" +
		strings.Repeat(" } } }", 7) + " } }"
	code, r = graphqlPost(t, s, deep, nil)
	if code != 200 || !strings.HasPrefix(r.firstError(), "Query has depth of ") {
		t.Errorf("depth: %d %s", code, r.raw)
	}
}

// TestGraphQLSchemaErrors: unknown fields and arguments are refused with GitLab's wording.
func TestGraphQLSchemaErrors(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	for _, c := range []struct{ query, want string }{
		{`{ project(fullPath: "acme/monolith") { mergeRequests { nodes { iid nonsense } } } }`, "Field 'nonsense' doesn't exist on type 'MergeRequest'"},
		{`{ project(fullPath: "acme/monolith") { mergeRequests(orderBy: "x") { count } } }`, "Field 'mergeRequests' doesn't accept argument 'orderBy'"},
		{`{ project(fullPath: "acme/monolith") { mergeRequests(sort: SIDEWAYS) { count } } }`, "SIDEWAYS"},
		{`{ project(fullPath: "acme/monolith") { id `, "Expected Name, found <EOF>"},
		{`mutation { x }`, `"mutation"`},
	} {
		code, r := graphqlPost(t, s, c.query, nil)
		if code != 200 || r.Data != nil || !strings.Contains(r.firstError(), c.want) {
			t.Errorf("%s: %d %s", c.query, code, r.raw)
		}
	}
	_, r := graphqlPost(t, s, `query { project(fullPath: "acme/monolith") {
  mergeRequests { nodes { bogus } } } }`, nil)
	if len(r.Errors) != 1 || len(r.Errors[0].Locations) != 1 || r.Errors[0].Locations[0].Line != 2 {
		t.Errorf("location: %s", r.raw)
	}
	// A variable of the wrong type.
	code, r := graphqlPost(t, s, `query($n: Int) { project(fullPath: "acme/monolith") { mergeRequests(first: $n) { count } } }`, map[string]any{"n": "ten"})
	if code != 200 || !strings.Contains(r.firstError(), "$n") {
		t.Errorf("variable: %d %s", code, r.raw)
	}
}

// TestGraphQLAuth: the REST tokens authenticate GraphQL; none is anonymous (nothing private
// visible, a lower limit); a bad one is refused.
func TestGraphQLAuth(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{OAuthApps: []OAuthApp{{ClientID: "pacer"}}})
	defer s.Close()
	const q = `{ currentUser { username } project(fullPath: "acme/monolith") { fullPath } queryComplexity { limit } }`
	for _, c := range []struct {
		name string
		hdr  []string
		code int
		want string
	}{
		{"private token", nil, 200, `{"currentUser":{"username":"pacer-reader"},"project":{"fullPath":"acme/monolith"},"queryComplexity":{"limit":250}}`},
		{"bearer", []string{"PRIVATE-TOKEN", "", "Authorization", "Bearer " + DefaultToken}, 200, `"project":{"fullPath":"acme/monolith"}`},
		{"anonymous", []string{"PRIVATE-TOKEN", ""}, 200, `{"currentUser":null,"project":null,"queryComplexity":{"limit":200}}`},
		{"bad token", []string{"PRIVATE-TOKEN", "glpat-wrong"}, 401, `"Invalid token"`},
		{"bad bearer", []string{"PRIVATE-TOKEN", "", "Authorization", "Bearer nope"}, 401, `"Invalid token"`},
	} {
		code, r := graphqlPost(t, s, q, nil, c.hdr...)
		if code != c.code || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("%s: %d %s", c.name, code, r.raw)
		}
	}
	// A person's OAuth token sees their projects only.
	var member, outsider string
	for _, u := range s.org.Users() {
		if s.org.ProjectAccess(u.Username, "acme/monolith") >= GuestAccess {
			member = u.Username
		} else {
			outsider = u.Username
		}
	}
	for who, want := range map[string]string{member: `"project":{"fullPath":"acme/monolith"}`, outsider: `"project":null`} {
		tok, ok := s.IssueOAuthToken("pacer", who)
		if !ok {
			t.Fatalf("no token for %s", who)
		}
		code, r := graphqlPost(t, s, q, nil, "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken)
		if code != 200 || !strings.Contains(string(r.raw), want) || !strings.Contains(string(r.raw), `"username":"`+who+`"`) {
			t.Errorf("%s: %d %s", who, code, r.raw)
		}
	}
}

// TestGraphQLSwitch: off at start and flipped at run time; REST is unaffected.
func TestGraphQLSwitch(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{DisableGraphQL: true})
	defer s.Close()
	const q = `{ metadata { version } }`
	if code, _ := graphqlPost(t, s, q, nil); code != http.StatusNotFound || s.GraphQLEnabled() {
		t.Fatalf("disabled: %d", code)
	}
	s.SetGraphQL(true)
	if code, r := graphqlPost(t, s, q, nil); code != 200 || len(r.Errors) > 0 {
		t.Fatalf("enabled: %d %s", code, r.raw)
	}
	s.SetGraphQL(false)
	if code, _ := graphqlPost(t, s, q, nil); code != http.StatusNotFound {
		t.Fatalf("turned off: %d", code)
	}
	if resp, _ := get(t, s, "/api/v4/projects/acme%2Fmonolith"); resp.StatusCode != 200 {
		t.Fatalf("REST with GraphQL off: %d", resp.StatusCode)
	}
	if n := s.RequestsByRoute()["POST /api/graphql"]; n != 3 {
		t.Errorf("GraphQL requests counted: %d, want 3", n)
	}
}

// TestGraphQLTimeout: a page too heavy for the budget comes back partial, with graphql-ruby's
// timeout errors, after about the budget; a lighter page of the same query does not.
func TestGraphQLTimeout(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{GraphQLNodeCost: time.Millisecond, GraphQLTimeout: 150 * time.Millisecond})
	defer s.Close()
	const q = `query($n: Int) { project(fullPath: "acme/monolith") { mergeRequests(first: $n) {
  nodes { iid commits(first: 100) { nodes { sha } } notes(first: 100) { nodes { id } } } } } }`
	start := time.Now()
	code, r := graphqlPost(t, s, q, map[string]any{"n": 100})
	took := time.Since(start)
	if code != 200 || len(r.Errors) == 0 || !regexp.MustCompile(`^Timeout on \w+\.\w+$`).MatchString(r.firstError()) {
		t.Fatalf("heavy page: %d %.300s", code, r.raw)
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("heavy page answered after %s, want about the 150ms budget", took)
	}
	if !regexp.MustCompile(`^\{"project":\{"mergeRequests":\{"nodes":\[\{"iid":"\d+","commits"`).Match(r.Data) || !strings.Contains(string(r.Data), "null") {
		t.Errorf("want partial data: %.300s", r.Data)
	}
	code, r = graphqlPost(t, s, q, map[string]any{"n": 2})
	if code != 200 || len(r.Errors) > 0 {
		t.Fatalf("light page: %d %.300s", code, r.raw)
	}
}

// TestGraphQLRateLimitAndFaults: a GraphQL request is one request to the shared limiter.
func TestGraphQLRateLimit(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{RateLimit: 2})
	defer s.Close()
	const q = `{ metadata { version } }`
	graphqlPost(t, s, q, nil)
	get(t, s, "/api/v4/user")
	code, _ := graphqlPost(t, s, q, nil)
	if code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", code)
	}
}

// TestGraphQLFollowUpPages: an MR with more than 100 commits or notes says so, and the
// follow-up query (project { mergeRequest(iid:) { commits(after:) } }) pages through the rest,
// in REST's order.
func TestGraphQLFollowUpPages(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 1, Days: 30, End: testEnd})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	const path = "acme/monolith"
	const q = `query($path: ID!, $iid: String!, $commits: String, $notes: String) {
  project(fullPath: $path) { mergeRequest(iid: $iid) {
    commits(first: 100, after: $commits) { pageInfo { hasNextPage endCursor } nodes { sha } }
    notes(first: 100, after: $notes) { pageInfo { hasNextPage endCursor } nodes { id } } } } }`
	type conn struct {
		PageInfo gqlPage `json:"pageInfo"`
		Nodes    []struct {
			Sha string `json:"sha"`
			ID  string `json:"id"`
		} `json:"nodes"`
	}
	for _, iid := range []int64{263, 729} { // 129 notes; 190 commits
		var shas, noteIDs []string
		after := map[string]any{"path": path, "iid": strconv.FormatInt(iid, 10)}
		var commitsDone, notesDone bool
		for more := true; more; {
			var resp struct {
				Data struct {
					Project struct {
						MergeRequest struct{ Commits, Notes conn } `json:"mergeRequest"`
					} `json:"project"`
				} `json:"data"`
			}
			if _, err := c.GraphQL.Do(gitlab.GraphQLQuery{Query: q, Variables: after}, &resp); err != nil {
				t.Fatal(err)
			}
			m := resp.Data.Project.MergeRequest
			more = false
			if !commitsDone {
				for _, n := range m.Commits.Nodes {
					shas = append(shas, n.Sha)
				}
				if m.Commits.PageInfo.HasNextPage {
					after["commits"], more = m.Commits.PageInfo.EndCursor, true
				} else {
					commitsDone = true
				}
			}
			if !notesDone {
				for _, n := range m.Notes.Nodes {
					noteIDs = append(noteIDs, n.ID)
				}
				if m.Notes.PageInfo.HasNextPage {
					after["notes"], more = m.Notes.PageInfo.EndCursor, true
				} else {
					notesDone = true
				}
			}
		}
		commits, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
			return c.MergeRequests.GetMergeRequestCommits(path, iid, &gitlab.GetMergeRequestCommitsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		notes, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
			return c.Notes.ListMergeRequestNotes(path, iid, &gitlab.ListMergeRequestNotesOptions{
				ListOptions: gitlab.ListOptions{PerPage: 100}, OrderBy: gitlab.Ptr("created_at"), Sort: gitlab.Ptr("asc")}, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantShas, wantIDs []string
		for _, c := range commits {
			wantShas = append(wantShas, c.ID)
		}
		for _, n := range notes {
			wantIDs = append(wantIDs, strconv.FormatInt(n.ID, 10))
		}
		for i, id := range noteIDs {
			noteIDs[i] = id[strings.LastIndex(id, "/")+1:]
		}
		if max(len(wantShas), len(wantIDs)) <= 100 {
			t.Fatalf("!%d has %d commits and %d notes: the test needs more than 100", iid, len(wantShas), len(wantIDs))
		}
		if strings.Join(shas, ",") != strings.Join(wantShas, ",") || strings.Join(noteIDs, ",") != strings.Join(wantIDs, ",") {
			t.Errorf("!%d: GraphQL %d commits %d notes, REST %d and %d, or in another order", iid, len(shas), len(noteIDs), len(wantShas), len(wantIDs))
		}
	}
}

// TestGraphQLGroupMergeRequests: one group query with includeSubgroups covers the MRs of every
// project of the group but the archived one (and the shared-in one, which lives elsewhere),
// as the per-project REST lists do.
func TestGraphQLGroupMergeRequests(t *testing.T) {
	t.Parallel()
	o := smallOrg(3)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	since := testEnd.Add(-3 * 24 * time.Hour)
	const q = `query($after: String, $since: Time) { group(fullPath: "acme") {
  mergeRequests(includeSubgroups: true, updatedAfter: $since, sort: UPDATED_ASC, first: 20, after: $after) {
    count pageInfo { hasNextPage endCursor } nodes { iid updatedAt project { fullPath } } } } }`
	got := map[string]bool{}
	last := ""
	vars := map[string]any{"since": since.Format(time.RFC3339)}
	for {
		var resp struct {
			Data struct {
				Group struct {
					MergeRequests struct {
						Count    int     `json:"count"`
						PageInfo gqlPage `json:"pageInfo"`
						Nodes    []struct {
							IID       string `json:"iid"`
							UpdatedAt string `json:"updatedAt"`
							Project   struct {
								FullPath string `json:"fullPath"`
							} `json:"project"`
						} `json:"nodes"`
					} `json:"mergeRequests"`
				} `json:"group"`
			} `json:"data"`
		}
		if _, err := c.GraphQL.Do(gitlab.GraphQLQuery{Query: q, Variables: vars}, &resp); err != nil {
			t.Fatal(err)
		}
		mrs := resp.Data.Group.MergeRequests
		for _, n := range mrs.Nodes {
			if n.UpdatedAt < last {
				t.Fatalf("not in updatedAt order: %s after %s", n.UpdatedAt, last)
			}
			last = n.UpdatedAt
			got[n.Project.FullPath+"!"+n.IID] = true
		}
		if !mrs.PageInfo.HasNextPage {
			if len(got) != mrs.Count {
				t.Fatalf("read %d, count %d", len(got), mrs.Count)
			}
			break
		}
		vars["after"] = mrs.PageInfo.EndCursor
	}
	want := map[string]bool{}
	for _, p := range o.projects {
		if p.archived || p.shared {
			continue
		}
		mrs, err := gitlab.ScanAndCollect(func(pg gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
			return c.MergeRequests.ListProjectMergeRequests(p.id, &gitlab.ListProjectMergeRequestsOptions{
				ListOptions: gitlab.ListOptions{PerPage: 100}, State: gitlab.Ptr("all"), UpdatedAfter: &since}, pg)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mrs {
			want[p.fullPath+"!"+strconv.FormatInt(m.IID, 10)] = true
		}
	}
	if len(got) != len(want) || len(want) < 21 {
		t.Fatalf("group query %d MRs, REST %d (the test needs more than a page)", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s missing from the group query", k)
		}
	}
}

// TestGraphQLGet: GET with query and variables parameters, as GitLab accepts.
func TestGraphQLGet(t *testing.T) {
	t.Parallel()
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	v := url.Values{"query": {`query($p: ID!) { project(fullPath: $p) { fullPath } }`}, "variables": {`{"p":"acme/monolith"}`}}
	resp, body := get(t, s, "/api/graphql?"+v.Encode())
	if resp.StatusCode != 200 || string(body) != `{"data":{"project":{"fullPath":"acme/monolith"}}}`+"\n" {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
}

func TestGenOptionsForMRs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{500, 3000} {
		opt := GenOptionsForMRs(1, n, 10)
		opt.End = testEnd
		if got := Generate(opt).MergeRequests(); got < n*8/10 || got > n*12/10 {
			t.Errorf("GenOptionsForMRs(%d) %+v gave %d MRs", n, opt, got)
		}
	}
}

// TestGraphQLSchemaIsServed: every field of the schema file has a resolver, and a query that
// selects all of them runs without an error.
func TestGraphQLSchemaIsServed(t *testing.T) {
	t.Parallel()
	schema := graphqlSchema()
	generic := map[string]bool{"PageInfo": true, "UserCore": true, "MergeRequestAuthor": true, "MergeRequestReviewer": true, "CurrentUser": true}
	for _, def := range schema.Types {
		if def.BuiltIn || def.Kind != ast.Object || generic[def.Name] ||
			strings.HasSuffix(def.Name, "Connection") || strings.HasSuffix(def.Name, "Edge") {
			continue
		}
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") && graphqlResolvers[def.Name+"."+f.Name] == nil {
				t.Errorf("no resolver for %s.%s", def.Name, f.Name)
			}
		}
	}
	s := NewServer(smallOrg(1), ServerOptions{})
	defer s.Close()
	user := `{ id username name bot state webUrl publicEmail }`
	page := `pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`
	q := `{ currentUser ` + user + ` metadata { version revision enterprise }
  group(fullPath: "acme") { id name fullPath fullName webUrl projects(includeSubgroups: true, first: 2) { count ` + page + ` edges { cursor node { id } } } }
  projects(fullPaths: ["acme/monolith"]) { count nodes { id } }
  project(fullPath: "acme/monolith") { id name path fullPath nameWithNamespace archived webUrl createdAt lastActivityAt
    group { fullPath } repository { rootRef empty exists }
    pipelines(first: 3) { count ` + page + ` nodes { id iid sha beforeSha ref status source createdAt updatedAt startedAt
      finishedAt duration queuedDuration coverage path user ` + user + ` } }
    mergeRequests(first: 5, state: merged, sort: MERGED_AT_DESC) { count ` + page + ` edges { cursor node {
      __typename id iid title description state draft createdAt updatedAt mergedAt closedAt sourceBranch targetBranch
      sourceProjectId targetProjectId projectId project { id } diffHeadSha mergeCommitSha squashCommitSha squash webUrl
      author ` + user + ` mergeUser ` + user + ` approved userNotesCount commitCount headPipeline { id }
      labels { count nodes { id title } } reviewers { nodes ` + user + ` } approvedBy { nodes ` + user + ` }
      commits(first: 2) { count nodes { id sha shortId title message description authoredDate committedDate
        authorName authorEmail committerName committerEmail author ` + user + ` webUrl } }
      commitsWithoutMergeCommits(last: 1) { nodes { sha } }
      notes(filter: ONLY_ACTIVITY, first: 3) { count nodes { id body system internal createdAt updatedAt author ` + user + `
        systemNoteIconName url } } } } } }
  queryComplexity { score limit } }`
	code, r := graphqlPost(t, s, q, nil)
	if code != 200 || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"__typename":"MergeRequest"`) {
		t.Fatalf("%d %s", code, r.raw)
	}
	// Query.mergeRequest(id:) finds the first of them by its global id.
	id := regexp.MustCompile(`"gid://gitlab/MergeRequest/\d+"`).FindString(string(r.Data))
	code, r = graphqlPost(t, s, `{ mergeRequest(id: `+id+`) { id } }`, nil)
	if code != 200 || string(r.Data) != `{"mergeRequest":{"id":`+id+`}}` {
		t.Fatalf("mergeRequest(id:): %d %s", code, r.raw)
	}
}
