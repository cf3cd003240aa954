package auth

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestLocalPathKeepsReturnsOnThisSite(t *testing.T) {
	for in, want := range map[string]string{
		"/releases?period=4w":  "/releases?period=4w",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example/x":     "/",
		"/\\evil.example":      "/",
		"/auth/signout":        "/",
		"releases":             "/",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The person's GitLab token is stored sealed: the bytes do not hold it, the same secret opens
// it, another does not.
func TestTokenSealing(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Secret = "one"
	s := New(Options{Config: cfg})
	tok := &oauth2.Token{AccessToken: "access-123", RefreshToken: "refresh-456", TokenType: "Bearer", Expiry: time.Unix(1e9, 0).UTC()}
	sealed, err := s.seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("access-123")) || bytes.Contains(sealed, []byte("refresh-456")) {
		t.Fatal("the sealed token holds the token in clear")
	}
	back, err := s.unseal(sealed)
	if err != nil || back.AccessToken != tok.AccessToken || back.RefreshToken != tok.RefreshToken || !back.Expiry.Equal(tok.Expiry) {
		t.Fatalf("unseal: %+v, %v", back, err)
	}
	cfg2 := config.Default()
	cfg2.Auth.Secret = "two"
	if _, err := New(Options{Config: cfg2}).unseal(sealed); err == nil {
		t.Error("another secret opened the token")
	}
}

// Sessions: unknown cookies, idle and absolute expiry; expired rows are deleted.
func TestSessionExpiry(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	now := time.Now()
	clock := now
	cfg := config.Default()
	s := New(Options{Store: st, Config: cfg, Now: func() time.Time { return clock }})
	if err := st.UpsertAuthUser(ctx, store.AuthUser{ID: 1, Username: "a", SignedInAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, store.Session{IDHash: hash("raw"), UserID: 1, CSRF: "c", CreatedAt: now, SeenAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "other"); !errors.Is(err, ErrNoSession) {
		t.Errorf("unknown cookie: %v", err)
	}
	// Used every 11 hours, the session lives until its absolute expiry.
	for clock = now; clock.Sub(now) < config.DefaultSessionMax; clock = clock.Add(11 * time.Hour) {
		if _, err := s.Session(ctx, "raw"); err != nil {
			t.Fatalf("at +%s: %v", clock.Sub(now), err)
		}
	}
	if _, err := s.Session(ctx, "raw"); !errors.Is(err, ErrNoSession) {
		t.Errorf("past the absolute expiry: %v", err)
	}
	if _, err := st.SessionByHash(ctx, hash("raw")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the expired row is kept: %v", err)
	}
}
