-- Quota class limits (os-quota-class-sets). The `default` class holds the
-- operator's changes to the default quotas every project without an override of
-- its own gets; absent = Nova's built-in default.
CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (class_name, resource)
);

-- Migration records (os-migrations): one per resize of a server, with Nova's
-- integer id and status (pre-migrating, finished, confirming, confirmed,
-- reverting, reverted, error). Flavors are named by their row ids, Nova's
-- instance type ids.
CREATE TABLE compute_migrations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT NOT NULL UNIQUE,
    server_id      TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    status         TEXT NOT NULL,
    source_compute TEXT NOT NULL,
    dest_compute   TEXT NOT NULL,
    old_flavor_id  TEXT NOT NULL,
    new_flavor_id  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT
);
CREATE INDEX compute_migrations_server ON compute_migrations (server_id);
