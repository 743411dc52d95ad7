-- Placement: resource providers, their inventories, traits and aggregates, custom
-- resource classes and traits, consumers and their allocations.

CREATE TABLE placement_providers (
    uuid        TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    generation  INTEGER NOT NULL DEFAULT 0,
    parent_uuid TEXT REFERENCES placement_providers (uuid),
    root_uuid   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX placement_providers_parent ON placement_providers (parent_uuid);
CREATE INDEX placement_providers_root ON placement_providers (root_uuid);

-- Standard classes and traits are compiled in; only CUSTOM_* ones are stored.
CREATE TABLE placement_custom_classes (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE placement_custom_traits (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE placement_inventories (
    provider_uuid    TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
    resource_class   TEXT NOT NULL,
    total            INTEGER NOT NULL,
    reserved         INTEGER NOT NULL,
    min_unit         INTEGER NOT NULL,
    max_unit         INTEGER NOT NULL,
    step_size        INTEGER NOT NULL,
    allocation_ratio REAL NOT NULL,
    PRIMARY KEY (provider_uuid, resource_class)
);
CREATE INDEX placement_inventories_class ON placement_inventories (resource_class);

CREATE TABLE placement_provider_traits (
    provider_uuid TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
    trait         TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, trait)
);
CREATE INDEX placement_provider_traits_trait ON placement_provider_traits (trait);

CREATE TABLE placement_provider_aggregates (
    provider_uuid  TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
    aggregate_uuid TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, aggregate_uuid)
);

-- A consumer exists while it holds allocations; its generation guards concurrent writers.
CREATE TABLE placement_consumers (
    uuid       TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX placement_consumers_project ON placement_consumers (project_id, user_id);

-- No cascade from providers: a provider with allocations cannot be deleted.
CREATE TABLE placement_allocations (
    consumer_uuid  TEXT NOT NULL REFERENCES placement_consumers (uuid) ON DELETE CASCADE,
    provider_uuid  TEXT NOT NULL REFERENCES placement_providers (uuid),
    resource_class TEXT NOT NULL,
    used           INTEGER NOT NULL CHECK (used > 0),
    PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
);
CREATE INDEX placement_allocations_provider ON placement_allocations (provider_uuid, resource_class);
