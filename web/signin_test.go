package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// signInEnv is Pacer with sign-in on against the GitLab simulator, both over real HTTP on
// loopback, with a generated organisation synced into Pacer.
type signInEnv struct {
	org    *gitlabsim.Org
	sim    *gitlabsim.Server
	base   string // Pacer's URL, without the trailing slash
	st     *store.Store
	auth   *auth.Service
	later  atomic.Int64 // nanoseconds added to the auth clock
	log    *syncBuffer
	paths  map[int64]string // Pacer's projects by id
	person gitlabsim.User   // someone who sees some projects, not all
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSignInEnv(t *testing.T) *signInEnv {
	t.Helper()
	ctx := context.Background()
	env := &signInEnv{log: &syncBuffer{}, paths: map[int64]string{}}
	hs := httptest.NewUnstartedServer(nil)
	env.base = "http://" + hs.Listener.Addr().String()
	app := gitlabsim.OAuthApp{Name: "Pacer test", ClientID: "pacer-test", Secret: "app-secret-value",
		RedirectURIs: []string{env.base + "/auth/callback"}, Scopes: []string{"read_api"}}
	env.org = gitlabsim.Generate(gitlabsim.GenOptions{Seed: 1, Days: 21, End: demoEnd, Scale: 0.1})
	env.sim = gitlabsim.NewServer(env.org, gitlabsim.ServerOptions{Token: gitlabsim.DefaultToken, OAuthApps: []gitlabsim.OAuthApp{app}})
	t.Cleanup(env.sim.Close)
	env.st = storetest.New(t)
	cfg, err := config.Parse("signin.toml", []byte(`
gitlab_url = "`+env.sim.URL()+`"
base_url   = "`+env.base+`"
[auth]
mode      = "gitlab"
client_id = "pacer-test"
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Secret = app.Secret
	if _, err := collector.Sync(ctx, env.st, collector.Options{BaseURL: env.sim.URL(), Token: gitlabsim.DefaultToken,
		Groups: []string{env.org.TopGroup()}, Config: cfg, Now: env.org.Now}); err != nil {
		t.Fatal(err)
	}
	eng := metrics.New(env.st, cfg)
	eng.SetClock(func() time.Time { return demoEnd.Add(-time.Hour) })
	if err := eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := auth.NewProvider(auth.ProviderOptions{GitLabURL: cfg.GitLabURL, ClientID: app.ClientID, ClientSecret: app.Secret,
		CallbackURL: env.base + "/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.auth = auth.New(auth.Options{Store: env.st, Config: cfg, Provider: p, Logger: log,
		Now: func() time.Time { return time.Now().Add(time.Duration(env.later.Load())) }})
	srv, err := New(Options{Store: env.st, Engine: eng, Config: cfg, Auth: env.auth, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)

	ps, err := env.st.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		env.paths[p.ID] = p.Path
	}
	for _, u := range env.org.Users() {
		if n := len(env.org.VisibleProjects(u.Username)); n > 0 && n < len(ps) {
			env.person = u
			break
		}
	}
	if env.person.Username == "" {
		t.Fatal("the generated organisation has nobody who sees some projects but not all")
	}
	return env
}

// visible and invisible split Pacer's projects by what username may read.
func (env *signInEnv) split(username string) (visible, invisible []string) {
	sees := map[int64]bool{}
	for _, id := range env.org.VisibleProjects(username) {
		sees[id] = true
	}
	for id, p := range env.paths {
		if sees[id] {
			visible = append(visible, p)
		} else {
			invisible = append(invisible, p)
		}
	}
	return visible, invisible
}

// webClient is an HTTP client with a cookie jar that asks for HTML, as a browser does.
type webClient struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

func (b *webClient) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// consent posts the simulator's sign-in form (the page body) as username and returns where
// the browser ends up.
func (b *webClient) consent(form, formURL, username string) (*http.Response, string) {
	b.t.Helper()
	v := url.Values{"username": {username}}
	for _, m := range hiddenInput.FindAllStringSubmatch(form, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("client_id") == "" {
		b.t.Fatalf("no sign-in form at %s:\n%s", formURL, form)
	}
	u, _ := url.Parse(formURL)
	return b.do(http.MethodPost, u.Scheme+"://"+u.Host+"/oauth/authorize", v)
}

// signIn opens path, is sent through the simulator's sign-in page, signs in as username and
// returns the page it comes back to.
func (env *signInEnv) signIn(b *webClient, path, username string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, env.base+path, nil)
	if !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()+"/oauth/authorize?") {
		b.t.Fatalf("GET %s ended at %s (%d), want the simulator's sign-in page", path, resp.Request.URL, resp.StatusCode)
	}
	return b.consent(body, resp.Request.URL.String(), username)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The whole flow over real HTTP: a visitor is sent to GitLab's sign-in, signs in as a person
// who sees some projects, comes back to the page they asked for and sees only their projects
// (pages and CSV); a forged sign-out is refused, a real one ends the session; an expired session
// and a token GitLab refuses both send the person back to sign in. Nothing secret is logged.
func TestSignInFlowThroughTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs a generated organisation")
	}
	env := newSignInEnv(t)
	visible, invisible := env.split(env.person.Username)
	t.Logf("%s (%s): %d projects visible, %d not", env.person.Username, env.person.Sees, len(visible), len(invisible))
	b := newBrowser(t)

	resp, body := env.signIn(b, "/merge-requests?sort=slowest", env.person.Username)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != env.base+"/merge-requests?sort=slowest" {
		t.Fatalf("after sign-in: %d at %s, want the page asked for", resp.StatusCode, resp.Request.URL)
	}
	if !strings.Contains(body, env.person.Name) {
		t.Errorf("the header does not name %s", env.person.Name)
	}
	for _, p := range visible {
		if !strings.Contains(body, ">"+p+"<") {
			t.Errorf("the sync page lacks visible project %s", p)
		}
	}
	for _, p := range invisible {
		if strings.Contains(body, ">"+p+"<") {
			t.Errorf("the sync page lists %s, which %s may not read", p, env.person.Username)
		}
	}
	_, csv := b.do(http.MethodGet, env.base+"/export/merge-requests.csv?period=12w", nil)
	if strings.Count(csv, "\n") < 2 {
		t.Errorf("the MR export is empty:\n%s", csv)
	}
	for _, p := range invisible {
		if strings.Contains(csv, ","+p+",") {
			t.Errorf("the MR export has rows of %s", p)
		}
	}
	_, overview := b.do(http.MethodGet, env.base+"/", nil)
	for _, p := range invisible {
		if strings.Contains(overview, ">"+p+"<") || strings.Contains(overview, `value="`+p+`"`) {
			t.Errorf("the overview offers %s", p)
		}
	}

	// Sign-out: a forged token is refused, the session's own ends it.
	m := csrfField.FindStringSubmatch(overview)
	if m == nil {
		t.Fatal("the page has no sign-out form")
	}
	if resp, _ := b.do(http.MethodPost, env.base+"/auth/signout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged sign-out: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, env.base+"/", nil); resp.Request.URL.String() != env.base+"/" {
		t.Errorf("the forged sign-out ended the session")
	}
	resp, body = b.do(http.MethodPost, env.base+"/auth/signout", url.Values{"csrf": {m[1]}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/auth/signed-out" || !strings.Contains(body, "You have signed out") {
		t.Errorf("sign-out: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ := b.do(http.MethodGet, env.base+"/", nil); !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()+"/oauth/authorize") {
		t.Errorf("after sign-out the dashboard is at %s, want the sign-in", resp.Request.URL)
	}

	// An expired session is bounced to sign in, and back to where it was going.
	env.signIn(b, "/", env.person.Username)
	env.later.Store(int64(13 * time.Hour))
	resp, body = b.do(http.MethodGet, env.base+"/cycle-time?period=4w", nil)
	if !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()+"/oauth/authorize") {
		t.Fatalf("an idle session past 12 h reached %s, want the sign-in", resp.Request.URL)
	}
	resp, _ = b.consent(body, resp.Request.URL.String(), env.person.Username)
	if resp.Request.URL.String() != env.base+"/cycle-time?period=4w" {
		t.Errorf("after signing in again: %s, want the page asked for", resp.Request.URL)
	}

	// The hourly refresh reads the projects again; when GitLab refuses the token, the person
	// is signed out at once.
	env.later.Store(int64(13*time.Hour + 61*time.Minute))
	if due, err := env.auth.RefreshDue(context.Background()); err != nil || !due {
		t.Errorf("an hour after sign-in the refresh is not due: %v %v", due, err)
	}
	if err := env.auth.RefreshMemberships(context.Background()); err != nil {
		t.Errorf("refresh: %v", err)
	}
	if due, _ := env.auth.RefreshDue(context.Background()); due {
		t.Errorf("still due after the refresh")
	}
	if resp, _ := b.do(http.MethodGet, env.base+"/", nil); resp.Request.URL.String() != env.base+"/" {
		t.Errorf("the refresh ended the session: %s", resp.Request.URL)
	}
	if n := env.sim.RevokeOAuthTokens(env.person.Username); n == 0 {
		t.Fatal("the simulator revoked no token")
	}
	user, err := env.st.AuthUsersToRefresh(context.Background(), time.Now().Add(24*time.Hour))
	if err != nil || len(user) != 1 {
		t.Fatalf("users: %v %v", user, err)
	}
	if err := env.auth.RefreshPerson(context.Background(), user[0].ID); !errors.Is(err, auth.ErrRefused) {
		t.Errorf("refresh with a revoked token: %v, want ErrRefused", err)
	}
	if resp, _ := b.do(http.MethodGet, env.base+"/", nil); !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()+"/oauth/authorize") {
		t.Errorf("a person whose token GitLab refused still reaches %s", resp.Request.URL)
	}

	// What is logged: the sign-in, its person; never a code, a state, a token or a session id.
	logs := env.log.String()
	if !strings.Contains(logs, "msg=sign-in user="+env.person.Username) {
		t.Errorf("the sign-in is not logged:\n%s", logs)
	}
	for _, c := range b.c.Jar.Cookies(mustURL(env.base + "/")) {
		if strings.Contains(logs, c.Value) {
			t.Errorf("the log holds the value of cookie %s", c.Name)
		}
	}
	for _, w := range []string{"code=", "state=", "app-secret-value", "access_token", "refresh_token"} {
		if strings.Contains(logs, w) {
			t.Errorf("the log holds %q:\n%s", w, logs)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// A callback that this browser did not start, a state that was never issued, and a code
// obtained with another PKCE challenge are all refused; none opens a session.
func TestSignInRejectsStateAndPKCEMismatches(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs a generated organisation")
	}
	env := newSignInEnv(t)
	user := env.person.Username

	// A state never issued.
	b := newBrowser(t)
	resp, body := b.do(http.MethodGet, env.base+"/auth/callback?code=abc&state=never-issued", nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "did not start here") {
		t.Errorf("unknown state: %d", resp.StatusCode)
	}

	// A sign-in started in one browser and finished in another (login CSRF): the second has
	// no state cookie.
	a := newBrowser(t)
	resp, form := a.do(http.MethodGet, env.base+"/auth/signin?next=/", nil)
	other := newBrowser(t)
	resp, body = other.consent(form, resp.Request.URL.String(), user)
	if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Path != "/auth/callback" {
		t.Errorf("callback in another browser: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ := other.do(http.MethodGet, env.base+"/", nil); !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()) {
		t.Errorf("the other browser got a session")
	}

	// A PKCE mismatch: the code was issued for another challenge than this sign-in's verifier.
	c := newBrowser(t)
	c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = c.do(http.MethodGet, env.base+"/auth/signin?next=/", nil)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authorize.String(), env.sim.URL()) {
		t.Fatalf("sign-in redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := authorize.Query()
	sum := sha256.Sum256([]byte("a-verifier-of-someone-else-a-verifier-of-someone-else"))
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	authorize.RawQuery = q.Encode()
	c.c.CheckRedirect = nil
	resp, form = c.do(http.MethodGet, authorize.String(), nil)
	resp, body = c.consent(form, resp.Request.URL.String(), user)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "GitLab refused the sign-in") {
		t.Errorf("PKCE mismatch: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ := c.do(http.MethodGet, env.base+"/", nil); !strings.HasPrefix(resp.Request.URL.String(), env.sim.URL()) {
		t.Errorf("a PKCE mismatch opened a session")
	}

	// The same state cannot be used twice.
	d := newBrowser(t)
	d.c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if r.URL.Path == "/auth/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, form = d.do(http.MethodGet, env.base+"/auth/signin?next=/", nil)
	resp, _ = d.consent(form, resp.Request.URL.String(), user)
	callback := resp.Header.Get("Location")
	d.c.CheckRedirect = nil
	if resp, _ := d.do(http.MethodGet, callback, nil); resp.Request.URL.String() != env.base+"/" {
		t.Fatalf("the first callback: %s", resp.Request.URL)
	}
	if resp, _ := d.do(http.MethodGet, callback, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a replayed callback: %d, want 400", resp.StatusCode)
	}
}

// The sign-in flow in headless Chromium: the dashboard sends the browser to the simulator's
// sign-in page, a click signs in as a person, the dashboard names them and lists only their
// projects, and sign-out ends the session.
func TestSignInInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	env := newSignInEnv(t)
	ctx := browserContext(t)
	errs := consoleErrors(ctx)
	visible, invisible := env.split(env.person.Username)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(env.base+"/sync"),
		chromedp.WaitVisible(chromedp.CSS(`button[value="`+env.person.Username+`"]`)),
		chromedp.Click(chromedp.CSS(`button[value="`+env.person.Username+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.data")),
	); err != nil {
		t.Fatalf("sign in through the simulator: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if loc != env.base+"/sync" {
		t.Errorf("after sign-in the browser is at %s, want %s/sync", loc, env.base)
	}
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".account-name")))
	if err != nil || name != env.person.Name {
		t.Errorf("header name %q, %v; want %q", name, err, env.person.Name)
	}
	table, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("table.data")))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range visible {
		if !strings.Contains(table, p) {
			t.Errorf("the sync table lacks %s", p)
		}
	}
	for _, p := range invisible {
		if strings.Contains(table+"\n", p+"\n") || strings.Contains(table, p+"\t") {
			t.Errorf("the sync table lists %s", p)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.account button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".signin h1")),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	heading, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".signin h1")))
	if heading != "You have signed out" {
		t.Errorf("after sign-out: %q", heading)
	}
	// Back to the dashboard: the simulator's sign-in page again.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(env.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button[value="`+env.person.Username+`"]`)),
	); err != nil {
		t.Errorf("after sign-out the dashboard did not ask to sign in: %v", err)
	}
	for _, e := range errs() {
		if !strings.HasPrefix(e, env.sim.URL()+"/favicon.ico") { // the simulator's page has no icon
			t.Errorf("console error: %s", e)
		}
	}
}
