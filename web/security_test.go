package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"golang.org/x/net/html"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// securityFixture is the fixture with a team, a deploy window, agreements and a tech-debt MR,
// so that every page has its charts, tables and drill-downs to render.
func securityFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	cfg, err := config.Parse("security.toml", []byte(`
[[team]]
name = "api-team"
services = ["acme/api"]

[deploy_window]
days = ["mon", "tue", "wed"]
start = "09:00"
end = "12:00"

[agreements]
approvals = 2
cycle_time_p50 = "48h"
`))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	withTechDebt(f) // restarts the server with f.cfg
	return f
}

// routeSamples are realistic URLs for the routes with parameters; every other route is
// requested at its own path.
func routeSamples(f *fixture) map[string][]string {
	var static []string
	for _, u := range f.srv.r.assets.url {
		static = append(static, u)
	}
	sort.Strings(static)
	var exports []string
	for _, d := range metrics.Datasets {
		exports = append(exports, "/export/"+d+".csv?period=custom&from=2026-03-02&to=2026-03-15")
	}
	return map[string][]string{
		"/static/*":                     static,
		"/export/:file":                 exports,
		"/merge-requests/:project/:iid": {"/merge-requests/1/1", "/merge-requests/1/3", "/merge-requests/2/1"},
		"/authors/:username":            {"/authors/alice", "/authors/bob?period=custom&from=2026-03-02&to=2026-03-15"},
	}
}

// routeURLs are the URLs of every route in the route table, with samples for parameters.
func routeURLs(t *testing.T, f *fixture) (urls []string, methods map[string]string) {
	t.Helper()
	samples := routeSamples(f)
	methods = map[string]string{}
	for _, r := range f.srv.echo.Router().Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the 404 answers are among the errors below
		}
		us := []string{r.Path}
		if strings.ContainsAny(r.Path, ":*") {
			us = samples[r.Path]
			if len(us) == 0 {
				t.Errorf("route %s %s has parameters and no sample URL: add one to routeSamples", r.Method, r.Path)
			}
		}
		for _, u := range us {
			urls = append(urls, u)
			methods[u] = r.Method
		}
	}
	t.Logf("%d routes, %d URLs", len(f.srv.echo.Router().Routes()), len(urls))
	if len(urls) < 15 {
		t.Fatalf("the route table lists only %d routes: %v", len(urls), urls)
	}
	return urls, methods
}

// checkSecurityHeaders fails unless rec carries Pacer's security headers. The digest email
// (/digest?format=html) has its own policy and may be framed by the preview page.
func checkSecurityHeaders(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{}
	for _, s := range securityHeaderValues {
		want[s.name] = s.value
	}
	if email := strings.Contains(what, "format=html") && strings.HasPrefix(what, "/digest"); email {
		want["Content-Security-Policy"] = emailCSP
		want["X-Frame-Options"] = "SAMEORIGIN"
	}
	for name, value := range want {
		if got := rec.Header().Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("%s (status %d): %s = %q, want %q", what, rec.Code, name, got, value)
		}
	}
}

func request(f *fixture, method, target string, htmx bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// Every route of the route table, and every kind of error, answers with the security headers:
// pages, HTMX fragments and sections, CSV, static files, the digest's formats, HEAD requests,
// and 400, 404 and 405 answers.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	f := securityFixture(t)
	urls, methods := routeURLs(t, f)
	for _, u := range urls {
		for _, htmx := range []bool{false, true} {
			rec := request(f, methods[u], u, htmx)
			// A section asked for outside HTMX redirects to its page. A state-changing
			// request without its form (and CSRF token) may be refused: only its headers count.
			if methods[u] == http.MethodGet && rec.Code >= 400 {
				t.Errorf("%s %s (htmx %v): status %d, want a realistic sample that works", methods[u], u, htmx, rec.Code)
			}
			checkSecurityHeaders(t, u, rec)
		}
		if methods[u] == http.MethodGet {
			checkSecurityHeaders(t, "HEAD "+u, request(f, http.MethodHead, u, false))
		}
	}
	for _, c := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, "/?from=2026-13-01", http.StatusBadRequest},
		{http.MethodGet, "/cycle-time?service=nope", http.StatusNotFound},
		{http.MethodGet, "/export/metrics.csv?by=year", http.StatusBadRequest},
		{http.MethodGet, "/export/nothing.csv", http.StatusNotFound},
		{http.MethodGet, "/static/site.0000000000.css", http.StatusNotFound},
		{http.MethodGet, "/no-such-page", http.StatusNotFound},
		{http.MethodGet, "/digest?week=soon", http.StatusBadRequest},
		{http.MethodGet, "/digest?week=2026-W10&format=html", http.StatusOK},
		{http.MethodGet, "/digest?week=2026-W10&format=text", http.StatusOK},
		{http.MethodHead, "/no-such-page", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/export/metrics.csv", http.StatusMethodNotAllowed},
	} {
		for _, htmx := range []bool{false, true} {
			rec := request(f, c.method, c.target, htmx)
			if rec.Code != c.status {
				t.Errorf("%s %s: status %d, want %d", c.method, c.target, rec.Code, c.status)
			}
			checkSecurityHeaders(t, c.target, rec)
		}
	}
}

