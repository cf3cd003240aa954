-- PostgreSQL twin of ../0001_ingest.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- Raw GitLab history, as fetched. Times are Unix seconds (UTC); NULL means unknown.

CREATE TABLE projects (
    id             BIGINT PRIMARY KEY,            -- GitLab project id
    path           TEXT COLLATE "C"    NOT NULL,               -- path_with_namespace, e.g. acme/platform/api
    name           TEXT COLLATE "C"    NOT NULL DEFAULT '',
    default_branch TEXT COLLATE "C"    NOT NULL DEFAULT '',
    web_url        TEXT COLLATE "C"    NOT NULL DEFAULT '',
    archived       BIGINT NOT NULL DEFAULT 0,
    discovered_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX projects_path ON projects(path);

-- Authors looked up once for GitLab's bot flag.
CREATE TABLE users (
    id         BIGINT PRIMARY KEY,
    username   TEXT COLLATE "C"    NOT NULL,
    name       TEXT COLLATE "C"    NOT NULL DEFAULT '',
    bot        BIGINT NOT NULL DEFAULT 0,
    fetched_at BIGINT NOT NULL
);

CREATE TABLE merge_requests (
    project_id        BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    iid               BIGINT NOT NULL,
    id                BIGINT NOT NULL,
    title             TEXT COLLATE "C"    NOT NULL,
    state             TEXT COLLATE "C"    NOT NULL,             -- opened | closed | locked | merged
    draft             BIGINT NOT NULL DEFAULT 0,
    author_id         BIGINT NOT NULL,
    author_username   TEXT COLLATE "C"    NOT NULL,
    labels            TEXT COLLATE "C"    NOT NULL DEFAULT '[]', -- JSON array of label names, as GitLab gives them
    source_branch     TEXT COLLATE "C"    NOT NULL DEFAULT '',
    target_branch     TEXT COLLATE "C"    NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    merged_at         BIGINT,
    closed_at         BIGINT,
    sha               TEXT COLLATE "C"    NOT NULL DEFAULT '',
    merge_commit_sha  TEXT COLLATE "C"    NOT NULL DEFAULT '',
    squash_commit_sha TEXT COLLATE "C"    NOT NULL DEFAULT '',
    web_url           TEXT COLLATE "C"    NOT NULL DEFAULT '',
    user_notes_count  BIGINT NOT NULL DEFAULT 0,
    -- Derived from what was fetched for this MR (commits and notes); see store/merge_requests.go.
    commit_count      BIGINT NOT NULL DEFAULT 0,
    first_commit_at   BIGINT,                      -- min(authored_date) over all commits, before the created_at rule
    first_review_at   BIGINT,                      -- earliest human non-author comment or approval (bot rules at sync time)
    first_approval_at BIGINT,                      -- earliest "approved this merge request" by a human non-author
    details_updated_at BIGINT,                     -- the MR updated_at that commits and notes were last fetched for
    PRIMARY KEY (project_id, iid)
);
CREATE INDEX merge_requests_merged ON merge_requests(merged_at) WHERE merged_at IS NOT NULL;

-- All commits of an MR, replaced whenever the MR changed (force pushes rewrite them).
CREATE TABLE mr_commits (
    project_id  BIGINT NOT NULL,
    mr_iid      BIGINT NOT NULL,
    sha         TEXT COLLATE "C"    NOT NULL,
    authored_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, mr_iid, sha),
    FOREIGN KEY (project_id, mr_iid) REFERENCES merge_requests(project_id, iid) ON DELETE CASCADE
);

-- Review events of an MR: human comments and approval system notes (other system notes are dropped).
CREATE TABLE mr_notes (
    project_id      BIGINT NOT NULL,
    mr_iid          BIGINT NOT NULL,
    note_id         BIGINT NOT NULL,
    kind            TEXT COLLATE "C"    NOT NULL CHECK (kind IN ('comment', 'approved', 'unapproved')),
    author_id       BIGINT NOT NULL,
    author_username TEXT COLLATE "C"    NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (project_id, mr_iid, note_id),
    FOREIGN KEY (project_id, mr_iid) REFERENCES merge_requests(project_id, iid) ON DELETE CASCADE
);

CREATE TABLE environments (
    id           BIGINT PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT COLLATE "C"    NOT NULL,
    tier         TEXT COLLATE "C"    NOT NULL DEFAULT '',        -- GitLab deployment tier; '' when GitLab gives none
    external_url TEXT COLLATE "C"    NOT NULL DEFAULT '',
    production   BIGINT NOT NULL DEFAULT 0          -- tier production, or name matching the configured pattern
);
CREATE INDEX environments_project ON environments(project_id);

-- Successful production deployments.
CREATE TABLE deployments (
    id               BIGINT PRIMARY KEY,            -- GitLab deployment id (not iid)
    iid              BIGINT NOT NULL,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id   BIGINT NOT NULL,
    environment      TEXT COLLATE "C"    NOT NULL,
    ref              TEXT COLLATE "C"    NOT NULL DEFAULT '',
    sha              TEXT COLLATE "C"    NOT NULL,
    status           TEXT COLLATE "C"    NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT NOT NULL,               -- deployable.finished_at, else updated_at (API-created)
    job_url          TEXT COLLATE "C"    NOT NULL DEFAULT '',
    links_fetched_at BIGINT                         -- when its MRs were last fetched
);
CREATE INDEX deployments_env_finished ON deployments(environment_id, finished_at);
CREATE INDEX deployments_finished ON deployments(finished_at);

-- The MRs each deployment shipped, as GitLab links them.
CREATE TABLE deployment_merge_requests (
    deployment_id BIGINT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    project_id    BIGINT NOT NULL,
    mr_iid        BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, mr_iid)
);
CREATE INDEX deployment_merge_requests_mr ON deployment_merge_requests(project_id, mr_iid);

-- Default-branch pipelines; coverage from the single-pipeline endpoint once finished.
CREATE TABLE pipelines (
    id          BIGINT PRIMARY KEY,
    iid         BIGINT NOT NULL DEFAULT 0,
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    ref         TEXT COLLATE "C"    NOT NULL,
    sha         TEXT COLLATE "C"    NOT NULL,
    status      TEXT COLLATE "C"    NOT NULL,
    source      TEXT COLLATE "C"    NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    coverage    DOUBLE PRECISION,                                -- percent; NULL when the pipeline reports none
    web_url     TEXT COLLATE "C"    NOT NULL DEFAULT '',
    detail_fetched BIGINT NOT NULL DEFAULT 0        -- 1 once the finished pipeline's coverage was read
);
CREATE INDEX pipelines_project_finished ON pipelines(project_id, finished_at);

-- Per project and resource: how far the sync has got. A cursor moves only in the transaction
-- that commits the rows it covers.
CREATE TABLE sync_cursors (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    resource   TEXT COLLATE "C"    NOT NULL,                     -- merge_requests | deployments | pipelines
    cursor     BIGINT NOT NULL,                     -- Unix seconds: updated_at or finished_at high-water mark
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- Outcome of the last sync of each project, for the sync-status page.
CREATE TABLE project_syncs (
    project_id  BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    ok_at       BIGINT,                             -- last sync that finished without error
    error       TEXT COLLATE "C"    NOT NULL DEFAULT '',
    requests    BIGINT NOT NULL DEFAULT 0
);
