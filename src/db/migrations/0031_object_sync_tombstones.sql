-- Deletes of objects in a syncing container (one with X-Container-Sync-To), kept so
-- that container sync passes them on, as Swift's container DB keeps deleted rows.
-- Reaped after a week (Swift's reclaim_age).
CREATE TABLE swift_tombstones (
    account   TEXT NOT NULL,
    container TEXT NOT NULL,
    name      TEXT NOT NULL,
    ts        REAL NOT NULL,
    PRIMARY KEY (account, container, name)
);
CREATE INDEX swift_tombstones_by_ts ON swift_tombstones (account, container, ts);
