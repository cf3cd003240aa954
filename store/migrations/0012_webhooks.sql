-- GitLab webhook deliveries (SPEC section 10), queued by POST /hooks/gitlab before it answers
-- and drained by the webhook worker, which fetches what each delivery names through the API.
-- The payload itself is not kept: it only says what changed. Times are Unix milliseconds.
CREATE TABLE webhook_deliveries (
    id              TEXT   PRIMARY KEY,            -- SHA-256 of GitLab's delivery id (Idempotency-Key, else X-Gitlab-Event-UUID, else the body) with the object: a repeat is the same row
    delivery        TEXT   NOT NULL DEFAULT '',    -- GitLab's delivery id as sent, for the status page and the log
    event           TEXT   NOT NULL,               -- merge_request | pipeline | deployment
    project_id      BIGINT NOT NULL,               -- GitLab project id
    project_path    TEXT   NOT NULL DEFAULT '',    -- path_with_namespace, as the payload gave it
    object_id       BIGINT NOT NULL,               -- the MR's iid, the pipeline's id or the deployment's id
    received_at     BIGINT NOT NULL,
    state           TEXT   NOT NULL DEFAULT 'queued', -- queued | done | failed (retries exhausted)
    outcome         TEXT   NOT NULL DEFAULT '',    -- what the worker did, for the status page
    attempts        BIGINT NOT NULL DEFAULT 0,     -- fetches tried
    next_attempt_at BIGINT NOT NULL,               -- a queued delivery is due from here
    lease_owner     TEXT   NOT NULL DEFAULT '',    -- the worker holding it, while lease_until is ahead
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT   NOT NULL DEFAULT '',    -- the last failed fetch's error
    finished_at     BIGINT                         -- when it became done or failed
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);
