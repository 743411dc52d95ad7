//! SQL for the compute catalog resources: flavors and their access lists,
//! keypairs, server groups and quota overrides.

use rusqlite::{Connection, OptionalExtension, params};

use super::decode;
use crate::compute::model::{Flavor, Keypair};
use crate::http::error::ApiResult;

pub fn flavor_get(c: &Connection, id: &str) -> ApiResult<Option<Flavor>> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM flavors WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    doc.map(|d| decode("flavor", &d)).transpose()
}

pub fn flavor_access_has(c: &Connection, flavor_id: &str, project_id: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT 1 FROM flavor_access WHERE flavor_id = ?1 AND project_id = ?2",
        params![flavor_id, project_id],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

pub fn keypair_get(c: &Connection, user_id: &str, name: &str) -> ApiResult<Option<Keypair>> {
    let doc: Option<String> = c
        .query_row(
            "SELECT doc FROM keypairs WHERE user_id = ?1 AND name = ?2",
            [user_id, name],
            |r| r.get(0),
        )
        .optional()?;
    doc.map(|d| decode("keypair", &d)).transpose()
}
