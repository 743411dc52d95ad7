-- Block storage attachments (Cinder's volume_attachment): which instance holds a
-- volume, under which device name, and how far the attach or detach has got, so a
-- restart re-plugs exactly the attached volumes and rolls back half-done ones.

CREATE TABLE volume_attachments (
    id            TEXT PRIMARY KEY,
    volume_id     TEXT NOT NULL REFERENCES volumes (id),
    -- The server (Nova instance uuid); NULL for a reservation without one.
    instance_uuid TEXT,
    -- The guest device name, e.g. /dev/vdb.
    mountpoint    TEXT,
    -- rw or ro
    attach_mode   TEXT NOT NULL DEFAULT 'rw',
    -- reserved, attaching, attached, detaching (Cinder's attach_status values)
    status        TEXT NOT NULL,
    -- The connector the consumer sent (JSON), NULL until one is given.
    connector     TEXT,
    -- Set when the attachment was made by Nova (hot-plugged into a guest).
    by_compute    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    attached_at   TEXT,
    updated_at    TEXT
);
CREATE INDEX volume_attachments_volume ON volume_attachments (volume_id);
CREATE INDEX volume_attachments_instance ON volume_attachments (instance_uuid);
