//! SQL for host aggregates.

use rusqlite::{Connection, OptionalExtension, params};

use super::{decode, encode};
use crate::compute::aggregates::Aggregate;
use crate::http::error::ApiResult;

fn row(id: i64, uuid: String, name: String, doc: &str) -> ApiResult<Aggregate> {
    let mut a: Aggregate = decode("aggregate", doc)?;
    a.id = id;
    a.uuid = uuid;
    a.name = name;
    Ok(a)
}

/// Inserts a new aggregate and returns its id.
pub(crate) fn insert(c: &Connection, a: &Aggregate) -> ApiResult<i64> {
    c.execute(
        "INSERT INTO compute_aggregates (uuid, name, doc) VALUES (?1, ?2, ?3)",
        params![a.uuid, a.name, encode(a)?],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!("Aggregate {} already exists.", a.name)
        })
    })?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn put(c: &Connection, a: &Aggregate) -> ApiResult<()> {
    c.execute(
        "UPDATE compute_aggregates SET name = ?2, doc = ?3 WHERE id = ?1",
        params![a.id, a.name, encode(a)?],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!("Aggregate {} already exists.", a.name)
        })
    })?;
    Ok(())
}

pub(crate) fn get(c: &Connection, id: i64) -> ApiResult<Option<Aggregate>> {
    let r: Option<(String, String, String)> = c
        .query_row(
            "SELECT uuid, name, doc FROM compute_aggregates WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    r.map(|(uuid, name, doc)| row(id, uuid, name, &doc))
        .transpose()
}

pub(crate) fn list(c: &Connection) -> ApiResult<Vec<Aggregate>> {
    let mut st = c.prepare("SELECT id, uuid, name, doc FROM compute_aggregates ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (id, uuid, name, doc) = r?;
        out.push(row(id, uuid, name, &doc)?);
    }
    Ok(out)
}

pub(crate) fn delete(c: &Connection, id: i64) -> ApiResult<()> {
    c.execute("DELETE FROM compute_aggregates WHERE id = ?1", [id])?;
    Ok(())
}
