-- Block storage (Cinder v3): volume types, volumes and their metadata, quotas.
-- Usage is never stored: it is counted from the volumes inside the same write
-- transaction that reserves it, so it cannot drift from the volumes themselves.

CREATE TABLE volume_types (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public   INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT
);

CREATE TABLE volume_type_extra_specs (
    type_id TEXT NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (type_id, key)
);

-- Projects given access to a private type.
CREATE TABLE volume_type_projects (
    type_id    TEXT NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (type_id, project_id)
);

CREATE TABLE volumes (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    name              TEXT,
    description       TEXT,
    size              INTEGER NOT NULL,
    -- creating, available, in-use, error, deleting, extending, ... (model.rs)
    status            TEXT NOT NULL,
    -- attached / detached, as Cinder's attach_status
    attach_status     TEXT NOT NULL DEFAULT 'detached',
    availability_zone TEXT NOT NULL,
    type_id           TEXT NOT NULL REFERENCES volume_types (id),
    bootable          INTEGER NOT NULL DEFAULT 0,
    multiattach       INTEGER NOT NULL DEFAULT 0,
    snapshot_id       TEXT,
    source_volid      TEXT,
    image_id          TEXT,
    -- The multi-step operation under way, as JSON (tasks.rs); NULL when none.
    task              TEXT,
    -- Why the volume is in an error status.
    error_reason      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT,
    launched_at       TEXT
);
CREATE INDEX volumes_project ON volumes (project_id);

-- kind: 'user' (metadata), 'image' (volume_image_metadata), 'admin' (readonly...).
CREATE TABLE volume_metadata (
    volume_id TEXT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (volume_id, kind, key)
);

-- Project quota limits set by an admin; defaults (and the default quota class) are
-- rows with project_id '' and otherwise come from the code.
CREATE TABLE volume_quotas (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- Cinder's own default type, and DevStack's LVM type (its default volume type),
-- made once with the schema so a type a user deletes stays deleted.
INSERT INTO volume_types (id, name, description, is_public, created_at) VALUES (
    lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
          || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2)
          || '-' || hex(randomblob(6))),
    '__DEFAULT__', 'Default Volume Type', 1, strftime('%Y-%m-%dT%H:%M:%f000', 'now'));
INSERT INTO volume_types (id, name, description, is_public, created_at) VALUES (
    lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
          || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2)
          || '-' || hex(randomblob(6))),
    'lvmdriver-1', NULL, 1, strftime('%Y-%m-%dT%H:%M:%f000', 'now'));
INSERT INTO volume_type_extra_specs (type_id, key, value)
    SELECT id, 'volume_backend_name', 'lvmdriver-1' FROM volume_types WHERE name = 'lvmdriver-1';

CREATE TABLE volume_snapshots (
    id          TEXT PRIMARY KEY,
    volume_id   TEXT NOT NULL REFERENCES volumes (id),
    project_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    name        TEXT,
    description TEXT,
    size        INTEGER NOT NULL,
    -- creating, available, deleting, error, error_deleting
    status      TEXT NOT NULL,
    -- JSON object of user metadata
    metadata    TEXT NOT NULL DEFAULT '{}',
    -- The multi-step operation under way ('create' or 'delete'); NULL when none.
    task        TEXT,
    error_reason TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT
);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id);
