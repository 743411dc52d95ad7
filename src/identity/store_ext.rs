//! SQL for trusts, access rules, endpoint groups and domain configuration (the
//! OS-TRUST, application-credential access rule, OS-EP-FILTER and domain config
//! APIs), and nothing else.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::store::ts;
use crate::http::error::ApiResult;

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

// --- trusts ---------------------------------------------------------------------

/// A trust (OS-TRUST): the trustor delegates `role_ids` on `project_id` to the trustee.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    pub id: String,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    pub impersonation: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub remaining_uses: Option<i64>,
    pub allow_redelegation: bool,
    pub redelegation_count: i64,
    pub redelegated_trust_id: Option<String>,
    pub role_ids: Vec<String>,
}

impl Trust {
    /// Deleted trusts are not read back at all; an expired one, or one whose uses
    /// are spent, is as good as gone.
    pub(crate) fn usable(&self) -> bool {
        self.expires_at.is_none_or(|e| e > Utc::now()) && self.remaining_uses != Some(0)
    }
}

const TRUST_COLS: &str =
    "id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at,
    remaining_uses, allow_redelegation, redelegation_count, redelegated_trust_id, roles";

fn trust_row(r: &Row) -> rusqlite::Result<Trust> {
    let expires: Option<String> = r.get(5)?;
    let roles: String = r.get(10)?;
    Ok(Trust {
        id: r.get(0)?,
        trustor_user_id: r.get(1)?,
        trustee_user_id: r.get(2)?,
        project_id: r.get(3)?,
        impersonation: r.get(4)?,
        expires_at: expires.as_deref().and_then(parse_ts),
        remaining_uses: r.get(6)?,
        allow_redelegation: r.get(7)?,
        redelegation_count: r.get(8)?,
        redelegated_trust_id: r.get(9)?,
        role_ids: serde_json::from_str(&roles).unwrap_or_default(),
    })
}

pub(crate) fn trust_insert(c: &Connection, t: &Trust) -> ApiResult<()> {
    c.execute(
        "INSERT INTO trusts (id, trustor_user_id, trustee_user_id, project_id, impersonation,
            expires_at, remaining_uses, allow_redelegation, redelegation_count,
            redelegated_trust_id, roles, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            t.id,
            t.trustor_user_id,
            t.trustee_user_id,
            t.project_id,
            t.impersonation,
            t.expires_at.map(ts),
            t.remaining_uses,
            t.allow_redelegation,
            t.redelegation_count,
            t.redelegated_trust_id,
            serde_json::to_string(&t.role_ids).unwrap_or_else(|_| "[]".into()),
            ts(Utc::now()),
        ],
    )?;
    Ok(())
}

/// A trust that is not deleted (expired ones included; callers decide).
pub(crate) fn trust_get(c: &Connection, id: &str) -> ApiResult<Option<Trust>> {
    Ok(c.query_row(
        &format!("SELECT {TRUST_COLS} FROM trusts WHERE id = ?1 AND deleted_at IS NULL"),
        [id],
        trust_row,
    )
    .optional()?)
}

