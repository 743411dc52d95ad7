//! All orchestration SQL.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::model::{Event, Resource, Stack};
use crate::http::error::{ApiError, ApiResult};

fn sql(e: rusqlite::Error) -> ApiError {
    ApiError::Internal(e.into())
}

fn json_err(e: serde_json::Error) -> ApiError {
    ApiError::Internal(e.into())
}

/// Heat's timestamp form: `2026-01-01T00:00:00Z`.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const STACK_COLS: &str = "id, name, project_id, owner, template, parameters, action, status, \
     status_reason, disable_rollback, timeout_mins, tags, created_at, updated_at, deleted_at, parent, files, registry";

type StackRow = (Stack, String, String, String, String, String, String);

fn stack_row(r: &Row) -> rusqlite::Result<StackRow> {
    Ok((
        Stack {
            id: r.get(0)?,
            name: r.get(1)?,
            project_id: r.get(2)?,
            owner: super::model::Owner {
                user_id: String::new(),
                user_name: String::new(),
                user_domain_id: String::new(),
                user_domain_name: String::new(),
                project_id: String::new(),
                project_name: String::new(),
                project_domain_id: String::new(),
                project_domain_name: String::new(),
                roles: vec![],
            },
            template: Value::Null,
            parameters: Default::default(),
            action: r.get(6)?,
            status: r.get(7)?,
            status_reason: r.get(8)?,
            disable_rollback: r.get(9)?,
            timeout_mins: r.get(10)?,
            tags: vec![],
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
            deleted_at: r.get(14)?,
            parent: r.get(15)?,
            files: Default::default(),
            registry: Default::default(),
        },
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(11)?,
        r.get(16)?,
        r.get(17)?,
    ))
}

fn finish(row: StackRow) -> ApiResult<Stack> {
    let (mut s, owner, template, parameters, tags, files, registry) = row;
    s.files = serde_json::from_str(&files).map_err(json_err)?;
    s.registry = serde_json::from_str(&registry).map_err(json_err)?;
    s.owner = serde_json::from_str(&owner).map_err(json_err)?;
    s.template = serde_json::from_str(&template).map_err(json_err)?;
    s.parameters = serde_json::from_str(&parameters).map_err(json_err)?;
    s.tags = serde_json::from_str(&tags).map_err(json_err)?;
    Ok(s)
}

/// Inserts a stack; a live stack of the same name in the project is Heat's 409.
pub(crate) fn stack_insert(c: &Connection, s: &Stack) -> ApiResult<()> {
    let r = c.execute(
        &format!("INSERT INTO heat_stacks ({STACK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"),
        params![
            s.id,
            s.name,
            s.project_id,
            serde_json::to_string(&s.owner).map_err(json_err)?,
            serde_json::to_string(&s.template).map_err(json_err)?,
            serde_json::to_string(&s.parameters).map_err(json_err)?,
            s.action,
            s.status,
            s.status_reason,
            s.disable_rollback,
            s.timeout_mins,
            serde_json::to_string(&s.tags).map_err(json_err)?,
            s.created_at,
            s.updated_at,
            s.deleted_at,
            s.parent,
            serde_json::to_string(&s.files).map_err(json_err)?,
            serde_json::to_string(&s.registry).map_err(json_err)?,
        ],
    );
    match r {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => Err(ApiError::Conflict(format!(
            "The Stack ({}) already exists.",
            s.name
        ))),
        Err(e) => Err(sql(e)),
    }
}

pub(crate) fn stack_get(c: &Connection, id: &str) -> ApiResult<Option<Stack>> {
    c.query_row(
        &format!("SELECT {STACK_COLS} FROM heat_stacks WHERE id = ?1"),
        [id],
        stack_row,
    )
    .optional()
    .map_err(sql)?
    .map(finish)
    .transpose()
}

/// A live stack of a project by name.
pub(crate) fn stack_by_name(c: &Connection, project: &str, name: &str) -> ApiResult<Option<Stack>> {
    c.query_row(
        &format!("SELECT {STACK_COLS} FROM heat_stacks WHERE project_id = ?1 AND name = ?2 AND deleted_at IS NULL"),
        [project, name],
        stack_row,
    )
    .optional()
    .map_err(sql)?
    .map(finish)
    .transpose()
}

/// Live stacks, of one project or of all, oldest first.
pub(crate) fn stack_list(c: &Connection, project: Option<&str>) -> ApiResult<Vec<Stack>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {STACK_COLS} FROM heat_stacks WHERE deleted_at IS NULL \
             AND (?1 IS NULL OR project_id = ?1) ORDER BY created_at, id"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map([project], stack_row)
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter().map(finish).collect()
}

