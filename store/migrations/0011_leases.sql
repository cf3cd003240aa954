-- Several `pacer serve` processes on one database: the database decides which
-- process runs each background job, and which one sends each digest pair.

-- One row per job name. A process runs the job only while it holds the lease: holder is that
-- process and expires_at is in the future. The holder renews it while the job runs and gives
-- it back at the end (expires_at = 0); a process that dies stops renewing, and the lease is
-- free again once expires_at passes. Times are Unix milliseconds, from the processes' clocks.
CREATE TABLE leases (
    name            TEXT   NOT NULL PRIMARY KEY,   -- the job: sync, digest, memberships
    holder          TEXT   NOT NULL,               -- host/pid/random of the process holding it now, or last
    acquired_at     BIGINT NOT NULL,               -- when holder took it
    expires_at      BIGINT NOT NULL,               -- held until then; 0 once given back
    run_started_at  BIGINT NOT NULL DEFAULT 0,     -- when the job's last run began (kept by a run that continues one cut short)
    run_finished_at BIGINT NOT NULL DEFAULT 0      -- when it ended; 0 while it runs, and after a run cut short
);

-- A digest pair is claimed by the process about to send it, until claim_expires_at (Unix
-- milliseconds, like the leases; renewed while the message is on its way). The claim ends when
-- the pair is recorded as sent (the row goes) or as failed (claim_expires_at = 0).
-- last_error = 'sending' still marks a claimed row for the status pages.
ALTER TABLE digest_failures ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE digest_failures ADD COLUMN claim_expires_at BIGINT NOT NULL DEFAULT 0;
