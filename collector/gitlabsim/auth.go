package gitlabsim

import (
	"net/http"
	"slices"
	"strings"
)

// Who an API request acts as: the simulator's own token, which sees everything, or an OAuth
// access token from oauth.go, which acts as the person it was issued to.

// caller is who an API request acts as: everyone (nil user: the simulator's own token, which
// sees every project) or the person an OAuth token was issued to.
type caller struct {
	user   *user
	scopes []string
}

type callerKey struct{}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// authFailure is how the API refuses a request, as GitLab's API guard answers.
type authFailure struct {
	status int
	body   map[string]string
	header string // WWW-Authenticate
}

// authenticate resolves the caller of an API request: the simulator's token, or an OAuth
// access token in Authorization: Bearer or access_token.
func (s *Server) authenticate(r *http.Request) (caller, *authFailure) {
	unauthorized := &authFailure{status: http.StatusUnauthorized, body: map[string]string{"message": "401 Unauthorized"}}
	var bearer string
	switch {
	case r.Header.Get("PRIVATE-TOKEN") != "":
		if r.Header.Get("PRIVATE-TOKEN") == s.opt.Token {
			return caller{}, nil
		}
		if slices.Contains(s.opt.ReadOnlyTokens, r.Header.Get("PRIVATE-TOKEN")) {
			return caller{scopes: []string{"read_api"}}, nil
		}
		return caller{}, unauthorized
	case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		bearer = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	case r.URL.Query().Get("access_token") != "":
		bearer = r.URL.Query().Get("access_token")
	case r.URL.Query().Get("private_token") != "":
		if r.URL.Query().Get("private_token") == s.opt.Token {
			return caller{}, nil
		}
		return caller{}, unauthorized
	default:
		return caller{}, unauthorized
	}
	if bearer == s.opt.Token {
		return caller{}, nil
	}
	if slices.Contains(s.opt.ReadOnlyTokens, bearer) {
		return caller{scopes: []string{"read_api"}}, nil
	}
	s.oauth.mu.Lock()
	g := s.oauth.access[bearer]
	var fail *authFailure
	switch {
	case g == nil:
		fail = unauthorized
	case g.revoked:
		fail = invalidToken(descTokenRevoked)
	case !s.oauth.now().Before(g.expires):
		fail = invalidToken(descTokenExpired)
	}
	s.oauth.mu.Unlock()
	if fail != nil {
		return caller{}, fail
	}
	s.org.mu.RLock()
	u := s.org.userByID[g.userID]
	s.org.mu.RUnlock()
	c := caller{user: u, scopes: g.scopes}
	if !c.allowed(r) {
		return caller{}, &authFailure{status: http.StatusForbidden,
			body:   map[string]string{"error": "insufficient_scope", "error_description": descInsufficient, "scope": "api read_api"},
			header: `Bearer realm="Protected by OAuth 2", error="insufficient_scope", error_description="` + descInsufficient + `", scope="api read_api"`}
	}
	return c, nil
}

func invalidToken(desc string) *authFailure {
	return &authFailure{status: http.StatusUnauthorized,
		body:   map[string]string{"error": "invalid_token", "error_description": desc},
		header: `Bearer realm="Protected by OAuth 2", error="invalid_token", error_description="` + desc + `"`}
}

// allowed says whether the token's scopes cover the request: api or read_api cover every GET
// the simulator serves, read_user only the user endpoints.
func (c caller) allowed(r *http.Request) bool {
	if slices.Contains(c.scopes, "api") || slices.Contains(c.scopes, "read_api") {
		return true
	}
	if slices.Contains(c.scopes, "read_user") {
		p := r.URL.Path
		return p == "/api/v4/user" || strings.HasPrefix(p, "/api/v4/users/")
	}
	return false
}

// sees says whether the caller may read p.
func (s *Server) sees(c caller, p *project) bool {
	return c.user == nil || s.org.access(c.user, p) >= GuestAccess
}
