// Package digest composes the weekly email digest (SPEC section 6) from the metrics, renders
// it as HTML and plain text, and sends it over SMTP. What was sent is kept in the store: a
// (week, recipient) pair is recorded only after the mail server accepted the message, so a
// failure is retried on a later check (after a short, growing delay) and a sent digest never
// goes out twice, across restarts.
package digest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// Sender composes and sends the digest.
type Sender struct {
	st  *store.Store
	src Source
	cfg *config.Config

	log       *slog.Logger
	now       func() time.Time
	tlsConfig *tls.Config
	timeout   time.Duration
	holder    string        // names this process on its claims (store.NewHolder)
	claimTTL  time.Duration // how long a claim holds unrenewed

	// mu makes the sends of this process one at a time, so a scheduled check and a manual
	// send cannot both find a pair unsent and both send it.
	mu sync.Mutex
	// dupWarning logs addresses that are in two subscriptions once, not on every check.
	dupWarning sync.Once
}

// Option configures a Sender.
type Option func(*Sender)

// WithLogger sets the logger (slog.Default otherwise).
func WithLogger(l *slog.Logger) Option { return func(s *Sender) { s.log = l } }

// WithClock sets the clock used for the Date header and the recorded send time.
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// WithTLSConfig sets the TLS configuration for the SMTP connection (for a private CA; tests use
// it to trust their own server).
func WithTLSConfig(c *tls.Config) Option { return func(s *Sender) { s.tlsConfig = c } }

// WithTimeout bounds each SMTP connection and command (15 s otherwise).
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// WithClaims names the process on its claims (store.NewHolder; a fresh name otherwise) and
// sets how long a claim holds unless renewed (store.DefaultLeaseTTL otherwise): the time after
// which a pair left by a process that died is sent by another.
func WithClaims(holder string, ttl time.Duration) Option {
	return func(s *Sender) { s.holder, s.claimTTL = holder, ttl }
}

// New returns a Sender reading figures from src (a *metrics.Engine) and recording sends in st.
func New(st *store.Store, src Source, cfg *config.Config, opts ...Option) *Sender {
	if cfg == nil {
		cfg = config.Default()
	}
	s := &Sender{st: st, src: src, cfg: cfg, log: slog.Default(), now: time.Now, timeout: 15 * time.Second}
	for _, o := range opts {
		o(s)
	}
	if s.holder == "" {
		s.holder = store.NewHolder()
	}
	if s.claimTTL <= 0 {
		s.claimTTL = store.DefaultLeaseTTL
	}
	return s
}

// Schedule is the configured schedule.
func (s *Sender) Schedule() Schedule { return ScheduleOf(s.cfg) }

// Ready says whether scheduled sending can work: nil when there are subscriptions and the SMTP
// settings are complete, otherwise what is missing. `pacer serve` starts the digest job only
// when it is nil.
func (s *Sender) Ready() error {
	if len(s.cfg.Digest.Subscriptions) == 0 {
		return errors.New("digest: no [[digest.subscription]] in the configuration")
	}
	return checkSMTP(s.cfg.SMTP)
}

// CheckSubscriptions checks each subscription's team and services against the configuration
// and the database, so a misspelt service is reported at start-up rather than when the
// digest is due. It returns one error per subscription that would fail.
func (s *Sender) CheckSubscriptions(ctx context.Context) []error {
	var errs []error
	for i, sub := range s.cfg.Digest.Subscriptions {
		sc := ScopeOf(sub)
		if err := s.src.Validate(ctx, metrics.Filter{Team: sc.Team, Services: sc.Services}); err != nil {
			errs = append(errs, fmt.Errorf("digest: digest.subscription[%d] (%s): %w", i, strings.Join(sub.To, ", "), err))
		}
	}
	return errs
}

// CheckSMTP says what is missing from the [smtp] settings for sending, or nil.
func (s *Sender) CheckSMTP() error { return checkSMTP(s.cfg.SMTP) }

