//! Server actions beyond the lifecycle ones (`POST /servers/{id}/action`):
//! os-resetState, injectNetworkInfo, migrate, evacuate, restore, forceDelete.

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

/// The `evacuate` body as each microversion's schema has it: `onSharedStorage`
/// required below 2.14 and gone after, `force` from 2.29 to 2.67; returns `host`.
fn evacuate_host(value: &Value, mv: Microversion) -> ApiResult<Option<String>> {
    let o = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute evacuate."))?;
    let mut known = vec!["host", "adminPass"];
    if !mv.at_least(14) {
        known.push("onSharedStorage");
        if !o.contains_key("onSharedStorage") {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute evacuate. 'onSharedStorage' is a required property",
            ));
        }
    }
    if mv.at_least(29) && !mv.at_least(68) {
        known.push("force");
    }
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute evacuate. Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    match o.get("host") {
        None => Ok(None),
        Some(Value::String(h)) => Ok(Some(h.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute host. Value: {other}. {other} is not of type 'string'"
        ))),
    }
}

/// Runs `action` if it is one of these; None when it is not.
pub(super) async fn dispatch(
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
        "evacuate" => match evacuate_host(&value, mv) {
            Ok(host) => compute
                .server_evacuate(ctx, id, host)
                .await
                .map(|()| StatusCode::OK.into_response()),
            Err(e) => Err(e),
        },
        "restore" | "forceDelete" => {
            accepted(compute.server_soft_deleted_action(ctx, id, action).await)
        }
        _ => return None,
    };
    Some(r)
}
