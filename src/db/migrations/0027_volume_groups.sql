-- Cinder's generic volume groups (block storage 3.11-3.20): group types with their
-- specs, groups of volumes of the group's volume types, and group snapshots (one
-- snapshot per member volume, made by the ordinary snapshot task).
CREATE TABLE volume_group_types (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public   INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT
);

CREATE TABLE volume_group_type_specs (
    type_id TEXT NOT NULL REFERENCES volume_group_types (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (type_id, key)
);

CREATE TABLE volume_groups (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    name              TEXT,
    description       TEXT,
    -- creating (its volumes are being copied from a source), available, updating,
    -- deleting (its volumes are being deleted), error, ...: Cinder's GroupStatus.
    status            TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    group_type_id     TEXT NOT NULL REFERENCES volume_group_types (id),
    group_snapshot_id TEXT,
    source_group_id   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT
);
CREATE INDEX volume_groups_project ON volume_groups (project_id);

-- The volume types a group's volumes may have, in the order the group named them.
CREATE TABLE volume_group_volume_types (
    group_id TEXT NOT NULL REFERENCES volume_groups (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    type_id  TEXT NOT NULL REFERENCES volume_types (id),
    PRIMARY KEY (group_id, type_id)
);

CREATE TABLE volume_group_snapshots (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    group_id      TEXT NOT NULL REFERENCES volume_groups (id),
    group_type_id TEXT NOT NULL,
    name          TEXT,
    description   TEXT,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT
);

ALTER TABLE volumes ADD COLUMN group_id TEXT;
ALTER TABLE volume_snapshots ADD COLUMN group_snapshot_id TEXT;
CREATE INDEX volumes_group ON volumes (group_id);
CREATE INDEX volume_snapshots_group_snapshot ON volume_snapshots (group_snapshot_id);
