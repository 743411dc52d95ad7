//! The admin server actions of Nova's API that change records, not guests:
//! reset state, inject network info, cold migrate (this cloud has one host),
//! restore and force delete of soft-deleted servers (servers are never
//! soft-deleted here: deletes are immediate, `reclaim_instance_interval = 0`).

use super::ComputeService;
use super::model::{Server, VmState};
use super::servers::{new_action, visible};
use super::store;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

fn invalid_state(action: &str, s: &Server) -> ApiError {
    ApiError::Conflict(format!(
        "Cannot '{action}' instance {} while it is in vm_state {}",
        s.id,
        s.vm_state.as_str()
    ))
}

impl ComputeService {
    /// `os-resetState`: sets `vm_state` (active or error) and clears the task.
    pub(crate) async fn server_reset_state(
        &self,
        ctx: &RequestContext,
        id: String,
        state: VmState,
        request_id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut s = visible(c, &ctx, &id)?;
            s.vm_state = state;
            s.task_state = None;
            store::server_put(c, &mut s)?;
            store::action_put(c, &new_action(&s, "resetState", &request_id, &ctx))
        })
        .await?;
        tracing::info!(state = state.as_str(), "server state reset by an admin");
        Ok(())
    }

    /// `injectNetworkInfo`: the guest reads its network from the config drive
    /// and metadata service, which always serve the current ports, so there is
    /// nothing to push; the server must exist.
    pub(crate) async fn server_inject_network_info(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.server_get(ctx, id).await.map(|_| ())
    }

    /// `migrate` (cold): refused in Nova's words, as the scheduler of a
    /// one-host cloud finds no other host.
    pub(crate) async fn server_migrate(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        let s = self.server_get(ctx, id).await?;
        if !matches!(s.vm_state, VmState::Active | VmState::Stopped) || s.task_state.is_some() {
            return Err(invalid_state("migrate", &s));
        }
        Err(ApiError::bad_request(
            "No valid host was found. No valid host found for cold migrate",
        ))
    }

    /// `evacuate`: rebuilding a server of a failed host on another one. Nova
    /// refuses while the server's compute service is up, and its scheduler finds
    /// no host other than the failed one in a one-host cloud; the answers are
    /// Nova's. (From 2.95 an evacuated server would arrive stopped; none can
    /// arrive anywhere here.)
    pub(crate) async fn server_evacuate(
        &self,
        ctx: &RequestContext,
        id: String,
        host: Option<String>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let s = self.server_get(ctx, id).await?;
        if !matches!(
            s.vm_state,
            VmState::Active | VmState::Stopped | VmState::Error
        ) || s.task_state.is_some()
        {
            return Err(invalid_state("evacuate", &s));
        }
        let here = self.config().host.clone();
        if let Some(h) = host {
            return Err(if h == here {
                ApiError::bad_request("The target host can't be the same one.")
            } else {
                ApiError::Missing(format!("Compute host {h} not found."))
            });
        }
        let st = self.service_state(super::services::COMPUTE_BINARY).await?;
        if !st.forced_down {
            return Err(ApiError::bad_request(format!(
                "Compute service of {here} is still in use."
            )));
        }
        Err(ApiError::bad_request(
            "No valid host was found. No valid host found for evacuate",
        ))
    }

    /// `restore` / `forceDelete`: only a soft-deleted server qualifies, and
    /// none ever is here.
    pub(crate) async fn server_soft_deleted_action(
        &self,
        ctx: &RequestContext,
        id: String,
        action: &str,
    ) -> ApiResult<()> {
        let s = self.server_get(ctx, id).await?;
        super::may_change(ctx, &s.project_id)?;
        Err(invalid_state(action, &s))
    }
}
