// Package auth is who may see what (SPEC section 10): sign-in with GitLab (OAuth 2.0, the
// authorization-code flow with PKCE and state), server-side sessions with a CSRF token each,
// the projects each person may read in GitLab, and machine tokens. It answers with a Scope;
// the web layer turns that into a scoped metrics engine once per request. Nothing below web
// imports this package.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
)

// Scope is what one request may see: every project, or only the listed GitLab project ids
// (none listed: nothing).
type Scope struct {
	All        bool
	ProjectIDs []int64
}

// Everything is the scope of an open dashboard and of a token granted every project.
var Everything = Scope{All: true}

// Sees says whether the scope includes a project.
func (s Scope) Sees(projectID int64) bool {
	if s.All {
		return true
	}
	for _, id := range s.ProjectIDs {
		if id == projectID {
			return true
		}
	}
	return false
}

// Person is someone signed in with GitLab.
type Person struct {
	ID       int64
	Username string
	Name     string
}

// Errors a caller tells apart.
var (
	// ErrNoSession: no cookie, an unknown one, or an expired session. Sign in again.
	ErrNoSession = errors.New("auth: not signed in")
	// ErrBadToken: a machine token that is unknown, revoked or expired.
	ErrBadToken = errors.New("auth: the token is unknown, revoked or expired")
	// ErrStaleSignIn: a callback whose state this server did not issue, or issued to another
	// browser, or too long ago.
	ErrStaleSignIn = errors.New("auth: this sign-in was not started here, or has expired")
	// ErrRefused: GitLab no longer accepts the person's token (401, or a refused refresh).
	ErrRefused = errors.New("auth: GitLab refused the person's token")
)

// Options configure a Service.
type Options struct {
	Store  *store.Store
	Config *config.Config // [auth], gitlab_url, base_url
	// Provider is the OAuth provider; nil when people do not sign in (mode none, no [auth]).
	Provider *Provider
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service is sign-in, sessions, memberships and tokens over the store.
type Service struct {
	st       *store.Store
	cfg      config.Auth
	provider *Provider
	log      *slog.Logger
	now      func() time.Time
}

// New returns the service.
func New(o Options) *Service {
	s := &Service{st: o.Store, provider: o.Provider, log: o.Logger, now: o.Now}
	if o.Config != nil {
		s.cfg = o.Config.Auth
	}
	if s.cfg.Idle == 0 {
		s.cfg.Idle = config.DefaultSessionIdle
	}
	if s.cfg.Max == 0 {
		s.cfg.Max = config.DefaultSessionMax
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// SignIn says whether people sign in (a provider is configured).
func (s *Service) SignIn() bool { return s.provider != nil }

// MembershipEvery is how often a signed-in person's projects are read again from GitLab.
const MembershipEvery = time.Hour

// pendingFor is how long a sign-in may take at GitLab before its state is forgotten.
const pendingFor = 10 * time.Minute

// randomToken is n random bytes, URL-safe base64 without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: the system's random source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hash is how secrets are stored: SHA-256. Session ids and tokens carry 256 random bits, so a
// fast hash is enough (no password stretching needed).
func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
