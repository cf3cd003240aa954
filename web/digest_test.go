package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pacer-dev/pacer/config"
)

func TestDigestPreview(t *testing.T) {
	f := newFixture(t)

	// The page: full, and as an HTMX fragment.
	rec := f.get("/digest?week=2026-W10", false)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	checkHeaders(t, rec)
	mustContain(t, body, "<html", "Weekly digest", "Pacer 2026-W10: cycle time p50", "2 – 8 Mar 2026",
		`src="/digest?format=html&amp;week=2026-W10"`, `href="/digest?format=text&amp;week=2026-W10"`,
		`<option value="2026-W10" selected`, "Plain-text part", "No subscription has this scope")
	if m := regexp.MustCompile(`(?i)<script>|<style|\sstyle=|\son[a-z]+=|javascript:`).FindString(body); m != "" {
		t.Errorf("the preview page has inline code the CSP would block: %q", m)
	}
	if strings.Contains(body, "<script>alert(1)") {
		t.Error("the hostile title is unescaped in the page")
	}
	frag := f.get("/digest?week=2026-W10", true)
	if frag.Code != http.StatusOK || strings.Contains(frag.Body.String(), "<html") || !strings.Contains(frag.Body.String(), "Weekly digest") {
		t.Errorf("fragment: %d %.200s", frag.Code, frag.Body)
	}

	// The email in the frame: its own HTML, inline styles allowed, no scripts, framable by us only.
	rec = f.get("/digest?week=2026-W10&format=html", false)
	if rec.Code != http.StatusOK {
		t.Fatalf("format=html: %d", rec.Code)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("email CSP = %q", csp)
	}
	if rec.Header().Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("X-Frame-Options = %q", rec.Header().Get("X-Frame-Options"))
	}
	email := rec.Body.String()
	mustContain(t, email, "<!doctype html>", `<base target="_top">`, "Week 2026-W10", "&lt;script&gt;alert(1)&lt;/script&gt;",
		`href="/cycle-time?by=week&amp;from=2026-03-02&amp;to=2026-03-08"`)
	if strings.Contains(email, "<script>alert") {
		t.Error("the hostile title is unescaped in the email")
	}

	rec = f.get("/digest?week=2026-W10&format=text", false)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
		!strings.Contains(rec.Body.String(), "Week 2026-W10 (2 – 8 Mar 2026)") {
		t.Errorf("format=text: %d %q %.200s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	// Without a week: the last full week by the engine's clock (Wednesday of W13).
	rec = f.get("/digest?service=acme/web", false)
	mustContain(t, rec.Body.String(), "Week 2026-W12", "Service acme/web")
}

func TestDigestPreviewBadInput(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/digest?week=2026-13", http.StatusBadRequest, "not an ISO week"},
		{"/digest?week=2026-W14", http.StatusBadRequest, "has not ended yet"},
		{"/digest?week=2025-W53", http.StatusBadRequest, "does not exist"},
		{"/digest?team=money&service=acme/api", http.StatusBadRequest, "not both"},
		{"/digest?team=nope", http.StatusNotFound, "unknown team"},
		{"/digest?service=nope", http.StatusNotFound, "unknown service"},
		{"/digest?format=pdf", http.StatusBadRequest, "not a format"},
	} {
		for _, htmx := range []bool{false, true} {
			rec := f.get(c.path, htmx)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) {
				t.Errorf("%s (htmx %v): %d, want %d with %q", c.path, htmx, rec.Code, c.status, c.want)
			}
		}
	}
}

// Every dashboard link in the digest opens a page: the digest's URL scheme is the dashboard's.
func TestDigestLinksOpenDashboardPages(t *testing.T) {
	f := newFixture(t)
	for _, scope := range []string{"", "&service=acme/api"} {
		email := f.get("/digest?week=2026-W10&format=html"+scope, false).Body.String()
		hrefs := regexp.MustCompile(`href="(/[^"]*)"`).FindAllStringSubmatch(email, -1)
		if len(hrefs) < 8 {
			t.Fatalf("only %d dashboard links in the digest", len(hrefs))
		}
		for _, h := range hrefs {
			path := strings.ReplaceAll(h[1], "&amp;", "&")
			if rec := f.get(path, false); rec.Code != http.StatusOK {
				t.Errorf("%s: %d", path, rec.Code)
			}
			if !strings.Contains(path, "from=2026-03-02") || !strings.Contains(path, "to=2026-03-08") {
				t.Errorf("%s does not carry the week", path)
			}
		}
	}
}

// An address in two subscriptions gets the first one's digest only (digest.Sender skips the
// rest); the preview of the second scope must not list it among that scope's subscribers.
func TestDigestPreviewListsAnAddressUnderTheScopeItGets(t *testing.T) {
	f := newFixture(t)
	f.cfg.Digest.Subscriptions = []config.Subscription{
		{To: []string{"lead@example.com", "Ana@Example.com"}},
		{To: []string{"ana@example.com", "web@example.com"}, Services: []string{"acme/web"}},
	}
	body := f.get("/digest?week=2026-W10&service=acme/web", false).Body.String()
	mustContain(t, body, "web@example.com")
	if strings.Contains(strings.ToLower(body), "ana@example.com") {
		t.Error("ana@example.com gets the everyone digest but is listed under acme/web")
	}
	body = f.get("/digest?week=2026-W10", false).Body.String()
	mustContain(t, body, "lead@example.com, Ana@Example.com")
}
