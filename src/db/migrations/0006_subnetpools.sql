-- Neutron subnet pools (subnet_allocation): the pools themselves are documents in
-- net_resources (kind 'subnetpool'); this table records which prefix of which pool
-- each subnet holds. Its keys make handing the same prefix out twice impossible;
-- overlapping prefixes of different lengths are excluded by allocating inside the
-- single write transaction that also inserts the row.

CREATE TABLE subnetpool_allocations (
    subnetpool_id TEXT NOT NULL,
    cidr          TEXT NOT NULL,
    subnet_id     TEXT NOT NULL UNIQUE,
    project_id    TEXT NOT NULL,
    PRIMARY KEY (subnetpool_id, cidr)
);
