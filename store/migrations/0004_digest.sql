-- The weekly digest: which (week, recipient) pairs the mail server has accepted, and the
-- failures still to retry. A pair is written to digest_sends only after the server accepted
-- the message, so a failed or interrupted send is retried and a sent one never repeats.

CREATE TABLE digest_sends (
    week       TEXT    NOT NULL,              -- ISO week, 2026-W09
    recipient  TEXT    NOT NULL,              -- address, lower-cased
    scope      TEXT    NOT NULL DEFAULT '',   -- what the digest covered: all, team:NAME, services:A,B
    subject    TEXT    NOT NULL DEFAULT '',
    message_id TEXT    NOT NULL DEFAULT '',
    sent_at    INTEGER NOT NULL,              -- Unix seconds, when the server accepted it
    PRIMARY KEY (week, recipient)
);

-- The last failure of a pair not yet sent, or a claim by the process sending it right now
-- (last_error = 'sending'); removed when the pair is sent.
CREATE TABLE digest_failures (
    week            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    last_attempt_at INTEGER NOT NULL,
    PRIMARY KEY (week, recipient)
);
