package gitlabsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The simulator as an OAuth 2.0 provider, as GitLab (Doorkeeper) serves it: the
// authorization-code flow with PKCE (S256 required here), the refresh grant, and the access
// tokens it issues accepted as Authorization: Bearer on the API, acting as the person who
// signed in. The sign-in page lists the generated people instead of asking for a password.

// OAuthApp is an OAuth application registered on the simulator, as an administrator
// registers one in GitLab (Admin > Applications or a group's Applications).
type OAuthApp struct {
	Name         string   // shown on the sign-in page; default "OAuth application"
	ClientID     string   // GitLab's "Application ID"; random when empty
	Secret       string   // random when empty
	RedirectURIs []string // exact matches
	Scopes       []string // the scopes it may ask for; default read_api and read_user
}

// OAuthToken is what POST /oauth/token answers.
type OAuthToken struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	CreatedAt    int64  `json:"created_at"`
}

// DefaultOAuthTokenTTL is GitLab's access-token lifetime (expires_in 7200).
const DefaultOAuthTokenTTL = 2 * time.Hour

// DefaultOAuthCodeTTL is Doorkeeper's authorization-code lifetime.
const DefaultOAuthCodeTTL = 10 * time.Minute

// OAuth error descriptions, Doorkeeper's wording.
const (
	descInvalidClient   = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	descInvalidGrant    = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	descInvalidRedir    = "The redirect URI included is not valid."
	descUnsupportedRT   = "The authorization server does not support this response type."
	descUnsupportedGT   = "The authorization grant type is not supported by the authorization server."
	descInvalidScope    = "The requested scope is invalid, unknown, or malformed."
	descAccessDenied    = "The resource owner or authorization server denied the request."
	descTokenExpired    = "Token has expired."
	descTokenRevoked    = "Token was revoked. You have to re-authorize from the user."
	descInsufficient    = "The request requires higher privileges than provided by the access token."
	descChallengeNeeded = "Code challenge is required."
	descChallengeMethod = "The code challenge method must be S256."
)

type oauthProvider struct {
	mu      sync.Mutex
	apps    map[string]*OAuthApp // by client id
	codes   map[string]*oauthCode
	access  map[string]*oauthGrant
	refresh map[string]*oauthGrant
	now     func() time.Time
}

type oauthCode struct {
	app         *OAuthApp
	userID      int64
	redirectURI string
	challenge   string
	scopes      []string
	expires     time.Time
}

type oauthGrant struct {
	app     *OAuthApp
	userID  int64
	scopes  []string
	access  string
	refresh string
	created time.Time
	expires time.Time
	revoked bool
}

func newOAuthProvider(apps []OAuthApp) *oauthProvider {
	op := &oauthProvider{apps: map[string]*OAuthApp{}, codes: map[string]*oauthCode{},
		access: map[string]*oauthGrant{}, refresh: map[string]*oauthGrant{}, now: time.Now}
	for _, a := range apps {
		op.register(a)
	}
	return op
}

func (op *oauthProvider) register(a OAuthApp) OAuthApp {
	if a.Name == "" {
		a.Name = "OAuth application"
	}
	if a.ClientID == "" {
		a.ClientID = randomHex(32)
	}
	if a.Secret == "" {
		a.Secret = "gloas-" + randomHex(32)
	}
	if len(a.Scopes) == 0 {
		a.Scopes = []string{"read_api", "read_user"}
	}
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	a.Scopes = slices.Clone(a.Scopes)
	op.mu.Lock()
	op.apps[a.ClientID] = &a
	op.mu.Unlock()
	return a
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RegisterOAuthApp registers an OAuth application (ClientID and Secret are generated when
// empty) and returns it as registered. Applications can also be given in
// ServerOptions.OAuthApps.
func (s *Server) RegisterOAuthApp(app OAuthApp) OAuthApp { return s.oauth.register(app) }

// IssueOAuthToken issues an access token for username as if they had signed in to the
// application clientID with scope read_api, skipping the browser flow. It returns false for an
// unknown user or application.
func (s *Server) IssueOAuthToken(clientID, username string) (OAuthToken, bool) {
	s.org.mu.RLock()
	u := s.org.userByName(username)
	s.org.mu.RUnlock()
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	app := s.oauth.apps[clientID]
	if u == nil || app == nil {
		return OAuthToken{}, false
	}
	return s.oauth.issueLocked(app, u.id, []string{"read_api"}, s.tokenTTL()), true
}

// RevokeOAuthTokens revokes every access and refresh token issued to username, as revoking
// the application under the user's settings does; it returns how many grants it revoked. The
// API then answers 401 invalid_token to them.
func (s *Server) RevokeOAuthTokens(username string) int {
	return s.oauth.change(s.userID(username), func(g *oauthGrant) { g.revoked = true })
}

// ExpireOAuthTokens makes every access token issued to username expired (their refresh
// tokens stay usable, as in GitLab); it returns how many it changed.
func (s *Server) ExpireOAuthTokens(username string) int {
	now := s.oauth.now()
	return s.oauth.change(s.userID(username), func(g *oauthGrant) { g.expires = now.Add(-time.Second) })
}

// ActiveOAuthTokens counts username's access tokens that are neither revoked nor expired, e.g.
// to check that a sign-out revoked its token through POST /oauth/revoke.
func (s *Server) ActiveOAuthTokens(username string) int {
	uid := s.userID(username)
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	now := s.oauth.now()
	n := 0
	for _, g := range s.oauth.access {
		if g.userID == uid && !g.revoked && now.Before(g.expires) {
			n++
		}
	}
	return n
}

func (s *Server) userID(username string) int64 {
	s.org.mu.RLock()
	defer s.org.mu.RUnlock()
	if u := s.org.userByName(username); u != nil {
		return u.id
	}
	return -1
}

func (op *oauthProvider) change(userID int64, fn func(*oauthGrant)) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	n := 0
	for _, g := range op.access {
		if g.userID == userID && !g.revoked {
			fn(g)
			n++
		}
	}
	return n
}

func (s *Server) tokenTTL() time.Duration {
	if s.opt.OAuthTokenTTL > 0 {
		return s.opt.OAuthTokenTTL
	}
	return DefaultOAuthTokenTTL
}

func (op *oauthProvider) issueLocked(app *OAuthApp, userID int64, scopes []string, ttl time.Duration) OAuthToken {
	now := op.now()
	g := &oauthGrant{app: app, userID: userID, scopes: scopes, access: randomHex(32), refresh: randomHex(32),
		created: now, expires: now.Add(ttl)}
	op.access[g.access] = g
	op.refresh[g.refresh] = g
	return OAuthToken{AccessToken: g.access, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second),
		RefreshToken: g.refresh, Scope: strings.Join(scopes, " "), CreatedAt: now.Unix()}
}

