package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Leases decide which of several processes sharing the database runs a background job. A lease
// is taken in one statement that succeeds only when the lease is free, expired or already the
// caller's, so the database, not the processes, settles a race; the holder renews it while the
// job runs and gives it back at the end. A process that dies stops renewing, and once the lease
// has expired another process takes the job over.
//
// Expiry compares times from the processes' own clocks: servers sharing a database must keep
// their clocks synchronised (NTP), and the skew between them eats into the lease's time.

// DefaultLeaseTTL is how long a lease holds without renewal. A holder renews it every third of
// that, so a process that stalls for a few seconds keeps its job, and one that dies leaves its
// job to another within this time and that process's next check.
const DefaultLeaseTTL = 30 * time.Second

// ErrLeaseLost is returned when the caller no longer holds a lease it counted on: it expired
// and another process took it.
var ErrLeaseLost = errors.New("store: the lease was taken over by another process")

// Lease is the lease row of one job.
type Lease struct {
	Name       string
	Holder     string    // the process holding it, or the last one that did
	AcquiredAt time.Time // when Holder took it
	ExpiresAt  time.Time // held until then; zero once given back
	// RunStartedAt is when the job's last run under the lease began (zero: never), and
	// RunFinishedAt when it ended: zero while it runs and after a run that was cut short.
	RunStartedAt  time.Time
	RunFinishedAt time.Time
}

// HeldAt says whether a process holds the lease at now.
func (l Lease) HeldAt(now time.Time) bool { return l.ExpiresAt.After(now) }

// CutShort says whether the job's last run began and did not finish. With the lease no longer
// held, its process died, was stopped, or lost the lease mid-run: the job is to be taken up
// again.
func (l Lease) CutShort() bool { return !l.RunStartedAt.IsZero() && l.RunFinishedAt.IsZero() }

// Continued says whether the run under way began before its holder took the lease: it takes
// up a run that was cut short, and RunStartedAt is when that run began.
func (l Lease) Continued() bool {
	return !l.RunStartedAt.IsZero() && l.RunFinishedAt.IsZero() && l.RunStartedAt.Before(l.AcquiredAt)
}

// NewHolder names this process for leases and digest claims: host name, process id and random
// bytes ("web-1/4242/9f3a2c1b"), so that no two processes share a name, not even a restarted
// one that got the same process id.
func NewHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b)
}

// AcquireLease takes the lease on name for holder until now+ttl, if it is free, has expired or
// is holder's already (then it is extended). It reports whether holder has it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	at := now.UnixMilli()
	// The WHERE of the upsert lets the update through only for a lease that is free, expired or
	// ours; otherwise nothing changes and no row is affected. Concurrent callers are serialised
	// on the row by the database, so exactly one of them gets a lease that was free.
	res, err := s.DB.ExecContext(ctx, `INSERT INTO leases(name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? THEN leases.acquired_at ELSE excluded.acquired_at END,
			holder = excluded.holder,
			expires_at = excluded.expires_at
		WHERE leases.expires_at <= ? OR leases.holder = excluded.holder`,
		name, holder, at, now.Add(ttl).UnixMilli(), at, at)
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %s: %w", name, err)
	}
	return affected(res, "acquire lease "+name)
}

// RenewLease extends holder's lease on name to now+ttl. It reports false when the lease is no
// longer holder's: given back, or expired and taken by another process.
func (s *Store) RenewLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND expires_at > 0`,
		now.Add(ttl).UnixMilli(), name, holder)
	if err != nil {
		return false, fmt.Errorf("store: renew lease %s: %w", name, err)
	}
	return affected(res, "renew lease "+name)
}

// StartLeasedRun records that holder's run of the job began at startedAt (a run that takes up
// one cut short passes that run's start). It returns ErrLeaseLost unless holder holds the lease
// at now.
func (s *Store) StartLeasedRun(ctx context.Context, name, holder string, startedAt, now time.Time) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE leases SET run_started_at = ?, run_finished_at = 0
		WHERE name = ? AND holder = ? AND expires_at > ?`, startedAt.UnixMilli(), name, holder, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: start run of %s: %w", name, err)
	}
	ok, err := affected(res, "start run of "+name)
	if err == nil && !ok {
		err = fmt.Errorf("store: start run of %s: %w", name, ErrLeaseLost)
	}
	return err
}

// FinishLease records that holder's run of the job ended at `at` and gives the lease back. It
// returns ErrLeaseLost when another process has taken the lease meanwhile (that process then
// takes the run up again).
func (s *Store) FinishLease(ctx context.Context, name, holder string, at time.Time) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE leases SET run_finished_at = ?, expires_at = 0 WHERE name = ? AND holder = ?`,
		at.UnixMilli(), name, holder)
	if err != nil {
		return fmt.Errorf("store: finish run of %s: %w", name, err)
	}
	ok, err := affected(res, "finish run of "+name)
	if err == nil && !ok {
		err = fmt.Errorf("store: finish run of %s: %w", name, ErrLeaseLost)
	}
	return err
}

// ReleaseLease gives holder's lease on name back at once, leaving the record of its run as it
// is: a run started and not finished is then taken up by the next process that checks.
// Releasing a lease holder no longer has does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("store: release lease %s: %w", name, err)
	}
	return nil
}

const leaseColumns = `name, holder, acquired_at, expires_at, run_started_at, run_finished_at`

// Lease reads the lease row of name, or returns ErrNotFound if the job never ran under one.
func (s *Store) Lease(ctx context.Context, name string) (Lease, error) {
	l, err := scanLease(s.DB.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, ErrNotFound
	}
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return l, nil
}

// Leases lists every lease row by name.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	return queryAll(ctx, s, "leases", `SELECT `+leaseColumns+` FROM leases ORDER BY name`, scanLease)
}

func scanLease(row interface{ Scan(...any) error }) (Lease, error) {
	var l Lease
	var acquired, expires, started, finished int64
	if err := row.Scan(&l.Name, &l.Holder, &acquired, &expires, &started, &finished); err != nil {
		return Lease{}, err
	}
	l.AcquiredAt, l.ExpiresAt = fromMillis(acquired), fromMillis(expires)
	l.RunStartedAt, l.RunFinishedAt = fromMillis(started), fromMillis(finished)
	return l, nil
}

// fromMillis reads a Unix-milliseconds column where 0 means none.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// affected says whether a statement changed a row.
func affected(res sql.Result, what string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	return n > 0, nil
}
