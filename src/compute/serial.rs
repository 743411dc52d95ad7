//! Nova's serial console: short-lived access tokens for one server's serial port,
//! and the checks Nova makes before handing one out.
//!
//! Tokens are durable, as in Nova's `console_auth_tokens`: a console URL handed out
//! keeps working across a restart of onestack (kill -9 included) until it expires,
//! and the database holds only the token's SHA-256, never the token. Expiry is
//! wall-clock Unix time, so it holds across restarts too.

use std::path::PathBuf;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ComputeService;
use super::model::VmState;
use super::store::consoles::{self, NewConsoleToken};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::virt::PowerState;

/// How long a console URL stays usable (Nova's `[consoleauth] token_ttl` default).
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(600);

/// Nova's console type of a serial console token.
pub(crate) const CONSOLE_TYPE_SERIAL: &str = "serial";

/// What a token opens: one server's serial socket (the store returns only unexpired grants).
#[derive(Debug, Clone)]
pub(crate) struct ConsoleGrant {
    pub server_id: String,
    pub socket: PathBuf,
}

/// A fresh random token: 128 bits, hex, as it appears in the console URL.
pub(crate) fn new_token() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The key a token is stored under: its SHA-256, hex. A copy of the database
/// therefore opens no console.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// When a token issued at `now` (Unix seconds) stops working.
pub(crate) fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("The token is invalid or has expired.".into())
}

impl ComputeService {
    /// `POST /servers/{id}/remote-consoles` (serial) and `os-getSerialConsole`:
    /// a token for the server's interactive serial port.
    pub(crate) async fn server_serial_console_create(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<String> {
        let s = self.server_get(ctx, id).await?;
        super::may_change(ctx, &s.project_id)?;
        let spec = self.vm_spec(&s, &[]);
        let Some(socket) = self.inner.hypervisor.serial_socket(&spec) else {
            return Err(ApiError::bad_request("Unavailable console type serial."));
        };
        if s.vm_state != VmState::Active || s.power_state != PowerState::Running.code() {
            return Err(ApiError::Conflict(format!(
                "Instance {} is not ready.",
                s.id
            )));
        }
        let socket = socket
            .to_str()
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "serial socket path {} is not UTF-8",
                    socket.display()
                ))
            })?
            .to_owned();
        let token = new_token();
        let hash = token_hash(&token);
        let server_id = s.id.clone();
        let now = unix_now();
        let expired = self
            .write(move |c| {
                let expired = consoles::console_tokens_delete_expired(c, now)?;
                consoles::console_token_insert(
                    c,
                    &NewConsoleToken {
                        token_hash: &hash,
                        server_id: &server_id,
                        console_type: CONSOLE_TYPE_SERIAL,
                        socket: &socket,
                        created_at: now,
                        expires_at: expiry(now, TOKEN_TTL),
                    },
                )?;
                Ok(expired)
            })
            .await?;
        tracing::info!(server = %s.id, expired, "serial console token issued");
        Ok(token)
    }

    /// Drops the console tokens that expired while onestack was down (they are
    /// refused anyway; this keeps the table from growing across restarts).
    pub(crate) async fn prune_console_tokens(&self) -> ApiResult<usize> {
        let now = unix_now();
        let pruned = self
            .write(move |c| consoles::console_tokens_delete_expired(c, now))
            .await?;
        if pruned > 0 {
            tracing::info!(pruned, "expired console tokens removed");
        }
        Ok(pruned)
    }

    /// The socket a console token opens; unknown, expired and deleted servers'
    /// tokens are refused without saying which. A token may be used again until it
    /// expires, as with Nova's console auth.
    pub(crate) async fn serial_console_check(&self, token: &str) -> ApiResult<ConsoleGrant> {
        if token.is_empty() {
            return Err(invalid_token());
        }
        let hash = token_hash(token);
        let now = unix_now();
        self.read(move |c| consoles::console_token_get(c, &hash, CONSOLE_TYPE_SERIAL, now))
            .await?
            .ok_or_else(invalid_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn hash_is_hex_sha256_and_hides_the_token() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_token();
        let h = token_hash(&t);
        assert_eq!(h.len(), 64);
        assert_eq!(h, token_hash(&t), "stable: the same token finds its row");
        assert!(!h.contains(&t));
    }

    #[test]
    fn expiry_is_wall_clock_seconds_after_issue() {
        assert_eq!(expiry(1_000, TOKEN_TTL), 1_600);
        assert_eq!(expiry(1_000, Duration::ZERO), 1_000, "expired at once");
        assert_eq!(expiry(i64::MAX - 1, TOKEN_TTL), i64::MAX, "no overflow");
    }
}
