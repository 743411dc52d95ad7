//! SQL of the migration records (os-migrations).

use rusqlite::{Connection, params};

use crate::http::error::ApiResult;

/// One migration record as stored, with the flavors' instance type ids resolved.
#[derive(Debug, Clone)]
pub(crate) struct MigrationRow {
    pub id: i64,
    pub uuid: String,
    pub server_id: String,
    pub project_id: String,
    pub user_id: String,
    pub migration_type: String,
    pub status: String,
    pub source_compute: String,
    pub dest_compute: String,
    pub old_instance_type_id: Option<i64>,
    pub new_instance_type_id: Option<i64>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

/// What a new record says.
pub(crate) struct NewMigration<'a> {
    pub server_id: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub migration_type: &'a str,
    pub host: &'a str,
    pub old_flavor_id: &'a str,
    pub new_flavor_id: &'a str,
    pub now: &'a str,
}

pub(crate) fn insert(c: &Connection, m: &NewMigration) -> ApiResult<()> {
    c.execute(
        "INSERT INTO compute_migrations (uuid, server_id, project_id, user_id, migration_type,
             status, source_compute, dest_compute, old_flavor_id, new_flavor_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pre-migrating', ?6, ?6, ?7, ?8, ?9)",
        params![
            uuid::Uuid::new_v4().to_string(),
            m.server_id,
            m.project_id,
            m.user_id,
            m.migration_type,
            m.host,
            m.old_flavor_id,
            m.new_flavor_id,
            m.now
        ],
    )?;
    Ok(())
}

/// Moves the server's newest migration from one of `from` to `to`.
pub(crate) fn set_status(
    c: &Connection,
    server_id: &str,
    from: &[&str],
    to: &str,
    now: &str,
) -> ApiResult<()> {
    let newest: Option<(i64, String)> = c
        .query_row(
            "SELECT id, status FROM compute_migrations WHERE server_id = ?1
             ORDER BY id DESC LIMIT 1",
            [server_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    if let Some((id, status)) = newest
        && from.contains(&status.as_str())
    {
        c.execute(
            "UPDATE compute_migrations SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, to, now],
        )?;
    }
    Ok(())
}

/// Every record, newest first.
pub(crate) fn list(c: &Connection) -> ApiResult<Vec<MigrationRow>> {
    let mut st = c.prepare_cached(
        "SELECT m.id, m.uuid, m.server_id, m.project_id, m.user_id, m.migration_type, m.status,
                m.source_compute, m.dest_compute,
                (SELECT rowid FROM flavors WHERE id = m.old_flavor_id),
                (SELECT rowid FROM flavors WHERE id = m.new_flavor_id),
                m.created_at, m.updated_at
         FROM compute_migrations m ORDER BY m.id DESC",
    )?;
    let rows = st.query_map([], |r| {
        Ok(MigrationRow {
            id: r.get(0)?,
            uuid: r.get(1)?,
            server_id: r.get(2)?,
            project_id: r.get(3)?,
            user_id: r.get(4)?,
            migration_type: r.get(5)?,
            status: r.get(6)?,
            source_compute: r.get(7)?,
            dest_compute: r.get(8)?,
            old_instance_type_id: r.get(9)?,
            new_instance_type_id: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
