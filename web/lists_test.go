package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pacer-dev/pacer/config"
)

// rowOrder is the MR titles of a list page in the order shown.
func rowOrder(body string, titles ...string) []string {
	type at struct {
		i int
		s string
	}
	var found []at
	for _, s := range titles {
		if i := strings.Index(body, `title="timeline of this MR">`+s); i >= 0 {
			found = append(found, at{i, s})
		}
	}
	for i := range found {
		for j := i + 1; j < len(found); j++ {
			if found[j].i < found[i].i {
				found[i], found[j] = found[j], found[i]
			}
		}
	}
	out := make([]string, len(found))
	for i, a := range found {
		out[i] = a.s
	}
	return out
}

func TestMRListSearchSortAndAuthor(t *testing.T) {
	f := newFixture(t)
	all := []string{"Improve api part 2", "Improve api part 4", "Fix the crash in checkout", "Web change 1", "Web change 2", "&lt;script&gt;"}
	for _, c := range []struct {
		query string
		want  []string // titles shown, in order when order matters
		order bool
	}{
		{"q=crash", []string{"Fix the crash in checkout"}, false},
		{"q=HOTFIX", []string{"Fix the crash in checkout"}, false}, // the label, and the branch
		{"q=%213", []string{"Fix the crash in checkout"}, false},   // !3
		{"q=3", []string{"Fix the crash in checkout"}, false},
		{"q=web+change", []string{"Web change 1", "Web change 2"}, false},
		{"q=alice+crash", []string{"Fix the crash in checkout"}, false},
		{"q=feature-2", []string{"Improve api part 2"}, false},
		{"author=ALICE&q=web", []string{"Web change 1", "Web change 2"}, false},
		{"sort=title", []string{"&lt;script&gt;", "Fix the crash in checkout", "Improve api part 2", "Improve api part 4", "Web change 1", "Web change 2"}, true},
		{"sort=oldest", []string{"&lt;script&gt;", "Improve api part 2", "Fix the crash in checkout", "Improve api part 4", "Web change 1"}, true},
		{"sort=recent", []string{"Web change 2", "Web change 1", "Improve api part 4"}, true},
	} {
		for _, htmx := range []bool{false, true} {
			rec := f.get("/merge-requests?"+c.query, htmx)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", c.query, rec.Code, rec.Body)
			}
			body := rec.Body.String()
			got := rowOrder(body, all...)
			if c.order {
				if strings.Join(got[:len(c.want)], "|") != strings.Join(c.want, "|") {
					t.Errorf("%s: order %q, want %q first", c.query, got, c.want)
				}
				continue
			}
			if strings.Join(got, "|") != strings.Join(rowOrder(body, c.want...), "|") || len(got) != len(c.want) {
				t.Errorf("%s: rows %q, want %q", c.query, got, c.want)
			}
			if v, _ := url.ParseQuery(c.query); v.Get("q") != "" {
				mustContain(t, body, `type="search" id="list-search" name="q" value="`)
			}
		}
	}
	// The search keeps the list's conditions, and the conditions keep the search.
	body := f.get("/merge-requests?rework=true&q=crash&sort=slowest", false).Body.String()
	mustContain(t, body, `<input type="hidden" name="rework" value="true">`, `<input type="hidden" name="sort" value="slowest">`,
		`<input type="hidden" name="q" value="crash">`, `aria-sort="descending"`, "slowest first")
	// A sorted column's heading sorts the other way; the others sort by themselves.
	mustContain(t, body, `href="/merge-requests?period=12w&amp;q=crash&amp;rework=true&amp;sort=fastest"`,
		`href="/merge-requests?period=12w&amp;q=crash&amp;rework=true&amp;sort=title"`)

	for q, want := range map[string]int{
		"sort=sideways":                      http.StatusBadRequest,
		"q=" + strings.Repeat("x", 201):      http.StatusBadRequest,
		"author=nobody":                      http.StatusNotFound,
		"author=bob":                         http.StatusOK, // a reviewer without MRs: an empty list
		"author=" + strings.Repeat("a", 500): http.StatusBadRequest,
	} {
		if rec := f.get("/merge-requests?"+q, false); rec.Code != want {
			t.Errorf("%.60s: %d, want %d", q, rec.Code, want)
		}
	}
}

