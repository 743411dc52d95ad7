-- Keystone's delegation and catalog extensions: trusts (OS-TRUST), access rules of
-- application credentials, endpoint groups (OS-EP-FILTER) and domain-specific
-- configuration.
CREATE TABLE trusts (
    id                  TEXT PRIMARY KEY,
    trustor_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    trustee_user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id          TEXT REFERENCES projects(id) ON DELETE CASCADE,
    impersonation       INTEGER NOT NULL,
    expires_at          TEXT,
    remaining_uses      INTEGER,
    allow_redelegation  INTEGER NOT NULL DEFAULT 0,
    redelegation_count  INTEGER NOT NULL DEFAULT 0,
    redelegated_trust_id TEXT,
    -- The delegated roles: a JSON list of role ids.
    roles               TEXT NOT NULL DEFAULT '[]',
    deleted_at          TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX trusts_trustor ON trusts (trustor_user_id);
CREATE INDEX trusts_trustee ON trusts (trustee_user_id);

-- Access rules belong to a user and outlive the application credentials that use them.
CREATE TABLE access_rules (
    id       TEXT PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    service  TEXT NOT NULL,
    path     TEXT NOT NULL,
    method   TEXT NOT NULL,
    UNIQUE (user_id, service, path, method)
);

CREATE TABLE application_credential_access_rules (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
    access_rule_id            TEXT NOT NULL REFERENCES access_rules(id),
    PRIMARY KEY (application_credential_id, access_rule_id)
);

CREATE TABLE endpoint_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON object: service_id, interface, region_id.
    filters     TEXT NOT NULL
);

CREATE TABLE project_endpoint_groups (
    endpoint_group_id TEXT NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (endpoint_group_id, project_id)
);

CREATE TABLE project_endpoints (
    endpoint_id TEXT NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (endpoint_id, project_id)
);

-- One row per (domain, group, option); the value is JSON.
CREATE TABLE domain_configs (
    domain_id TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    grp       TEXT NOT NULL,
    option    TEXT NOT NULL,
    value     TEXT NOT NULL,
    sensitive INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (domain_id, grp, option)
);
