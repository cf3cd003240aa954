package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func TestDigestSendsRecordOnceAndClearFailure(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

	if _, err := st.DigestSent(ctx, "2026-W09", "ana@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DigestSent before any send: err = %v, want ErrNotFound", err)
	}
	if err := st.RecordDigestFailure(ctx, "2026-W09", "Ana@Example.com", "dial: refused", at); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordDigestFailure(ctx, "2026-W09", "ana@example.com", "535 auth", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	fs, err := st.DigestFailures(ctx, "2026-W09")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Attempts != 2 || fs[0].LastError != "535 auth" || !fs[0].LastAttemptAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("failures = %+v, want one with 2 attempts and the last error", fs)
	}

	send := store.DigestSend{Week: "2026-W09", Recipient: " ANA@example.com", Scope: "all", Subject: "s", MessageID: "<m@x>", SentAt: at}
	if err := st.RecordDigestSent(ctx, send); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordDigestSent(ctx, send); err != nil {
		t.Fatalf("recording the same pair twice: %v", err)
	}
	got, err := st.DigestSent(ctx, "2026-W09", "ana@EXAMPLE.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Recipient != "ana@example.com" || got.MessageID != "<m@x>" || !got.SentAt.Equal(at) {
		t.Fatalf("DigestSent = %+v", got)
	}
	all, err := st.DigestSends(ctx, "2026-W09")
	if err != nil || len(all) != 1 {
		t.Fatalf("DigestSends = %+v, %v; want exactly one row", all, err)
	}
	if fs, _ := st.DigestFailures(ctx, "2026-W09"); len(fs) != 0 {
		t.Fatalf("failure not cleared by the send: %+v", fs)
	}
	if other, _ := st.DigestSends(ctx, "2026-W10"); len(other) != 0 {
		t.Fatalf("another week has rows: %+v", other)
	}
}

func TestDigestSendsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pacer.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordDigestSent(ctx, store.DigestSend{Week: "2026-W09", Recipient: "a@x.io", SentAt: time.Unix(100, 0)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DigestSent(ctx, "2026-W09", "a@x.io"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

func TestClaimDigest(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	claim := func(now time.Time, resend bool) bool {
		t.Helper()
		ok, err := st.ClaimDigest(ctx, "2026-W09", "ana@example.com", now, 5*time.Minute, resend)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(at, false) {
		t.Fatal("first claim refused")
	}
	if claim(at.Add(time.Minute), false) {
		t.Fatal("a second claim while the first is fresh was granted")
	}
	if !claim(at.Add(6*time.Minute), false) {
		t.Fatal("a stale claim (its process died) was not taken over")
	}
	// A failure replaces the claim and counts one attempt; a claim after it keeps the count.
	if err := st.RecordDigestFailure(ctx, "2026-W09", "ana@example.com", "554 no", at.Add(7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !claim(at.Add(8*time.Minute), false) {
		t.Fatal("claim after a failure refused")
	}
	if err := st.RecordDigestFailure(ctx, "2026-W09", "ana@example.com", "554 no", at.Add(9*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if fs, _ := st.DigestFailures(ctx, "2026-W09"); len(fs) != 1 || fs[0].Attempts != 2 {
		t.Fatalf("failures = %+v, want 2 attempts", fs)
	}
	// Once sent, the pair cannot be claimed, except for an explicit resend.
	if err := st.RecordDigestSent(ctx, store.DigestSend{Week: "2026-W09", Recipient: "ana@example.com", SentAt: at}); err != nil {
		t.Fatal(err)
	}
	if claim(at.Add(10*time.Minute), false) {
		t.Fatal("a sent pair was claimed")
	}
	if !claim(at.Add(10*time.Minute), true) {
		t.Fatal("an explicit resend could not claim the pair")
	}
}