func (s *Server) oauthRoutes() {
	s.mux.HandleFunc("GET /oauth/authorize", s.authorizeForm)
	s.mux.HandleFunc("POST /oauth/authorize", s.authorizeDecision)
	s.mux.HandleFunc("POST /oauth/token", s.token)
	s.mux.HandleFunc("POST /oauth/revoke", s.revoke)
}

// authRequest is a validated authorization request.
type authRequest struct {
	app                                     *OAuthApp
	clientID, redirectURI, state, challenge string
	method                                  string
	scopes                                  []string
}

// parseAuthRequest validates an authorization request. A bad client or redirect URI is
// answered with an error page (the redirect cannot be trusted); other errors are returned as
// an OAuth error code and description to send back to the redirect URI.
func (s *Server) parseAuthRequest(w http.ResponseWriter, form url.Values) (ar authRequest, code, desc string, ok bool) {
	ar = authRequest{clientID: form.Get("client_id"), redirectURI: form.Get("redirect_uri"), state: form.Get("state"),
		challenge: form.Get("code_challenge"), method: form.Get("code_challenge_method")}
	s.oauth.mu.Lock()
	ar.app = s.oauth.apps[ar.clientID]
	s.oauth.mu.Unlock()
	if ar.app == nil {
		errorPage(w, http.StatusUnauthorized, "invalid_client", descInvalidClient)
		return ar, "", "", false
	}
	if !slices.Contains(ar.app.RedirectURIs, ar.redirectURI) {
		errorPage(w, http.StatusBadRequest, "invalid_redirect_uri", descInvalidRedir)
		return ar, "", "", false
	}
	if form.Get("response_type") != "code" {
		return ar, "unsupported_response_type", descUnsupportedRT, true
	}
	if ar.challenge == "" {
		return ar, "invalid_request", descChallengeNeeded, true
	}
	if ar.method != "S256" {
		return ar, "invalid_request", descChallengeMethod, true
	}
	ar.scopes = strings.Fields(form.Get("scope"))
	if len(ar.scopes) == 0 {
		ar.scopes = ar.app.Scopes[:1]
	}
	for _, sc := range ar.scopes {
		if !slices.Contains(ar.app.Scopes, sc) {
			return ar, "invalid_scope", descInvalidScope, true
		}
	}
	return ar, "", "", true
}

// redirectError sends an OAuth error back to the client's redirect URI with the state.
func redirectError(w http.ResponseWriter, r *http.Request, ar authRequest, code, desc string) {
	q := url.Values{"error": {code}, "error_description": {desc}}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, q), http.StatusFound)
}

func withQuery(uri string, q url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	v := u.Query()
	for k, vs := range q {
		v[k] = vs
	}
	u.RawQuery = v.Encode()
	return u.String()
}

var errorTmpl = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>An error has occurred · GitLab</title></head>
<body><main><h1>An error has occurred</h1><p>{{.Desc}}</p><p><code>{{.Code}}</code></p></main></body></html>
`))

func errorPage(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, struct{ Code, Desc string }{code, desc})
}

var signInTmpl = template.Must(template.New("sign-in").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {{.App}} · GitLab simulator</title>
<style>body{font:16px system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
li{margin:.4rem 0}button{font:inherit;cursor:pointer}small{color:#555}</style></head>
<body><main>
<h1>Authorize {{.App}} to use your account?</h1>
<p>This is Pacer's GitLab simulator: no password here. Pick the person to sign in as;
{{.App}} will read the API as them ({{.Scope}}).</p>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="{{.Method}}">
<ul>
{{range .Users}}<li><button type="submit" name="username" value="{{.Username}}">Sign in as {{.Name}}</button> <small>@{{.Username}} · {{.Sees}}</small></li>
{{end}}</ul>
<p><button type="submit" name="deny" value="1">Deny</button></p>
</form>
</main></body></html>
`))

