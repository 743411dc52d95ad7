//! SQL for the compute catalog resources: flavors and their access lists,
//! keypairs, server groups and quota overrides.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{decode, encode};
use crate::compute::model::{Flavor, Keypair};
use crate::compute::server_groups::ServerGroup;
use crate::http::error::{ApiError, ApiResult};

pub(crate) fn flavor_get(c: &Connection, id: &str) -> ApiResult<Option<Flavor>> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM flavors WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    doc.map(|d| decode("flavor", &d)).transpose()
}

pub(crate) fn flavor_access_has(
    c: &Connection,
    flavor_id: &str,
    project_id: &str,
) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT 1 FROM flavor_access WHERE flavor_id = ?1 AND project_id = ?2",
        params![flavor_id, project_id],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

pub(crate) fn keypair_get(c: &Connection, user_id: &str, name: &str) -> ApiResult<Option<Keypair>> {
    let doc: Option<String> = c
        .query_row(
            "SELECT doc FROM keypairs WHERE user_id = ?1 AND name = ?2",
            [user_id, name],
            |r| r.get(0),
        )
        .optional()?;
    doc.map(|d| decode("keypair", &d)).transpose()
}

/// Every flavor in creation order.
pub(crate) fn flavor_list(c: &Connection) -> ApiResult<Vec<Flavor>> {
    let mut st = c.prepare_cached("SELECT doc FROM flavors ORDER BY rowid")?;
    let docs: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    docs.iter().map(|d| decode("flavor", d)).collect()
}

pub(crate) fn flavor_by_name(c: &Connection, name: &str) -> ApiResult<Option<Flavor>> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM flavors WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    doc.map(|d| decode("flavor", &d)).transpose()
}

/// Inserts a new flavor; a taken id or name is a 409 with Nova's message.
pub(crate) fn flavor_insert(c: &Connection, f: &Flavor) -> ApiResult<()> {
    if flavor_get(c, &f.id)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "Flavor with ID {} already exists.",
            f.id
        )));
    }
    if flavor_by_name(c, &f.name)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "Flavor with name {} already exists.",
            f.name
        )));
    }
    c.execute(
        "INSERT INTO flavors (id, name, doc) VALUES (?1, ?2, ?3)",
        params![f.id, f.name, encode(f)?],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || format!("Flavor {} already exists.", f.id))
    })?;
    Ok(())
}

/// Rewrites a flavor's document (description, extra specs).
pub(crate) fn flavor_put(c: &Connection, f: &Flavor) -> ApiResult<()> {
    c.execute(
        "UPDATE flavors SET doc = ?2 WHERE id = ?1",
        params![f.id, encode(f)?],
    )?;
    Ok(())
}

/// Deletes a flavor and its access list; false when it did not exist.
pub(crate) fn flavor_delete(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.execute("DELETE FROM flavors WHERE id = ?1", [id])? > 0)
}

pub(crate) fn flavor_access_list(c: &Connection, flavor_id: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT project_id FROM flavor_access WHERE flavor_id = ?1 ORDER BY project_id",
    )?;
    let rows = st.query_map([flavor_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Flavor ids a project was given access to.
pub(crate) fn flavor_access_of_project(c: &Connection, project_id: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached("SELECT flavor_id FROM flavor_access WHERE project_id = ?1")?;
    let rows = st.query_map([project_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds access; false when the pair already existed.
pub(crate) fn flavor_access_add(
    c: &Connection,
    flavor_id: &str,
    project_id: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "INSERT OR IGNORE INTO flavor_access (flavor_id, project_id) VALUES (?1, ?2)",
        params![flavor_id, project_id],
    )? > 0)
}

/// Removes access; false when the pair did not exist.
pub(crate) fn flavor_access_remove(
    c: &Connection,
    flavor_id: &str,
    project_id: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM flavor_access WHERE flavor_id = ?1 AND project_id = ?2",
        params![flavor_id, project_id],
    )? > 0)
}

/// A user's keypairs by name, each with its row number (Nova's integer `id`).
pub(crate) fn keypair_list(c: &Connection, user_id: &str) -> ApiResult<Vec<(i64, Keypair)>> {
    let mut st =
        c.prepare_cached("SELECT rowid, doc FROM keypairs WHERE user_id = ?1 ORDER BY name")?;
    let rows: Vec<(i64, String)> = st
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, d)| Ok((id, decode("keypair", &d)?)))
        .collect()
}

