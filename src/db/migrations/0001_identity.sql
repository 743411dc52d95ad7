-- Keystone v3: identity, assignment, catalog, application credentials, revocations.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    tags        TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains(id),
    parent_id   TEXT REFERENCES projects(id),
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    tags        TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    domain_id          TEXT NOT NULL REFERENCES domains(id),
    enabled            INTEGER NOT NULL DEFAULT 1,
    password_hash      TEXT,
    default_project_id TEXT,
    extra              TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT NOT NULL,
    password_changed_at TEXT,
    UNIQUE (domain_id, name)
);

CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (domain_id, name)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain_id   TEXT REFERENCES domains(id),
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX roles_name ON roles (name COLLATE NOCASE, coalesce(domain_id, ''));

CREATE TABLE implied_roles (
    prior_role_id   TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- actor_type: user|group; target_type: project|domain|system (target_id 'all' for system).
CREATE TABLE assignments (
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'group')),
    actor_id    TEXT NOT NULL,
    target_type TEXT NOT NULL CHECK (target_type IN ('project', 'domain', 'system')),
    target_id   TEXT NOT NULL,
    role_id     TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    inherited   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited)
);
CREATE INDEX assignments_target ON assignments (target_type, target_id);

CREATE TABLE regions (
    id               TEXT PRIMARY KEY,
    description      TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT REFERENCES regions(id)
);

CREATE TABLE services (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE endpoints (
    id         TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    interface  TEXT NOT NULL CHECK (interface IN ('public', 'internal', 'admin')),
    region_id  TEXT REFERENCES regions(id),
    url        TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE application_credentials (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    expires_at   TEXT,
    unrestricted INTEGER NOT NULL DEFAULT 0,
    roles        TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    UNIQUE (user_id, name)
);

-- A token is revoked when an event matches it: by audit id, or every token of a
-- user (or project) issued before a moment.
CREATE TABLE revocation_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id      TEXT,
    user_id       TEXT,
    project_id    TEXT,
    issued_before TEXT NOT NULL,
    revoked_at    TEXT NOT NULL
);
