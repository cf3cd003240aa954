package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// process is one server's view of the database for the runner tests: its own connections,
// holder name and log.
type process struct {
	st     *store.Store
	leases *jobLeases
	logs   *lockedBuffer
	log    *slog.Logger
}

func processes(t *testing.T, n int, ttl time.Duration) []*process {
	t.Helper()
	first := storetest.New(t)
	var out []*process
	for i := range n {
		st := first
		if i > 0 {
			var err error
			if st, err = store.Open(context.Background(), first.Path()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
		}
		logs := &lockedBuffer{}
		log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		out = append(out, &process{st: st, leases: newJobLeases(st, ttl, log), logs: logs, log: log})
	}
	return out
}

func (p *process) job(name string, due func(context.Context, time.Time) (bool, error), run func(context.Context) error) job {
	return job{name: name, every: time.Minute, due: due, run: run, leases: p.leases}
}

func always(context.Context, time.Time) (bool, error) { return true, nil }
func never(context.Context, time.Time) (bool, error)  { return false, nil }

// While one server runs a job, the others' checks pass it by; when it has finished, the lease is
// given back and the record says so.
func TestJobRunsInOneServerAtATime(t *testing.T) {
	ps := processes(t, 3, 5*time.Second)
	ctx := context.Background()
	var running, ran atomic.Int32
	release := make(chan struct{})
	run := func(context.Context) error {
		if running.Add(1) > 1 {
			t.Error("two servers run the job at once")
		}
		ran.Add(1)
		<-release
		running.Add(-1)
		return nil
	}
	done := make(chan bool)
	go func() { done <- runIfDue(ctx, ps[0].log, ps[0].job("sync", always, run), time.Now()) }()
	waitFor(t, 5*time.Second, "the first server to run the job", func() bool { return running.Load() == 1 })
	for _, p := range ps[1:] {
		if runIfDue(ctx, p.log, p.job("sync", always, run), time.Now()) {
			t.Error("a second server ran the job while the first held its lease")
		}
	}
	close(release)
	if !<-done || ran.Load() != 1 {
		t.Fatalf("the first server's run: ran %d times", ran.Load())
	}
	l, err := ps[1].st.Lease(ctx, "sync")
	if err != nil || l.HeldAt(time.Now()) || l.CutShort() || l.RunFinishedAt.IsZero() || l.Holder != ps[0].leases.holder {
		t.Fatalf("the lease after the run: %+v, %v", l, err)
	}
}

// Servers checking at the same moment run a due job once between them. The job records what
// it did in the database, as the real ones do, so the due check of a server that took the lease
// after another one's run finished says no.
func TestDueJobRacedByServersRunsOnce(t *testing.T) {
	ps := processes(t, 3, 5*time.Second)
	ctx := context.Background()
	var runs atomic.Int32
	var rounds atomic.Int32 // what the job did: the database's answer to "is it due"
	due := func(ctx context.Context, now time.Time) (bool, error) { return runs.Load() < rounds.Load(), nil }
	run := func(context.Context) error {
		time.Sleep(20 * time.Millisecond)
		runs.Add(1)
		return nil
	}
	for round := 1; round <= 10; round++ {
		rounds.Store(int32(round))
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runIfDue(ctx, p.log, p.job("digest", due, run), time.Now())
			}()
		}
		wg.Wait()
		if n := runs.Load(); n != int32(round) {
			t.Fatalf("round %d: the job ran %d times in all, want %d", round, n, round)
		}
	}
}

// A server whose check came just before another server's whole run does not run the job
// again: it sees, under the lease, that a run finished since it looked.
func TestRunFinishedSinceTheCheckIsNotRepeated(t *testing.T) {
	ps := processes(t, 2, 5*time.Second)
	ctx := context.Background()
	var runs atomic.Int32
	run := func(context.Context) error { runs.Add(1); return nil }
	// The due check of the second server is slow: the first server runs the job meanwhile.
	slowDue := func(ctx context.Context, now time.Time) (bool, error) {
		runIfDue(ctx, ps[0].log, ps[0].job("sync", always, run), time.Now())
		return true, nil
	}
	if runIfDue(ctx, ps[1].log, ps[1].job("sync", slowDue, run), time.Now()) {
		t.Error("the second server ran the job the first had just run")
	}
	if runs.Load() != 1 {
		t.Fatalf("%d runs, want 1", runs.Load())
	}
	if l, _ := ps[1].st.Lease(ctx, "sync"); l.HeldAt(time.Now()) {
		t.Fatalf("the lease was not given back: %+v", l)
	}
}

