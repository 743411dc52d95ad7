//! What other parts of onestack may ask of the image service directly, besides
//! `ImageService`'s methods.

use rusqlite::Connection;

use crate::http::error::ApiResult;

/// How many images exist, for `onestack status`.
pub(crate) fn count(c: &Connection) -> ApiResult<i64> {
    super::store::count(c)
}
