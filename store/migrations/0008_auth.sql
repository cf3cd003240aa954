-- Sign-in (SPEC section 10): the people who signed in with GitLab, the projects GitLab says
-- each may read, their sessions, the sign-ins under way, and the machine tokens. Secrets are
-- never stored as given: session ids and tokens as their SHA-256, the person's GitLab token
-- sealed with a key derived from PACER_OAUTH_SECRET.

CREATE TABLE auth_users (
    id                  INTEGER PRIMARY KEY,        -- GitLab user id
    username            TEXT    NOT NULL,
    name                TEXT    NOT NULL DEFAULT '',
    token               BLOB,                       -- sealed OAuth token; NULL once GitLab refused it
    projects_fetched_at INTEGER,                    -- Unix seconds; NULL: never read
    signed_in_at        INTEGER NOT NULL
);

-- What GitLab answered to /projects?membership=true, as GitLab project ids. Projects Pacer does
-- not have are kept too: they become visible the moment a sync brings them.
CREATE TABLE auth_user_projects (
    user_id    INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, project_id)
) WITHOUT ROWID;

CREATE TABLE auth_sessions (
    id_hash    BLOB    PRIMARY KEY,                 -- SHA-256 of the cookie's 32 random bytes
    user_id    INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,                    -- the session's CSRF token
    created_at INTEGER NOT NULL,                    -- the absolute expiry counts from here
    seen_at    INTEGER NOT NULL                     -- the idle expiry counts from here
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);

-- A sign-in sent to GitLab and not back yet: the state's hash, and the PKCE verifier.
CREATE TABLE auth_pending (
    state_hash BLOB    PRIMARY KEY,
    verifier   TEXT    NOT NULL,
    return_to  TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    hash         BLOB    NOT NULL UNIQUE,           -- SHA-256 of the token
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                           -- NULL: never
    last_used_at INTEGER
);

-- The projects a token was granted, by path; none: every project.
CREATE TABLE api_token_projects (
    token_id     INTEGER NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    project_path TEXT    NOT NULL,
    PRIMARY KEY (token_id, project_path)
) WITHOUT ROWID;
