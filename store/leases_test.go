package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

func acquire(t *testing.T, st *store.Store, holder string, now time.Time) bool {
	t.Helper()
	ok, err := st.AcquireLease(context.Background(), "sync", holder, now, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestLeaseIsExclusiveUntilItExpires(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

	if _, err := st.Lease(ctx, "sync"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a lease never taken: %v, want ErrNotFound", err)
	}
	if !acquire(t, st, "a", at) {
		t.Fatal("a free lease was refused")
	}
	l, err := st.Lease(ctx, "sync")
	if err != nil || l.Holder != "a" || !l.AcquiredAt.Equal(at) || !l.ExpiresAt.Equal(at.Add(30*time.Second)) || !l.HeldAt(at.Add(29*time.Second)) {
		t.Fatalf("after taking it: %+v, %v", l, err)
	}
	if acquire(t, st, "b", at.Add(10*time.Second)) {
		t.Fatal("b took a lease a holds")
	}
	if acquire(t, st, "b", at.Add(30*time.Second-time.Millisecond)) {
		t.Fatal("b took the lease a millisecond before it expired")
	}
	// The holder taking it again extends it and keeps when it was first taken.
	if !acquire(t, st, "a", at.Add(20*time.Second)) {
		t.Fatal("the holder could not take its own lease again")
	}
	if l, _ := st.Lease(ctx, "sync"); !l.AcquiredAt.Equal(at) || !l.ExpiresAt.Equal(at.Add(50*time.Second)) {
		t.Fatalf("after a's second take: %+v", l)
	}
	// Unrenewed, it expires (a died); b takes it, and a cannot renew it any more.
	if !acquire(t, st, "b", at.Add(50*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	if l, _ := st.Lease(ctx, "sync"); l.Holder != "b" || !l.AcquiredAt.Equal(at.Add(50*time.Second)) {
		t.Fatalf("after b took it over: %+v", l)
	}
	if ok, err := st.RenewLease(ctx, "sync", "a", at.Add(51*time.Second), 30*time.Second); err != nil || ok {
		t.Fatalf("a renewed a lease b holds: %v, %v", ok, err)
	}
	// Other names are other leases.
	if ok, err := st.AcquireLease(ctx, "digest", "a", at.Add(51*time.Second), time.Minute); err != nil || !ok {
		t.Fatalf("another job's lease: %v, %v", ok, err)
	}
}

func TestLeaseRenewAndRelease(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	if ok, err := st.RenewLease(ctx, "sync", "a", at, time.Minute); err != nil || ok {
		t.Fatalf("renewing a lease never taken: %v, %v", ok, err)
	}
	acquire(t, st, "a", at)
	// Renewed every so often, it holds well past its first expiry.
	for i := 1; i <= 6; i++ {
		now := at.Add(time.Duration(i) * 20 * time.Second)
		if ok, err := st.RenewLease(ctx, "sync", "a", now, 30*time.Second); err != nil || !ok {
			t.Fatalf("renewal %d: %v, %v", i, ok, err)
		}
		if acquire(t, st, "b", now.Add(time.Second)) {
			t.Fatalf("b took a renewed lease after %d renewals", i)
		}
	}
	// Given back, it is free at once, and its old holder cannot renew it.
	if err := st.ReleaseLease(ctx, "sync", "a"); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Lease(ctx, "sync"); l.HeldAt(at.Add(2*time.Minute)) || !l.ExpiresAt.IsZero() {
		t.Fatalf("after release: %+v", l)
	}
	if ok, _ := st.RenewLease(ctx, "sync", "a", at.Add(2*time.Minute), 30*time.Second); ok {
		t.Fatal("a released lease was renewed")
	}
	// Releasing a lease another process holds does nothing.
	if !acquire(t, st, "b", at.Add(2*time.Minute)) {
		t.Fatal("b could not take a released lease")
	}
	if err := st.ReleaseLease(ctx, "sync", "a"); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Lease(ctx, "sync"); l.Holder != "b" || !l.HeldAt(at.Add(2*time.Minute)) {
		t.Fatalf("a's release undid b's lease: %+v", l)
	}
}

// A run records its start and end on the lease; one whose holder went away without finishing
// reads as cut short, and only the holder can record either.
func TestLeasedRunCutShortAndFinished(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	acquire(t, st, "a", at)
	if err := st.StartLeasedRun(ctx, "sync", "b", at, at); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("b started a run under a's lease: %v", err)
	}
	if err := st.StartLeasedRun(ctx, "sync", "a", at, at); err != nil {
		t.Fatal(err)
	}
	l, _ := st.Lease(ctx, "sync")
	if !l.RunStartedAt.Equal(at) || !l.RunFinishedAt.IsZero() || !l.CutShort() {
		t.Fatalf("a run under way: %+v", l)
	}
	// a dies; after expiry b takes the lease and the run it finds cut short, keeping its start.
	later := at.Add(time.Minute)
	if !acquire(t, st, "b", later) {
		t.Fatal("b could not take the expired lease")
	}
	if l, _ := st.Lease(ctx, "sync"); !l.CutShort() || l.Holder != "b" || !l.RunStartedAt.Equal(at) {
		t.Fatalf("the run a left: %+v", l)
	}
	if err := st.StartLeasedRun(ctx, "sync", "b", at, later); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishLease(ctx, "sync", "a", later); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a finished b's run: %v", err)
	}
	if err := st.FinishLease(ctx, "sync", "b", later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	l, _ = st.Lease(ctx, "sync")
	if l.CutShort() || l.HeldAt(later) || !l.RunStartedAt.Equal(at) || !l.RunFinishedAt.Equal(later.Add(time.Second)) {
		t.Fatalf("after b finished: %+v", l)
	}
	// A lease held only for a moment (nothing was due) keeps the record of the last run.
	acquire(t, st, "c", later.Add(time.Minute))
	st.ReleaseLease(ctx, "sync", "c")
	if l2, _ := st.Lease(ctx, "sync"); l2.CutShort() || !l2.RunFinishedAt.Equal(l.RunFinishedAt) {
		t.Fatalf("after a lease held and given back: %+v", l2)
	}
	// Starting a run needs the lease to be live.
	if err := st.StartLeasedRun(ctx, "sync", "c", later, later.Add(2*time.Minute)); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a run started under a released lease: %v", err)
	}
	all, err := st.Leases(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "sync" || all[0].Holder != "c" {
		t.Fatalf("Leases = %+v, %v", all, err)
	}
}

// Processes racing for a free lease, each over its own connection pool to one database file:
// exactly one gets it, however many try at once, round after round.
func TestLeaseRaceHasOneWinner(t *testing.T) {
	ctx := context.Background()
	first := storetest.New(t)
	stores := []*store.Store{first}
	for range 3 {
		st, err := store.Open(ctx, first.Path())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for round := range 20 {
		now := at.Add(time.Duration(round) * time.Minute) // the previous round's lease has expired
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			holder := fmt.Sprintf("p%d", i)
			st := stores[i%len(stores)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := st.AcquireLease(ctx, "sync", holder, now, 30*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, holder)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
		if l, _ := first.Lease(ctx, "sync"); l.Holder != winners[0] {
			t.Fatalf("round %d: %s won but the row names %s", round, winners[0], l.Holder)
		}
	}
}

func TestNewHolderIsUniqueAndNamesTheProcess(t *testing.T) {
	a, b := store.NewHolder(), store.NewHolder()
	if a == b {
		t.Fatalf("two holders share the name %q", a)
	}
	parts := strings.Split(a, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] != strconv.Itoa(os.Getpid()) || len(parts[2]) != 8 {
		t.Fatalf("holder %q is not host/pid/random", a)
	}
}
