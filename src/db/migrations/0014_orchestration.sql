-- Orchestration (Heat): stacks, their resources and their events. The template
-- and parameters are stored as JSON text, as the engine reads them whole.
CREATE TABLE heat_stacks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    -- The owner's identity and roles (never a token), which the engine acts with,
    -- also after a restart.
    owner TEXT NOT NULL,
    template TEXT NOT NULL,
    parameters TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    disable_rollback INTEGER NOT NULL DEFAULT 1,
    timeout_mins INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    deleted_at TEXT
);
CREATE UNIQUE INDEX heat_stacks_live_name ON heat_stacks(project_id, name) WHERE deleted_at IS NULL;

CREATE TABLE heat_resources (
    stack_id TEXT NOT NULL REFERENCES heat_stacks(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    physical_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    -- What get_attr reads, recorded when the resource completes.
    attributes TEXT NOT NULL DEFAULT '{}',
    -- The properties the resource was last created or updated with, which an
    -- update compares the new ones against.
    properties TEXT NOT NULL DEFAULT '{}',
    -- The physical id an update replaced, deleted at the end of the update (kept
    -- here so a restart still deletes it).
    replaced_id TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    PRIMARY KEY (stack_id, name)
);

CREATE TABLE heat_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stack_id TEXT NOT NULL REFERENCES heat_stacks(id) ON DELETE CASCADE,
    resource_name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    physical_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX heat_events_stack ON heat_events(stack_id, seq);
