package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pacer-dev/pacer/store"
)

// Session is a signed-in browser, as a request sees it.
type Session struct {
	Person Person
	CSRF   string // the token every state-changing request of this session carries
	Scope  Scope
	idHash []byte
}

// BeginSignIn starts a sign-in: it remembers a fresh state and PKCE verifier and returns the
// state (for the browser's cookie) and the GitLab URL to send the browser to. returnTo is the
// local path to come back to.
func (s *Service) BeginSignIn(ctx context.Context, returnTo string) (state, authorizeURL string, err error) {
	if s.provider == nil {
		return "", "", errors.New("auth: sign-in is not configured")
	}
	state = randomToken(32)
	verifier := oauth2.GenerateVerifier()
	if err := s.st.SavePendingSignIn(ctx, store.PendingSignIn{StateHash: hash(state), Verifier: verifier,
		ReturnTo: LocalPath(returnTo), CreatedAt: s.now()}); err != nil {
		return "", "", err
	}
	return state, s.provider.AuthorizeURL(state, verifier), nil
}

// SignedIn is the result of a finished sign-in: the new session's cookie value (shown to the
// browser only), the person and where they were going.
type SignedIn struct {
	Cookie   string
	Person   Person
	Projects int // how many of Pacer's projects they see
	ReturnTo string
}

// FinishSignIn completes the sign-in GitLab redirected back: the state must be the one this
// browser's cookie holds (cookieState) and one this server issued in the last ten minutes; the
// code is exchanged with that sign-in's PKCE verifier. It reads the person and their projects
// and opens a session.
func (s *Service) FinishSignIn(ctx context.Context, state, cookieState, code string) (SignedIn, error) {
	if s.provider == nil {
		return SignedIn{}, errors.New("auth: sign-in is not configured")
	}
	if state == "" || cookieState == "" || !Equal(state, cookieState) {
		return SignedIn{}, ErrStaleSignIn
	}
	p, err := s.st.TakePendingSignIn(ctx, hash(state))
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.now().Sub(p.CreatedAt) > pendingFor) {
		return SignedIn{}, ErrStaleSignIn
	}
	if err != nil {
		return SignedIn{}, err
	}
	tok, err := s.provider.Exchange(ctx, code, p.Verifier)
	if err != nil {
		return SignedIn{}, err
	}
	ts := oauth2.ReuseTokenSource(tok, s.provider.tokenSource(ctx, tok))
	person, err := s.provider.person(ctx, ts)
	if err != nil {
		return SignedIn{}, err
	}
	ids, err := s.provider.projects(ctx, ts)
	if err != nil {
		return SignedIn{}, err
	}
	if tok, err = ts.Token(); err != nil {
		return SignedIn{}, fmt.Errorf("auth: %w", describe(err))
	}
	sealed, err := s.seal(tok)
	if err != nil {
		return SignedIn{}, err
	}
	now := s.now()
	if err := s.st.UpsertAuthUser(ctx, store.AuthUser{ID: person.ID, Username: person.Username, Name: person.Name,
		Token: sealed, SignedInAt: now}); err != nil {
		return SignedIn{}, err
	}
	if err := s.st.SetUserProjects(ctx, person.ID, ids, now); err != nil {
		return SignedIn{}, err
	}
	raw := randomToken(32)
	if err := s.st.CreateSession(ctx, store.Session{IDHash: hash(raw), UserID: person.ID, CSRF: randomToken(32),
		CreatedAt: now, SeenAt: now}); err != nil {
		return SignedIn{}, err
	}
	visible, err := s.st.UserProjectIDs(ctx, person.ID)
	if err != nil {
		return SignedIn{}, err
	}
	return SignedIn{Cookie: raw, Person: person, Projects: len(visible), ReturnTo: p.ReturnTo}, nil
}

// seenEvery bounds the writes that keep a session alive: one a minute at most.
const seenEvery = time.Minute

// Session returns the live session of a cookie value, with its scope. An unknown or expired
// session is ErrNoSession (an expired one is deleted).
func (s *Service) Session(ctx context.Context, cookie string) (*Session, error) {
	if cookie == "" || len(cookie) > 100 {
		return nil, ErrNoSession
	}
	h := hash(cookie)
	row, err := s.st.SessionByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Sub(row.SeenAt) > s.cfg.Idle || now.Sub(row.CreatedAt) > s.cfg.Max {
		if err := s.st.DeleteSession(ctx, h); err != nil {
			return nil, err
		}
		return nil, ErrNoSession
	}
	if now.Sub(row.SeenAt) >= seenEvery {
		if err := s.st.TouchSession(ctx, h, now); err != nil {
			return nil, err
		}
	}
	ids, err := s.st.UserProjectIDs(ctx, row.UserID)
	if err != nil {
		return nil, err
	}
	return &Session{Person: Person{ID: row.UserID, Username: row.Username, Name: row.Name}, CSRF: row.CSRF,
		Scope: Scope{ProjectIDs: ids}, idHash: h}, nil
}

// SignOut ends the session of a cookie value (nothing if there is none).
func (s *Service) SignOut(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	return s.st.DeleteSession(ctx, hash(cookie))
}

// ExpireSessions deletes the sessions past their idle or absolute expiry and the sign-ins
// that never came back.
func (s *Service) ExpireSessions(ctx context.Context) (int64, error) {
	now := s.now()
	return s.st.DeleteExpiredSessions(ctx, now.Add(-s.cfg.Idle), now.Add(-s.cfg.Max), now.Add(-pendingFor))
}

