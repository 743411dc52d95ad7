//! Server groups (temporary).
use rusqlite::Connection;

use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

pub fn add_member(
    _c: &Connection,
    _group_id: &str,
    _server_id: &str,
    _ctx: &RequestContext,
) -> ApiResult<()> {
    Ok(())
}
pub fn remove_member(_c: &Connection, _server_id: &str) -> ApiResult<()> {
    Ok(())
}
