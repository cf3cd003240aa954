-- Raw GitLab history, as fetched. Times are Unix seconds (UTC); NULL means unknown.

CREATE TABLE projects (
    id             INTEGER PRIMARY KEY,            -- GitLab project id
    path           TEXT    NOT NULL,               -- path_with_namespace, e.g. acme/platform/api
    name           TEXT    NOT NULL DEFAULT '',
    default_branch TEXT    NOT NULL DEFAULT '',
    web_url        TEXT    NOT NULL DEFAULT '',
    archived       INTEGER NOT NULL DEFAULT 0,
    discovered_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX projects_path ON projects(path);

-- Authors looked up once for GitLab's bot flag.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    username   TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    bot        INTEGER NOT NULL DEFAULT 0,
    fetched_at INTEGER NOT NULL
);

CREATE TABLE merge_requests (
    project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    iid               INTEGER NOT NULL,
    id                INTEGER NOT NULL,
    title             TEXT    NOT NULL,
    state             TEXT    NOT NULL,             -- opened | closed | locked | merged
    draft             INTEGER NOT NULL DEFAULT 0,
    author_id         INTEGER NOT NULL,
    author_username   TEXT    NOT NULL,
    labels            TEXT    NOT NULL DEFAULT '[]', -- JSON array of label names, as GitLab gives them
    source_branch     TEXT    NOT NULL DEFAULT '',
    target_branch     TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    merged_at         INTEGER,
    closed_at         INTEGER,
    sha               TEXT    NOT NULL DEFAULT '',
    merge_commit_sha  TEXT    NOT NULL DEFAULT '',
    squash_commit_sha TEXT    NOT NULL DEFAULT '',
    web_url           TEXT    NOT NULL DEFAULT '',
    user_notes_count  INTEGER NOT NULL DEFAULT 0,
    -- Derived from what was fetched for this MR (commits and notes); see store/merge_requests.go.
    commit_count      INTEGER NOT NULL DEFAULT 0,
    first_commit_at   INTEGER,                      -- min(authored_date) over all commits, before the created_at rule
    first_review_at   INTEGER,                      -- earliest human non-author comment or approval (bot rules at sync time)
    first_approval_at INTEGER,                      -- earliest "approved this merge request" by a human non-author
    details_updated_at INTEGER,                     -- the MR updated_at that commits and notes were last fetched for
    PRIMARY KEY (project_id, iid)
);
CREATE INDEX merge_requests_merged ON merge_requests(merged_at) WHERE merged_at IS NOT NULL;

-- All commits of an MR, replaced whenever the MR changed (force pushes rewrite them).
CREATE TABLE mr_commits (
    project_id  INTEGER NOT NULL,
    mr_iid      INTEGER NOT NULL,
    sha         TEXT    NOT NULL,
    authored_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, mr_iid, sha),
    FOREIGN KEY (project_id, mr_iid) REFERENCES merge_requests(project_id, iid) ON DELETE CASCADE
);

-- Review events of an MR: human comments and approval system notes (other system notes are dropped).
CREATE TABLE mr_notes (
    project_id      INTEGER NOT NULL,
    mr_iid          INTEGER NOT NULL,
    note_id         INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('comment', 'approved', 'unapproved')),
    author_id       INTEGER NOT NULL,
    author_username TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (project_id, mr_iid, note_id),
    FOREIGN KEY (project_id, mr_iid) REFERENCES merge_requests(project_id, iid) ON DELETE CASCADE
);

CREATE TABLE environments (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    tier         TEXT    NOT NULL DEFAULT '',        -- GitLab deployment tier; '' when GitLab gives none
    external_url TEXT    NOT NULL DEFAULT '',
    production   INTEGER NOT NULL DEFAULT 0          -- tier production, or name matching the configured pattern
);
CREATE INDEX environments_project ON environments(project_id);

-- Successful production deployments.
CREATE TABLE deployments (
    id               INTEGER PRIMARY KEY,            -- GitLab deployment id (not iid)
    iid              INTEGER NOT NULL,
    project_id       INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id   INTEGER NOT NULL,
    environment      TEXT    NOT NULL,
    ref              TEXT    NOT NULL DEFAULT '',
    sha              TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL,               -- deployable.finished_at, else updated_at (API-created)
    job_url          TEXT    NOT NULL DEFAULT '',
    links_fetched_at INTEGER                         -- when its MRs were last fetched
);
CREATE INDEX deployments_env_finished ON deployments(environment_id, finished_at);
CREATE INDEX deployments_finished ON deployments(finished_at);

-- The MRs each deployment shipped, as GitLab links them.
CREATE TABLE deployment_merge_requests (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    project_id    INTEGER NOT NULL,
    mr_iid        INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, mr_iid)
);
CREATE INDEX deployment_merge_requests_mr ON deployment_merge_requests(project_id, mr_iid);

-- Default-branch pipelines; coverage from the single-pipeline endpoint once finished.
CREATE TABLE pipelines (
    id          INTEGER PRIMARY KEY,
    iid         INTEGER NOT NULL DEFAULT 0,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    ref         TEXT    NOT NULL,
    sha         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    source      TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    coverage    REAL,                                -- percent; NULL when the pipeline reports none
    web_url     TEXT    NOT NULL DEFAULT '',
    detail_fetched INTEGER NOT NULL DEFAULT 0        -- 1 once the finished pipeline's coverage was read
);
CREATE INDEX pipelines_project_finished ON pipelines(project_id, finished_at);

-- Per project and resource: how far the sync has got. A cursor moves only in the transaction
-- that commits the rows it covers.
CREATE TABLE sync_cursors (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    resource   TEXT    NOT NULL,                     -- merge_requests | deployments | pipelines
    cursor     INTEGER NOT NULL,                     -- Unix seconds: updated_at or finished_at high-water mark
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- Outcome of the last sync of each project, for the sync-status page.
CREATE TABLE project_syncs (
    project_id  INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    ok_at       INTEGER,                             -- last sync that finished without error
    error       TEXT    NOT NULL DEFAULT '',
    requests    INTEGER NOT NULL DEFAULT 0
);
