-- Orchestration: Heat's software configuration API (software configs, immutable
-- once made, and the deployments of a config to a server, which the server's
-- agent reads as its metadata and updates with its results), and the signals a
-- wait condition handle received (each kept, so a restart mid-wait still counts
-- what arrived).
CREATE TABLE heat_software_configs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT 'Heat::Ungrouped',
    config TEXT NOT NULL DEFAULT '',
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    options TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX heat_software_configs_project ON heat_software_configs(project_id, created_at);
CREATE TABLE heat_software_deployments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    config_id TEXT NOT NULL REFERENCES heat_software_configs(id),
    server_id TEXT NOT NULL,
    input_values TEXT NOT NULL DEFAULT '{}',
    output_values TEXT NOT NULL DEFAULT '{}',
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX heat_software_deployments_server ON heat_software_deployments(server_id);
CREATE TABLE heat_signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The physical id of the wait condition handle signalled.
    handle_id TEXT NOT NULL,
    signal_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT 'null',
    created_at TEXT NOT NULL
);
CREATE INDEX heat_signals_handle ON heat_signals(handle_id, seq);
