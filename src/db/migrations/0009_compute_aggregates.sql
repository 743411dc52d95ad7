-- Host aggregates (Nova's os-aggregates): named groups of compute hosts with
-- metadata; an `availability_zone` metadata key makes the group a zone.

CREATE TABLE compute_aggregates (
    -- Nova's integer aggregate id (never reused).
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    -- JSON: hosts, metadata, timestamps.
    doc        TEXT NOT NULL
);
