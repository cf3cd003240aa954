-- Facts derived from the raw history by metrics.Engine.Refresh (SPEC section 3). Everything
-- here is recomputed from the tables of 0001 and the configuration; deleting it loses nothing.
-- Times are Unix seconds (UTC); NULL means unknown.

-- When the facts were last derived, and under which rules (a fingerprint of the configuration
-- parts that change them: bots, rework rules, services, production pattern, deploy window).
CREATE TABLE fact_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint  TEXT    NOT NULL,
    refreshed_at INTEGER NOT NULL,
    generation   INTEGER NOT NULL
);

-- Per project: a summary of the raw rows its facts were derived from, so that a refresh after a
-- sync derives again only the projects whose rows changed.
CREATE TABLE fact_projects (
    project_id INTEGER PRIMARY KEY,
    marker     TEXT    NOT NULL
);

-- One row per merged, in-scope (target = default branch), human-authored MR, stored in the
-- order item lists and exports read them (by delivered_at), with the text they show, so that a
-- long export reads the table front to back instead of jumping around the raw tables.
CREATE TABLE mr_facts (
    delivered_at      INTEGER NOT NULL,
    project_id        INTEGER NOT NULL,
    iid               INTEGER NOT NULL,
    service           TEXT    NOT NULL,
    project           TEXT    NOT NULL,            -- full path
    author            TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    labels            TEXT    NOT NULL,            -- JSON array, as in merge_requests
    source_branch     TEXT    NOT NULL,
    web_url           TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    first_commit_at   INTEGER NOT NULL,
    first_review_at   INTEGER,
    first_approval_at INTEGER,
    merged_at         INTEGER NOT NULL,
    deployed_at       INTEGER,
    coding_seconds    INTEGER NOT NULL,
    pickup_seconds    INTEGER NOT NULL,
    review_seconds    INTEGER NOT NULL,
    deploy_seconds    INTEGER,
    cycle_seconds     INTEGER NOT NULL,
    rework            INTEGER NOT NULL,
    unapproved        INTEGER NOT NULL,
    PRIMARY KEY (delivered_at, project_id, iid)
) WITHOUT ROWID;
CREATE INDEX mr_facts_project ON mr_facts(project_id, iid);

-- One row per successful production deployment, in finish order.
CREATE TABLE deployment_facts (
    finished_at      INTEGER NOT NULL,
    id               INTEGER NOT NULL,             -- GitLab deployment id
    project_id       INTEGER NOT NULL,
    environment_id   INTEGER NOT NULL,
    service          TEXT    NOT NULL,
    project          TEXT    NOT NULL,
    environment      TEXT    NOT NULL,
    sha              TEXT    NOT NULL,
    job_url          TEXT    NOT NULL,
    merge_requests   INTEGER NOT NULL,             -- counted links
    rework           INTEGER NOT NULL,
    rollback         INTEGER NOT NULL,
    change_failure   INTEGER NOT NULL,
    recovery_seconds INTEGER,
    out_of_window    INTEGER NOT NULL,
    PRIMARY KEY (finished_at, id)
) WITHOUT ROWID;
CREATE INDEX deployment_facts_project ON deployment_facts(project_id);

-- The counted deployment-MR links: human-authored, merged MRs Pacer knows, minus the links an
-- environment's first deployment makes to MRs merged more than 7 days before it.
CREATE TABLE deployment_mr_facts (
    deployment_id INTEGER NOT NULL,
    project_id    INTEGER NOT NULL,
    mr_iid        INTEGER NOT NULL,
    author        TEXT    NOT NULL,
    rework        INTEGER NOT NULL,
    title         TEXT    NOT NULL,
    web_url       TEXT    NOT NULL,
    PRIMARY KEY (deployment_id, project_id, mr_iid)
) WITHOUT ROWID;

-- Per project and UTC day: the successful default-branch pipeline with coverage that finished
-- last that day.
CREATE TABLE coverage_days (
    project_id  INTEGER NOT NULL,
    day         INTEGER NOT NULL,                  -- Unix day (seconds / 86400)
    pipeline_id INTEGER NOT NULL,
    sha         TEXT    NOT NULL,
    coverage    REAL    NOT NULL,
    finished_at INTEGER NOT NULL,
    web_url     TEXT    NOT NULL,
    PRIMARY KEY (project_id, day)
);
CREATE INDEX coverage_days_day ON coverage_days(day, project_id);

-- The per-item numbers figures need, packed per UTC day (kind 1: MRs by delivered day, kind 2:
-- deployments by finished day) so that a year of a large organisation reads in a few hundred
-- rows instead of a million. Layout: metrics/pack.go.
CREATE TABLE fact_days (
    kind INTEGER NOT NULL,
    day  INTEGER NOT NULL,
    data BLOB    NOT NULL,
    PRIMARY KEY (kind, day)
);

-- Names the packed records refer to by number (kind 1: services, kind 2: authors).
CREATE TABLE fact_names (
    kind INTEGER NOT NULL,
    id   INTEGER NOT NULL,
    name TEXT    NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Refresh derives facts project by project; the raw deployments table has no project index.
CREATE INDEX IF NOT EXISTS deployments_project_env ON deployments(project_id, environment_id, finished_at, id);