// authorizeForm serves GET /oauth/authorize: the sign-in page, one button per person.
func (s *Server) authorizeForm(w http.ResponseWriter, r *http.Request) {
	ar, code, desc, ok := s.parseAuthRequest(w, r.URL.Query())
	if !ok {
		return
	}
	if code != "" {
		redirectError(w, r, ar, code, desc)
		return
	}
	data := struct {
		App, ClientID, RedirectURI, State, Scope, Challenge, Method string
		Users                                                       []User
	}{ar.app.Name, ar.clientID, ar.redirectURI, ar.state, strings.Join(ar.scopes, " "), ar.challenge, ar.method, s.org.Users()}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = signInTmpl.Execute(w, data)
}

// authorizeDecision serves POST /oauth/authorize: the person's choice, sent back to the
// client's redirect URI as a code (or access_denied) with the same state.
func (s *Server) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter.")
		return
	}
	ar, code, desc, ok := s.parseAuthRequest(w, r.PostForm)
	if !ok {
		return
	}
	if code != "" {
		redirectError(w, r, ar, code, desc)
		return
	}
	if r.PostForm.Get("deny") != "" {
		redirectError(w, r, ar, "access_denied", descAccessDenied)
		return
	}
	uid := s.userID(r.PostForm.Get("username"))
	if uid < 0 {
		errorPage(w, http.StatusUnprocessableEntity, "invalid_request", "Unknown user.")
		return
	}
	c := randomHex(32)
	ttl := s.opt.OAuthCodeTTL
	if ttl <= 0 {
		ttl = DefaultOAuthCodeTTL
	}
	s.oauth.mu.Lock()
	for k, old := range s.oauth.codes {
		if !s.oauth.now().Before(old.expires) {
			delete(s.oauth.codes, k)
		}
	}
	s.oauth.codes[c] = &oauthCode{app: ar.app, userID: uid, redirectURI: ar.redirectURI, challenge: ar.challenge,
		scopes: ar.scopes, expires: s.oauth.now().Add(ttl)}
	s.oauth.mu.Unlock()
	q := url.Values{"code": {c}}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, q), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// client authenticates the client of a token or revoke request: client_secret_post or HTTP
// Basic.
func (s *Server) client(r *http.Request) *OAuthApp {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.oauth.mu.Lock()
	app := s.oauth.apps[id]
	s.oauth.mu.Unlock()
	if app == nil || subtle.ConstantTimeCompare([]byte(app.Secret), []byte(secret)) != 1 {
		return nil
	}
	return app
}

// token serves POST /oauth/token: the authorization_code and refresh_token grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.")
		return
	}
	f := r.PostForm
	grantType := f.Get("grant_type")
	if grantType != "authorization_code" && grantType != "refresh_token" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", descUnsupportedGT)
		return
	}
	app := s.client(r)
	if app == nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="Doorkeeper"`)
		}
		oauthError(w, http.StatusUnauthorized, "invalid_client", descInvalidClient)
		return
	}
	op := s.oauth
	op.mu.Lock()
	defer op.mu.Unlock()
	now := op.now()
	var tok OAuthToken
	switch grantType {
	case "authorization_code":
		if f.Get("code") == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code.")
			return
		}
		c := op.codes[f.Get("code")]
		delete(op.codes, f.Get("code")) // single use, whatever the outcome
		if c == nil || c.app != app || !now.Before(c.expires) || c.redirectURI != f.Get("redirect_uri") ||
			!pkceMatches(c.challenge, f.Get("code_verifier")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", descInvalidGrant)
			return
		}
		tok = op.issueLocked(app, c.userID, c.scopes, s.tokenTTL())
	case "refresh_token":
		g := op.refresh[f.Get("refresh_token")]
		if g == nil || g.app != app || g.revoked {
			oauthError(w, http.StatusBadRequest, "invalid_grant", descInvalidGrant)
			return
		}
		// The old pair is revoked: a refresh token is single use.
		g.revoked = true
		delete(op.refresh, g.refresh)
		tok = op.issueLocked(app, g.userID, g.scopes, s.tokenTTL())
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tok)
}

// revoke serves POST /oauth/revoke (RFC 7009): the token, access or refresh, is revoked; an
// unknown token is no error.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request is malformed.")
		return
	}
	app := s.client(r)
	if app == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", descInvalidClient)
		return
	}
	op := s.oauth
	op.mu.Lock()
	t := r.PostForm.Get("token")
	g := op.access[t]
	if g == nil {
		g = op.refresh[t]
	}
	if g != nil && g.app == app {
		g.revoked = true
	}
	op.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

// pkceMatches checks an S256 code verifier against its challenge.
func pkceMatches(challenge, verifier string) bool {
	if challenge == "" || len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
