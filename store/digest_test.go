package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	claim := func(holder string, now time.Time, resend bool) bool {
		t.Helper()
		ok, err := st.ClaimDigest(ctx, store.DigestClaim{Week: "2026-W09", Recipient: "Ana@Example.com", Holder: holder}, now, 5*time.Minute, resend)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	failures := func() []store.DigestFailure {
		t.Helper()
		fs, err := st.DigestFailures(ctx, "2026-W09")
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	if !claim("a", at, false) {
		t.Fatal("first claim refused")
	}
	if fs := failures(); len(fs) != 1 || fs[0].LastError != store.DigestSending || fs[0].ClaimedBy != "a" ||
		!fs[0].ClaimExpiresAt.Equal(at.Add(5*time.Minute)) || fs[0].Attempts != 0 {
		t.Fatalf("the claim reads %+v", fs)
	}
	if claim("b", at.Add(time.Minute), false) {
		t.Fatal("a second process's claim was granted while the first is live")
	}
	// Renewed while its message is on its way, the claim outlasts its first expiry.
	if ok, err := st.RenewDigestClaim(ctx, store.DigestClaim{Week: "2026-W09", Recipient: "ana@example.com", Holder: "a"}, at.Add(9*time.Minute)); err != nil || !ok {
		t.Fatalf("renewal: %v, %v", ok, err)
	}
	if ok, _ := st.RenewDigestClaim(ctx, store.DigestClaim{Week: "2026-W09", Recipient: "ana@example.com", Holder: "b"}, at.Add(20*time.Minute)); ok {
		t.Fatal("b renewed a's claim")
	}
	if claim("b", at.Add(6*time.Minute), false) {
		t.Fatal("a renewed claim was taken over")
	}
	// a died: once the claim expired, b gets the pair.
	if !claim("b", at.Add(9*time.Minute), false) {
		t.Fatal("an expired claim (its process died) was not taken over")
	}
	// A failure counts one attempt; a's late release cannot end b's claim, b's own can.
	if err := st.RecordDigestFailure(ctx, "2026-W09", "ana@example.com", "554 no", at.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseDigestClaim(ctx, store.DigestClaim{Week: "2026-W09", Recipient: "ana@example.com", Holder: "a"}); err != nil {
		t.Fatal(err)
	}
	if claim("c", at.Add(10*time.Minute), false) {
		t.Fatal("c claimed a pair b still holds")
	}
	if err := st.ReleaseDigestClaim(ctx, store.DigestClaim{Week: "2026-W09", Recipient: "ana@example.com", Holder: "b"}); err != nil {
		t.Fatal(err)
	}
	if !claim("c", at.Add(10*time.Minute), false) {
		t.Fatal("claim after a failure and its release refused")
	}
	if err := st.RecordDigestFailure(ctx, "2026-W09", "ana@example.com", "554 no", at.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if fs := failures(); len(fs) != 1 || fs[0].Attempts != 2 || fs[0].LastError != "554 no" {
		t.Fatalf("failures = %+v, want 2 attempts", fs)
	}
	// Once sent, the pair cannot be claimed, except for an explicit resend, and a refused claim
	// leaves nothing behind.
	if err := st.RecordDigestSent(ctx, store.DigestSend{Week: "2026-W09", Recipient: "ana@example.com", SentAt: at}); err != nil {
		t.Fatal(err)
	}
	if claim("d", at.Add(20*time.Minute), false) {
		t.Fatal("a sent pair was claimed")
	}
	if fs := failures(); len(fs) != 0 {
		t.Fatalf("a refused claim left %+v", fs)
	}
	if !claim("d", at.Add(20*time.Minute), true) {
		t.Fatal("an explicit resend could not claim the pair")
	}
}

// Processes claiming the same pairs at once: each pair goes to exactly one of them.
func TestDigestClaimRaceHasOneWinner(t *testing.T) {
	ctx := context.Background()
	first := storetest.New(t)
	stores := []*store.Store{first}
	for range 2 {
		st, err := store.Open(ctx, first.Path())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for pair := range 20 {
		recipient := fmt.Sprintf("r%d@example.com", pair)
		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 6 {
			st := stores[i%len(stores)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := st.ClaimDigest(ctx, store.DigestClaim{Week: "2026-W09", Recipient: recipient, Holder: fmt.Sprintf("p%d", i)}, at, time.Minute, false)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("%s: %d processes got the claim, want 1", recipient, n)
		}
	}
}
