//! Keypairs (temporary minimal lookup for boot).
use rusqlite::Connection;

use super::model::Keypair;
use super::store::catalog;
use crate::http::error::{ApiError, ApiResult};

pub fn keypair_for_boot(c: &Connection, user_id: &str, name: &str) -> ApiResult<Keypair> {
    catalog::keypair_get(c, user_id, name)?
        .ok_or_else(|| ApiError::bad_request("Invalid key_name provided."))
}
