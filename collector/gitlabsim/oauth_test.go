package gitlabsim

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/oauth2"
)

const testCallback = "http://127.0.0.1:9/auth/callback" // never contacted: the test reads Location

// oauthFixture is a served organisation with one registered application and its oauth2 config.
type oauthFixture struct {
	org  *Org
	srv  *Server
	app  OAuthApp
	conf *oauth2.Config
}

func newOAuthFixture(t *testing.T, opt ServerOptions) *oauthFixture {
	t.Helper()
	o := smallOrg(1)
	s := NewServer(o, opt)
	t.Cleanup(s.Close)
	app := s.RegisterOAuthApp(OAuthApp{Name: "Pacer <dev>", RedirectURIs: []string{testCallback}})
	conf := &oauth2.Config{ClientID: app.ClientID, ClientSecret: app.Secret, RedirectURL: testCallback,
		Scopes: []string{"read_api"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL() + "/oauth/authorize", TokenURL: s.URL() + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams}}
	return &oauthFixture{org: o, srv: s, app: app, conf: conf}
}

// browser follows no redirects: the test reads where GitLab sends the person.
var browser = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// signIn opens authURL, submits the form as username and returns the redirect's location.
func signIn(t *testing.T, authURL, username string) *url.URL {
	t.Helper()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: %d %s", resp.StatusCode, body)
	}
	form := url.Values{"username": {username}}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	u, _ := url.Parse(authURL)
	resp, err = browser.PostForm(u.Scheme+"://"+u.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// listMemberProjects reads every page of the membership listing with the token, as Pacer
// does, and returns the ids in order received.
func listMemberProjects(t *testing.T, c *http.Client, base string, perPage int) (ids []int64, pages int) {
	t.Helper()
	next := "1"
	for next != "" {
		resp, err := c.Get(base + "/api/v4/projects?membership=true&simple=true&per_page=" + strconv.Itoa(perPage) + "&page=" + next)
		if err != nil {
			t.Fatal(err)
		}
		var ps []struct {
			ID int64 `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ps)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("projects page %s: %d %v", next, resp.StatusCode, err)
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		pages++
		next = resp.Header.Get("X-Next-Page")
		if (next != "") != strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
			t.Fatalf("X-Next-Page %q disagrees with Link %q", next, resp.Header.Get("Link"))
		}
	}
	return ids, pages
}

func TestOAuthCodeFlowWithPKCE(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	ctx := context.Background()
	users := f.org.Users()
	var everyone, team, one, none User
	for _, u := range users {
		switch {
		case u.Sees == "sees every project" && everyone.Username == "":
			everyone = u
		case strings.HasSuffix(u.Sees, " only"):
			one = u
		case u.Sees == "sees no project":
			none = u
		case strings.HasPrefix(u.Sees, "sees acme/") && strings.Contains(u.Sees, "(") && team.Username == "":
			team = u
		}
	}
	if everyone.Username == "" || team.Username == "" || one.Username == "" || none.Username == "" {
		t.Fatalf("users lack a role: %+v", users)
	}
	for _, u := range []User{everyone, team, one, none} {
		t.Run(u.Username, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			state := "st-" + u.Username
			loc := signIn(t, f.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), u.Username)
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testCallback {
				t.Fatalf("redirected to %s", loc)
			}
			if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
				t.Fatalf("callback query %q", loc.RawQuery)
			}
			tok, err := f.conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "read_api" ||
				time.Until(tok.Expiry) < time.Hour {
				t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
			}
			c := f.conf.Client(ctx, tok)

			resp, err := c.Get(f.srv.URL() + "/api/v4/user")
			if err != nil {
				t.Fatal(err)
			}
			var me struct {
				ID                                 int64
				Username, Name, State, Avatar, Web string
				Bot                                bool
			}
			var raw map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&raw)
			resp.Body.Close()
			b, _ := json.Marshal(raw)
			_ = json.Unmarshal(b, &me)
			if me.ID != u.ID || me.Username != u.Username || me.Name != u.Name || raw["state"] != "active" ||
				raw["bot"] != false || raw["avatar_url"] == "" || raw["web_url"] != WebBase+"/"+u.Username {
				t.Fatalf("/user = %v, want %+v", raw, u)
			}

			want := f.org.VisibleProjects(u.Username)
			ids, pages := listMemberProjects(t, c, f.srv.URL(), 2)
			slices.Sort(ids)
			if !slices.Equal(ids, want) {
				t.Fatalf("membership listing %v, want %v", ids, want)
			}
			if wantPages := max(1, (len(want)+1)/2); pages != wantPages {
				t.Errorf("%d pages for %d projects at 2 a page, want %d", pages, len(want), wantPages)
			}
			// A project outside the set is hidden, one inside is readable.
			for _, p := range f.org.projects {
				resp, err := c.Get(f.srv.URL() + "/api/v4/projects/" + strconv.FormatInt(p.id, 10) + "/merge_requests?per_page=1")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				wantCode := http.StatusNotFound
				if slices.Contains(want, p.id) {
					wantCode = http.StatusOK
				}
				if resp.StatusCode != wantCode {
					t.Errorf("%s: %d, want %d", p.fullPath, resp.StatusCode, wantCode)
				}
			}
		})
	}
	if n := len(f.org.VisibleProjects(everyone.Username)); n != len(f.org.projects) {
		t.Errorf("%s sees %d of %d projects", everyone.Username, n, len(f.org.projects))
	}
	if n := len(f.org.VisibleProjects(one.Username)); n != 1 {
		t.Errorf("%s sees %d projects, want 1", one.Username, n)
	}
}

func TestOAuthRejections(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	ctx := context.Background()
	someone := f.org.Users()[0].Username
	code := func(verifier string) string {
		loc := signIn(t, f.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), someone)
		return loc.Query().Get("code")
	}

	t.Run("wrong verifier", func(t *testing.T) {
		c := code(oauth2.GenerateVerifier())
		_, err := f.conf.Exchange(ctx, c, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("err %v, want invalid_grant", err)
		}
	})
	t.Run("no verifier", func(t *testing.T) {
		_, err := f.conf.Exchange(ctx, code(oauth2.GenerateVerifier()))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("err %v, want invalid_grant", err)
		}
	})
	t.Run("reused code", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(v)
		if _, err := f.conf.Exchange(ctx, c, oauth2.VerifierOption(v)); err != nil {
			t.Fatal(err)
		}
		_, err := f.conf.Exchange(ctx, c, oauth2.VerifierOption(v))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("err %v, want invalid_grant", err)
		}
	})
	t.Run("other redirect_uri at the token endpoint", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(v)
		other := *f.conf
		other.RedirectURL = testCallback + "/x"
		_, err := other.Exchange(ctx, c, oauth2.VerifierOption(v))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("err %v, want invalid_grant", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(v)
		bad := *f.conf
		bad.ClientSecret = "nope"
		_, err := bad.Exchange(ctx, c, oauth2.VerifierOption(v))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("err %v, want 401 invalid_client", err)
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(v)
		basic := *f.conf
		basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		if _, err := basic.Exchange(ctx, c, oauth2.VerifierOption(v)); err != nil {
			t.Fatal(err)
		}
	})

	// The authorization endpoint: a bad client or redirect URI gets an error page, never a
	// redirect; other errors go back to the client with the state.
	authorize := func(mod func(q url.Values)) *http.Response {
		t.Helper()
		u, _ := url.Parse(f.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		q := u.Query()
		mod(q)
		u.RawQuery = q.Encode()
		resp, err := browser.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for name, tc := range map[string]struct {
		mod       func(url.Values)
		status    int
		errorCode string // in the redirect
	}{
		"unknown client":          {func(q url.Values) { q.Set("client_id", "nope") }, http.StatusUnauthorized, ""},
		"wrong redirect_uri":      {func(q url.Values) { q.Set("redirect_uri", "http://evil.example/cb") }, http.StatusBadRequest, ""},
		"redirect_uri prefix":     {func(q url.Values) { q.Set("redirect_uri", testCallback+"?x=1") }, http.StatusBadRequest, ""},
		"response_type token":     {func(q url.Values) { q.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type"},
		"no code_challenge":       {func(q url.Values) { q.Del("code_challenge") }, http.StatusFound, "invalid_request"},
		"plain challenge":         {func(q url.Values) { q.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request"},
		"scope beyond the app's":  {func(q url.Values) { q.Set("scope", "api") }, http.StatusFound, "invalid_scope"},
		"valid request, for once": {func(url.Values) {}, http.StatusOK, ""},
	} {
		resp := authorize(tc.mod)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == http.StatusFound {
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc.Query().Get("error") != tc.errorCode || loc.Query().Get("state") != "st" ||
				!strings.HasPrefix(loc.String(), testCallback+"?") {
				t.Errorf("%s: redirected to %s", name, loc)
			}
		}
	}

	t.Run("deny", func(t *testing.T) {
		form := url.Values{"client_id": {f.app.ClientID}, "redirect_uri": {testCallback}, "response_type": {"code"},
			"state": {"st"}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}, "deny": {"1"}}
		resp, err := browser.PostForm(f.srv.URL()+"/oauth/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st" {
			t.Fatalf("%d %s", resp.StatusCode, loc)
		}
	})
}

func TestOAuthSignInPageEscapes(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	resp, err := browser.Get(f.conf.AuthCodeURL(`"><script>x</script>`, oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if strings.Contains(page, "<script") || !strings.Contains(page, "Pacer &lt;dev&gt;") {
		t.Fatalf("page not escaped:\n%s", page)
	}
	for _, u := range f.org.Users() {
		if !strings.Contains(page, `value="`+u.Username+`"`) || !strings.Contains(page, html.EscapeString(u.Sees)) {
			t.Errorf("page lacks %s (%s)", u.Username, u.Sees)
		}
	}
}

func TestOAuthTokenRevokedExpiredRefreshed(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	ctx := context.Background()
	u := f.org.Users()[0]
	v := oauth2.GenerateVerifier()
	loc := signIn(t, f.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), u.Username)
	tok, err := f.conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	call := func(access string) (int, map[string]string, string) {
		t.Helper()
		resp, body := get(t, f.srv, "/api/v4/user", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+access)
		var m map[string]string
		_ = json.Unmarshal(body, &m)
		return resp.StatusCode, m, resp.Header.Get("WWW-Authenticate")
	}
	if code, _, _ := call(tok.AccessToken); code != http.StatusOK {
		t.Fatalf("fresh token: %d", code)
	}
	if code, body, _ := call("not-a-token"); code != http.StatusUnauthorized || body["message"] != "401 Unauthorized" {
		t.Fatalf("unknown token: %d %v", code, body)
	}

	// Expired: the refresh token still works, and rotates.
	if n := f.srv.ExpireOAuthTokens(u.Username); n != 1 {
		t.Fatalf("expired %d tokens", n)
	}
	code, body, hdr := call(tok.AccessToken)
	if code != http.StatusUnauthorized || body["error"] != "invalid_token" || body["error_description"] != "Token has expired." ||
		!strings.Contains(hdr, `error="invalid_token"`) {
		t.Fatalf("expired token: %d %v %q", code, body, hdr)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := f.conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh returned the same tokens")
	}
	if code, _, _ := call(fresh.AccessToken); code != http.StatusOK {
		t.Fatalf("refreshed token: %d", code)
	}
	if _, err := f.conf.TokenSource(ctx, tok).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v, want invalid_grant", err)
	}

	// Revoked: the API and the refresh grant refuse it.
	if n := f.srv.RevokeOAuthTokens(u.Username); n != 1 {
		t.Fatalf("revoked %d tokens", n)
	}
	code, body, _ = call(fresh.AccessToken)
	if code != http.StatusUnauthorized || body["error"] != "invalid_token" {
		t.Fatalf("revoked token: %d %v", code, body)
	}
	fresh.Expiry = time.Now().Add(-time.Minute)
	if _, err := f.conf.TokenSource(ctx, fresh).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh of a revoked token: %v, want invalid_grant", err)
	}

	// The simulator's own token still sees everything.
	resp, b := get(t, f.srv, "/api/v4/projects?membership=true&per_page=100")
	var ps []map[string]any
	_ = json.Unmarshal(b, &ps)
	if resp.StatusCode != http.StatusOK || len(ps) != len(f.org.projects) {
		t.Fatalf("default token: %d, %d projects", resp.StatusCode, len(ps))
	}
}