// Render composes the digest of week for scope and renders its subject, HTML and text. Links
// use base_url; without one the email has no links and says so.
func (s *Sender) Render(ctx context.Context, week Week, scope Scope) (subject, html, text string, err error) {
	m, err := s.Compose(ctx, week, scope, s.cfg.BaseURL, s.cfg.BaseURL == "")
	if err != nil {
		return "", "", "", err
	}
	var b bytes.Buffer
	if err := views.DigestEmailDoc(m).Render(ctx, &b); err != nil {
		return "", "", "", fmt.Errorf("digest: render %s: %w", week, err)
	}
	return m.Subject, b.String(), views.DigestText(m), nil
}

// Compose builds the digest's view model. Links start with linkBase ("" gives root-relative
// links, as the dashboard's preview wants); noLinks leaves them out.
func (s *Sender) Compose(ctx context.Context, week Week, scope Scope, linkBase string, noLinks bool) (views.DigestEmail, error) {
	return compose(ctx, s.src, s.cfg, week, scope, links{base: linkBase, off: noLinks, week: week, scope: scope})
}

// Delivery is one recipient's digest of a week and what happened to it.
type Delivery struct {
	Recipient string
	Scope     Scope
	Subject   string
	Status    Status
	Err       error // set when Status is Failed
	// SentAt is when it was sent, or, for AlreadySent, when it had been.
	SentAt time.Time
}

// Status is the outcome of a Delivery.
type Status string

const (
	Sent        Status = "sent"
	AlreadySent Status = "already sent"
	WouldSend   Status = "would send" // dry run
	Failed      Status = "failed"
	// InProgress is a pair another process (pacer serve beside pacer digest) is sending.
	InProgress Status = "being sent elsewhere"
)

// recipient is one address and the scope of the subscription it gets.
type recipient struct {
	addr  string // as configured
	key   string // normalised
	scope Scope
}

// recipients lists the subscribers once each: an address in several subscriptions gets the
// first one's digest (a week is sent at most once per recipient), and the rest are logged.
func (s *Sender) recipients() []recipient {
	var out []recipient
	var dups [][3]string
	defer func() {
		if len(dups) > 0 {
			s.dupWarning.Do(func() {
				for _, d := range dups {
					s.log.Warn("digest: address is in two subscriptions; it gets the first one's digest",
						"recipient", d[0], "scope", d[1], "ignored_scope", d[2])
				}
			})
		}
	}()
	seen := map[string]Scope{}
	for _, sub := range s.cfg.Digest.Subscriptions {
		sc := ScopeOf(sub)
		for _, a := range sub.To {
			k := store.NormalizeRecipient(a)
			if first, dup := seen[k]; dup {
				if first.Key() != sc.Key() {
					dups = append(dups, [3]string{k, first.Key(), sc.Key()})
				}
				continue
			}
			seen[k] = sc
			out = append(out, recipient{addr: strings.TrimSpace(a), key: k, scope: sc})
		}
	}
	return out
}

// override turns --to addresses into recipients: an address that is subscribed keeps its
// subscription's scope; any other gets everything.
func (s *Sender) override(addrs []string) []recipient {
	subscribed := map[string]Scope{}
	for _, r := range s.recipients() {
		subscribed[r.key] = r.scope
	}
	var out []recipient
	seen := map[string]bool{}
	for _, a := range addrs {
		k := store.NormalizeRecipient(a)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, recipient{addr: strings.TrimSpace(a), key: k, scope: subscribed[k]})
	}
	return out
}

// retryDelay is how long a failed pair waits before the scheduler tries it again: one minute,
// doubling with each attempt, at most an hour. A wrong password or a down server then costs a
// few connections an hour rather than one a minute (and no lock-out by the mail server).
func retryDelay(attempts int) time.Duration {
	d := time.Minute
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	if d > time.Hour {
		d = time.Hour
	}
	return d
}

// SendDue sends the digest that is due at now to every subscriber who has not got it yet. It
// is the scheduled job: cheap when there is nothing to do (one query), so it can run every
// minute; the database, not the timer, decides what is due. A pair that failed waits
// retryDelay before the next attempt. The error joins the failures of this run.
func (s *Sender) SendDue(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, todo, err := s.pending(ctx, now)
	if err != nil || len(todo) == 0 {
		return err
	}
	if err := checkSMTP(s.cfg.SMTP); err != nil {
		return err
	}
	s.log.Info("digest: sending", "week", run.Week.String(), "recipients", len(todo), "due_at", run.At.UTC().Format(time.RFC3339))
	ds := s.deliver(ctx, run.Week, todo, false, func() time.Time { return now })
	return joinFailures(ds)
}

