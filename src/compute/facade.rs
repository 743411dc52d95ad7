//! What other parts of onestack may ask of the compute service directly, besides
//! `ComputeService`'s methods.

use rusqlite::Connection;

use crate::http::error::ApiResult;

/// Live servers per API status, for `onestack status`.
pub(crate) fn status_counts(c: &Connection) -> ApiResult<Vec<(String, i64)>> {
    super::store::status_counts(c)
}
