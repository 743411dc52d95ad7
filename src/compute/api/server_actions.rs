//! `POST /servers/{id}/action` (api-ref: compute "Servers - run an action"): one
//! key per body, each mapped to a service call.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::Microversion;
use crate::cloud::Cloud;
use crate::compute::actions::Work;
use crate::http::RequestId;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::logged::OrLog;

pub fn routes() -> Router<Cloud> {
    Router::new().route("/servers/{id}/action", post(server_action))
}

fn arg<T: DeserializeOwned>(action: &str, v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!("Invalid input for field/attribute {action}. {e}"))
    })
}

/// `os-getSerialConsole` (deprecated by remote-consoles at 2.6, still answered).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SerialConsoleArg {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RebootArg {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RebuildArg {
    #[serde(rename = "imageRef")]
    image_ref: String,
    name: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    preserve_ephemeral: Option<bool>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    access_ipv6: Option<String>,
    personality: Option<Vec<Value>>,
    key_name: Option<Option<String>>,
    user_data: Option<Option<String>>,
    description: Option<Option<String>>,
    trusted_image_certificates: Option<Value>,
    hostname: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResizeArg {
    #[serde(rename = "flavorRef")]
    flavor_ref: Value,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateImageArg {
    name: String,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConsoleArg {
    length: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupArg {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RescueArg {
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    rescue_image_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupArg {
    name: String,
    backup_type: String,
    rotation: Value,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UnshelveArg {
    #[serde(default, deserialize_with = "crate::http::json::present")]
    availability_zone: Option<Option<String>>,
    host: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LockArg {
    locked_reason: Option<String>,
}

/// `POST /servers/{id}/action`.
async fn server_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    crate::http::json::require_json(&headers)?;
    let doc: Map<String, Value> = crate::http::json::parse(&body)?;
    if doc.len() != 1 {
        return Err(ApiError::bad_request(
            "Malformed request body: exactly one action is expected.",
        ));
    }
    let Some((action, value)) = doc.into_iter().next() else {
        return Err(ApiError::bad_request("Malformed request body."));
    };
    let compute = &cloud.compute;
    let accepted = || StatusCode::ACCEPTED.into_response();
    let simple = |w: Work| (w, id.clone());
    let work = match action.as_str() {
        "os-start" => Some(simple(Work::Start)),
        "os-stop" => Some(simple(Work::Stop)),
        "pause" => Some(simple(Work::Pause)),
        "unpause" => Some(simple(Work::Unpause)),
        "suspend" => Some(simple(Work::Suspend)),
        "resume" => Some(simple(Work::Resume)),
        "confirmResize" => Some(simple(Work::ConfirmResize)),
        "revertResize" => Some(simple(Work::RevertResize)),
        "reboot" => {
            let a: RebootArg = arg(&action, value.clone())?;
            let hard = match a.kind.to_ascii_uppercase().as_str() {
                "HARD" => true,
                "SOFT" => false,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute type. Value: {other}. It must be SOFT or HARD."
                    )));
                }
            };
            Some(simple(Work::Reboot { hard }))
        }
        _ => None,
    };
    if let Some((work, id)) = work {
        let confirm = matches!(work, Work::ConfirmResize);
        compute.server_action(&ctx, id, work, request_id).await?;
        return Ok(if confirm {
            StatusCode::NO_CONTENT.into_response()
        } else {
            accepted()
        });
    }
    match action.as_str() {
        "rebuild" => {
            let a: RebuildArg = arg(&action, value)?;
            let pass = a
                .admin_pass
                .clone()
                .unwrap_or_else(super::servers::admin_pass);
            let _ = (&a.preserve_ephemeral, &a.trusted_image_certificates);
            crate::compute::servers::check_access(&a.disk_config, &a.access_ipv4, &a.access_ipv6)?;
            if a.personality.is_some() && mv.at_least(57) {
                return Err(ApiError::bad_request(
                    "Additional properties are not allowed ('personality' was unexpected).",
                ));
            }
            if a.key_name.is_some() && !mv.at_least(54) {
                return Err(ApiError::bad_request(
                    "Additional properties are not allowed ('key_name' was unexpected).",
                ));
            }
            if a.user_data.is_some() && !mv.at_least(57) {
                return Err(ApiError::bad_request(
                    "Additional properties are not allowed ('user_data' was unexpected).",
                ));
            }
            if a.description.is_some() && !mv.at_least(19) {
                return Err(ApiError::bad_request(
                    "Additional properties are not allowed ('description' was unexpected).",
                ));
            }
            crate::compute::servers::check_hostname(&a.hostname, mv)?;
            let mut plan = compute
                .rebuild_plan(
                    &ctx,
                    &a.image_ref,
                    a.name,
                    a.metadata,
                    a.key_name,
                    a.user_data,
                    a.description,
                )
                .await?;
            plan.hostname = a.hostname;
            let accepted = compute
                .server_action(&ctx, id, Work::Rebuild(plan), request_id)
                .await?;
            compute
                .server_set_access(&accepted.id, a.disk_config, a.access_ipv4, a.access_ipv6)
                .await?;
            let s = compute.server_get(&ctx, accepted.id).await?;
            let mut doc = super::servers::render_one(&cloud, &headers, mv, &ctx, &s).await?;
            super::servers::basic_view(&mut doc, mv, true);
            // From 2.75 the rebuild answer is the full server view, except that
            // user data is only the top-level `user_data` (2.57), never
            // `OS-EXT-SRV-ATTR:user_data` (Nova's view is built without it).
            if let Some(o) = doc.as_object_mut() {
                o.remove("OS-EXT-SRV-ATTR:user_data");
            }
            doc["adminPass"] = json!(pass);
            if mv.at_least(57) {
                doc["user_data"] = json!(s.user_data);
            }
            Ok((StatusCode::ACCEPTED, axum::Json(json!({"server": doc}))).into_response())
        }
        "resize" => {
            let a: ResizeArg = arg(&action, value)?;
            crate::compute::servers::check_access(&a.disk_config, &None, &None)?;
            let flavor = compute.resize_flavor(&ctx, &a.flavor_ref).await?;
            let resizing = compute
                .server_action(&ctx, id, Work::Resize { flavor }, request_id)
                .await?;
            compute
                .server_set_access(&resizing.id, a.disk_config, None, None)
                .await?;
            Ok(accepted())
        }
        "createImage" => {
            let a: CreateImageArg = arg(&action, value)?;
            if a.name.trim().is_empty() || a.name.len() > 255 {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute name.",
                ));
            }
            let s = compute.server_get(&ctx, id.clone()).await?;
            if s.boot_volume().is_some() {
                let image_id = compute
                    .snapshot_volume_backed(&ctx, &s, a.name, a.metadata.unwrap_or_default())
                    .await?;
                return Ok(snapshot_accepted(&headers, mv, &image_id));
            }
            let image_id = compute
                .snapshot_image_create(&ctx, &s, a.name, a.metadata.unwrap_or_default())
                .await?;
            let accepted_action = compute
                .server_action(
                    &ctx,
                    id,
                    Work::Snapshot {
                        image_id: image_id.clone(),
                    },
                    request_id,
                )
                .await;
            if let Err(e) = accepted_action {
                cloud
                    .image
                    .image_delete(&ctx, image_id.clone())
                    .await
                    .or_log(&image_id, "deleting the snapshot image of a refused action");
                return Err(e);
            }
            Ok(snapshot_accepted(&headers, mv, &image_id))
        }
        "os-getConsoleOutput" => {
            let a: ConsoleArg = if value.is_null() {
                ConsoleArg::default()
            } else {
                arg(&action, value)?
            };
            let length = match a.length {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| {
                    ApiError::bad_request("Invalid input for field/attribute length.")
                })?),
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute length.",
                    ));
                }
            };
            if length.is_some_and(|l| l < -1) {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute length. Value must be >= -1.",
                ));
            }
            let output = compute.server_console_output(&ctx, id, length).await?;
            Ok(axum::Json(json!({"output": output})).into_response())
        }
        "os-getSerialConsole" => {
            let a: SerialConsoleArg = arg(&action, value)?;
            if a.kind != "serial" {
                return Err(ApiError::bad_request(format!(
                    "Unavailable console type {}.",
                    a.kind
                )));
            }
            let url =
                super::remote_consoles::serial_console_url(&cloud, &ctx, &headers, id).await?;
            Ok(axum::Json(json!({"console": {"type": "serial", "url": url}})).into_response())
        }
        "lock" => {
            let a: LockArg = if value.is_null() {
                LockArg::default()
            } else {
                arg(&action, value)?
            };
            if a.locked_reason.is_some() && !mv.at_least(73) {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute lock.",
                ));
            }
            compute
                .server_lock_set(&ctx, id, true, a.locked_reason, request_id)
                .await?;
            Ok(accepted())
        }
        "unlock" => {
            compute
                .server_lock_set(&ctx, id, false, None, request_id)
                .await?;
            Ok(accepted())
        }
        "rescue" => {
            let a: RescueArg = if value.is_null() {
                RescueArg::default()
            } else {
                arg(&action, value)?
            };
            let s = compute.server_get(&ctx, id.clone()).await?;
            let not_rescuable = || {
                ApiError::bad_request(format!(
                    "Instance {} cannot be rescued: Cannot rescue a volume-backed instance",
                    s.id
                ))
            };
            let image_id = match a.rescue_image_ref.as_deref() {
                Some(r) => r.rsplit('/').next().unwrap_or(r).to_owned(),
                None if s.image_id.is_empty() => return Err(not_rescuable()),
                None => s.image_id.clone(),
            };
            let Ok(image) = cloud.image.image_get(&ctx, image_id.clone()).await else {
                return Err(ApiError::bad_request(format!(
                    "Image {image_id} could not be found."
                )));
            };
            // A volume-backed server is rescued from 2.87 only, and only with a
            // "stable rescue" image (one saying how the rescue disk is attached),
            // which keeps the root volume at its place, as in Nova.
            let stable = ["hw_rescue_device", "hw_rescue_bus"]
                .iter()
                .any(|p| image.properties.contains_key(*p));
            if s.image_id.is_empty() && !(mv.at_least(87) && stable) {
                return Err(not_rescuable());
            }
            let pass = a.admin_pass.unwrap_or_else(super::servers::admin_pass);
            compute
                .server_action(&ctx, id, Work::Rescue { image_id }, request_id)
                .await?;
            Ok(axum::Json(json!({"adminPass": pass})).into_response())
        }
        "unrescue" => {
            compute
                .server_action(&ctx, id, Work::Unrescue, request_id)
                .await?;
            Ok(accepted())
        }
        "shelve" => {
            // Nova validates no body for shelve: `null` and `{}` are both sent.
            let _ = value;
            let s = compute.server_get(&ctx, id.clone()).await?;
            let name = format!("{}-shelved", s.name);
            let image_id = compute
                .snapshot_image_create(&ctx, &s, name, BTreeMap::new())
                .await?;
            let work = Work::Shelve {
                image_id: image_id.clone(),
                offload: true,
            };
            if let Err(e) = compute.server_action(&ctx, id, work, request_id).await {
                cloud
                    .image
                    .image_delete(&ctx, image_id.clone())
                    .await
                    .or_log(&image_id, "deleting the snapshot image of a refused action");
                return Err(e);
            }
            Ok(accepted())
        }
        "shelveOffload" => {
            if !ctx.allowed(crate::http::policy::COMPUTE_SHELVE_OFFLOAD) {
                return Err(ApiError::forbidden());
            }
            compute
                .server_action(&ctx, id, Work::ShelveOffload, request_id)
                .await?;
            Ok(accepted())
        }
        "unshelve" => {
            if !value.is_null() {
                if !mv.at_least(77) {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute unshelve. Value: it must be null.",
                    ));
                }
                let a: UnshelveArg = arg(&action, value)?;
                if a.host.is_some() && !mv.at_least(91) {
                    return Err(ApiError::bad_request(
                        "Additional properties are not allowed ('host' was unexpected)",
                    ));
                }
                if matches!(a.availability_zone, Some(None)) && !mv.at_least(91) {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute availability_zone. Value: None. None is not of type 'string'",
                    ));
                }
                compute
                    .unshelve_target(&ctx, id.clone(), a.availability_zone, a.host)
                    .await?;
            }
            compute
                .server_action(&ctx, id, Work::Unshelve, request_id)
                .await?;
            Ok(accepted())
        }
        "createBackup" => {
            let a: BackupArg = arg(&action, value)?;
            let rotation = match &a.rotation {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .filter(|r| *r >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for field/attribute rotation. Value: {}. It must be an integer >= 0.",
                    a.rotation
                ))
            })?;
            if a.name.trim().is_empty() || a.name.len() > 255 {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute name.",
                ));
            }
            let s = compute.server_get(&ctx, id.clone()).await?;
            if s.image_id.is_empty() {
                return Err(ApiError::bad_request(
                    "Backup is not supported for volume-backed instances.",
                ));
            }
            let mut meta = a.metadata.unwrap_or_default();
            meta.insert("image_type".into(), "backup".into());
            meta.insert("backup_type".into(), a.backup_type.clone());
            let image_id = compute
                .snapshot_image_create(&ctx, &s, a.name, meta)
                .await?;
            let work = Work::Backup {
                image_id: image_id.clone(),
                backup_type: a.backup_type,
                rotation: rotation as u64,
            };
            if let Err(e) = compute.server_action(&ctx, id, work, request_id).await {
                cloud
                    .image
                    .image_delete(&ctx, image_id.clone())
                    .await
                    .or_log(&image_id, "deleting the snapshot image of a refused action");
                return Err(e);
            }
            if mv.at_least(45) {
                return Ok((
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"image_id": image_id})),
                )
                    .into_response());
            }
            if rotation > 0 {
                let location = format!(
                    "{}/image/v2/images/{image_id}",
                    crate::http::base_url(&headers)
                );
                return Ok((
                    StatusCode::ACCEPTED,
                    [(axum::http::header::LOCATION, location)],
                )
                    .into_response());
            }
            Ok(accepted())
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            let a: GroupArg = arg(&action, value)?;
            compute
                .server_security_group(&ctx, id, a.name, action == "addSecurityGroup")
                .await?;
            Ok(accepted())
        }
        other => {
            if let Some(r) =
                super::network_proxy::dispatch(&cloud, &ctx, mv, id.clone(), other, value.clone())
                    .await
            {
                return r;
            }
            let handled =
                super::admin_actions::dispatch(&cloud, &ctx, mv, id, other, value, request_id)
                    .await;
            handled.unwrap_or_else(|| {
                Err(ApiError::bad_request(format!(
                    "There is no such action: {other}"
                )))
            })
        }
    }
}

/// createImage's 202: the image id in the body from 2.45, a Location before.
fn snapshot_accepted(headers: &HeaderMap, mv: Microversion, image_id: &str) -> Response {
    if mv.at_least(45) {
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({"image_id": image_id})),
        )
            .into_response()
    } else {
        let location = format!(
            "{}/image/v2/images/{image_id}",
            crate::http::base_url(headers)
        );
        (
            StatusCode::ACCEPTED,
            [(axum::http::header::LOCATION, location)],
        )
            .into_response()
    }
}
