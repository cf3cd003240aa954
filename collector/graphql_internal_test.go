package collector

import (
	"errors"
	"strings"
	"testing"
	"time"
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
		"more": gqlMoreQuery(true, true), "more commits": gqlMoreQuery(true, false), "more notes": gqlMoreQuery(false, true)} {
		if len(q) > gqlMaxQuery || !strings.Contains(q, "queryComplexity") {
			t.Errorf("%s: %d characters", name, len(q))
		}
	}
	if gid("gid://gitlab/DiscussionNote/123") != 123 || gid("gid://gitlab/User/5") != 5 || gid("x") != 0 {
		t.Error("gid")
	}
}
