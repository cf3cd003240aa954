package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A reload naming the page's ETag gets 304 with no body while the facts stand; another query
// or a fragment request has another ETag; the sync page is always answered in full.
func TestConditionalPages(t *testing.T) {
	f := newFixture(t)
	get := func(path, etag string, hx bool) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if hx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec
	}
	for _, path := range []string{"/", "/cycle-time", "/merge-requests", "/export/merge-requests.csv", "/agreements"} {
		first := get(path, "", false)
		etag := first.Header().Get("ETag")
		if first.Code != http.StatusOK || etag == "" {
			t.Fatalf("%s: %d, ETag %q", path, first.Code, etag)
		}
		again := get(path, etag, false)
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with its ETag: %d, %d bytes", path, again.Code, again.Body.Len())
		}
		if hx := get(path, etag, true); hx.Code == http.StatusNotModified || hx.Header().Get("ETag") == etag {
			t.Errorf("%s: the fragment shares the full page's ETag", path)
		}
		if other := get(path+"?by=day", etag, false); other.Code == http.StatusNotModified {
			t.Errorf("%s?by=day answered 304 with the ETag of %s", path, path)
		}
	}
	// New facts (a refresh after a change): the old ETag no longer matches.
	first := get("/", "", false)
	f.mr(1, 99, "A late change", "late", "[]", 3600, 7200)
	if err := f.eng.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec := get("/", first.Header().Get("ETag"), false); rec.Code != http.StatusOK {
		t.Errorf("after a refresh the old ETag still answered %d", rec.Code)
	}
	if rec := get("/sync", "", false); rec.Header().Get("ETag") != "" {
		t.Errorf("/sync has an ETag: it reads sync runs that move without a refresh")
	}
}
