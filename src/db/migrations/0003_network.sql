-- Neutron v2.0: every resource is a typed document (its JSON view) keyed by id, plus
-- the allocation tables whose unique keys make double allocation impossible.

CREATE TABLE net_resources (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    project_id TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX net_resources_project ON net_resources (kind, project_id);

-- One row per address handed out: the unique key is the IPAM guarantee.
CREATE TABLE ip_allocations (
    subnet_id  TEXT NOT NULL,
    ip_address TEXT NOT NULL,
    port_id    TEXT NOT NULL,
    network_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);

CREATE TABLE mac_allocations (
    mac_address TEXT PRIMARY KEY,
    port_id     TEXT NOT NULL
);

CREATE TABLE net_quotas (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    quota      INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource)
);
