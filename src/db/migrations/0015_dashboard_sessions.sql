-- Dashboard sessions: the browser holds only a random session id (its SHA-256 is the
-- key here, so a copy of the database opens no session); the Keystone token the
-- session acts with stays on the server.
CREATE TABLE dashboard_sessions (
    id_hash      TEXT PRIMARY KEY,
    csrf         TEXT NOT NULL,
    token        TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    domain_name  TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    project_name TEXT NOT NULL,
    is_admin     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
