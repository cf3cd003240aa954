-- PostgreSQL twin of ../0003_facts.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- Facts derived from the raw history by metrics.Engine.Refresh (SPEC section 3). Everything
-- here is recomputed from the tables of 0001 and the configuration; deleting it loses nothing.
-- Times are Unix seconds (UTC); NULL means unknown.

-- When the facts were last derived, and under which rules (a fingerprint of the configuration
-- parts that change them: bots, rework rules, services, production pattern, deploy window).
CREATE TABLE fact_state (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint  TEXT COLLATE "C"    NOT NULL,
    refreshed_at BIGINT NOT NULL,
    generation   BIGINT NOT NULL
);

-- Per project: a summary of the raw rows its facts were derived from, so that a refresh after a
-- sync derives again only the projects whose rows changed.
CREATE TABLE fact_projects (
    project_id BIGINT PRIMARY KEY,
    marker     TEXT COLLATE "C"    NOT NULL
);

-- One row per merged, in-scope (target = default branch), human-authored MR, stored in the
-- order item lists and exports read them (by delivered_at), with the text they show, so that a
-- long export reads the table front to back instead of jumping around the raw tables.
CREATE TABLE mr_facts (
    delivered_at      BIGINT NOT NULL,
    project_id        BIGINT NOT NULL,
    iid               BIGINT NOT NULL,
    service           TEXT COLLATE "C"    NOT NULL,
    project           TEXT COLLATE "C"    NOT NULL,            -- full path
    author            TEXT COLLATE "C"    NOT NULL,
    title             TEXT COLLATE "C"    NOT NULL,
    labels            TEXT COLLATE "C"    NOT NULL,            -- JSON array, as in merge_requests
    source_branch     TEXT COLLATE "C"    NOT NULL,
    web_url           TEXT COLLATE "C"    NOT NULL,
    created_at        BIGINT NOT NULL,
    first_commit_at   BIGINT NOT NULL,
    first_review_at   BIGINT,
    first_approval_at BIGINT,
    merged_at         BIGINT NOT NULL,
    deployed_at       BIGINT,
    coding_seconds    BIGINT NOT NULL,
    pickup_seconds    BIGINT NOT NULL,
    review_seconds    BIGINT NOT NULL,
    deploy_seconds    BIGINT,
    cycle_seconds     BIGINT NOT NULL,
    rework            BIGINT NOT NULL,
    unapproved        BIGINT NOT NULL,
    PRIMARY KEY (delivered_at, project_id, iid)
);
CREATE INDEX mr_facts_project ON mr_facts(project_id, iid);

-- One row per successful production deployment, in finish order.
CREATE TABLE deployment_facts (
    finished_at      BIGINT NOT NULL,
    id               BIGINT NOT NULL,             -- GitLab deployment id
    project_id       BIGINT NOT NULL,
    environment_id   BIGINT NOT NULL,
    service          TEXT COLLATE "C"    NOT NULL,
    project          TEXT COLLATE "C"    NOT NULL,
    environment      TEXT COLLATE "C"    NOT NULL,
    sha              TEXT COLLATE "C"    NOT NULL,
    job_url          TEXT COLLATE "C"    NOT NULL,
    merge_requests   BIGINT NOT NULL,             -- counted links
    rework           BIGINT NOT NULL,
    rollback         BIGINT NOT NULL,
    change_failure   BIGINT NOT NULL,
    recovery_seconds BIGINT,
    out_of_window    BIGINT NOT NULL,
    PRIMARY KEY (finished_at, id)
);
CREATE INDEX deployment_facts_project ON deployment_facts(project_id);

-- The counted deployment-MR links: human-authored, merged MRs Pacer knows, minus the links an
-- environment's first deployment makes to MRs merged more than 7 days before it.
CREATE TABLE deployment_mr_facts (
    deployment_id BIGINT NOT NULL,
    project_id    BIGINT NOT NULL,
    mr_iid        BIGINT NOT NULL,
    author        TEXT COLLATE "C"    NOT NULL,
    rework        BIGINT NOT NULL,
    title         TEXT COLLATE "C"    NOT NULL,
    web_url       TEXT COLLATE "C"    NOT NULL,
    PRIMARY KEY (deployment_id, project_id, mr_iid)
);

-- Per project and UTC day: the successful default-branch pipeline with coverage that finished
-- last that day.
CREATE TABLE coverage_days (
    project_id  BIGINT NOT NULL,
    day         BIGINT NOT NULL,                  -- Unix day (seconds / 86400)
    pipeline_id BIGINT NOT NULL,
    sha         TEXT COLLATE "C"    NOT NULL,
    coverage    DOUBLE PRECISION    NOT NULL,
    finished_at BIGINT NOT NULL,
    web_url     TEXT COLLATE "C"    NOT NULL,
    PRIMARY KEY (project_id, day)
);
CREATE INDEX coverage_days_day ON coverage_days(day, project_id);

-- The per-item numbers figures need, packed per UTC day (kind 1: MRs by delivered day, kind 2:
-- deployments by finished day) so that a year of a large organisation reads in a few hundred
-- rows instead of a million. Layout: metrics/pack.go.
CREATE TABLE fact_days (
    kind BIGINT NOT NULL,
    day  BIGINT NOT NULL,
    data BYTEA    NOT NULL,
    PRIMARY KEY (kind, day)
);

-- Names the packed records refer to by number (kind 1: services, kind 2: authors).
CREATE TABLE fact_names (
    kind BIGINT NOT NULL,
    id   BIGINT NOT NULL,
    name TEXT COLLATE "C"    NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Refresh derives facts project by project; the raw deployments table has no project index.
CREATE INDEX IF NOT EXISTS deployments_project_env ON deployments(project_id, environment_id, finished_at, id);
