package views

import (
	"context"
	"strings"
	"testing"
)

func TestTimelineCompareAuthorViews(t *testing.T) {
	tl := TimelinePage{Title: evil, Ref: "a!1", URL: "javascript:alert(1)", Author: "alice", AuthorHref: "/authors/alice",
		Stages:   []TimelineStage{{Name: "Coding", Duration: "1h", Class: "s0", Rule: "first commit: earliest authored commit"}},
		Instants: []TimelineInstant{{At: "2026-03-02 10:00 UTC", Event: "merged", Who: "bob", Rule: evil, Counted: true}},
		Chart: TimelineChart{Width: 880, Height: 100, Left: 110, Right: 860, AxisY: 80, Summary: evil,
			Bands: []TimelineBand{{X: 120, W: 200, Y: 14, H: 20, Class: "s0", Label: "coding", Title: evil}},
			Lanes: []TimelineLane{{Label: "commits", Y: 58, Marks: []TimelineMark{{X: 130, Class: "commit", Title: evil, Faint: true}}}}}}
	out := render(t, TimelineView(tl))
	contains(t, out, "&lt;script&gt;", `href="/authors/alice"`, `class="mark commit faint"`, "first commit: earliest authored commit", `<svg class="plot"`)
	lacks(t, out, "<script>alert", `href="javascript:`)

	var b strings.Builder
	if err := TimelineView(tl).Render(WithoutAuthors(context.Background()), &b); err != nil {
		t.Fatal(err)
	}
	lacks(t, b.String(), "alice", ">bob<", "/authors/")

	cmp := ComparePage{Range: "r", OfLinks: []Link{{Label: "Services"}, {Label: "Teams", Href: "/compare?of=teams"}},
		Columns: []CompareColumn{{Label: "Service", Sort: SortHead{Href: "/compare", Current: true, Order: "ascending"}}, {Label: "Cycle", Sort: SortHead{Href: "/compare?sort=-cycle"}}},
		Rows:    []CompareRow{{Name: evil, Href: "/?service=x", Cells: []CompareCell{{Value: "1d", N: "n = 3 MRs", Href: "/merge-requests", Delta: Delta{Text: "+2h", Tone: "bad"}}, {}}}}}
	contains(t, render(t, CompareView(cmp)), `aria-sort="ascending"`, `href="/compare?sort=-cycle"`, "n = 3 MRs", `class="delta bad"`, "&lt;script&gt;", `<span class="muted">–</span>`)
	cmp.Empty = &Empty{Title: "Nothing to compare"}
	contains(t, render(t, CompareView(cmp)), "Nothing to compare")

	a := AuthorPage{Name: "alice", Cards: []Card{{Label: "MRs delivered", Value: "3"}}, MRs: sampleMRTable(),
		Reviews: ReviewTable{ID: "r", Title: "Reviews they gave", Rows: []ReviewRow{{At: "x", Kind: "approval", MR: "a!1", Title: evil, Href: "/merge-requests/1/1", URL: "javascript:x", MRAuthor: "bob", AuthorHref: "/authors/bob"}}}}
	out = render(t, AuthorView(a))
	contains(t, out, "Reviews they gave", `href="/merge-requests/1/1"`, `href="/authors/bob"`, "&lt;script&gt;")
	lacks(t, out, `href="javascript:`)
	a.Reviews.Rows = nil
	a.Reviews.Empty = Empty{Title: "No reviews"}
	contains(t, render(t, AuthorView(a)), "No reviews")

	lists := render(t, MRListView(MRListPage{Heading: "MRs", Search: SearchBox{Action: "/merge-requests", Q: evil, Clear: "/merge-requests", Hidden: []Hidden{{Name: "sort", Value: "title"}}},
		Table: MRTable{ID: "t", Rows: []MRRow{{Title: "x", Href: "/merge-requests/1/1", Author: "alice", AuthorHref: "/authors/alice"}},
			Sorts: map[string]SortHead{"cycle": {Href: "/merge-requests?sort=fastest", Current: true, Order: "descending"}, "title": {Href: "/merge-requests?sort=title"}}}}))
	contains(t, lists, `role="search"`, `name="q"`, "&lt;script&gt;", `name="sort" value="title"`, `aria-sort="descending"`, `href="/merge-requests?sort=title"`, `href="/authors/alice"`, `href="/merge-requests/1/1"`)
}
