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

// DigestFailure is the last failed attempt to send a week's digest to a recipient.
type DigestFailure struct {
	Week          string
	Recipient     string
	Attempts      int
	LastError     string
	LastAttemptAt time.Time
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
// its failure. Call it only after the server accepted the message. Recording a pair again (an
// explicit resend) keeps the latest details.
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

// DigestSending is the last_error of a digest_failures row that claims a pair for the process
// sending it right now (attempts is unchanged by a claim).
const DigestSending = "sending"

// ClaimDigest marks (week, recipient) as being sent by the caller, so that another process
// (a manual pacer digest beside pacer serve) does not send it at the same time. It returns
// false when the pair was sent already (unless resend is set) or another claim younger than
// stale exists. A claim is replaced by RecordDigestSent or RecordDigestFailure; one left by a
// process that died goes stale and the pair is tried again.
func (s *Store) ClaimDigest(ctx context.Context, week, recipient string, now time.Time, stale time.Duration, resend bool) (bool, error) {
	r := NormalizeRecipient(recipient)
	claimed := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if !resend {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM digest_sends WHERE week = ? AND recipient = ?`, week, r).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
		}
		var last string
		var at int64
		err := tx.QueryRowContext(ctx, `SELECT last_error, last_attempt_at FROM digest_failures WHERE week = ? AND recipient = ?`, week, r).Scan(&last, &at)
		switch {
		case err == nil && last == DigestSending && now.Before(time.Unix(at, 0).Add(stale)):
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO digest_failures(week, recipient, attempts, last_error, last_attempt_at)
			VALUES (?, ?, 0, ?, ?)
			ON CONFLICT(week, recipient) DO UPDATE SET last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at`,
			week, r, DigestSending, now.Unix()); err != nil {
			return err
		}
		claimed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: claim digest %s to %s: %w", week, r, err)
	}
	return claimed, nil
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
	rows, err := s.DB.QueryContext(ctx, `SELECT week, recipient, attempts, last_error, last_attempt_at
		FROM digest_failures WHERE week = ? ORDER BY recipient`, week)
	if err != nil {
		return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
	}
	defer rows.Close()
	var out []DigestFailure
	for rows.Next() {
		var f DigestFailure
		var at int64
		if err := rows.Scan(&f.Week, &f.Recipient, &f.Attempts, &f.LastError, &at); err != nil {
			return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
		}
		f.LastAttemptAt = time.Unix(at, 0).UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: digest failures of %s: %w", week, err)
	}
	return out, nil
}
