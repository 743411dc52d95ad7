-- Block storage: volume transfers, QoS specs, user messages and backups.

-- A volume offered to another project; the row goes when the transfer is accepted
-- or deleted. Only a salted SHA-256 of the auth key is kept (Cinder: salted SHA-1).
CREATE TABLE volume_transfers (
    id                TEXT PRIMARY KEY,
    volume_id         TEXT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
    name              TEXT,
    source_project_id TEXT NOT NULL,
    salt              TEXT NOT NULL,
    crypt_hash        TEXT NOT NULL,
    -- 3.55: the volume's snapshots stay behind.
    no_snapshots      INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL
);
CREATE UNIQUE INDEX volume_transfers_volume ON volume_transfers (volume_id);

-- A snapshot's progress as its creator reported it (os-update_snapshot_status).
ALTER TABLE volume_snapshots ADD COLUMN progress TEXT;

-- QoS specs (consumer: front-end, back-end or both), the specs as a JSON object.
CREATE TABLE volume_qos_specs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    consumer   TEXT NOT NULL,
    specs      TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
-- The QoS specs a volume type is associated with.
ALTER TABLE volume_types ADD COLUMN qos_specs_id TEXT REFERENCES volume_qos_specs (id);

-- User messages (3.3): why an asynchronous operation failed, for the owner to read.
CREATE TABLE volume_messages (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_uuid TEXT,
    event_id      TEXT NOT NULL,
    message_level TEXT NOT NULL,
    user_message  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT
);
CREATE INDEX volume_messages_project ON volume_messages (project_id);

-- Backups: a copy of a volume's data in the state directory (backups/<id>), full or
-- incremental on a parent (stored whole, sparse, so each backup restores alone).
-- `task` is the step under way ('create', 'restore:<volume>' or 'delete'), recovered
-- at start like the volumes' tasks.
CREATE TABLE volume_backups (
    id                TEXT PRIMARY KEY,
    volume_id         TEXT NOT NULL,
    snapshot_id       TEXT,
    project_id        TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    name              TEXT,
    description       TEXT,
    size              INTEGER NOT NULL,
    status            TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    container         TEXT,
    is_incremental    INTEGER NOT NULL DEFAULT 0,
    parent_id         TEXT REFERENCES volume_backups (id),
    object_count      INTEGER NOT NULL DEFAULT 0,
    metadata          TEXT NOT NULL DEFAULT '{}',
    -- What a restore gives back besides the data: the volume's metadata, image
    -- metadata and bootable flag at backup time, as JSON.
    volume_meta       TEXT NOT NULL DEFAULT '{}',
    task              TEXT,
    fail_reason       TEXT,
    data_timestamp    TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT
);
CREATE INDEX volume_backups_project ON volume_backups (project_id);
CREATE INDEX volume_backups_volume ON volume_backups (volume_id);
