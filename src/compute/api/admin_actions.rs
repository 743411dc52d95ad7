//! Server actions beyond the lifecycle ones (`POST /servers/{id}/action`):
//! os-resetState, injectNetworkInfo, migrate, restore, forceDelete.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Microversion;
use crate::cloud::Cloud;
use crate::compute::model::VmState;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

fn reset_state(value: &Value) -> ApiResult<VmState> {
    let state = value
        .get("state")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("'state' is a required property"))?;
    match state {
        "active" => Ok(VmState::Active),
        "error" => Ok(VmState::Error),
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute state. Value: {other}. '{other}' is not one of ['active', 'error']"
        ))),
    }
}

/// Runs `action` if it is one of these; None when it is not.
pub async fn dispatch(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
    action: &str,
    value: Value,
    request_id: String,
) -> Option<ApiResult<Response>> {
    let compute = &cloud.compute;
    let accepted = |r: ApiResult<()>| r.map(|()| StatusCode::ACCEPTED.into_response());
    let r = match action {
        "os-resetState" => match reset_state(&value) {
            Ok(state) => accepted(compute.server_reset_state(ctx, id, state, request_id).await),
            Err(e) => Err(e),
        },
        "injectNetworkInfo" => accepted(compute.server_inject_network_info(ctx, id).await),
        "migrate" => {
            if value.get("host").is_some() && !mv.at_least(56) {
                return Some(Err(ApiError::bad_request(
                    "Invalid input for field/attribute migrate. Value: host. Additional properties are not allowed ('host' was unexpected)",
                )));
            }
            accepted(compute.server_migrate(ctx, id).await)
        }
        "restore" | "forceDelete" => {
            accepted(compute.server_soft_deleted_action(ctx, id, action).await)
        }
        _ => return None,
    };
    Some(r)
}