// The policy itself: only Pacer's own origin, nothing inline, no eval, no framing.
func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string]string{}
	for d := range strings.SplitSeq(dashboardCSP, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if _, dup := directives[name]; dup {
			t.Errorf("directive %s appears twice", name)
		}
		directives[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self'",
		"connect-src":     "'self'",
		"frame-src":       "'self'", // the digest preview frames the email
		"form-action":     "'self'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("%s = %q, want %q", name, directives[name], value)
		}
	}
	for name := range directives {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected directive %s %s", name, directives[name])
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "strict-dynamic", "*", "data:", "http:", "https:"} {
		for name, value := range directives {
			if slices.Contains(strings.Fields(value), bad) || slices.Contains(strings.Fields(value), "'"+bad+"'") {
				t.Errorf("%s allows %s", name, bad)
			}
		}
	}
}

// inlineCode lists what in an HTML document the policy would block or that needs eval: a
// <script> without src (or with one from elsewhere), a <style> element, a style attribute,
// an event-handler attribute (onclick=…), hx-on, javascript: URLs, and js: values of htmx
// attributes. Text is not markup: an MR titled "onload=" is no event handler.
func inlineCode(body string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return found
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[a.Key] = a.Val
			key, val := a.Key, strings.ToLower(strings.TrimSpace(a.Val))
			switch {
			case key == "style":
				found = append(found, "a style attribute on <"+tok.Data+">")
			case strings.HasPrefix(key, "on"):
				found = append(found, "an event handler "+key+"= on <"+tok.Data+">")
			case strings.HasPrefix(key, "hx-on") || strings.HasPrefix(key, "data-hx-on"):
				found = append(found, key+" on <"+tok.Data+"> (htmx needs eval for it)")
			case strings.HasPrefix(val, "javascript:"):
				found = append(found, "a javascript: URL in "+key+" on <"+tok.Data+">")
			case strings.HasPrefix(key, "hx-") && strings.HasPrefix(val, "js:"):
				found = append(found, "a js: value in "+key+" on <"+tok.Data+"> (htmx needs eval for it)")
			}
		}
		switch tok.Data {
		case "style":
			found = append(found, "a <style> element")
		case "script":
			if src := attrs["src"]; src == "" {
				found = append(found, "a <script> without src")
			} else if !strings.HasPrefix(src, "/static/") {
				found = append(found, "a <script> from "+src)
			}
		case "link":
			if strings.Contains(attrs["rel"], "stylesheet") && !strings.HasPrefix(attrs["href"], "/static/") {
				found = append(found, "a stylesheet from "+attrs["href"])
			}
		}
	}
}

func TestInlineCodeFinds(t *testing.T) {
	for _, c := range []struct {
		body string
		want int
	}{
		{`<p title="onload=x">onclick="alert(1)" &lt;script&gt;</p><script src="/static/htmx.1.js" defer></script>`, 0},
		{`<svg><rect fill="#fff" width="3"></rect></svg><link rel="stylesheet" href="/static/site.1.css">`, 0},
		{`<script>alert(1)</script>`, 1},
		{`<script src="https://cdn.example/x.js"></script>`, 1},
		{`<style>p{}</style>`, 1},
		{`<p style="color:red">`, 1},
		{`<svg><rect STYLE="--x:1"/></svg>`, 1},
		{`<button onclick="go()">`, 1},
		{`<a href=" JavaScript:go()">`, 1},
		{`<div hx-on:click="go()" hx-vals='js:{a: 1}'>`, 2},
		{`<link rel="stylesheet" href="https://cdn.example/x.css">`, 1},
	} {
		if got := inlineCode(c.body); len(got) != c.want {
			t.Errorf("%s: found %q, want %d", c.body, got, c.want)
		}
	}
}

// crawl requests every route of the route table, then every same-origin link, source, form
// action and hx-get the answers carry, one URL per shape (path and parameter names), as a
// full page and as an HTMX request; it calls visit with each answer.
func crawl(t *testing.T, f *fixture, start []string, visit func(target string, htmx bool, rec *httptest.ResponseRecorder)) int {
	t.Helper()
	seen := map[string]bool{}
	queue := slices.Clone(start)
	n := 0
	for len(queue) > 0 && n < 2000 {
		target := queue[0]
		queue = queue[1:]
		u, err := url.Parse(target)
		if err != nil {
			t.Errorf("bad link %q: %v", target, err)
			continue
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range u.Query() {
				if !yield(k) {
					return
				}
			}
		})
		shape := u.Path + "?" + strings.Join(keys, "&")
		if seen[shape] {
			continue
		}
		seen[shape] = true
		for _, htmx := range []bool{false, true} {
			n++
			rec := request(f, http.MethodGet, target, htmx)
			visit(target, htmx, rec)
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || htmx {
				continue
			}
			z := html.NewTokenizer(strings.NewReader(rec.Body.String()))
			for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
				if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
					continue
				}
				for _, a := range z.Token().Attr {
					if a.Key != "href" && a.Key != "src" && a.Key != "action" && a.Key != "hx-get" {
						continue
					}
					ref, err := url.Parse(a.Val)
					if err != nil || ref.Host != "" || ref.Scheme != "" || ref.Path == "" {
						continue // elsewhere (GitLab), or a fragment of this page
					}
					queue = append(queue, u.ResolveReference(ref).RequestURI())
				}
			}
		}
	}
	return n
}

