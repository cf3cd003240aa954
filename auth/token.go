package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// TokenPrefix starts every machine token, so a leaked one is recognisable (secret scanners,
// logs) and never mistaken for a GitLab token.
const TokenPrefix = "pacer_"

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateToken makes a machine token called name that reads the given projects (paths; none:
// every project) until expires (nil: never). It returns the token, which is shown once and
// stored only as its hash.
func (s *Service) CreateToken(ctx context.Context, name string, projects []string, expires *time.Time) (string, error) {
	if !tokenName.MatchString(name) {
		return "", fmt.Errorf("auth: %q is not a token name (use letters, digits, '.', '_' and '-', up to 64)", name)
	}
	raw := TokenPrefix + randomToken(32)
	err := s.st.CreateAPIToken(ctx, store.APIToken{Name: name, Hash: hash(raw), Projects: projects, CreatedAt: s.now(), ExpiresAt: expires})
	if errors.Is(err, store.ErrExists) {
		return "", fmt.Errorf("auth: a token called %q exists (revoke it first, or choose another name)", name)
	}
	if err != nil {
		return "", err
	}
	return raw, nil
}

// Tokens lists the machine tokens (never their values: only hashes are kept).
func (s *Service) Tokens(ctx context.Context) ([]store.APIToken, error) { return s.st.APITokens(ctx) }

// RevokeToken deletes a token by name: the next request with it gets 401.
func (s *Service) RevokeToken(ctx context.Context, name string) error {
	err := s.st.DeleteAPIToken(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("auth: there is no token called %q (pacer token list shows them)", name)
	}
	return err
}

// Token checks a bearer token and returns its name and scope: the granted projects Pacer has,
// or everything when none was named. Unknown, revoked and expired tokens are ErrBadToken.
func (s *Service) Token(ctx context.Context, raw string) (string, Scope, error) {
	if !strings.HasPrefix(raw, TokenPrefix) || len(raw) > 100 {
		return "", Scope{}, ErrBadToken
	}
	t, err := s.st.APITokenByHash(ctx, hash(raw))
	if errors.Is(err, store.ErrNotFound) {
		return "", Scope{}, ErrBadToken
	}
	if err != nil {
		return "", Scope{}, err
	}
	now := s.now()
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return "", Scope{}, ErrBadToken
	}
	if err := s.st.TouchAPIToken(ctx, t.ID, now); err != nil {
		return "", Scope{}, err
	}
	if len(t.Projects) == 0 {
		return t.Name, Everything, nil
	}
	ids, err := s.st.ProjectIDsByPath(ctx, t.Projects)
	if err != nil {
		return "", Scope{}, err
	}
	return t.Name, Scope{ProjectIDs: ids}, nil
}