// A server that dies mid-run leaves its lease to expire; the next server to check takes the
// run up, without asking the due check, keeping the run's start.
func TestRunCutShortIsTakenUpAfterTheLeaseExpires(t *testing.T) {
	ps := processes(t, 1, 5*time.Second)
	ctx := context.Background()
	p := ps[0]
	// A server that died: it took the lease for a second and began a run.
	begun := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
	if ok, err := p.st.AcquireLease(ctx, "sync", "dead/1/00000000", begun, time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := p.st.StartLeasedRun(ctx, "sync", "dead/1/00000000", begun, begun); err != nil {
		t.Fatal(err)
	}
	var sawStart time.Time
	run := func(ctx context.Context) error {
		l, err := p.st.Lease(ctx, "sync")
		if err != nil {
			return err
		}
		sawStart = l.RunStartedAt
		if !l.Continued() {
			t.Error("the run taken up does not read as continued")
		}
		return nil
	}
	if !runIfDue(ctx, p.log, p.job("sync", never, run), time.Now()) {
		t.Fatalf("the run cut short was not taken up:\n%s", p.logs)
	}
	if !sawStart.Equal(begun) {
		t.Errorf("the run taken up began at %s, want the dead server's %s", sawStart, begun)
	}
	if !strings.Contains(p.logs.String(), "taken up where another run stopped") || !strings.Contains(p.logs.String(), "dead/1/00000000") {
		t.Errorf("the log does not say whose run was taken up:\n%s", p.logs)
	}
	// Finished now: nothing more to take up, and the due check decides again.
	if runIfDue(ctx, p.log, p.job("sync", never, run), time.Now()) {
		t.Error("a finished run was taken up again")
	}
	// A run cut short longer ago than the job's interval starts afresh.
	old := time.Now().Add(-2 * time.Minute)
	p.st.AcquireLease(ctx, "digest", "dead/1/00000000", old, time.Second)
	p.st.StartLeasedRun(ctx, "digest", "dead/1/00000000", old, old)
	var fresh bool
	runIfDue(ctx, p.log, p.job("digest", never, func(ctx context.Context) error {
		l, _ := p.st.Lease(ctx, "digest")
		fresh = !l.Continued() && l.RunStartedAt.After(old.Add(time.Minute))
		return nil
	}), time.Now())
	if !fresh {
		t.Error("a run cut short long ago was continued instead of started afresh")
	}
}

// A server stopped mid-run (SIGTERM) gives the lease back at once: another server takes the
// run up on its next check, not a lease time later.
func TestStoppedRunIsGivenBackForTheNextServer(t *testing.T) {
	ps := processes(t, 2, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	run := func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan bool)
	go func() { done <- runIfDue(ctx, ps[0].log, ps[0].job("sync", always, run), time.Now()) }()
	<-started
	cancel()
	<-done
	var took bool
	if !runIfDue(context.Background(), ps[1].log, ps[1].job("sync", never, func(context.Context) error { took = true; return nil }), time.Now()) || !took {
		t.Fatalf("the stopped run was not taken up at once:\n%s", ps[1].logs)
	}
}

// A server whose lease is taken over (it stalled past the lease time, and another took the job
// up) stops its run at its next renewal, and leaves the lease to the new holder.
func TestRunStopsWhenItsLeaseIsTakenOver(t *testing.T) {
	ps := processes(t, 1, 900*time.Millisecond)
	p := ps[0]
	ctx := context.Background()
	stopped := make(chan error, 1)
	run := func(ctx context.Context) error {
		// The lease expires and another server takes it, as if this one had stalled.
		if _, err := p.st.DB.Exec(`UPDATE leases SET expires_at = 1 WHERE name = 'sync'`); err != nil {
			return err
		}
		if ok, err := p.st.AcquireLease(ctx, "sync", "other/2/00000000", time.Now(), time.Hour); err != nil || !ok {
			t.Errorf("the other server could not take the expired lease: %v, %v", ok, err)
		}
		select {
		case <-ctx.Done():
			stopped <- context.Cause(ctx)
		case <-time.After(5 * time.Second):
			stopped <- nil
		}
		return ctx.Err()
	}
	runIfDue(ctx, p.log, p.job("sync", always, run), time.Now())
	if err := <-stopped; !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("the run went on after its lease was taken over (cause %v)", err)
	}
	l, _ := p.st.Lease(ctx, "sync")
	if l.Holder != "other/2/00000000" || !l.HeldAt(time.Now()) {
		t.Fatalf("the lease after the run stopped: %+v", l)
	}
	if !strings.Contains(p.logs.String(), "another process took its lease over") {
		t.Errorf("the log does not say why the job stopped:\n%s", p.logs)
	}
}