pub(crate) fn trust_list(c: &Connection) -> ApiResult<Vec<Trust>> {
    let mut st = c.prepare(&format!(
        "SELECT {TRUST_COLS} FROM trusts WHERE deleted_at IS NULL ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([], trust_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Soft delete, as Keystone keeps deleted trusts (tokens are checked against them).
pub(crate) fn trust_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "UPDATE trusts SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, ts(Utc::now())],
    )?;
    Ok(())
}

/// Spends one use of a trust with limited uses; false when none was left.
pub(crate) fn trust_consume(c: &Connection, id: &str) -> ApiResult<bool> {
    let n = c.execute(
        "UPDATE trusts SET remaining_uses = remaining_uses - 1
         WHERE id = ?1 AND deleted_at IS NULL AND remaining_uses IS NOT NULL AND remaining_uses > 0",
        [id],
    )?;
    if n == 1 {
        return Ok(true);
    }
    let unlimited: Option<bool> = c
        .query_row(
            "SELECT remaining_uses IS NULL FROM trusts WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(unlimited == Some(true))
}

// --- access rules ---------------------------------------------------------------

/// One rule of an application credential: the service type, the request method and
/// a path template (`*` one segment, `**` any number) it may call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AccessRule {
    pub id: String,
    pub service: String,
    pub path: String,
    pub method: String,
}

fn access_rule_row(r: &Row) -> rusqlite::Result<AccessRule> {
    Ok(AccessRule {
        id: r.get(0)?,
        service: r.get(1)?,
        path: r.get(2)?,
        method: r.get(3)?,
    })
}

/// The user's rule with these service, path and method, if one exists already.
pub(crate) fn access_rule_find(
    c: &Connection,
    user_id: &str,
    rule: &AccessRule,
) -> ApiResult<Option<AccessRule>> {
    Ok(c.query_row(
        "SELECT id, service, path, method FROM access_rules
         WHERE user_id = ?1 AND service = ?2 AND path = ?3 AND method = ?4",
        params![user_id, rule.service, rule.path, rule.method],
        access_rule_row,
    )
    .optional()?)
}

pub(crate) fn access_rule_get(
    c: &Connection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<AccessRule>> {
    Ok(c.query_row(
        "SELECT id, service, path, method FROM access_rules WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
        access_rule_row,
    )
    .optional()?)
}

pub(crate) fn access_rule_insert(
    c: &Connection,
    user_id: &str,
    rule: &AccessRule,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO access_rules (id, user_id, service, path, method) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![rule.id, user_id, rule.service, rule.path, rule.method],
    )?;
    Ok(())
}

pub(crate) fn access_rule_list(c: &Connection, user_id: &str) -> ApiResult<Vec<AccessRule>> {
    let mut st = c.prepare(
        "SELECT id, service, path, method FROM access_rules WHERE user_id = ?1 ORDER BY id",
    )?;
    let rows = st
        .query_map([user_id], access_rule_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn access_rule_in_use(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM application_credential_access_rules WHERE access_rule_id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

pub(crate) fn access_rule_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM access_rules WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn app_cred_rules_link(
    c: &Connection,
    app_cred_id: &str,
    rule_id: &str,
) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO application_credential_access_rules
            (application_credential_id, access_rule_id) VALUES (?1, ?2)",
        [app_cred_id, rule_id],
    )?;
    Ok(())
}

pub(crate) fn app_cred_rules(c: &Connection, app_cred_id: &str) -> ApiResult<Vec<AccessRule>> {
    let mut st = c.prepare_cached(
        "SELECT r.id, r.service, r.path, r.method FROM access_rules r
         JOIN application_credential_access_rules l ON l.access_rule_id = r.id
         WHERE l.application_credential_id = ?1 ORDER BY r.id",
    )?;
    let rows = st
        .query_map([app_cred_id], access_rule_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --- endpoint groups ------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct EndpointGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub filters: serde_json::Map<String, serde_json::Value>,
}

fn endpoint_group_row(r: &Row) -> rusqlite::Result<EndpointGroup> {
    let filters: String = r.get(3)?;
    Ok(EndpointGroup {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        filters: serde_json::from_str(&filters).unwrap_or_default(),
    })
}

pub(crate) fn endpoint_group_upsert(c: &Connection, g: &EndpointGroup) -> ApiResult<()> {
    c.execute(
        "INSERT INTO endpoint_groups (id, name, description, filters) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET name = ?2, description = ?3, filters = ?4",
        params![
            g.id,
            g.name,
            g.description,
            serde_json::Value::Object(g.filters.clone()).to_string()
        ],
    )?;
    Ok(())
}

pub(crate) fn endpoint_group_get(c: &Connection, id: &str) -> ApiResult<Option<EndpointGroup>> {
    Ok(c.query_row(
        "SELECT id, name, description, filters FROM endpoint_groups WHERE id = ?1",
        [id],
        endpoint_group_row,
    )
    .optional()?)
}

pub(crate) fn endpoint_group_list(c: &Connection) -> ApiResult<Vec<EndpointGroup>> {
    let mut st =
        c.prepare("SELECT id, name, description, filters FROM endpoint_groups ORDER BY id")?;
    let rows = st
        .query_map([], endpoint_group_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn endpoint_group_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM endpoint_groups WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn endpoint_group_project_add(
    c: &Connection,
    group: &str,
    project: &str,
) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO project_endpoint_groups (endpoint_group_id, project_id) VALUES (?1, ?2)",
        [group, project],
    )?;
    Ok(())
}

pub(crate) fn endpoint_group_project_remove(
    c: &Connection,
    group: &str,
    project: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM project_endpoint_groups WHERE endpoint_group_id = ?1 AND project_id = ?2",
        [group, project],
    )? == 1)
}

pub(crate) fn endpoint_group_project_exists(
    c: &Connection,
    group: &str,
    project: &str,
) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM project_endpoint_groups WHERE endpoint_group_id = ?1 AND project_id = ?2)",
        [group, project],
        |r| r.get(0),
    )?)
}

