-- Floating IP port forwardings (Neutron's floating-ip-port-forwarding and its
-- port-ranges extension): a port range is kept as its first and last port, a
-- single port as a range of one. Overlapping ranges are refused by the service;
-- the unique key is the last guard against two rules for the same external port.

CREATE TABLE net_port_forwardings (
    id                  TEXT PRIMARY KEY,
    floatingip_id       TEXT NOT NULL,
    internal_port_id    TEXT NOT NULL,
    internal_ip_address TEXT NOT NULL,
    protocol            TEXT NOT NULL,
    external_port_start INTEGER NOT NULL,
    external_port_end   INTEGER NOT NULL,
    internal_port_start INTEGER NOT NULL,
    internal_port_end   INTEGER NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    UNIQUE (floatingip_id, protocol, external_port_start)
);
CREATE INDEX net_port_forwardings_fip ON net_port_forwardings (floatingip_id);
CREATE INDEX net_port_forwardings_port ON net_port_forwardings (internal_port_id);
