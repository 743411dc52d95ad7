-- Object storage (Swift v1, and S3 on the same rows): accounts (one per project),
-- containers and objects. Object bytes live in files under the state directory; a
-- row names its file (`blob`). Usage counters are kept on the container row inside
-- the same transaction as the object change, so they cannot drift after a crash.

CREATE TABLE swift_accounts (
    account    TEXT PRIMARY KEY,           -- AUTH_<project_id>
    created_at REAL NOT NULL,
    put_ts     REAL NOT NULL,
    meta       TEXT NOT NULL DEFAULT '{}'  -- lower-case header name -> value
);

CREATE TABLE swift_containers (
    account      TEXT NOT NULL REFERENCES swift_accounts (account),
    name         TEXT NOT NULL,
    created_at   REAL NOT NULL,
    put_ts       REAL NOT NULL,
    meta         TEXT NOT NULL DEFAULT '{}',
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, name)
);

CREATE TABLE swift_objects (
    account      TEXT NOT NULL,
    container    TEXT NOT NULL,
    name         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    ts           REAL NOT NULL,
    meta         TEXT NOT NULL DEFAULT '{}',
    -- The file holding the bytes (NULL for a static large object's manifest).
    blob         TEXT,
    delete_at    INTEGER,
    -- Dynamic large object: `container/prefix` of its segments.
    dlo_manifest TEXT,
    -- Static large object: its segment list (JSON).
    slo_manifest TEXT,
    PRIMARY KEY (account, container, name),
    FOREIGN KEY (account, container) REFERENCES swift_containers (account, name)
);

CREATE INDEX swift_objects_delete_at ON swift_objects (delete_at) WHERE delete_at IS NOT NULL;

-- Files no row references any more, unlinked after the commit that dropped them
-- (and at start, for those a crash left behind).
CREATE TABLE swift_reap (
    blob TEXT PRIMARY KEY
);