// Pending says whether SendDue(ctx, now) has anything to send: some subscriber has not got
// the due week and is not waiting out a retry delay. It is the job table's due check.
func (s *Sender) Pending(ctx context.Context, now time.Time) (bool, error) {
	_, todo, err := s.pending(ctx, now)
	return len(todo) > 0, err
}

func (s *Sender) pending(ctx context.Context, now time.Time) (Run, []recipient, error) {
	if len(s.cfg.Digest.Subscriptions) == 0 {
		return Run{}, nil, nil
	}
	run := s.Schedule().Due(now)
	sent, failures, err := s.state(ctx, run.Week)
	if err != nil {
		return run, nil, err
	}
	var todo []recipient
	for _, r := range s.recipients() {
		if _, ok := sent[r.key]; ok {
			continue
		}
		if f, ok := failures[r.key]; ok {
			switch {
			case now.Before(f.ClaimExpiresAt):
				continue // being sent, by this process or another
			case f.LastError == store.DigestSending:
				// Its sender stopped mid-send and its claim has lapsed: the pair is due now.
			case now.Before(f.LastAttemptAt.Add(retryDelay(f.Attempts))):
				continue
			}
		}
		todo = append(todo, r)
	}
	return run, todo, nil
}

// Send sends week's digest on demand. Without override it goes to every subscriber who has not
// got that week yet; with override, to those addresses whether or not they had it (an explicit
// request), each with its subscription's scope or, if not subscribed, everything. A dry run
// renders and reports, sending and recording nothing.
func (s *Sender) Send(ctx context.Context, week Week, override []string, dryRun bool) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.recipients()
	if len(override) > 0 {
		rs = s.override(override)
	}
	if len(rs) == 0 {
		return nil, errors.New("digest: nobody to send to: add a [[digest.subscription]] to the configuration or pass --to")
	}
	sent, _, err := s.state(ctx, week)
	if err != nil {
		return nil, err
	}
	var out []Delivery
	var todo []recipient
	for _, r := range rs {
		if d, ok := sent[r.key]; ok && len(override) == 0 {
			out = append(out, Delivery{Recipient: r.addr, Scope: r.scope, Subject: d.Subject, Status: AlreadySent, SentAt: d.SentAt})
			continue
		}
		todo = append(todo, r)
	}
	if dryRun {
		rendered := map[string]string{}
		for _, r := range todo {
			subj, ok := rendered[r.scope.Key()]
			if !ok {
				m, err := s.Compose(ctx, week, r.scope, s.cfg.BaseURL, s.cfg.BaseURL == "")
				if err != nil {
					return out, err
				}
				subj = m.Subject
				rendered[r.scope.Key()] = subj
			}
			out = append(out, Delivery{Recipient: r.addr, Scope: r.scope, Subject: subj, Status: WouldSend})
		}
		return sortDeliveries(out), nil
	}
	if len(todo) > 0 {
		if err := checkSMTP(s.cfg.SMTP); err != nil {
			return out, err
		}
	}
	ds := s.deliver(ctx, week, todo, len(override) > 0, s.now)
	out = append(out, ds...)
	return sortDeliveries(out), joinFailures(ds)
}

func sortDeliveries(ds []Delivery) []Delivery {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Recipient < ds[j].Recipient })
	return ds
}

func (s *Sender) state(ctx context.Context, week Week) (map[string]store.DigestSend, map[string]store.DigestFailure, error) {
	sends, err := s.st.DigestSends(ctx, week.String())
	if err != nil {
		return nil, nil, err
	}
	fails, err := s.st.DigestFailures(ctx, week.String())
	if err != nil {
		return nil, nil, err
	}
	sent := make(map[string]store.DigestSend, len(sends))
	for _, d := range sends {
		sent[d.Recipient] = d
	}
	failed := make(map[string]store.DigestFailure, len(fails))
	for _, f := range fails {
		failed[f.Recipient] = f
	}
	return sent, failed, nil
}
