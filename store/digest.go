package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DigestSend is one (week, recipient) pair that the mail server accepted.
type DigestSend struct {
	Week      string // 2026-W09
	Recipient string // lower-cased address
	Scope     string
	Subject   string
	MessageID string
	SentAt    time.Time
}

// DigestFailure is the last failed attempt to send a week's digest to a recipient, or the
// claim of the process sending it now (LastError is DigestSending).
type DigestFailure struct {
	Week          string
	Recipient     string
	Attempts      int
	LastError     string
	LastAttemptAt time.Time
	// ClaimedBy is the process that claimed the pair last (see ClaimDigest); the claim holds
	// until ClaimExpiresAt, zero once it ended.
	ClaimedBy      string
	ClaimExpiresAt time.Time
}

// NormalizeRecipient is the form addresses are stored and compared in: trimmed and
// lower-cased, so "Ana@Example.com" and "ana@example.com" are one recipient.
func NormalizeRecipient(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// DigestSends lists the pairs recorded for week, by recipient.
func (s *Store) DigestSends(ctx context.Context, week string) ([]DigestSend, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT week, recipient, scope, subject, message_id, sent_at
		FROM digest_sends WHERE week = ? ORDER BY recipient`, week)
	if err != nil {
		return nil, fmt.Errorf("store: digest sends of %s: %w", week, err)
	}
	defer rows.Close()
	var out []DigestSend
	for rows.Next() {
		var d DigestSend
		var at int64
		if err := rows.Scan(&d.Week, &d.Recipient, &d.Scope, &d.Subject, &d.MessageID, &at); err != nil {
			return nil, fmt.Errorf("store: digest sends of %s: %w", week, err)
		}
		d.SentAt = time.Unix(at, 0).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: digest sends of %s: %w", week, err)
	}
	return out, nil
}

// DigestSent returns the recorded send of week to recipient, or ErrNotFound.
func (s *Store) DigestSent(ctx context.Context, week, recipient string) (DigestSend, error) {
	d := DigestSend{Week: week, Recipient: NormalizeRecipient(recipient)}
	var at int64
	err := s.DB.QueryRowContext(ctx, `SELECT scope, subject, message_id, sent_at FROM digest_sends
		WHERE week = ? AND recipient = ?`, week, d.Recipient).Scan(&d.Scope, &d.Subject, &d.MessageID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return DigestSend{}, ErrNotFound
	}
	if err != nil {
		return DigestSend{}, fmt.Errorf("store: digest send of %s to %s: %w", week, d.Recipient, err)
	}
	d.SentAt = time.Unix(at, 0).UTC()
	return d, nil
}

// RecordDigestSent records that the server accepted week's digest for the recipient and clears
// its failure and its claim, in one transaction. Call it only after the server accepted the
// message. Recording a pair again (an explicit resend) keeps the latest details.
func (s *Store) RecordDigestSent(ctx context.Context, d DigestSend) error {
	r := NormalizeRecipient(d.Recipient)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO digest_sends(week, recipient, scope, subject, message_id, sent_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(week, recipient) DO UPDATE SET scope = excluded.scope, subject = excluded.subject,
				message_id = excluded.message_id, sent_at = excluded.sent_at`,
			d.Week, r, d.Scope, d.Subject, d.MessageID, d.SentAt.Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM digest_failures WHERE week = ? AND recipient = ?`, d.Week, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record digest %s to %s: %w", d.Week, r, err)
	}
	return nil
}

// DigestSending is the last_error of a digest_failures row while a process claims the pair to
// send it (attempts is unchanged by a claim).
const DigestSending = "sending"

// DigestClaim is one process's claim on a (week, recipient) pair: Holder is the process, as
// NewHolder names it.
type DigestClaim struct {
	Week      string
	Recipient string
	Holder    string
}

// errDigestSent rolls back a claim on a pair that turns out to be sent already.
var errDigestSent = errors.New("store: digest pair already sent")

// ClaimDigest claims (week, recipient) for c.Holder until now+ttl, so that no other process
// sends it meanwhile. It returns false when another process's claim on the pair is still
// running, or when the pair was sent already (unless resend is set). The claim ends when the
// pair is recorded sent (RecordDigestSent) or is released (ReleaseDigestClaim); a process that
// dies leaves it to expire, and the pair is then claimed by the next process that tries.
//
// The claim is taken first, in one statement whose WHERE lets it through only when no live
// claim of another holder is on the row; then the pair is looked up in digest_sends. A sender
// records its send before its claim goes, so a process whose claim got through sees that send.
func (s *Store) ClaimDigest(ctx context.Context, c DigestClaim, now time.Time, ttl time.Duration, resend bool) (bool, error) {
	r := NormalizeRecipient(c.Recipient)
	claimed := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO digest_failures(week, recipient, attempts, last_error, last_attempt_at, claimed_by, claim_expires_at)
			VALUES (?, ?, 0, ?, ?, ?, ?)
			ON CONFLICT (week, recipient) DO UPDATE SET last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at,
				claimed_by = excluded.claimed_by, claim_expires_at = excluded.claim_expires_at
			WHERE digest_failures.claim_expires_at <= ? OR digest_failures.claimed_by = excluded.claimed_by`,
			c.Week, r, DigestSending, now.Unix(), c.Holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		if claimed, err = affected(res, "claim digest"); err != nil || !claimed {
			return err
		}
		if !resend {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM digest_sends WHERE week = ? AND recipient = ?`, c.Week, r).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				claimed = false
				return errDigestSent
			}
		}
		return nil
	})
	if errors.Is(err, errDigestSent) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: claim digest %s to %s: %w", c.Week, r, err)
	}
	return claimed, nil
}

// RenewDigestClaim extends c's claim to until, while its message is on its way. It reports
// false when the claim is no longer c.Holder's.
func (s *Store) RenewDigestClaim(ctx context.Context, c DigestClaim, until time.Time) (bool, error) {
	r := NormalizeRecipient(c.Recipient)
	res, err := s.DB.ExecContext(ctx, `UPDATE digest_failures SET claim_expires_at = ?
		WHERE week = ? AND recipient = ? AND claimed_by = ? AND claim_expires_at > 0`, until.UnixMilli(), c.Week, r, c.Holder)
	if err != nil {
		return false, fmt.Errorf("store: renew digest claim %s to %s: %w", c.Week, r, err)
	}
	return affected(res, "renew digest claim")
}

// ReleaseDigestClaim ends c's claim (after a failed attempt, recorded by RecordDigestFailure).
// A claim that is no longer c.Holder's is left alone.
func (s *Store) ReleaseDigestClaim(ctx context.Context, c DigestClaim) error {
	r := NormalizeRecipient(c.Recipient)
	if _, err := s.DB.ExecContext(ctx, `UPDATE digest_failures SET claim_expires_at = 0
		WHERE week = ? AND recipient = ? AND claimed_by = ?`, c.Week, r, c.Holder); err != nil {
		return fmt.Errorf("store: release digest claim %s to %s: %w", c.Week, r, err)
	}
	return nil
}

// RecordDigestFailure counts a failed attempt to send week's digest to recipient.
func (s *Store) RecordDigestFailure(ctx context.Context, week, recipient, msg string, at time.Time) error {
	r := NormalizeRecipient(recipient)
	_, err := s.DB.ExecContext(ctx, `INSERT INTO digest_failures(week, recipient, attempts, last_error, last_attempt_at)
		VALUES (?, ?, 1, ?, ?)
		ON CONFLICT(week, recipient) DO UPDATE SET attempts = digest_failures.attempts + 1,
			last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at`,
		week, r, msg, at.Unix())
	if err != nil {
		return fmt.Errorf("store: record digest failure %s to %s: %w", week, r, err)
	}
	return nil
}

// DigestFailures lists the pending failures of week, by recipient.
func (s *Store) DigestFailures(ctx context.Context, week string) ([]DigestFailure, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT week, recipient, attempts, last_error, last_attempt_at, claimed_by, claim_expires_at
		FROM digest_failures WHERE week = ? ORDER BY recipient`, week)
	if err != nil {
		return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
	}
	defer rows.Close()
	var out []DigestFailure
	for rows.Next() {
		var f DigestFailure
		var at, claimExpires int64
		if err := rows.Scan(&f.Week, &f.Recipient, &f.Attempts, &f.LastError, &at, &f.ClaimedBy, &claimExpires); err != nil {
			return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
		}
		f.LastAttemptAt = time.Unix(at, 0).UTC()
		f.ClaimExpiresAt = fromMillis(claimExpires)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
	}
	return out, nil
}
