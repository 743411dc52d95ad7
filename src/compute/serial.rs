//! Nova's serial console: short-lived access tokens for one server's serial port,
//! and the checks Nova makes before handing one out.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::ComputeService;
use super::model::VmState;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::virt::PowerState;

/// How long a console URL stays usable (Nova's `[consoleauth] token_ttl` default).
pub const TOKEN_TTL: Duration = Duration::from_secs(600);

/// What a token opens: one server's serial socket, until `expires`.
#[derive(Debug, Clone)]
pub struct ConsoleGrant {
    pub server_id: String,
    pub socket: PathBuf,
    expires: Instant,
}

/// Tokens live in memory only: a restart invalidates every console URL, which a
/// client handles by asking for a new one (they expire within minutes anyway).
#[derive(Default)]
pub struct ConsoleTokens {
    grants: Mutex<HashMap<String, ConsoleGrant>>,
}

impl ConsoleTokens {
    /// A fresh random token (128 bits, hex) for `server_id`'s `socket`.
    pub fn issue(&self, server_id: &str, socket: PathBuf, ttl: Duration) -> String {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let now = Instant::now();
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            ConsoleGrant {
                server_id: server_id.to_owned(),
                socket,
                expires: now + ttl,
            },
        );
        token
    }

    /// The grant behind `token` if it exists and has not expired. A token may be
    /// used again until it expires, as with Nova's console auth.
    pub fn check(&self, token: &str) -> Option<ConsoleGrant> {
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        grants.retain(|_, g| g.expires > now);
        grants.get(token).cloned()
    }
}

impl ComputeService {
    /// `POST /servers/{id}/remote-consoles` (serial) and `os-getSerialConsole`:
    /// a token for the server's interactive serial port.
    pub async fn server_serial_console_create(
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
        Ok(self.inner.consoles.issue(&s.id, socket, TOKEN_TTL))
    }

    /// The socket a console token opens; unknown and expired tokens are refused
    /// without saying which.
    pub fn serial_console_check(&self, token: &str) -> ApiResult<ConsoleGrant> {
        self.inner
            .consoles
            .check(token)
            .ok_or_else(|| ApiError::Unauthorized("The token is invalid or has expired.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_expire() {
        let t = ConsoleTokens::default();
        let a = t.issue("s1", PathBuf::from("/r/s1/serial.sock"), TOKEN_TTL);
        let b = t.issue("s1", PathBuf::from("/r/s1/serial.sock"), TOKEN_TTL);
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let g = t.check(&a).expect("fresh token");
        assert_eq!(g.server_id, "s1");
        assert_eq!(g.socket, PathBuf::from("/r/s1/serial.sock"));
        assert!(t.check(&a).is_some(), "usable until it expires");
        assert!(t.check("nope").is_none());
        let gone = t.issue("s2", PathBuf::from("/x"), Duration::ZERO);
        assert!(t.check(&gone).is_none(), "expired token refused");
    }
}
