package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// job is a piece of background work. The database, not a timer, decides whether it is due,
// so a restart neither repeats nor skips work; each job can also run once from a subcommand
// or a test.
type job struct {
	name  string
	every time.Duration
	due   func(ctx context.Context, now time.Time) (bool, error)
	run   func(ctx context.Context) error
	// leases, when set, run the job under its lease, so that of several processes sharing the
	// database one at a time runs it (serve sets it; a test running a job alone leaves it nil).
	leases *jobLeases
}

// runJobs checks every job each tick and runs the due ones, one at a time, until ctx ends.
func runJobs(ctx context.Context, log *slog.Logger, jobs []job, now func() time.Time, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		for _, j := range jobs {
			if ctx.Err() != nil {
				return
			}
			runIfDue(ctx, log, j, now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runIfDue runs j if its due check says so, and logs the outcome. It reports whether j ran.
//
// Under leases it first reads the job's lease: held, the job is its holder's; a run cut short
// (its server died, was stopped or lost the lease) is taken up without asking the due check.
// It then takes the lease and reads it again: if another server finished a run since the first
// read, what was due is done and the lease goes back unused.
func runIfDue(ctx context.Context, log *slog.Logger, j job, now time.Time) bool {
	var prev store.Lease
	resume := false
	if j.leases != nil {
		l, err := j.leases.read(ctx, j.name)
		if err != nil {
			log.Error("job lease check failed", "job", j.name, "error", err)
			return false
		}
		if l.HeldAt(time.Now()) {
			return false // another server runs it now
		}
		prev, resume = l, l.CutShort()
	}
	if !resume {
		due, err := j.due(ctx, now)
		if err != nil {
			log.Error("job due check failed", "job", j.name, "error", err)
			return false
		}
		if !due {
			return false
		}
	}
	runCtx := ctx
	var lease *heldLease
	if j.leases != nil {
		var err error
		if lease, err = j.leases.begin(ctx, j, prev); err != nil {
			log.Error("job lease failed", "job", j.name, "error", err)
			return false
		}
		if lease == nil {
			log.Debug("job run by another process", "job", j.name)
			return false
		}
		runCtx = lease.ctx
	}
	start := time.Now()
	if lease != nil && lease.continued {
		log.Info("job taken up where another run stopped", "job", j.name, "stopped_holder", prev.Holder,
			"begun_at", prev.RunStartedAt.Format(time.RFC3339))
	} else {
		log.Info("job started", "job", j.name)
	}
	err := j.run(runCtx)
	if lease != nil {
		// A run that returned because its context ended was cut short: another process takes
		// it up. One that failed on its own has had its turn, as a successful one has.
		lease.release(err == nil || runCtx.Err() == nil)
	}
	switch {
	case err == nil:
		log.Info("job finished", "job", j.name, "duration_ms", time.Since(start).Milliseconds())
	case ctx.Err() != nil:
		log.Info("job interrupted", "job", j.name)
	case lease != nil && lease.lost():
		log.Warn("job stopped: another process took its lease over and carries on", "job", j.name)
	default:
		log.Error("job failed", "job", j.name, "error", err, "duration_ms", time.Since(start).Milliseconds())
	}
	return true
}

// jobLeases holds this process's leases on its jobs (store/leases.go). A job runs only under
// its lease, renewed every third of its time while the job runs, so that of several
// `pacer serve` processes sharing one database exactly one runs it; one that dies stops
// renewing, and once its lease has expired the next process to check takes the job up.
type jobLeases struct {
	st     *store.Store
	holder string // this process, as store.NewHolder names it
	ttl    time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]bool // the leases goroutines of this process hold: one at a time per name
}

func newJobLeases(st *store.Store, ttl time.Duration, log *slog.Logger) *jobLeases {
	return &jobLeases{st: st, holder: store.NewHolder(), ttl: ttl, log: log, held: map[string]bool{}}
}

// read is the lease row of name; the zero Lease if the job never ran under one.
func (l *jobLeases) read(ctx context.Context, name string) (store.Lease, error) {
	lease, err := l.st.Lease(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Lease{Name: name}, nil
	}
	return lease, err
}

// heldLease is a lease this process holds, renewed until it is released.
type heldLease struct {
	l         *jobLeases
	name      string
	continued bool            // the run takes up one that was cut short
	ctx       context.Context // ends when the lease is lost, or its parent ends
	cancel    context.CancelCauseFunc
	done      chan struct{} // closed when renewing has stopped
}

// take acquires the lease on name and keeps renewing it; nil when another process, or another
// goroutine of this one, holds it. The lease's context ends if the lease is lost.
func (l *jobLeases) take(ctx context.Context, name string) (*heldLease, error) {
	l.mu.Lock()
	if l.held[name] {
		l.mu.Unlock()
		return nil, nil
	}
	l.held[name] = true
	l.mu.Unlock()
	ok, err := l.st.AcquireLease(ctx, name, l.holder, time.Now(), l.ttl)
	if err != nil || !ok {
		l.unmark(name)
		return nil, err
	}
	h := &heldLease{l: l, name: name, done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancelCause(ctx)
	go h.renew()
	return h, nil
}

// begin takes j's lease for a run and records the run's start: the start of the run it takes
// up, when the last one was cut short less than j.every ago; now otherwise. prev is the lease as
// read before the due check: if a run has finished since, what was due is done and begin gives
// the lease back and returns nil.
func (l *jobLeases) begin(ctx context.Context, j job, prev store.Lease) (*heldLease, error) {
	h, err := l.take(ctx, j.name)
	if err != nil || h == nil {
		return nil, err
	}
	cur, err := l.read(ctx, j.name)
	if err != nil {
		h.release(false)
		return nil, err
	}
	if !cur.RunFinishedAt.Equal(prev.RunFinishedAt) {
		h.release(false)
		return nil, nil
	}
	now := time.Now()
	start := now
	if cur.CutShort() && (j.every <= 0 || now.Sub(cur.RunStartedAt) < j.every) {
		start, h.continued = cur.RunStartedAt, true
	}
	if err := l.st.StartLeasedRun(ctx, j.name, l.holder, start, now); err != nil {
		h.release(false)
		return nil, err
	}
	return h, nil
}

func (l *jobLeases) unmark(name string) {
	l.mu.Lock()
	delete(l.held, name)
	l.mu.Unlock()
}

func (h *heldLease) renew() {
	defer close(h.done)
	t := time.NewTicker(h.l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		ok, err := h.l.st.RenewLease(h.ctx, h.name, h.l.holder, time.Now(), h.l.ttl)
		switch {
		case err != nil && h.ctx.Err() == nil:
			// The next renewal may get through before the lease expires; until another process
			// has taken it over, the job is still this process's.
			h.l.log.Warn("job lease not renewed; trying again", "job", h.name, "error", err)
		case err == nil && !ok:
			h.cancel(store.ErrLeaseLost)
			return
		}
	}
}

// lost says whether another process took the lease over while it was held.
func (h *heldLease) lost() bool { return errors.Is(context.Cause(h.ctx), store.ErrLeaseLost) }

// release stops renewing and gives the lease back. finished records that the run ended; a run
// not finished is taken up by the next process that checks. A lease lost meanwhile is left
// to its new holder.
func (h *heldLease) release(finished bool) {
	lost := h.lost()
	h.cancel(context.Canceled)
	<-h.done
	defer h.l.unmark(h.name)
	if lost {
		return
	}
	// Given back even when the process is stopping, so that another takes the job up at once.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 5*time.Second)
	defer cancel()
	var err error
	if finished {
		err = h.l.st.FinishLease(ctx, h.name, h.l.holder, time.Now())
	} else {
		err = h.l.st.ReleaseLease(ctx, h.name, h.l.holder)
	}
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		h.l.log.Warn("job lease taken over before the run was recorded as finished; the new holder takes it up", "job", h.name)
	case err != nil:
		h.l.log.Warn("job lease not given back; it expires on its own", "job", h.name, "error", err)
	}
}
