-- Keystone's credentials (EC2 and others; the blob sealed with the credential keys)
-- and policies (stored blobs, as Keystone's /v3/policies).
CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    project_id  TEXT,
    type        TEXT NOT NULL,
    sealed_blob TEXT NOT NULL
);
CREATE INDEX credentials_user ON credentials (user_id);

CREATE TABLE policies (
    id   TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    blob TEXT NOT NULL
);
