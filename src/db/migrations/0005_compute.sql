-- Nova v2.1: servers as typed documents with an ordering sequence (instance names),
-- flavors, keypairs, server groups, quotas, and os-instance-actions.

CREATE TABLE servers (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- NULL while the server exists; soft-deleted rows stay for usage reports.
    deleted_at TEXT,
    generation INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX servers_project ON servers (project_id, deleted_at);

CREATE TABLE instance_actions (
    request_id TEXT NOT NULL,
    server_id  TEXT NOT NULL,
    start_time TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (server_id, request_id)
);

CREATE TABLE flavors (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc  TEXT NOT NULL
);

-- Projects that may use a private flavor.
CREATE TABLE flavor_access (
    flavor_id  TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);

CREATE TABLE keypairs (
    user_id TEXT NOT NULL,
    name    TEXT NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE server_groups (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    doc        TEXT NOT NULL
);

CREATE TABLE server_group_members (
    group_id  TEXT NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
    server_id TEXT NOT NULL UNIQUE,
    PRIMARY KEY (group_id, server_id)
);

-- Per-project quota overrides (os-quota-sets); absent = the default.
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- Compute bookkeeping (e.g. that DevStack's flavors were created once).
CREATE TABLE compute_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
