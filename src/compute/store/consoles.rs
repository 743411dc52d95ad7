//! Console access token SQL (`console_auth_tokens`): rows keyed by the SHA-256 of
//! the token, never the token itself, with a wall-clock expiry.

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, params};

use crate::compute::serial::ConsoleGrant;
use crate::http::error::ApiResult;

/// A token about to be recorded.
pub(crate) struct NewConsoleToken<'a> {
    pub token_hash: &'a str,
    pub server_id: &'a str,
    pub console_type: &'a str,
    pub socket: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub(crate) fn console_token_insert(c: &Connection, t: &NewConsoleToken) -> ApiResult<()> {
    c.execute(
        "INSERT INTO console_auth_tokens
             (token_hash, instance_uuid, console_type, access_path, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.token_hash,
            t.server_id,
            t.console_type,
            t.socket,
            t.expires_at,
            t.created_at
        ],
    )?;
    Ok(())
}

/// The grant behind a token hash of `console_type`, if it has not expired at `now`
/// (Unix seconds) and its server still exists.
pub(crate) fn console_token_get(
    c: &Connection,
    token_hash: &str,
    console_type: &str,
    now: i64,
) -> ApiResult<Option<ConsoleGrant>> {
    let row: Option<(String, String)> = c
        .query_row(
            "SELECT t.instance_uuid, t.access_path
             FROM console_auth_tokens t
             JOIN servers s ON s.id = t.instance_uuid AND s.deleted_at IS NULL
             WHERE t.token_hash = ?1 AND t.console_type = ?2 AND t.expires_at > ?3",
            params![token_hash, console_type, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(server_id, socket)| ConsoleGrant {
        server_id,
        socket: PathBuf::from(socket),
    }))
}

/// Drops every token expired at `now`; returns how many.
pub(crate) fn console_tokens_delete_expired(c: &Connection, now: i64) -> ApiResult<usize> {
    Ok(c.execute(
        "DELETE FROM console_auth_tokens WHERE expires_at <= ?1",
        [now],
    )?)
}

/// Drops every token of a server (it is being deleted); returns how many.
pub(crate) fn console_tokens_delete_for_server(
    c: &Connection,
    server_id: &str,
) -> ApiResult<usize> {
    Ok(c.execute(
        "DELETE FROM console_auth_tokens WHERE instance_uuid = ?1",
        [server_id],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::tests::{db, server};
    use crate::compute::store::{server_insert, server_put};

    fn token<'a>(hash: &'a str, server_id: &'a str, expires_at: i64) -> NewConsoleToken<'a> {
        NewConsoleToken {
            token_hash: hash,
            server_id,
            console_type: "serial",
            socket: "/i/s/serial.sock",
            created_at: 1000,
            expires_at,
        }
    }

    #[test]
    fn tokens_are_found_by_hash_until_they_expire() {
        let (_dir, db) = db();
        db.write_blocking(|c| {
            server_insert(c, &server("s1", "p", 1, 64, None, None))?;
            console_token_insert(c, &token("h1", "s1", 1600))?;
            let g = console_token_get(c, "h1", "serial", 1599)?.expect("live token");
            assert_eq!(g.server_id, "s1");
            assert_eq!(g.socket, PathBuf::from("/i/s/serial.sock"));
            assert!(
                console_token_get(c, "h1", "serial", 1600)?.is_none(),
                "expired"
            );
            assert!(
                console_token_get(c, "h1", "novnc", 1000)?.is_none(),
                "other type"
            );
            assert!(
                console_token_get(c, "h2", "serial", 1000)?.is_none(),
                "unknown"
            );
            Ok::<_, crate::http::error::ApiError>(())
        })
        .expect("db");
    }

    #[test]
    fn expired_and_deleted_servers_tokens_go() {
        let (_dir, db) = db();
        db.write_blocking(|c| {
            server_insert(c, &server("s1", "p", 1, 64, None, None))?;
            let mut s2 = server("s2", "p", 1, 64, None, None);
            server_insert(c, &s2)?;
            console_token_insert(c, &token("old", "s1", 1100))?;
            console_token_insert(c, &token("new", "s1", 1700))?;
            console_token_insert(c, &token("other", "s2", 1700))?;
            assert_eq!(console_tokens_delete_expired(c, 1100)?, 1);
            assert!(console_token_get(c, "new", "serial", 1100)?.is_some());
            // A soft-deleted server's tokens are refused even before they are purged.
            s2.deleted_at = Some("2030-01-01T00:00:00Z".into());
            server_put(c, &mut s2)?;
            assert!(console_token_get(c, "other", "serial", 1100)?.is_none());
            assert_eq!(console_tokens_delete_for_server(c, "s2")?, 1);
            assert_eq!(console_tokens_delete_for_server(c, "s1")?, 1);
            assert!(console_token_get(c, "new", "serial", 1100)?.is_none());
            Ok::<_, crate::http::error::ApiError>(())
        })
        .expect("db");
    }
}