func TestDeploymentListSearchAndSort(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		query      string
		want, lack []string
	}{
		{"q=aaaaaaaaaaaa2", []string{"aaaaaaaa", "/jobs/102"}, []string{"/jobs/101", "/jobs/201"}},
		{"q=%213+acme%2Fapi", []string{"/jobs/102"}, []string{"/jobs/101", "/jobs/201"}},
		{"q=web+change", []string{"/jobs/201"}, []string{"/jobs/101", "/jobs/102"}},
		{"q=production", []string{"/jobs/101", "/jobs/102", "/jobs/201"}, nil},
		{"q=nothing-like-this", []string{"No deployments match"}, []string{"/jobs/101"}},
	} {
		for _, htmx := range []bool{false, true} {
			rec := f.get("/deployments?"+c.query, htmx)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d", c.query, rec.Code)
			}
			mustContain(t, rec.Body.String(), c.want...)
			for _, l := range c.lack {
				if strings.Contains(rec.Body.String(), l) {
					t.Errorf("%s shows %s", c.query, l)
				}
			}
		}
	}
	body := f.get("/deployments?sort=oldest", false).Body.String()
	if a, b := strings.Index(body, "/jobs/101"), strings.Index(body, "/jobs/201"); a < 0 || b < 0 || a > b {
		t.Errorf("sort=oldest does not list 101 before 201")
	}
	mustContain(t, body, `aria-sort="ascending"`, "oldest first", `href="/deployments?period=12w"`)
	body = f.get("/deployments?sort=service", false).Body.String()
	if a, b := strings.Index(body, "/jobs/102"), strings.Index(body, "/jobs/201"); a > b {
		t.Errorf("sort=service does not list acme/api first")
	}
	if rec := f.get("/deployments?sort=sideways", false); rec.Code != http.StatusBadRequest {
		t.Errorf("sort=sideways: %d", rec.Code)
	}
}

// Every page answers a parameter it does not read with 400, naming it and the accepted ones:
// the whole route table, as a page and as an HTMX request.
func TestUnknownParametersAre400(t *testing.T) {
	f := securityFixture(t)
	urls, methods := routeURLs(t, f)
	checked := 0
	for _, u := range urls {
		if methods[u] != http.MethodGet || strings.HasPrefix(u, "/static/") || strings.HasPrefix(u, "/api/") ||
			strings.HasPrefix(u, "/auth/") || u == "/healthz" || u == "/metrics" {
			continue
		}
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		for _, htmx := range []bool{false, true} {
			rec := request(f, http.MethodGet, u+sep+"authr=alice", htmx)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s with authr=: %d, want 400", u, rec.Code)
				continue
			}
			body := rec.Body.String()
			if !strings.Contains(body, "no parameter “authr”") || (!strings.Contains(body, "accepts") && !strings.Contains(body, "takes no parameters")) {
				t.Errorf("%s: the 400 does not name the parameter and the accepted ones:\n%s", u, body)
			}
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("only %d routes checked", checked)
	}
	// Parameters that work are accepted where they belong.
	for _, u := range []string{"/merge-requests?author=alice&q=web&sort=title", "/deployments?q=prod&sort=mrs", "/compare?of=teams&sort=-cycle",
		"/coverage?below_target=true", "/cycle-time/slowest?limit=20", "/digest?week=2026-W10&format=text"} {
		if rec := f.get(u, true); rec.Code != http.StatusOK {
			t.Errorf("%s: %d", u, rec.Code)
		}
	}
	mustContain(t, f.get("/?q=x", false).Body.String(), "/ accepts period, from, to, service, team, by, was")
}

// [privacy] authors = false: no per-person view, no names on pages; the CSV keeps its author
// column (SPEC section 4).
func TestPrivacyHidesAuthors(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("privacy.toml", []byte("[privacy]\nauthors = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	for _, p := range []string{"/authors/alice", "/merge-requests?author=alice"} {
		rec := f.get(p, false)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Per-person views are turned off") {
			t.Errorf("%s: %d, want 404 saying per-person views are off", p, rec.Code)
		}
	}
	for _, p := range []string{"/merge-requests", "/cycle-time", "/approvals", "/merge-requests/1/2", "/merge-requests?q=alice", "/compare"} {
		for _, htmx := range []bool{false, true} {
			rec := f.get(p, htmx)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d", p, rec.Code)
			}
			body := rec.Body.String()
			for _, name := range []string{">alice<", ">bob<", "/authors/"} {
				if strings.Contains(body, name) {
					t.Errorf("%s (htmx %v) shows %q", p, htmx, name)
				}
			}
		}
	}
	if body := f.get("/merge-requests?q=alice", false).Body.String(); !strings.Contains(body, "No merge requests match") {
		t.Errorf("the search finds authors by name with names hidden")
	}
	if body := f.get("/export/merge-requests.csv", false).Body.String(); !strings.Contains(body, "alice") {
		t.Errorf("the CSV lost its author column")
	}
}
