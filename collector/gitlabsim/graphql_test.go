package gitlabsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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
	if resp.StatusCode != http.StatusNotFound {
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
