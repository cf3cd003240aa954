package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

func TestGraphQLErrorsAreClassifiedByGitLabsWording(t *testing.T) {
	for _, tc := range []struct {
		msg                                   string
		complex, timeout, unavailable, shrink bool
	}{
		{msg: "Query has complexity of 412, which exceeds max complexity of 250", complex: true, shrink: true},
		{msg: "Request timed out. Please try a less complex query or a smaller set of records.", timeout: true, shrink: true},
		{msg: "Field 'squashCommitSha' doesn't exist on type 'MergeRequest'", unavailable: true},
		{msg: `Cannot query field "squashCommitSha" on type "MergeRequest".`, unavailable: true},
		{msg: "Internal server error"},
	} {
		e := gqlErrorOf("q", 200, []gqlMessage{{Message: tc.msg}})
		if e.complex != tc.complex || e.timeout != tc.timeout || errors.Is(e, errGraphQLUnavailable) != tc.unavailable ||
			e.shrinks() != tc.shrink || !errors.Is(e, errGraphQL) {
			t.Errorf("%q: %+v", tc.msg, e)
		}
	}
}

func TestBatchSizerShrinksAndGrowsBack(t *testing.T) {
	b := newBatchSizer(25, 1, 100)
	if got := b.shrink(25); got != 12 {
		t.Fatalf("shrink 25 -> %d", got)
	}
	if got := b.shrink(25); got != 12 {
		t.Fatalf("a second failure of a batch cut before the first shrink -> %d, want 12", got)
	}
	b.done(12, time.Second)
	if got := b.get(); got != 15 {
		t.Fatalf("after a fast answer: %d, want 15", got)
	}
	b.done(15, 20*time.Second)
	if got := b.get(); got != 15 {
		t.Fatalf("after a slow answer: %d, want 15", got)
	}
	for range 50 {
		b.done(b.get(), time.Millisecond)
	}
	if got := b.get(); got != 100 {
		t.Fatalf("grows to %d, want 100", got)
	}
	for range 10 {
		b.shrink(b.get())
	}
	if got := b.get(); got != 1 {
		t.Fatalf("shrinks to %d, want 1", got)
	}
}

func TestGraphQLQueriesAreWithinGitLabsSize(t *testing.T) {
	for name, q := range map[string]string{"list": gqlListQuery, "details": gqlDetailsQuery,
		"more": gqlMoreQuery(true, true), "more commits": gqlMoreQuery(true, false), "more notes": gqlMoreQuery(false, true),
		"pipelines": gqlPipelinesQuery, "links": gqlLinksQuery(gqlLinksMax, gqlLinksFirst, false),
		"more links": gqlLinksQuery(1, gqlMaxPage, true), "count": gqlCountQuery(gqlCountBatch)} {
		if len(q) > gqlMaxQuery || !strings.Contains(q, "queryComplexity") {
			t.Errorf("%s: %d characters", name, len(q))
		}
	}
	if gid("gid://gitlab/DiscussionNote/123") != 123 || gid("gid://gitlab/User/5") != 5 || gid("x") != 0 {
		t.Error("gid")
	}
}

// The queries at their largest fit GitLab's complexity limit, as the simulator scores it
// (GitLab's way): a page of 100 MRs, 100 details, 100 pipelines, 25 deployments.
func TestGraphQLQueriesFitGitLabsComplexity(t *testing.T) {
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 1, Days: 7, Services: 2, Scale: 0.3})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	s := &syncer{opt: Options{Logger: slog.New(slog.DiscardHandler)}}
	c, err := newClient(Options{BaseURL: srv.URL(), Token: gitlabsim.DefaultToken, Concurrency: 1}, &s.counts)
	if err != nil {
		t.Fatal(err)
	}
	s.gl = c
	path := org.Truth().Projects[0].Path
	deps := map[string]any{"path": path}
	for i := range gqlLinksMax {
		deps[fmt.Sprintf("d%d", i)] = strconv.Itoa(i + 1)
	}
	counts := map[string]any{}
	for i := range gqlCountBatch {
		counts[fmt.Sprintf("p%d", i)] = path
	}
	for _, q := range []struct {
		name, query string
		vars        map[string]any
		max         int
	}{
		{"list", gqlListQuery, map[string]any{"path": path, "first": gqlMaxPage}, 250},
		{"details", gqlDetailsQuery, map[string]any{"path": path, "iids": []string{"1"}, "first": gqlMaxPage}, 250},
		{"more", gqlMoreQuery(true, true), map[string]any{"path": path, "iid": "1"}, 250},
		{"pipelines", gqlPipelinesQuery, map[string]any{"path": path, "ref": "main", "first": gqlMaxPage}, 250},
		{"links", gqlLinksQuery(gqlLinksMax, gqlLinksFirst, false), deps, 229},
		{"more links", gqlLinksQuery(1, gqlMaxPage, true), map[string]any{"path": path, "d0": "1"}, 250},
		{"count", gqlCountQuery(gqlCountBatch), counts, 213},
	} {
		var out struct {
			QueryComplexity gqlComplexity `json:"queryComplexity"`
		}
		if err := s.graphql(context.Background(), q.name, q.query, q.vars, &out); err != nil {
			t.Errorf("%s: %v", q.name, err)
			continue
		}
		if sc := out.QueryComplexity; sc.Score <= 0 || sc.Score > q.max || sc.Limit != gqlMaxComplexity {
			t.Errorf("%s: complexity %d of %d, want at most %d", q.name, sc.Score, sc.Limit, q.max)
		}
		t.Logf("%s: complexity %d, %d characters", q.name, out.QueryComplexity.Score, len(q.query))
	}
}