/// Stacks an engine was working on (any project).
pub(crate) fn stacks_in_progress(c: &Connection) -> ApiResult<Vec<Stack>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {STACK_COLS} FROM heat_stacks WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map([], stack_row)
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter().map(finish).collect()
}

pub(crate) fn stack_set_status(
    c: &Connection,
    id: &str,
    action: &str,
    status: &str,
    reason: &str,
) -> ApiResult<()> {
    c.execute(
        "UPDATE heat_stacks SET action = ?2, status = ?3, status_reason = ?4, updated_at = ?5 WHERE id = ?1",
        params![id, action, status, reason, now()],
    )
    .map_err(sql)?;
    Ok(())
}

/// A deleted stack stays readable by id (`DELETE_COMPLETE`), as in Heat, but
/// leaves the listing and frees its name.
pub(crate) fn stack_mark_deleted(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "UPDATE heat_stacks SET deleted_at = ?2 WHERE id = ?1",
        params![id, now()],
    )
    .map_err(sql)?;
    Ok(())
}

const RES_COLS: &str = "stack_id, name, type, physical_id, action, status, status_reason, attributes, created_at, updated_at, properties, replaced_id, intent";

fn resource_row(r: &Row) -> rusqlite::Result<(Resource, String, String)> {
    Ok((
        Resource {
            stack_id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            physical_id: r.get(3)?,
            action: r.get(4)?,
            status: r.get(5)?,
            status_reason: r.get(6)?,
            attributes: Value::Null,
            properties: Value::Null,
            replaced_id: r.get(11)?,
            intent: r.get(12)?,
            created_at: r.get(8)?,
            updated_at: r.get(9)?,
        },
        r.get(7)?,
        r.get(10)?,
    ))
}