// While a goroutine of this server holds a lease, the job of that name waits for the next
// check.
func TestLeaseIsHeldOnceWithinAServer(t *testing.T) {
	p := processes(t, 1, 5*time.Second)[0]
	ctx := context.Background()
	h, err := p.leases.take(ctx, "sync")
	if err != nil || h == nil {
		t.Fatal(h, err)
	}
	if runIfDue(ctx, p.log, p.job("sync", always, func(context.Context) error { return nil }), time.Now()) {
		t.Error("the job ran while another goroutine held its lease")
	}
	h.release(false)
	if !runIfDue(ctx, p.log, p.job("sync", always, func(context.Context) error { return nil }), time.Now()) {
		t.Error("the job did not run once the lease was given back")
	}
}

// The sync taken up after a kill syncs the configured projects not synced since the run began;
// a fresh run, or one cut short before any project finished, syncs everything.
func TestSyncRoundTakesUpOnlyWhatIsLeft(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	opt := collector.Options{BaseURL: "http://127.0.0.1:1", Token: "t", Groups: []string{"acme"}, Projects: []string{"other/tool", "other/typo"}}
	begun := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for id, path := range map[int64]string{1: "acme/api", 2: "acme/web", 3: "acme/old", 4: "other/tool", 5: "elsewhere/x", 6: "acme/new"} {
		archived := 0
		if path == "acme/old" {
			archived = 1
		}
		if _, err := st.DB.Exec(`INSERT INTO projects(id, path, archived, discovered_at) VALUES (?, ?, ?, 0)`, id, path, archived); err != nil {
			t.Fatal(err)
		}
	}
	synced := func(id int64, at time.Time, ok bool) {
		t.Helper()
		if err := st.StartProjectSync(ctx, id, at); err != nil {
			t.Fatal(err)
		}
		var err error
		if !ok {
			err = io.ErrUnexpectedEOF
		}
		if err := st.FinishProjectSync(ctx, id, at.Add(time.Second), 1, err); err != nil {
			t.Fatal(err)
		}
	}
	synced(1, begun.Add(-time.Hour), true) // the round before
	synced(2, begun.Add(-time.Hour), true)
	synced(4, begun.Add(-time.Hour), true)

	check := func(what string, wantAll bool, wantLeft ...string) {
		t.Helper()
		o, err := syncRound(ctx, st, opt)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case wantAll:
			if o == nil || len(o.Groups) != 1 || len(o.Projects) != 2 {
				t.Errorf("%s: %+v, want the whole sync", what, o)
			}
		case len(wantLeft) == 0:
			if o != nil {
				t.Errorf("%s: %+v, want nothing left", what, o)
			}
		default:
			if o == nil || len(o.Groups) != 0 || strings.Join(o.Projects, " ") != strings.Join(wantLeft, " ") {
				t.Errorf("%s: %+v, want projects %v", what, o, wantLeft)
			}
		}
	}
	check("no lease", true)
	// A fresh run (begun under this lease).
	st.AcquireLease(ctx, syncJobName, "a", begun, time.Minute)
	st.StartLeasedRun(ctx, syncJobName, "a", begun, begun)
	check("a fresh run", true)
	// a died; b takes the run up: no project had finished in it.
	st.AcquireLease(ctx, syncJobName, "b", begun.Add(2*time.Minute), time.Minute)
	st.StartLeasedRun(ctx, syncJobName, "b", begun, begun.Add(2*time.Minute))
	check("a run cut short before any project finished", true)
	// In the run: acme/api synced, acme/web failed, acme/new started and was cut short.
	synced(1, begun.Add(10*time.Second), true)
	synced(2, begun.Add(10*time.Second), false)
	if err := st.StartProjectSync(ctx, 6, begun.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Left: what did not sync, in path order, and the listed project never found; not the
	// archived project, nor one outside the groups and list.
	check("a run cut short", false, "acme/new", "acme/web", "other/tool", "other/typo")
	synced(2, begun.Add(3*time.Minute), true)
	synced(4, begun.Add(3*time.Minute), true)
	synced(6, begun.Add(3*time.Minute), true)
	if _, err := st.DB.Exec(`INSERT INTO projects(id, path, discovered_at) VALUES (7, 'other/typo', 0)`); err != nil {
		t.Fatal(err)
	}
	synced(7, begun.Add(3*time.Minute), true)
	check("a run whose projects have all synced", false)
}

func TestServeLeaseTTLFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--lease-ttl", "500ms"}, nil, "--lease-ttl 500ms is out of range: use 1s to 1h"},
		{[]string{"serve", "--lease-ttl", "2h"}, nil, "out of range"},
		{[]string{"serve"}, map[string]string{"PACER_LEASE_TTL": "soon"}, `PACER_LEASE_TTL="soon" is not a valid value for --lease-ttl`},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), c.args, mapEnv(c.env), io.Discard, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v %v: exit %d, stderr %q (want %q)", c.args, c.env, code, errOut.String(), c.want)
		}
	}
}
