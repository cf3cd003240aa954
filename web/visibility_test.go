package web

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// hidden are the words of the projects the signed-in person of the visibility tests may not
// see: acme/web's path, MR titles and commit, and acme/secret's path, MR titles, author,
// commit and team.
var invisible = []string{
	"acme/web", "Web change", "chore: bump deps", "bbbbbbbbbbbb1",
	"acme/secret", "Secret merger plan", "Leak the roadmap", "mallory", "ccccccccccc1", "secret-team",
}

// withSecretProject adds a third project, acme/secret, with MRs by mallory merged and
// deployed in W11, a pipeline with coverage, and a team that is only that project.
func withSecretProject(f *fixture) {
	f.t.Helper()
	f.project(3, "acme/secret")
	f.exec(`INSERT INTO users(id, username, bot, fetched_at) VALUES (3, 'mallory', 0, 0)`)
	f.exec(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (31, 3, 'production', 'production', 1)`)
	w11 := week10.AddDate(0, 0, 7).Unix()
	for iid, title := range map[int64]string{1: "Secret merger plan", 2: "Leak the roadmap"} {
		f.exec(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
			source_branch, target_branch, created_at, updated_at, merged_at, web_url)
			VALUES (3, ?, ?, ?, 'merged', 3, 'mallory', '["hotfix"]', 'hotfix/x', 'main', ?, ?, ?, ?)`,
			iid, 3000+iid, title, w11-86400, w11+iid*3600, w11+iid*3600, "https://gitlab.example.com/acme/secret/-/merge_requests/1")
		f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (3, ?, ?, ?)`, iid, "s"+string(rune('0'+iid)), w11-2*86400)
		f.note(3, iid, "approved", 3, "mallory", w11+iid*3600-60)
	}
	f.deploy(301, 3, 31, "ccccccccccc1", w11+86400, 1, 2)
	f.exec(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url) VALUES
		(503, 3, 'main', 'ccccccccccc1', 'success', ?, ?, ?, 55, 'https://gitlab.example.com/acme/secret/-/pipelines/503')`, w11, w11, w11+600)
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (3, ?, ?, ?, '', 5)`, w11, w11, w11)
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (1, ?, ?, ?, '', 5)`, w11, w11, w11)
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (2, ?, ?, ?, '', 5)`, w11, w11, w11)
}

// visibilityConfig has a team per project, so the team menus have something to hide.
const visibilityConfig = `
gitlab_url = "https://gitlab.example.com"
base_url   = "https://example.com"

[[team]]
name = "api-team"
services = ["acme/api"]

[[team]]
name = "web-and-api"
services = ["acme/web", "acme/api"]

[[team]]
name = "secret-team"
services = ["acme/secret"]

