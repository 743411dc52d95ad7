//! What other parts of onestack may ask of the network service directly, besides
//! `NetworkService`'s methods and the instance-facing calls in `instance.rs`.

use rusqlite::Connection;

use crate::http::error::ApiResult;

/// Resource counts per kind (`network`, `port`, ...), for `onestack status`.
pub(crate) fn counts(c: &Connection) -> ApiResult<Vec<(String, i64)>> {
    super::store::counts(c)
}
