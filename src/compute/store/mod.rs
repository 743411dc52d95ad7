//! All compute SQL: servers and their actions here, the catalog resources (flavors,
//! keypairs, server groups, quotas) in `catalog`, console access tokens in `consoles`.

pub(crate) mod aggregates;
pub(crate) mod catalog;
pub(crate) mod consoles;
pub(crate) mod migrations;

use rusqlite::{Connection, OptionalExtension, params};

use super::model::{InstanceAction, Server};
use crate::http::error::{ApiError, ApiResult};

fn decode<T: serde::de::DeserializeOwned>(kind: &str, doc: &str) -> ApiResult<T> {
    serde_json::from_str(doc)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("corrupt {kind} document: {e}")))
}

fn encode<T: serde::Serialize>(v: &T) -> ApiResult<String> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.into()))
}

/// Reserves the row and returns its sequence number (Nova's instance name is
/// derived from it); the document is written by `server_put`.
pub(crate) fn server_insert(c: &Connection, s: &Server) -> ApiResult<i64> {
    c.execute(
        "INSERT INTO servers (id, project_id, user_id, name, created_at, generation, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.id,
            s.project_id,
            s.user_id,
            s.name,
            s.created_at,
            s.generation,
            encode(s)?
        ],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || format!("Server {} already exists.", s.id))
    })?;
    Ok(c.last_insert_rowid())
}

/// Writes `s` if nobody wrote a newer generation since it was read; bumps its
/// generation. A stale writer gets a 409.
pub(crate) fn server_put(c: &Connection, s: &mut Server) -> ApiResult<()> {
    let read_generation = s.generation;
    s.generation += 1;
    s.updated_at = crate::http::time::iso_seconds(chrono::Utc::now());
    let n = c.execute(
        "UPDATE servers SET name = ?2, deleted_at = ?3, generation = ?4, doc = ?5
         WHERE id = ?1 AND generation = ?6",
        params![
            s.id,
            s.name,
            s.deleted_at,
            s.generation,
            encode(s)?,
            read_generation
        ],
    )?;
    if n == 0 {
        s.generation = read_generation;
        return Err(ApiError::Conflict(format!(
            "Server {} was changed by another request; retry.",
            s.id
        )));
    }
    Ok(())
}

/// A server that is not deleted.
pub(crate) fn server_get(c: &Connection, id: &str) -> ApiResult<Option<Server>> {
    let doc: Option<String> = c
        .query_row(
            "SELECT doc FROM servers WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    doc.map(|d| decode("server", &d)).transpose()
}

/// A server, deleted or not (instance actions of deleted servers stay readable).
pub(crate) fn server_get_any(c: &Connection, id: &str) -> ApiResult<Option<Server>> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM servers WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    doc.map(|d| decode("server", &d)).transpose()
}

/// Servers in creation order, newest first as Nova lists them; `project` None = all
/// projects; `deleted` includes soft-deleted rows.
pub(crate) fn server_list(
    c: &Connection,
    project: Option<&str>,
    deleted: bool,
) -> ApiResult<Vec<Server>> {
    let mut st = c.prepare_cached(
        "SELECT doc FROM servers
         WHERE (?1 IS NULL OR project_id = ?1) AND (?2 OR deleted_at IS NULL)
         ORDER BY seq DESC",
    )?;
    let docs: Vec<String> = st
        .query_map(params![project, deleted], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    docs.iter().map(|d| decode("server", d)).collect()
}

/// (instances, cores, ram MiB) a project uses, for quotas and limits.
pub(crate) fn project_usage(c: &Connection, project_id: &str) -> ApiResult<(i64, i64, i64)> {
    let servers = server_list(c, Some(project_id), false)?;
    Ok(servers.iter().fold((0, 0, 0), |(n, cores, ram), s| {
        (n + 1, cores + s.flavor.vcpus, ram + s.flavor.ram)
    }))
}

pub(crate) fn action_put(c: &Connection, a: &InstanceAction) -> ApiResult<()> {
    c.execute(
        "INSERT INTO instance_actions (request_id, server_id, start_time, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (server_id, request_id) DO UPDATE SET doc = excluded.doc",
        params![a.request_id, a.server_id, a.start_time, encode(a)?],
    )?;
    Ok(())
}

pub(crate) fn action_get(
    c: &Connection,
    server_id: &str,
    request_id: &str,
) -> ApiResult<Option<InstanceAction>> {
    let doc: Option<String> = c
        .query_row(
            "SELECT doc FROM instance_actions WHERE server_id = ?1 AND request_id = ?2",
            [server_id, request_id],
            |r| r.get(0),
        )
        .optional()?;
    doc.map(|d| decode("instance action", &d)).transpose()
}

/// Newest first, as Nova lists them.
pub(crate) fn action_list(c: &Connection, server_id: &str) -> ApiResult<Vec<InstanceAction>> {
    let mut st = c.prepare_cached(
        "SELECT doc FROM instance_actions WHERE server_id = ?1 ORDER BY start_time DESC, rowid DESC",
    )?;
    let docs: Vec<String> = st
        .query_map([server_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    docs.iter().map(|d| decode("instance action", d)).collect()
}

/// Servers that are not deleted, per API status (`ACTIVE`, `SHUTOFF`, ...), for
/// `onestack status`.
pub(crate) fn status_counts(c: &Connection) -> ApiResult<Vec<(String, i64)>> {
    let mut st = c.prepare(
        "SELECT json_extract(doc, '$.vm_state'), json_extract(doc, '$.task_state'), count(*)
         FROM servers WHERE deleted_at IS NULL GROUP BY 1, 2",
    )?;
    let rows: Vec<(String, Option<String>, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    fn state<T: serde::de::DeserializeOwned>(v: String) -> ApiResult<T> {
        serde_json::from_value(serde_json::Value::String(v))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("corrupt server document: {e}")))
    }
    let mut by_status = std::collections::BTreeMap::<&'static str, i64>::new();
    for (vm, task, n) in rows {
        let vm: super::model::VmState = state(vm)?;
        let task: Option<super::model::TaskState> = task.map(state).transpose()?;
        *by_status.entry(super::model::status(vm, task)).or_default() += n;
    }
    Ok(by_status
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::model::{TaskState, VmState};
    use crate::compute::quotas::tests::{db, server};

    #[test]
    fn status_counts_group_live_servers_by_api_status() {
        let (_dir, db) = db();
        let counts = db
            .write_blocking(|c| {
                assert!(status_counts(c)?.is_empty());
                for (id, vm, task) in [
                    ("a", VmState::Active, None),
                    ("b", VmState::Active, None),
                    ("c", VmState::Active, Some(TaskState::Rebooting)),
                    ("d", VmState::Stopped, None),
                    ("e", VmState::Building, Some(TaskState::Spawning)),
                ] {
                    let mut s = server(id, "p", 1, 64, None, None);
                    s.vm_state = vm;
                    s.task_state = task;
                    server_insert(c, &s)?;
                }
                let mut gone = server("gone", "p", 1, 64, None, None);
                server_insert(c, &gone)?;
                gone.deleted_at = Some("2030-01-01T00:00:00Z".into());
                server_put(c, &mut gone)?;
                status_counts(c)
            })
            .expect("counts");
        let want: Vec<(String, i64)> = [("ACTIVE", 2), ("BUILD", 1), ("REBOOT", 1), ("SHUTOFF", 1)]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        assert_eq!(counts, want);
    }
}
