-- OAuth 1.0a delegation (OS-OAUTH1): consumers, the request tokens they obtain and
-- users authorize, and the access tokens those are exchanged for. Secrets are kept
-- sealed with the credential keys (HMAC-SHA1 needs them in clear to verify a
-- signature, so they cannot be hashed).
CREATE TABLE oauth1_consumers (
    id            TEXT PRIMARY KEY,
    description   TEXT,
    -- Attributes beyond the description (Keystone keeps them): a JSON object.
    extra         TEXT NOT NULL DEFAULT '{}',
    sealed_secret TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE oauth1_request_tokens (
    id                   TEXT PRIMARY KEY,
    consumer_id          TEXT NOT NULL REFERENCES oauth1_consumers(id) ON DELETE CASCADE,
    sealed_secret        TEXT NOT NULL,
    requested_project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- Set when a user authorizes it: who, which roles (JSON list of ids), the verifier.
    authorizing_user_id  TEXT REFERENCES users(id) ON DELETE CASCADE,
    role_ids             TEXT,
    verifier             TEXT,
    expires_at           TEXT
);

CREATE TABLE oauth1_access_tokens (
    id                  TEXT PRIMARY KEY,
    consumer_id         TEXT NOT NULL REFERENCES oauth1_consumers(id) ON DELETE CASCADE,
    sealed_secret       TEXT NOT NULL,
    authorizing_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role_ids            TEXT NOT NULL,
    expires_at          TEXT
);
CREATE INDEX oauth1_access_tokens_user ON oauth1_access_tokens (authorizing_user_id);
