//! Flavors (temporary minimal lookup for boot).
use rusqlite::Connection;

use super::model::Flavor;
use super::store::catalog;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

pub fn flavor_for_boot(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<Flavor> {
    let missing = || ApiError::bad_request(format!("Flavor {id} could not be found."));
    let f = catalog::flavor_get(c, id)?.ok_or_else(missing)?;
    let project = ctx.project_id().unwrap_or_default();
    if !f.is_public && !ctx.is_admin() && !catalog::flavor_access_has(c, id, project)? {
        return Err(missing());
    }
    Ok(f)
}