pub(crate) fn resource_put(c: &Connection, r: &Resource) -> ApiResult<()> {
    c.execute(
        &format!("INSERT OR REPLACE INTO heat_resources ({RES_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            r.stack_id,
            r.name,
            r.kind,
            r.physical_id,
            r.action,
            r.status,
            r.status_reason,
            serde_json::to_string(&r.attributes).map_err(json_err)?,
            r.created_at,
            r.updated_at,
            serde_json::to_string(&r.properties).map_err(json_err)?,
            r.replaced_id,
            r.intent,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn resource_list(c: &Connection, stack_id: &str) -> ApiResult<Vec<Resource>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {RES_COLS} FROM heat_resources WHERE stack_id = ?1 ORDER BY created_at, name"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map([stack_id], resource_row)
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter()
        .map(|(mut r, attrs, props)| {
            r.attributes = serde_json::from_str(&attrs).map_err(json_err)?;
            r.properties = serde_json::from_str(&props).map_err(json_err)?;
            Ok(r)
        })
        .collect()
}

/// Removes a resource an update dropped from the template.
pub(crate) fn resource_delete(c: &Connection, stack_id: &str, name: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM heat_resources WHERE stack_id = ?1 AND name = ?2",
        params![stack_id, name],
    )
    .map_err(sql)?;
    Ok(())
}

/// Replaces a stack's template and parameters when an update is accepted.
pub(crate) fn stack_set_definition(
    c: &Connection,
    id: &str,
    template: &Value,
    parameters: &serde_json::Map<String, Value>,
    timeout_mins: Option<i64>,
) -> ApiResult<()> {
    c.execute(
        "UPDATE heat_stacks SET template = ?2, parameters = ?3, timeout_mins = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            id,
            serde_json::to_string(template).map_err(json_err)?,
            serde_json::to_string(parameters).map_err(json_err)?,
            timeout_mins,
            now()
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// Replaces the files and registry a stack's template resources read.
pub(crate) fn stack_set_environment(
    c: &Connection,
    id: &str,
    files: &serde_json::Map<String, Value>,
    registry: &serde_json::Map<String, Value>,
) -> ApiResult<()> {
    c.execute(
        "UPDATE heat_stacks SET files = ?2, registry = ?3 WHERE id = ?1",
        params![
            id,
            serde_json::to_string(files).map_err(json_err)?,
            serde_json::to_string(registry).map_err(json_err)?,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// Records the definition an update replaces (`Value::Null`: none), what a
/// rollback returns to.
pub(crate) fn stack_set_previous(c: &Connection, id: &str, previous: &Value) -> ApiResult<()> {
    let text = if previous.is_null() {
        String::new()
    } else {
        serde_json::to_string(previous).map_err(json_err)?
    };
    c.execute(
        "UPDATE heat_stacks SET previous = ?2 WHERE id = ?1",
        params![id, text],
    )
    .map_err(sql)?;
    Ok(())
}

/// The definition a rollback returns to (`Value::Null`: none).
pub(crate) fn stack_previous(c: &Connection, id: &str) -> ApiResult<Value> {
    let text: Option<String> = c
        .query_row(
            "SELECT previous FROM heat_stacks WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    match text.filter(|t| !t.is_empty()) {
        None => Ok(Value::Null),
        Some(t) => serde_json::from_str(&t).map_err(json_err),
    }
}

/// Asks the running create or update to stop (`rollback`, `no_rollback`; ''
/// clears the request).
pub(crate) fn stack_set_cancel(c: &Connection, id: &str, cancel: &str) -> ApiResult<()> {
    c.execute(
        "UPDATE heat_stacks SET cancel = ?2 WHERE id = ?1",
        params![id, cancel],
    )
    .map_err(sql)?;
    Ok(())
}

/// The cancel asked of a stack's running operation ('' none).
pub(crate) fn stack_cancel(c: &Connection, id: &str) -> ApiResult<String> {
    Ok(
        c.query_row("SELECT cancel FROM heat_stacks WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .map_err(sql)?
        .unwrap_or_default(),
    )
}

pub(crate) fn event_add(c: &Connection, e: &Event) -> ApiResult<()> {
    c.execute(
        "INSERT INTO heat_events (id, stack_id, resource_name, resource_type, physical_id, action, status, reason, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            e.id,
            e.stack_id,
            e.resource_name,
            e.resource_type,
            e.physical_id,
            e.action,
            e.status,
            e.reason,
            e.created_at
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// A stack's events in the order they happened.
pub(crate) fn event_list(c: &Connection, stack_id: &str) -> ApiResult<Vec<Event>> {
    let mut st = c
        .prepare_cached(
            "SELECT id, stack_id, resource_name, resource_type, physical_id, action, status, reason, created_at \
             FROM heat_events WHERE stack_id = ?1 ORDER BY seq",
        )
        .map_err(sql)?;
    st.query_map([stack_id], |r| {
        Ok(Event {
            id: r.get(0)?,
            stack_id: r.get(1)?,
            resource_name: r.get(2)?,
            resource_type: r.get(3)?,
            physical_id: r.get(4)?,
            action: r.get(5)?,
            status: r.get(6)?,
            reason: r.get(7)?,
            created_at: r.get(8)?,
        })
    })
    .map_err(sql)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(sql)
}

// --------------------------------------------------------------------- software configs

use super::model::{Signal, SoftwareConfig, SoftwareDeployment};

const CONFIG_COLS: &str = "id, project_id, name, grp, config, inputs, outputs, options, created_at";

fn config_row(r: &Row) -> rusqlite::Result<(SoftwareConfig, [String; 3])> {
    Ok((
        SoftwareConfig {
            id: r.get(0)?,
            project_id: r.get(1)?,
            name: r.get(2)?,
            group: r.get(3)?,
            config: r.get(4)?,
            inputs: Value::Null,
            outputs: Value::Null,
            options: Value::Null,
            created_at: r.get(8)?,
        },
        [r.get(5)?, r.get(6)?, r.get(7)?],
    ))
}

fn config_finish(
    (mut sc, [i, o, opt]): (SoftwareConfig, [String; 3]),
) -> ApiResult<SoftwareConfig> {
    sc.inputs = serde_json::from_str(&i).map_err(json_err)?;
    sc.outputs = serde_json::from_str(&o).map_err(json_err)?;
    sc.options = serde_json::from_str(&opt).map_err(json_err)?;
    Ok(sc)
}

pub(crate) fn config_insert(c: &Connection, sc: &SoftwareConfig) -> ApiResult<()> {
    c.execute(
        &format!("INSERT INTO heat_software_configs ({CONFIG_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            sc.id,
            sc.project_id,
            sc.name,
            sc.group,
            sc.config,
            serde_json::to_string(&sc.inputs).map_err(json_err)?,
            serde_json::to_string(&sc.outputs).map_err(json_err)?,
            serde_json::to_string(&sc.options).map_err(json_err)?,
            sc.created_at,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn config_get(c: &Connection, id: &str) -> ApiResult<Option<SoftwareConfig>> {
    c.query_row(
        &format!("SELECT {CONFIG_COLS} FROM heat_software_configs WHERE id = ?1"),
        [id],
        config_row,
    )
    .optional()
    .map_err(sql)?
    .map(config_finish)
    .transpose()
}

/// Configs of one project (or of all), oldest first.
pub(crate) fn config_list(c: &Connection, project: Option<&str>) -> ApiResult<Vec<SoftwareConfig>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLS} FROM heat_software_configs \
             WHERE ?1 IS NULL OR project_id = ?1 ORDER BY created_at, id"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map([project], config_row)
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter().map(config_finish).collect()
}

/// Whether a deployment still uses a config.
pub(crate) fn config_in_use(c: &Connection, id: &str) -> ApiResult<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM heat_software_deployments WHERE config_id = ?1)",
        [id],
        |r| r.get(0),
    )
    .map_err(sql)
}

pub(crate) fn config_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM heat_software_configs WHERE id = ?1", [id])
        .map_err(sql)?;
    Ok(())
}

const DEPLOY_COLS: &str = "id, project_id, config_id, server_id, input_values, output_values, \
     action, status, status_reason, created_at, updated_at";

fn deployment_row(r: &Row) -> rusqlite::Result<(SoftwareDeployment, [String; 2])> {
    Ok((
        SoftwareDeployment {
            id: r.get(0)?,
            project_id: r.get(1)?,
            config_id: r.get(2)?,
            server_id: r.get(3)?,
            input_values: Value::Null,
            output_values: Value::Null,
            action: r.get(6)?,
            status: r.get(7)?,
            status_reason: r.get(8)?,
            created_at: r.get(9)?,
            updated_at: r.get(10)?,
        },
        [r.get(4)?, r.get(5)?],
    ))
}

fn deployment_finish(
    (mut d, [i, o]): (SoftwareDeployment, [String; 2]),
) -> ApiResult<SoftwareDeployment> {
    d.input_values = serde_json::from_str(&i).map_err(json_err)?;
    d.output_values = serde_json::from_str(&o).map_err(json_err)?;
    Ok(d)
}

/// Inserts or replaces a deployment (an update writes the whole row).
pub(crate) fn deployment_put(c: &Connection, d: &SoftwareDeployment) -> ApiResult<()> {
    c.execute(
        &format!("INSERT OR REPLACE INTO heat_software_deployments ({DEPLOY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![
            d.id,
            d.project_id,
            d.config_id,
            d.server_id,
            serde_json::to_string(&d.input_values).map_err(json_err)?,
            serde_json::to_string(&d.output_values).map_err(json_err)?,
            d.action,
            d.status,
            d.status_reason,
            d.created_at,
            d.updated_at,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn deployment_get(c: &Connection, id: &str) -> ApiResult<Option<SoftwareDeployment>> {
    c.query_row(
        &format!("SELECT {DEPLOY_COLS} FROM heat_software_deployments WHERE id = ?1"),
        [id],
        deployment_row,
    )
    .optional()
    .map_err(sql)?
    .map(deployment_finish)
    .transpose()
}

/// Deployments of one project (or of all), optionally of one server, oldest first.
pub(crate) fn deployment_list(
    c: &Connection,
    project: Option<&str>,
    server: Option<&str>,
) -> ApiResult<Vec<SoftwareDeployment>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {DEPLOY_COLS} FROM heat_software_deployments \
             WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR server_id = ?2) \
             ORDER BY created_at, id"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map(params![project, server], deployment_row)
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter().map(deployment_finish).collect()
}

pub(crate) fn deployment_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM heat_software_deployments WHERE id = ?1", [id])
        .map_err(sql)?;
    Ok(())
}

// --------------------------------------------------------------------- signals

pub(crate) fn signal_add(c: &Connection, s: &Signal) -> ApiResult<()> {
    c.execute(
        "INSERT INTO heat_signals (handle_id, signal_id, status, reason, data, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            s.handle_id,
            s.signal_id,
            s.status,
            s.reason,
            serde_json::to_string(&s.data).map_err(json_err)?,
            s.created_at,
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// A handle's signals in arrival order.
pub(crate) fn signal_list(c: &Connection, handle_id: &str) -> ApiResult<Vec<Signal>> {
    let mut st = c
        .prepare_cached(
            "SELECT handle_id, signal_id, status, reason, data, created_at FROM heat_signals \
             WHERE handle_id = ?1 ORDER BY seq",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([handle_id], |r| {
            Ok((
                Signal {
                    handle_id: r.get(0)?,
                    signal_id: r.get(1)?,
                    status: r.get(2)?,
                    reason: r.get(3)?,
                    data: Value::Null,
                    created_at: r.get(5)?,
                },
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql)?;
    rows.into_iter()
        .map(|(mut s, d)| {
            s.data = serde_json::from_str(&d).map_err(json_err)?;
            Ok(s)
        })
        .collect()
}

/// Forgets a deleted handle's signals.
pub(crate) fn signal_clear(c: &Connection, handle_id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM heat_signals WHERE handle_id = ?1", [handle_id])
        .map_err(sql)?;
    Ok(())
}
