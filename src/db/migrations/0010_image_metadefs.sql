-- Glance v2 metadata definitions: namespaces with their objects, properties, tags
-- and resource type associations, and the resource types Glance's schema seeds.

CREATE TABLE metadef_namespaces (
    namespace    TEXT PRIMARY KEY,
    display_name TEXT,
    description  TEXT,
    visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    protected    INTEGER NOT NULL DEFAULT 0,
    owner        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE metadef_resource_types (
    name       TEXT PRIMARY KEY,
    protected  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES
    ('OS::Glance::Image', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('OS::Cinder::Volume', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('OS::Nova::Flavor', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('OS::Nova::Aggregate', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('OS::Nova::Server', 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

CREATE TABLE metadef_associations (
    namespace         TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                          ON DELETE CASCADE ON UPDATE CASCADE,
    resource_type     TEXT NOT NULL REFERENCES metadef_resource_types(name),
    prefix            TEXT,
    properties_target TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (namespace, resource_type)
);

-- Objects and properties keep their JSON-schema definition as the client sent it.
CREATE TABLE metadef_objects (
    namespace  TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                   ON DELETE CASCADE ON UPDATE CASCADE,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE metadef_properties (
    namespace  TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                   ON DELETE CASCADE ON UPDATE CASCADE,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- Tag names are unique per namespace regardless of case, as in Glance.
CREATE TABLE metadef_tags (
    namespace  TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                   ON DELETE CASCADE ON UPDATE CASCADE,
    name       TEXT NOT NULL COLLATE NOCASE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- Import tasks remember who asked and in which request (Glance's user_id and
-- request_id, shown by GET /v2/images/{id}/tasks).
ALTER TABLE image_tasks ADD COLUMN request_id TEXT;
ALTER TABLE image_tasks ADD COLUMN user_id TEXT;
