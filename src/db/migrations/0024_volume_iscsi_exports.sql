-- iSCSI exports of volumes (profile `target_helper = "tgtadm"`): one row while a
-- volume is exported, the truth tgtd's targets are rebuilt from at start.
CREATE TABLE volume_exports (
    volume_id   TEXT PRIMARY KEY,
    target_iqn  TEXT NOT NULL UNIQUE,
    chap_user   TEXT NOT NULL,
    -- The CHAP secret sealed with the credential keys (Fernet), never in clear.
    chap_secret TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
