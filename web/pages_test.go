package web

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
)

var nextLink = regexp.MustCompile(`<a href="([^"]*)"[^>]*rel="next"`)

// pagesOf follows a list's Next links from path, returning each page's body.
func pagesOf(t *testing.T, f *fixture, path string, htmx bool) []string {
	t.Helper()
	var bodies []string
	for len(bodies) < 50 {
		rec := f.get(path, htmx)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, rec.Code, rec.Body)
		}
		body := rec.Body.String()
		bodies = append(bodies, body)
		m := nextLink.FindStringSubmatch(body)
		if m == nil {
			return bodies
		}
		path = html.UnescapeString(m[1])
		if !strings.Contains(path, "after=") {
			t.Fatalf("a Next link without a position: %s", path)
		}
	}
	t.Fatal("the pages never end")
	return nil
}

// The lists read a page at a time: each page's Next link starts the next page just after it,
// the pages together are the whole list in its order, and the text says which rows are shown.
func TestListPagesFollowOneAnother(t *testing.T) {
	f := newFixture(t)
	titles := []string{"Improve api part 1", "Improve api part 2", "Improve api part 3", "Improve api part 4", "Fix the crash in checkout",
		"Web change 1", "Web change 2", "&lt;script&gt;"}
	for _, sort := range []string{"oldest", "title", "slowest", "service", "recent"} {
		for _, htmx := range []bool{false, true} {
			whole := f.get("/merge-requests?limit=2000&sort="+sort, htmx).Body.String()
			want := rowOrder(whole, titles...)
			if len(want) < 5 {
				t.Fatalf("sort=%s: only %d MRs in the fixture's list", sort, len(want))
			}
			var got []string
			pages := pagesOf(t, f, "/merge-requests?limit=2&sort="+sort, htmx)
			for i, body := range pages {
				got = append(got, rowOrder(body, titles...)...)
				if i > 0 {
					mustContain(t, body, "« First page", "Showing "+strconv.Itoa(2*i+1)+"–")
				} else {
					mustContain(t, body, "Showing 2 of "+strconv.Itoa(len(want)))
				}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("sort=%s (htmx %v): pages %q, whole list %q", sort, htmx, got, want)
			}
			if len(pages) != (len(want)+1)/2 {
				t.Errorf("sort=%s: %d pages for %d MRs two at a time", sort, len(pages), len(want))
			}
		}
	}
	// A search's pages: the total is known on the last one.
	n := len(rowOrder(f.get("/merge-requests?limit=2000&q=api", false).Body.String(), titles...))
	pages := pagesOf(t, f, "/merge-requests?limit=1&q=api", false)
	if n < 2 || len(pages) != n {
		t.Fatalf("q=api: %d pages for %d MRs", len(pages), n)
	}
	mustContain(t, pages[0], "Merge requests delivered matching “api”", "Showing 1–1")
	last := strconv.Itoa(n)
	mustContain(t, pages[n-1], last+" merge requests delivered", "Showing "+last+"–"+last+" of "+last)

	// Deployments.
	var ids []string
	for _, body := range pagesOf(t, f, "/deployments?limit=1&sort=oldest", false) {
		for _, id := range []string{"/jobs/101", "/jobs/102", "/jobs/201"} {
			if strings.Contains(body, id) {
				ids = append(ids, id)
			}
		}
	}
	if strings.Join(ids, " ") != "/jobs/101 /jobs/102 /jobs/201" {
		t.Errorf("deployment pages: %v", ids)
	}

	// A position that is not one the list gave is refused with a way out.
	for _, p := range []string{"/merge-requests?after=nonsense", "/deployments?after=e30", "/merge-requests?after=" + strings.Repeat("x", 3000)} {
		rec := f.get(p, false)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "first page") {
			t.Errorf("%.50s: %d, want 400 pointing to the first page\n%s", p, rec.Code, rec.Body)
		}
	}
	// A position of another order is refused too.
	first := f.get("/merge-requests?limit=1&sort=title", false).Body.String()
	m := nextLink.FindStringSubmatch(first)
	if m == nil {
		t.Fatal("no Next link")
	}
	other := strings.Replace(html.UnescapeString(m[1]), "sort=title", "sort=slowest", 1)
	if rec := f.get(other, false); rec.Code != http.StatusBadRequest {
		t.Errorf("a title position on the slowest list: %d", rec.Code)
	}
}

// Requests beyond the few that work at once wait their turn and are all answered; a request
// given up while waiting leaves without its turn.
func TestRequestsWaitTheirTurn(t *testing.T) {
	f := newFixture(t)
	paths := []string{"/", "/merge-requests?limit=2", "/deployments", "/cycle-time", "/healthz"}
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil))
			codes <- rec.Code
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a concurrent request answered %d", c)
		}
	}
	// A request whose client is gone before its turn is not served.
	slots := 2 * max(1, runtime.GOMAXPROCS(0))
	block := make(chan struct{})
	h := f.srv.admit(func(c *echo.Context) error { <-block; return c.NoContent(http.StatusOK) })
	var busy sync.WaitGroup
	for i := 0; i < slots; i++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			c := f.srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
			h(c)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := f.srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), httptest.NewRecorder())
	if err := h(c); err == nil {
		t.Error("a request given up while waiting was served")
	}
	close(block)
	busy.Wait()
}
