//! What other parts of onestack may ask of the identity service directly. Everything
//! else goes through `Identity`'s methods with a request context.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::store;
use crate::http::error::ApiResult;

/// Whether a project exists, inside the caller's transaction (Nova checks a project id
/// given for flavor access or quotas in the same write that records it).
pub fn project_exists_tx(c: &Connection, project_id: &str) -> ApiResult<bool> {
    Ok(store::project_get(c, project_id)?.is_some())
}

/// Forgets revocation events older than `horizon` (no token issued before it is still
/// valid), returning how many went.
pub fn revocations_prune_tx(c: &Connection, horizon: DateTime<Utc>) -> ApiResult<usize> {
    store::revocation_prune(c, horizon)
}

/// Object counts for `onestack status`.
pub fn counts(c: &Connection) -> ApiResult<Vec<(&'static str, i64)>> {
    store::counts(c)
}
