package digest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// deliver renders each scope once and sends one message per recipient over one connection,
// recording each pair right after the server accepted it. clock dates the messages and the
// records: the scheduler's "now", so that retry delays are measured on one clock. Each pair is
// claimed in the store just before its message goes out, and the claim is renewed until the
// server has answered, so two processes never send the same pair; resend lets an explicit
// request claim a pair that was sent already.
func (s *Sender) deliver(ctx context.Context, week Week, todo []recipient, resend bool, clock func() time.Time) []Delivery {
	type rendered struct {
		subject, html, text string
		err                 error
	}
	// Render every scope before connecting, so the connection never idles while the metrics
	// are read.
	cache := map[string]rendered{}
	for _, r := range todo {
		if _, ok := cache[r.scope.Key()]; !ok {
			var rd rendered
			rd.subject, rd.html, rd.text, rd.err = s.Render(ctx, week, r.scope)
			cache[r.scope.Key()] = rd
		}
	}
	m := &mailer{cfg: s.cfg.SMTP, tlsConfig: s.tlsConfig, timeout: s.timeout}
	defer m.close()

	var out []Delivery
	var dialErr error // a connection that failed once fails the rest of this run the same way
	for _, r := range todo {
		d := Delivery{Recipient: r.addr, Scope: r.scope}
		rd := cache[r.scope.Key()]
		d.Subject = rd.subject
		err := rd.err
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err == nil && dialErr != nil {
			err = dialErr
		}
		now := clock()
		claim := store.DigestClaim{Week: week.String(), Recipient: r.key, Holder: s.holder}
		claimed := false
		if err == nil {
			ok, cerr := s.st.ClaimDigest(ctx, claim, now, s.claimTTL, resend)
			if cerr != nil {
				err = cerr
			} else if !ok {
				d.Status = InProgress
				s.log.Info("digest: another process is sending it", "week", week.String(), "recipient", r.key)
				out = append(out, d)
				continue
			}
			claimed = true
		}
		if err == nil {
			stop := s.keepClaim(ctx, claim, now)
			if err = m.dial(ctx); err != nil {
				dialErr = err
			}
			if err == nil {
				err = m.send(ctx, message{
					To: r.addr, Subject: rd.subject, HTML: rd.html, Text: rd.text,
					MessageID: messageID(week, r.key, s.cfg.SMTP.From), Date: now,
				})
			}
			stop()
		}
		if err != nil {
			d.Status, d.Err = Failed, err
			s.log.Warn("digest: not sent", "week", week.String(), "recipient", r.key, "scope", r.scope.Key(), "err", err)
			// A cancelled run is not the recipient's failure: it is not counted.
			if ctx.Err() == nil {
				if rerr := s.st.RecordDigestFailure(context.WithoutCancel(ctx), week.String(), r.key, err.Error(), now); rerr != nil {
					s.log.Error("digest: record failure", "err", rerr)
				}
			}
			if claimed {
				if rerr := s.st.ReleaseDigestClaim(context.WithoutCancel(ctx), claim); rerr != nil {
					s.log.Error("digest: release claim", "err", rerr)
				}
			}
			out = append(out, d)
			continue
		}
		// The server has the message. Record it even if ctx was cancelled meanwhile, so that
		// a stop between the two cannot cause a second send.
		rec := store.DigestSend{Week: week.String(), Recipient: r.key, Scope: r.scope.Key(), Subject: rd.subject,
			MessageID: "<" + messageID(week, r.key, s.cfg.SMTP.From) + ">", SentAt: now}
		if rerr := s.st.RecordDigestSent(context.WithoutCancel(ctx), rec); rerr != nil {
			// Nothing else can be done: the message went out; say so loudly.
			d.Status, d.Err = Failed, fmt.Errorf("digest: sent to %s but not recorded (it may be sent again): %w", r.key, rerr)
			s.log.Error("digest: sent but not recorded", "week", week.String(), "recipient", r.key, "err", rerr)
			out = append(out, d)
			continue
		}
		d.Status, d.SentAt = Sent, now
		s.log.Info("digest: sent", "week", week.String(), "recipient", r.key, "scope", r.scope.Key())
		out = append(out, d)
	}
	return out
}

// keepClaim renews the claim c, taken at claimedAt on the caller's clock, every third of the
// claim's time until stop is called: a slow mail server must not outlast the claim and let
// another process send the pair too. A process that dies stops renewing, and the claim lapses
// within claimTTL.
func (s *Sender) keepClaim(ctx context.Context, c store.DigestClaim, claimedAt time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	started := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(s.claimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// The claim's times are on the caller's clock (the scheduler's now); move it on by
			// the time that has really passed.
			until := claimedAt.Add(time.Since(started) + s.claimTTL)
			if ok, err := s.st.RenewDigestClaim(ctx, c, until); err != nil && ctx.Err() == nil {
				s.log.Warn("digest: could not renew the claim on a message being sent", "week", c.Week, "recipient", c.Recipient, "err", err)
			} else if err == nil && !ok {
				s.log.Warn("digest: the claim on a message being sent lapsed; another process may send it too", "week", c.Week, "recipient", c.Recipient)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func joinFailures(ds []Delivery) error {
	var errs []error
	for _, d := range ds {
		if d.Status == Failed && d.Err != nil {
			errs = append(errs, d.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// The same connection error for every recipient reads once.
	uniq := map[string]bool{}
	var msgs []string
	for _, e := range errs {
		if !uniq[e.Error()] {
			uniq[e.Error()] = true
			msgs = append(msgs, e.Error())
		}
	}
	return &SendError{Failed: len(errs), Messages: msgs, errs: errs}
}

// SendError reports the recipients a run could not send to.
type SendError struct {
	Failed   int
	Messages []string
	errs     []error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("digest: %s not sent: %s", plural(e.Failed, "message", "messages"), strings.Join(e.Messages, "; "))
}

// Unwrap gives the individual errors.
func (e *SendError) Unwrap() []error { return e.errs }
