package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestAuthorPage(t *testing.T) {
	f := newFixture(t)
	for _, htmx := range []bool{false, true} {
		rec := f.get("/authors/alice", htmx)
		if rec.Code != http.StatusOK {
			t.Fatalf("/authors/alice: %d\n%s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		mustContain(t, body, "<h1>alice</h1>", "MRs delivered", "n = 6 MRs", "Cycle time (median)", "Pickup (median)", "Deploy (median)",
			"Their latest merge requests", "Improve api part 4", "Web change 1", `href="/merge-requests/1/4"`,
			`href="/merge-requests?author=alice&amp;period=12w"`, "Reviews they gave", "approval", "acme/web!1",
			"help, not to rank")
		if strings.Contains(body, "<script>alert") {
			t.Error("the hostile title is not escaped")
		}
		if htmx == strings.Contains(body, "<html") {
			t.Errorf("htmx %v: wrong document shape", htmx)
		}
	}
	// bob authored nothing and approved three MRs of acme/api.
	body := f.get("/authors/BOB?period=custom&from=2026-03-02&to=2026-03-08", false).Body.String()
	mustContain(t, body, "<h1>bob</h1>", "No merge requests delivered in this range", "3 approvals · 0 comments",
		"Improve api part 2", `href="/authors/alice?from=2026-03-02&amp;period=custom&amp;to=2026-03-08"`)
	for p, want := range map[string]int{"/authors/nobody": http.StatusNotFound, "/authors/alice?by=year": http.StatusBadRequest,
		"/authors/alice?service=nope": http.StatusNotFound, "/authors/alice?sort=slowest": http.StatusBadRequest} {
		if rec := f.get(p, false); rec.Code != want {
			t.Errorf("%s: %d, want %d", p, rec.Code, want)
		}
	}
}

// Someone who only worked in a project the person may not read does not exist for them.
func TestAuthorPageRespectsVisibility(t *testing.T) {
	f, cookie := signedInFixture(t)
	for path, want := range map[string]int{"/authors/alice": http.StatusOK, "/authors/mallory": http.StatusNotFound, "/authors/nobody": http.StatusNotFound} {
		req := newRequest(path)
		req.AddCookie(cookie)
		rec := serve(f, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
		for _, w := range invisible {
			if w != "mallory" && strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s mentions %q", path, w)
			}
		}
	}
	// The same answer for mallory as for a name nobody has: nothing tells that she exists.
	a, b := newRequest("/authors/mallory"), newRequest("/authors/nobodyx")
	a.AddCookie(cookie)
	b.AddCookie(cookie)
	ma := strings.ReplaceAll(serve(f, a).Body.String(), "mallory", "X")
	mb := strings.ReplaceAll(serve(f, b).Body.String(), "nobodyx", "X")
	if ma != mb {
		t.Error("the 404 for a hidden author differs from the one for an unknown name")
	}
}
