-- PostgreSQL twin of ../0004_digest.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- The weekly digest: which (week, recipient) pairs the mail server has accepted, and the
-- failures still to retry. A pair is written to digest_sends only after the server accepted
-- the message, so a failed or interrupted send is retried and a sent one never repeats.

CREATE TABLE digest_sends (
    week       TEXT COLLATE "C"    NOT NULL,              -- ISO week, 2026-W09
    recipient  TEXT COLLATE "C"    NOT NULL,              -- address, lower-cased
    scope      TEXT COLLATE "C"    NOT NULL DEFAULT '',   -- what the digest covered: all, team:NAME, services:A,B
    subject    TEXT COLLATE "C"    NOT NULL DEFAULT '',
    message_id TEXT COLLATE "C"    NOT NULL DEFAULT '',
    sent_at    BIGINT NOT NULL,              -- Unix seconds, when the server accepted it
    PRIMARY KEY (week, recipient)
);

-- The last failure of a pair not yet sent, or a claim by the process sending it right now
-- (last_error = 'sending'); removed when the pair is sent.
CREATE TABLE digest_failures (
    week            TEXT COLLATE "C"    NOT NULL,
    recipient       TEXT COLLATE "C"    NOT NULL,
    attempts        BIGINT NOT NULL,
    last_error      TEXT COLLATE "C"    NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    PRIMARY KEY (week, recipient)
);