pub(crate) fn endpoint_group_projects(c: &Connection, group: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare(
        "SELECT project_id FROM project_endpoint_groups WHERE endpoint_group_id = ?1 ORDER BY 1",
    )?;
    let rows = st
        .query_map([group], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn project_endpoint_groups(
    c: &Connection,
    project: &str,
) -> ApiResult<Vec<EndpointGroup>> {
    let mut st = c.prepare(
        "SELECT g.id, g.name, g.description, g.filters FROM endpoint_groups g
         JOIN project_endpoint_groups p ON p.endpoint_group_id = g.id
         WHERE p.project_id = ?1 ORDER BY g.id",
    )?;
    let rows = st
        .query_map([project], endpoint_group_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn project_endpoint_add(c: &Connection, endpoint: &str, project: &str) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO project_endpoints (endpoint_id, project_id) VALUES (?1, ?2)",
        [endpoint, project],
    )?;
    Ok(())
}

pub(crate) fn project_endpoint_remove(
    c: &Connection,
    endpoint: &str,
    project: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM project_endpoints WHERE endpoint_id = ?1 AND project_id = ?2",
        [endpoint, project],
    )? == 1)
}

/// Endpoint ids associated directly with a project.
pub(crate) fn project_endpoints(c: &Connection, project: &str) -> ApiResult<Vec<String>> {
    let mut st =
        c.prepare("SELECT endpoint_id FROM project_endpoints WHERE project_id = ?1 ORDER BY 1")?;
    let rows = st
        .query_map([project], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Projects an endpoint is associated with directly.
pub(crate) fn endpoint_projects(c: &Connection, endpoint: &str) -> ApiResult<Vec<String>> {
    let mut st =
        c.prepare("SELECT project_id FROM project_endpoints WHERE endpoint_id = ?1 ORDER BY 1")?;
    let rows = st
        .query_map([endpoint], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether any project has an endpoint filter (groups or direct associations).
pub(crate) fn project_has_endpoint_filter(c: &Connection, project: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM project_endpoint_groups WHERE project_id = ?1)
             OR EXISTS (SELECT 1 FROM project_endpoints WHERE project_id = ?1)",
        [project],
        |r| r.get(0),
    )?)
}

// --- domain configuration -------------------------------------------------------

/// `(group, option, value, sensitive)` rows of a domain's configuration.
pub(crate) type ConfigRow = (String, String, serde_json::Value, bool);

pub(crate) fn domain_config_get(c: &Connection, domain_id: &str) -> ApiResult<Vec<ConfigRow>> {
    let mut st = c.prepare(
        "SELECT grp, option, value, sensitive FROM domain_configs WHERE domain_id = ?1 ORDER BY 1, 2",
    )?;
    let rows = st
        .query_map([domain_id], |r| {
            let v: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                serde_json::from_str(&v).unwrap_or(serde_json::Value::Null),
                r.get(3)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn domain_config_set(c: &Connection, domain_id: &str, row: &ConfigRow) -> ApiResult<()> {
    c.execute(
        "INSERT INTO domain_configs (domain_id, grp, option, value, sensitive) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (domain_id, grp, option) DO UPDATE SET value = ?4, sensitive = ?5",
        params![domain_id, row.0, row.1, row.2.to_string(), row.3],
    )?;
    Ok(())
}

/// Deletes the whole configuration, a group (`option` None) or one option.
pub(crate) fn domain_config_delete(
    c: &Connection,
    domain_id: &str,
    group: Option<&str>,
    option: Option<&str>,
) -> ApiResult<usize> {
    Ok(match (group, option) {
        (None, _) => c.execute(
            "DELETE FROM domain_configs WHERE domain_id = ?1",
            [domain_id],
        )?,
        (Some(g), None) => c.execute(
            "DELETE FROM domain_configs WHERE domain_id = ?1 AND grp = ?2",
            [domain_id, g],
        )?,
        (Some(g), Some(o)) => c.execute(
            "DELETE FROM domain_configs WHERE domain_id = ?1 AND grp = ?2 AND option = ?3",
            [domain_id, g, o],
        )?,
    })
}