// No page carries markup the policy would block: every page of the route table and every
// page linked from one (drill-downs, sections, error pages), full and as an HTMX fragment.
// The digest email (/digest?format=html) is exempt: it is the email's own document, whose
// inline styles email clients need, answered under a policy of its own.
func TestNoInlineCodeInPages(t *testing.T) {
	f := securityFixture(t)
	urls, _ := routeURLs(t, f)
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	var start []string
	for _, u := range urls {
		start = append(start, u)
		if !strings.Contains(u, "?") && !strings.HasPrefix(u, "/static/") {
			start = append(start, u+"?"+rng, u+"?"+rng+"&by=day", u+"?"+rng+"&team=api-team")
		}
	}
	start = append(start, "/?from=2026-13-01", "/no-such-page", "/merge-requests?limit=nope", "/digest?week=2026-W10")
	pages := 0
	n := crawl(t, f, start, func(target string, htmx bool, rec *httptest.ResponseRecorder) {
		checkSecurityHeaders(t, target, rec)
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			return
		}
		if strings.HasPrefix(target, "/digest?") && strings.Contains(target, "format=html") {
			return
		}
		pages++
		for _, m := range inlineCode(rec.Body.String()) {
			t.Errorf("%s (htmx %v, status %d): %s", target, htmx, rec.Code, m)
		}
	})
	t.Logf("%d requests, %d HTML answers", n, pages)
	if pages < 60 {
		t.Errorf("only %d HTML answers were checked", pages)
	}
}

// htmx stays inside the policy: it injects no indicator <style> (site.css carries those
// rules), never evaluates code, and runs no script from a response.
func TestHTMXStaysInsideCSP(t *testing.T) {
	f := newFixture(t)
	body := f.get("/", false).Body.String()
	var config string
	z := html.NewTokenizer(strings.NewReader(body))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		tok := z.Token()
		if tok.Data != "meta" {
			continue
		}
		var name, content string
		for _, a := range tok.Attr {
			switch a.Key {
			case "name":
				name = a.Val
			case "content":
				content = a.Val
			}
		}
		if name == "htmx-config" {
			config = content
		}
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatalf("htmx-config %q: %v", config, err)
	}
	for _, k := range []string{"includeIndicatorStyles", "allowEval", "allowScriptTags"} {
		if cfg[k] != false {
			t.Errorf("htmx-config %s = %v, want false", k, cfg[k])
		}
	}

	a := f.srv.r.assets
	js := string(a.byURL[a.url["htmx.min.js"]].body)
	for _, k := range []string{"includeIndicatorStyles", "allowEval", "allowScriptTags", `"htmx-config"`} {
		if !strings.Contains(js, k) {
			t.Errorf("htmx.min.js no longer knows %s: check the configuration after an upgrade", k)
		}
	}
	css := string(a.byURL[a.url["site.css"]].body)
	for _, rule := range []string{".htmx-indicator {", ".htmx-request .htmx-indicator, .htmx-request.htmx-indicator {"} {
		if !strings.Contains(css, rule) {
			t.Errorf("site.css lacks the indicator rule %q that htmx would otherwise inject", rule)
		}
	}
	for _, n := range views.NavItems {
		if rec := f.get(n.Path, false); rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), `name="htmx-config"`) {
			t.Errorf("%s has no htmx-config", n.Path)
		}
	}
}

// Static files are served with the type nosniff holds the browser to (a script or stylesheet
// of another type is refused), and carry nothing the policy would block.
func TestStaticFilesUnderPolicy(t *testing.T) {
	f := newFixture(t)
	want := map[string]string{".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".txt": "text/plain"}
	for name, u := range f.srv.r.assets.url {
		rec := f.get(u, false)
		checkSecurityHeaders(t, u, rec)
		ext := name[strings.LastIndex(name, "."):]
		if ct := rec.Header().Get("Content-Type"); want[ext] == "" || !strings.HasPrefix(ct, want[ext]) {
			t.Errorf("%s is served as %q, want %q", name, ct, want[ext])
		}
		body := rec.Body.String()
		switch ext {
		case ".svg":
			for _, m := range inlineCode(body) {
				t.Errorf("%s: %s", name, m)
			}
		case ".css":
			for _, bad := range []string{"@import", "url(", "expression("} {
				if strings.Contains(body, bad) {
					t.Errorf("%s uses %s: the policy allows no font, no other origin and no CSS expression (extend dashboardCSP, and this test, if a file of Pacer's own must load)", name, bad)
				}
			}
		}
	}
}