[auth]
mode = "gitlab"
client_id = "pacer-test"
`

// signedInFixture is the fixture with acme/secret, served with sign-in on, and the session
// cookie of a person who may read acme/api only (GitLab also lists a project Pacer does not
// have).
func signedInFixture(t *testing.T) (*fixture, *http.Cookie) {
	t.Helper()
	f := newFixture(t)
	withSecretProject(f)
	cfg, err := config.Parse("visibility.toml", []byte(visibilityConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Secret = "test-secret"
	f.cfg = cfg
	f.start()
	ctx := context.Background()
	if err := f.st.UpsertAuthUser(ctx, store.AuthUser{ID: 7, Username: "carol", Name: "Carol Api", SignedInAt: testNow}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetUserProjects(ctx, 7, []int64{1, 999}, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw := "session-of-carol"
	h := sha256.Sum256([]byte(raw))
	now := time.Now()
	if err := f.st.CreateSession(ctx, store.Session{IDHash: h[:], UserID: 7, CSRF: "csrf-of-carol", CreatedAt: now, SeenAt: now}); err != nil {
		t.Fatal(err)
	}
	return f, &http.Cookie{Name: f.srv.access.cookie, Value: raw}
}

// authServer builds the fixture's server with sign-in on (a provider that is never called
// here) and the auth service's clock.
func authServer(t *testing.T, f *fixture, now func() time.Time) *Server {
	t.Helper()
	p, err := auth.NewProvider(auth.ProviderOptions{GitLabURL: "https://gitlab.example.com", ClientID: "pacer-test",
		ClientSecret: "test-secret", CallbackURL: "https://example.com/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Options{Store: f.st, Config: f.cfg, Provider: p, Now: now})
	srv, err := New(Options{Store: f.st, Engine: f.eng, Config: f.cfg, Auth: a,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// walkQueries are realistic query strings, tried on every route: periods, ranges, filters,
// the drill-down predicates, the digest's weeks and formats.
var walkQueries = []string{
	"",
	"?period=12w",
	"?period=4w&by=day",
	"?period=custom&from=2026-03-01&to=2026-03-20",
	"?period=custom&from=2026-03-09&to=2026-03-15&by=day",
	"?service=acme/api",
	"?team=api-team",
	"?team=web-and-api",
	"?sort=slowest&limit=50",
	"?rework=true&period=custom&from=2026-03-01&to=2026-03-20",
	"?change_failure=true",
	"?unapproved=true",
	"?week=2026-W10",
	"?week=2026-W11&format=html",
	"?week=2026-W11&format=text",
	"?week=2026-W12&team=api-team",
}

// walkURLs are the GET URLs of every route in the route table: each route's path (or samples
// for the routes with parameters) with every walk query.
func walkURLs(t *testing.T, f *fixture) []string {
	t.Helper()
	var static []string
	for _, u := range f.srv.r.assets.url {
		static = append(static, u)
	}
	sort.Strings(static)
	var urls []string
	routes := f.srv.echo.Router().Routes()
	for _, r := range routes {
		if r.Method != http.MethodGet {
			continue // the one POST, sign-out, is tried in the sign-in tests
		}
		switch {
		case r.Path == "/static/*":
			urls = append(urls, static...)
		case r.Path == "/export/:file":
			for _, d := range metrics.Datasets {
				for _, q := range walkQueries {
					urls = append(urls, "/export/"+d+".csv"+q)
				}
			}
		case r.Path == "/merge-requests/:project/:iid":
			// Visible, and in acme/secret (a 404 that must say nothing of it).
			for _, q := range walkQueries {
				urls = append(urls, "/merge-requests/1/1"+q, "/merge-requests/3/1"+q)
			}
		case r.Path == "/authors/:username":
			for _, q := range walkQueries {
				urls = append(urls, "/authors/alice"+q, "/authors/bob"+q)
			}
		case strings.ContainsAny(r.Path, ":*"):
			t.Errorf("route %s has parameters and no samples in walkURLs: add them", r.Path)
		default:
			for _, q := range walkQueries {
				urls = append(urls, r.Path+q)
			}
		}
	}
	if len(routes) < 18 {
		t.Fatalf("the route table has only %d routes", len(routes))
	}
	return urls
}

// As a person who may read one project out of three, every route of the route table, with
// realistic queries, as a page and as an HTMX fragment, answers without a word of the other
// two: no path, no MR title, no author, no commit, no team of theirs.
func TestRouteWalkShowsOnlyVisibleProjects(t *testing.T) {
	f, cookie := signedInFixture(t)
	urls := walkURLs(t, f)
	seen := map[string]bool{}
	ok, refused := 0, 0
	for _, u := range urls {
		for _, htmx := range []bool{false, true} {
			req := httptest.NewRequest(http.MethodGet, u, nil)
			req.AddCookie(cookie)
			req.Header.Set("Accept", "text/html")
			if htmx {
				req.Header.Set("HX-Request", "true")
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code == http.StatusOK {
				ok++
			}
			if rec.Code == http.StatusBadRequest && strings.Contains(body, "This page has no parameter") {
				refused++ // a walk query naming a parameter this route does not read
			}
			if rec.Code >= 500 {
				t.Errorf("GET %s (htmx %v): %d", u, htmx, rec.Code)
			}
			for _, w := range invisible {
				if strings.Contains(body, w) || strings.Contains(rec.Header().Get("Location"), w) {
					t.Errorf("GET %s (htmx %v, status %d) mentions %q", u, htmx, rec.Code, w)
				}
			}
			for _, w := range []string{"acme/api", "Improve api part", "Carol Api"} {
				if strings.Contains(body, w) {
					seen[w] = true
				}
			}
		}
	}
	t.Logf("%d requests, %d answered 200, %d refused a parameter the route does not read", 2*len(urls), ok, refused)
	if ok < (2*len(urls)-refused)/2 {
		t.Errorf("only %d of %d requests answered 200: the walk must see real pages", ok, 2*len(urls)-refused)
	}
	for _, w := range []string{"acme/api", "Improve api part", "Carol Api"} {
		if !seen[w] {
			t.Errorf("no response mentions %q: the person sees nothing at all?", w)
		}
	}
}

// A machine token granted acme/api gets its CSV with acme/api's rows only; one granted
// nothing named sees every project; a revoked token is refused at once.
func TestTokensSeeTheirProjectsAndRevokedOnesAreRefused(t *testing.T) {
	f, _ := signedInFixture(t)
	a := auth.New(auth.Options{Store: f.st, Config: f.cfg})
	ctx := context.Background()
	api, err := a.CreateToken(ctx, "api-only", []string{"acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := a.CreateToken(ctx, "everything", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(token, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec
	}
	for _, d := range metrics.Datasets {
		rec := get(api, "/export/"+d+".csv?period=custom&from=2026-03-01&to=2026-03-20")
		if rec.Code != http.StatusOK {
			t.Fatalf("%s with the api token: %d %s", d, rec.Code, rec.Body)
		}
		for _, w := range invisible {
			if strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s with the api token mentions %q", d, w)
			}
		}
	}
	if rec := get(api, "/export/merge-requests.csv?period=custom&from=2026-03-01&to=2026-03-20"); !strings.Contains(rec.Body.String(), "Improve api part") {
		t.Errorf("the api token's MR export lacks acme/api's MRs:\n%s", rec.Body)
	}
	if rec := get(all, "/export/merge-requests.csv?period=custom&from=2026-03-01&to=2026-03-20"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Secret merger plan") {
		t.Errorf("a token granted every project: %d\n%s", rec.Code, rec.Body)
	}
	// A token opens data, not pages; a bad or missing one is 401, never a redirect.
	if rec := get(api, "/"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a token on a page: %d, want 401", rec.Code)
	}
	if rec := get("pacer_nonsense", "/export/metrics.csv"); rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("an unknown token: %d %v", rec.Code, rec.Header())
	}
	if rec := get("", "/export/metrics.csv"); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token and no session on a CSV, as a script asks: %d, want 401", rec.Code)
	}
	if err := a.RevokeToken(ctx, "api-only"); err != nil {
		t.Fatal(err)
	}
	if rec := get(api, "/export/metrics.csv"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d, want 401", rec.Code)
	}
	// An expired token is refused too.
	past := time.Now().Add(-time.Minute)
	old, err := a.CreateToken(ctx, "old", nil, &past)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(old, "/export/metrics.csv"); rec.Code != http.StatusUnauthorized {
		t.Errorf("an expired token: %d, want 401", rec.Code)
	}
}

// A state-changing request needs its session's CSRF token: forged, missing, or from another
// site, it gets 403 and the session lives on.
func TestCSRF(t *testing.T) {
	f, cookie := signedInFixture(t)
	post := func(body, origin string) int {
		req := httptest.NewRequest(http.MethodPost, "/auth/signout", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct{ body, origin string }{
		{"", ""},
		{"csrf=forged", ""},
		{"csrf=csrf-of-caro", ""},
		{"csrf=csrf-of-carol", "https://evil.example.net"},
	} {
		if code := post(c.body, c.origin); code != http.StatusForbidden {
			t.Errorf("sign-out with %q from %q: %d, want 403", c.body, c.origin, code)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "text/html")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `name="csrf" value="csrf-of-carol"`) {
		t.Fatalf("the session did not survive forged sign-outs, or the page lacks the sign-out form: %d", rec.Code)
	}
	if code := post("csrf=csrf-of-carol", "https://example.com"); code != http.StatusSeeOther {
		t.Errorf("sign-out with the session's token: %d, want 303", code)
	}
	rec = httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/auth/signin") {
		t.Errorf("after sign-out: %d %s, want a redirect to sign in", rec.Code, rec.Header().Get("Location"))
	}
}

// A request for another host name is refused (DNS rebinding); loopback names and base_url's
// host are answered; /healthz answers any.
func TestHostCheck(t *testing.T) {
	f := newFixture(t)
	for host, want := range map[string]int{
		"localhost:8080":     http.StatusOK,
		"127.0.0.1:8080":     http.StatusOK,
		"[::1]:8080":         http.StatusOK,
		"example.com":        http.StatusOK, // the fixture's base host
		"attacker.example":   http.StatusMisdirectedRequest,
		"attacker.example:1": http.StatusMisdirectedRequest,
	} {
		req := httptest.NewRequest(http.MethodGet, "/sync", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Host = "10.0.0.7:8080"
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz from a probe: %d", rec.Code)
	}
}

// With no [auth], every page says the dashboard is open; with sign-in, it names the person.
func TestHeaderSaysOpenOrWhoIsSignedIn(t *testing.T) {
	f := newFixture(t)
	if rec := f.get("/", false); !strings.Contains(rec.Body.String(), "Open dashboard:") {
		t.Errorf("the open dashboard does not say so")
	}
	g, cookie := signedInFixture(t)
	req := httptest.NewRequest(http.MethodGet, "/releases", nil)
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	g.srv.ServeHTTP(rec, req)
	if b := rec.Body.String(); strings.Contains(b, "Open dashboard:") || !strings.Contains(b, "Carol Api") || !strings.Contains(b, `action="/auth/signout"`) {
		t.Errorf("signed-in header: %d", rec.Code)
	}
}

// A session past its idle or absolute expiry is bounced to sign in, and its row is gone.
func TestExpiredSessionsBounceToSignIn(t *testing.T) {
	f, cookie := signedInFixture(t)
	for _, later := range []time.Duration{13 * time.Hour, 8 * 24 * time.Hour} {
		clock := time.Now().Add(later)
		srv := authServer(t, f, func() time.Time { return clock })
		req := httptest.NewRequest(http.MethodGet, "/cycle-time?period=4w", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/auth/signin?next=%2Fcycle-time%3Fperiod%3D4w" {
			t.Errorf("%s later: %d %q, want a redirect to sign in and back", later, rec.Code, rec.Header().Get("Location"))
		}
		// HTMX is told to load the sign-in page as a whole page.
		req.Header.Set("HX-Request", "true")
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("HX-Redirect"), "/auth/signin") {
			t.Errorf("%s later, HTMX: %d %v", later, rec.Code, rec.Header())
		}
	}
}