func TestOAuthRevokeEndpoint(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	who := f.org.Users()[1].Username
	tok, _ := f.srv.IssueOAuthToken(f.app.ClientID, who)
	if n := f.srv.ActiveOAuthTokens(who); n != 1 {
		t.Fatalf("%d active tokens, want 1", n)
	}
	for _, tc := range []struct {
		secret string
		status int
	}{{"wrong", http.StatusUnauthorized}, {f.app.Secret, http.StatusOK}} {
		resp, err := http.PostForm(f.srv.URL()+"/oauth/revoke", url.Values{"token": {tok.AccessToken},
			"client_id": {f.app.ClientID}, "client_secret": {tc.secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("revoke with secret %q: %d, want %d", tc.secret, resp.StatusCode, tc.status)
		}
	}
	if n := f.srv.ActiveOAuthTokens(who); n != 0 {
		t.Fatalf("%d active tokens after revoke", n)
	}
	if resp, _ := get(t, f.srv, "/api/v4/user", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", resp.StatusCode)
	}
}

func TestOAuthShortTokenTTL(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{OAuthTokenTTL: time.Second})
	tok, ok := f.srv.IssueOAuthToken(f.app.ClientID, f.org.Users()[0].Username)
	if !ok || tok.ExpiresIn != 1 {
		t.Fatalf("issued %+v %v", tok, ok)
	}
	f.srv.oauth.mu.Lock()
	f.srv.oauth.now = func() time.Time { return time.Now().Add(2 * time.Second) }
	f.srv.oauth.mu.Unlock()
	resp, body := get(t, f.srv, "/api/v4/user", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Token has expired.") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestOAuthScopesAndClientGo(t *testing.T) {
	f := newOAuthFixture(t, ServerOptions{})
	var team User
	for _, u := range f.org.Users() {
		if strings.Contains(u.Sees, "(") && !strings.Contains(u.Sees, "every") {
			team = u
			break
		}
	}
	tok, _ := f.srv.IssueOAuthToken(f.app.ClientID, team.Username)

	// client-go with the OAuth token, as Pacer's collector would use it.
	c, err := gitlab.NewOAuthClient(tok.AccessToken, gitlab.WithBaseURL(f.srv.URL()+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	opt := &gitlab.ListProjectsOptions{Membership: gitlab.Ptr(true), Simple: gitlab.Ptr(true),
		ListOptions: gitlab.ListOptions{PerPage: 3}}
	for {
		ps, resp, err := c.Projects.ListProjects(opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	slices.Sort(ids)
	if want := f.org.VisibleProjects(team.Username); !slices.Equal(ids, want) {
		t.Fatalf("client-go listing %v, want %v", ids, want)
	}

	// min_access_level: a Developer of a subgroup has no Maintainer projects unless they lead it.
	ps, _, err := c.Projects.ListProjects(&gitlab.ListProjectsOptions{Membership: gitlab.Ptr(true),
		MinAccessLevel: gitlab.Ptr(gitlab.OwnerPermissions)})
	if err != nil || len(ps) != 0 {
		t.Fatalf("owner projects of %s: %d %v", team.Username, len(ps), err)
	}

	// A read_user token reads the user, not the projects.
	f.srv.oauth.mu.Lock()
	f.srv.oauth.access[tok.AccessToken].scopes = []string{"read_user"}
	f.srv.oauth.mu.Unlock()
	if resp, _ := get(t, f.srv, "/api/v4/user", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("read_user /user: %d", resp.StatusCode)
	}
	resp, body := get(t, f.srv, "/api/v4/projects", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "insufficient_scope") {
		t.Fatalf("read_user /projects: %d %s", resp.StatusCode, body)
	}
}

func TestMembershipsDeterministicAndScenario(t *testing.T) {
	a, b := smallOrg(3), smallOrg(3)
	if ua, ub := a.Users(), b.Users(); !slices.Equal(ua, ub) {
		t.Fatal("Users differ for one seed")
	}
	for _, u := range a.Users() {
		if !slices.Equal(a.VisibleProjects(u.Username), b.VisibleProjects(u.Username)) {
			t.Fatalf("%s: visibility differs for one seed", u.Username)
		}
	}
	full := Generate(GenOptions{Seed: 1, End: testEnd, Days: 3})
	counts := map[string]int{}
	for _, u := range full.Users() {
		switch {
		case u.Sees == "sees every project":
			counts["every"]++
		case u.Sees == "sees no project":
			counts["none"]++
		case strings.HasSuffix(u.Sees, " only"):
			counts["one"]++
		default:
			counts["team"]++
		}
	}
	if counts["every"] != 2 || counts["none"] != 1 || counts["one"] != 1 || counts["team"] != 32 {
		t.Fatalf("roles %v", counts)
	}
	if lvl := full.ProjectAccess(full.Users()[0].Username, "partners/shared-lib"); lvl != DeveloperAccess {
		t.Errorf("shared project access %d, want Developer", lvl)
	}

	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	s := NewScenario(start)
	pa := s.Project("alpha", "ann")
	pb := s.Project("beta", "bob").Member("carl", ReporterAccess)
	s.Project("gamma", "gus")
	s.GroupMember("eve", OwnerAccess)
	s.Person("nobody")
	o := s.Org(start.Add(time.Hour))
	for name, want := range map[string][]int64{
		"ann": {pa.ID()}, "carl": {pb.ID()}, "eve": {3100, 3110, 3120}, "nobody": nil, "stranger": nil,
	} {
		if got := o.VisibleProjects(name); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", name, got, want)
		}
	}
	srv := NewServer(o, ServerOptions{})
	defer srv.Close()
	app := srv.RegisterOAuthApp(OAuthApp{RedirectURIs: []string{testCallback}})
	tok, ok := srv.IssueOAuthToken(app.ClientID, "carl")
	if !ok {
		t.Fatal("no token for carl")
	}
	resp, body := get(t, srv, "/api/v4/projects?membership=true&min_access_level=20", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken)
	var ps []struct {
		ID       int64 `json:"id"`
		Archived bool  `json:"archived"`
	}
	if err := json.Unmarshal(body, &ps); err != nil || resp.StatusCode != http.StatusOK || len(ps) != 1 || ps[0].ID != pb.ID() {
		t.Fatalf("carl's projects: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv, "/api/v4/projects?membership=true&min_access_level=30", "PRIVATE-TOKEN", "", "Authorization", "Bearer "+tok.AccessToken); resp.Header.Get("X-Next-Page") != "" {
		t.Fatal("paging on an empty listing")
	}
}