// RefreshDue says whether some signed-in person's projects are older than MembershipEvery.
func (s *Service) RefreshDue(ctx context.Context) (bool, error) {
	if s.provider == nil {
		return false, nil
	}
	us, err := s.st.AuthUsersToRefresh(ctx, s.now().Add(-MembershipEvery))
	return len(us) > 0, err
}

// RefreshMemberships reads again, from GitLab, the projects of every signed-in person whose
// set is older than MembershipEvery. A person whose token GitLab refuses is signed out at once
// and their set emptied.
func (s *Service) RefreshMemberships(ctx context.Context) error {
	if s.provider == nil {
		return nil
	}
	us, err := s.st.AuthUsersToRefresh(ctx, s.now().Add(-MembershipEvery))
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range us {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.RefreshPerson(ctx, u.ID); err != nil && !errors.Is(err, ErrRefused) {
			errs = append(errs, fmt.Errorf("auth: projects of %s: %w", u.Username, err))
		}
	}
	return errors.Join(errs...)
}

// RefreshPerson reads one person's projects from GitLab with their token (refreshing it if it
// expired). If GitLab refuses the token, the person is signed out everywhere, their project set
// is emptied, and ErrRefused is returned.
func (s *Service) RefreshPerson(ctx context.Context, userID int64) error {
	u, err := s.st.AuthUserByID(ctx, userID)
	if err != nil {
		return err
	}
	tok, err := s.unseal(u.Token)
	if err != nil {
		// No token (GitLab refused it before) or one sealed with another secret: the person
		// must sign in again.
		return s.refused(ctx, u, err)
	}
	ts := oauth2.ReuseTokenSource(tok, s.provider.tokenSource(ctx, tok))
	ids, err := s.provider.projects(ctx, ts)
	if errors.Is(err, ErrRefused) {
		return s.refused(ctx, u, err)
	}
	if err != nil {
		return err
	}
	if fresh, err := ts.Token(); err == nil && fresh.AccessToken != tok.AccessToken {
		sealed, err := s.seal(fresh)
		if err != nil {
			return err
		}
		if err := s.st.SetAuthUserToken(ctx, u.ID, sealed); err != nil {
			return err
		}
	}
	if err := s.st.SetUserProjects(ctx, u.ID, ids, s.now()); err != nil {
		return err
	}
	s.log.Info("auth: projects refreshed", "user", u.Username, "user_id", u.ID, "gitlab_projects", len(ids))
	return nil
}

func (s *Service) refused(ctx context.Context, u store.AuthUser, cause error) error {
	n, err := s.st.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := s.st.SetAuthUserToken(ctx, u.ID, nil); err != nil {
		return err
	}
	if err := s.st.SetUserProjects(ctx, u.ID, nil, s.now()); err != nil {
		return err
	}
	// The cause names a status or an OAuth error code, never the token.
	s.log.Warn("auth: GitLab refused a person's token; signed out", "user", u.Username, "user_id", u.ID,
		"sessions_ended", n, "cause", strings.TrimPrefix(cause.Error(), "auth: "))
	return fmt.Errorf("%w: %s", ErrRefused, u.Username)
}

// sealKey derives the key that seals people's GitLab tokens from the OAuth client secret, so
// a copy of the database alone does not give them away.
func (s *Service) sealKey() []byte {
	k := sha256.Sum256([]byte("pacer oauth token v1\x00" + s.cfg.Secret))
	return k[:]
}

func (s *Service) seal(tok *oauth2.Token) ([]byte, error) {
	plain, err := json.Marshal(struct {
		Access  string    `json:"a"`
		Refresh string    `json:"r"`
		Type    string    `json:"t"`
		Expiry  time.Time `json:"e"`
	}{tok.AccessToken, tok.RefreshToken, tok.TokenType, tok.Expiry})
	if err != nil {
		return nil, fmt.Errorf("auth: seal the token: %w", err)
	}
	block, err := aes.NewCipher(s.sealKey())
	if err != nil {
		return nil, fmt.Errorf("auth: seal the token: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: seal the token: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("auth: seal the token: %w", err)
	}
	return gcm.Seal(nonce, nonce, plain, nil), nil
}

func (s *Service) unseal(sealed []byte) (*oauth2.Token, error) {
	if len(sealed) == 0 {
		return nil, errors.New("auth: no token kept")
	}
	block, err := aes.NewCipher(s.sealKey())
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("auth: the kept token is damaged")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("auth: the kept token does not open (PACER_OAUTH_SECRET changed?)")
	}
	var t struct {
		Access  string    `json:"a"`
		Refresh string    `json:"r"`
		Type    string    `json:"t"`
		Expiry  time.Time `json:"e"`
	}
	if err := json.Unmarshal(plain, &t); err != nil {
		return nil, errors.New("auth: the kept token is damaged")
	}
	return &oauth2.Token{AccessToken: t.Access, RefreshToken: t.Refresh, TokenType: t.Type, Expiry: t.Expiry}, nil
}

// LocalPath keeps a return address on this site: a path starting with one slash, else "/".
func LocalPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") || len(p) > 2000 {
		return "/"
	}
	if strings.HasPrefix(p, "/auth/") {
		return "/"
	}
	return p
}