pub(crate) fn keypair_count(c: &Connection, user_id: &str) -> ApiResult<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM keypairs WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Inserts a keypair; a taken name is Nova's 409.
pub(crate) fn keypair_insert(c: &Connection, k: &Keypair) -> ApiResult<i64> {
    c.execute(
        "INSERT INTO keypairs (user_id, name, doc) VALUES (?1, ?2, ?3)",
        params![k.user_id, k.name, encode(k)?],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!("Key pair '{}' already exists.", k.name)
        })
    })?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn keypair_delete(c: &Connection, user_id: &str, name: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM keypairs WHERE user_id = ?1 AND name = ?2",
        [user_id, name],
    )? > 0)
}

pub(crate) fn server_group_insert(c: &Connection, g: &ServerGroup) -> ApiResult<()> {
    c.execute(
        "INSERT INTO server_groups (id, project_id, doc) VALUES (?1, ?2, ?3)",
        params![g.id, g.project_id, encode(g)?],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!("Server group {} already exists.", g.id)
        })
    })?;
    Ok(())
}

pub(crate) fn server_group_get(c: &Connection, id: &str) -> ApiResult<Option<ServerGroup>> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM server_groups WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    doc.map(|d| decode("server group", &d)).transpose()
}

/// Groups in creation order; `project` None = all projects.
pub(crate) fn server_group_list(
    c: &Connection,
    project: Option<&str>,
) -> ApiResult<Vec<ServerGroup>> {
    let mut st = c.prepare_cached(
        "SELECT doc FROM server_groups WHERE (?1 IS NULL OR project_id = ?1) ORDER BY rowid",
    )?;
    let docs: Vec<String> = st
        .query_map(params![project], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    docs.iter().map(|d| decode("server group", d)).collect()
}

pub(crate) fn server_group_count(c: &Connection, project_id: &str) -> ApiResult<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM server_groups WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

/// Deletes a group and its membership rows; false when it did not exist.
pub(crate) fn server_group_delete(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.execute("DELETE FROM server_groups WHERE id = ?1", [id])? > 0)
}

/// Member server ids in the order they joined.
pub(crate) fn server_group_members(c: &Connection, group_id: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT server_id FROM server_group_members WHERE group_id = ?1 ORDER BY rowid",
    )?;
    let rows = st.query_map([group_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds a member; a server is in at most one group (409 otherwise).
pub(crate) fn server_group_member_add(
    c: &Connection,
    group_id: &str,
    server_id: &str,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO server_group_members (group_id, server_id) VALUES (?1, ?2)",
        [group_id, server_id],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!("Server {server_id} is already a member of a server group.")
        })
    })?;
    Ok(())
}

pub(crate) fn server_group_member_remove(c: &Connection, server_id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM server_group_members WHERE server_id = ?1",
        [server_id],
    )?;
    Ok(())
}

/// A quota class's limits (resource -> hard limit); only what was set.
pub(crate) fn quota_class(c: &Connection, class_name: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut st = c.prepare_cached(
        "SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = ?1",
    )?;
    let rows = st.query_map([class_name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn quota_class_put(
    c: &Connection,
    class_name: &str,
    resource: &str,
    limit: i64,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO compute_quota_classes (class_name, resource, hard_limit) VALUES (?1, ?2, ?3)
         ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        params![class_name, resource, limit],
    )?;
    Ok(())
}

/// A project's quota overrides (resource -> hard limit).
pub(crate) fn quota_overrides(
    c: &Connection,
    project_id: &str,
) -> ApiResult<BTreeMap<String, i64>> {
    let mut st =
        c.prepare_cached("SELECT resource, hard_limit FROM compute_quotas WHERE project_id = ?1")?;
    let rows = st.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn quota_put(
    c: &Connection,
    project_id: &str,
    resource: &str,
    limit: i64,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO compute_quotas (project_id, resource, hard_limit) VALUES (?1, ?2, ?3)
         ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        params![project_id, resource, limit],
    )?;
    Ok(())
}

/// Drops every override of a project (back to the defaults).
pub(crate) fn quota_reset(c: &Connection, project_id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM compute_quotas WHERE project_id = ?1",
        [project_id],
    )?;
    Ok(())
}

/// A compute bookkeeping value (first-start marks).
pub(crate) fn meta_get(c: &Connection, key: &str) -> ApiResult<Option<String>> {
    Ok(c.query_row(
        "SELECT value FROM compute_meta WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()?)
}

pub(crate) fn meta_put(c: &Connection, key: &str, value: &str) -> ApiResult<()> {
    c.execute(
        "INSERT INTO compute_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
