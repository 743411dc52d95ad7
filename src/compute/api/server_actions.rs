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
use crate::compute::model::Server;
use crate::http::RequestId;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::logged::OrLog;

pub(super) fn routes() -> Router<Cloud> {
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
    /// Accepted and ignored: this host has no ephemeral disks.
    #[allow(dead_code)]
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
    /// Accepted and ignored: images are not signed here.
    #[allow(dead_code)]
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

/// What every action's handler works with: the caller, the version asked, the
/// request and the server named in the path.
struct ActionReq<'a> {
    cloud: &'a Cloud,
    ctx: &'a RequestContext,
    mv: Microversion,
    request_id: String,
    headers: &'a HeaderMap,
    id: String,
}

impl ActionReq<'_> {
    /// Accepts `work` on the server (the service runs it in the background).
    async fn accept(&self, work: Work) -> ApiResult<Server> {
        self.cloud
            .compute
            .server_action(self.ctx, self.id.clone(), work, self.request_id.clone())
            .await
    }

    /// Accepts `work` and answers Nova's bodiless 202.
    async fn accepted(&self, work: Work) -> ApiResult<Response> {
        self.accept(work).await?;
        Ok(StatusCode::ACCEPTED.into_response())
    }

    /// Accepts `work` that fills the snapshot image `image_id` made for it; a
    /// refused action deletes the image again, so no empty image is left behind.
    async fn accept_into_image(&self, work: Work, image_id: &str) -> ApiResult<()> {
        if let Err(e) = self.accept(work).await {
            self.cloud
                .image
                .image_delete(self.ctx, image_id.to_owned())
                .await
                .or_log(image_id, "deleting the snapshot image of a refused action");
            return Err(e);
        }
        Ok(())
    }
}

/// `POST /servers/{id}/action`: exactly one action key, dispatched to its handler.
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
    let r = ActionReq {
        cloud: &cloud,
        ctx: &ctx,
        mv,
        request_id,
        headers: &headers,
        id,
    };
    match action.as_str() {
        "os-start" => r.accepted(Work::Start).await,
        "os-stop" => r.accepted(Work::Stop).await,
        "pause" => r.accepted(Work::Pause).await,
        "unpause" => r.accepted(Work::Unpause).await,
        "suspend" => r.accepted(Work::Suspend).await,
        "resume" => r.accepted(Work::Resume).await,
        "revertResize" => r.accepted(Work::RevertResize).await,
        "unrescue" => r.accepted(Work::Unrescue).await,
        "confirmResize" => {
            r.accept(Work::ConfirmResize).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "reboot" => server_action_reboot(&r, value).await,
        "rebuild" => server_action_rebuild(&r, value).await,
        "resize" => server_action_resize(&r, value).await,
        "createImage" => server_action_create_image(&r, value).await,
        "os-getConsoleOutput" => server_action_console_output(&r, value).await,
        "os-getSerialConsole" => server_action_serial_console(&r, value).await,
        "lock" => server_action_lock(&r, value).await,
        "unlock" => server_action_unlock(&r).await,
        "rescue" => server_action_rescue(&r, value).await,
        // Nova validates no body for shelve: `null` and `{}` are both sent.
        "shelve" => server_action_shelve(&r).await,
        "shelveOffload" => server_action_shelve_offload(&r).await,
        "unshelve" => server_action_unshelve(&r, value).await,
        "createBackup" => server_action_create_backup(&r, value).await,
        "addSecurityGroup" => server_action_security_group(&r, value, true).await,
        "removeSecurityGroup" => server_action_security_group(&r, value, false).await,
        other => server_action_other(r, other, value).await,
    }
}

/// `reboot` (api-ref: Reboot Server).
async fn server_action_reboot(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: RebootArg = arg("reboot", value)?;
    let hard = match a.kind.to_ascii_uppercase().as_str() {
        "HARD" => true,
        "SOFT" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute type. Value: {other}. It must be SOFT or HARD."
            )));
        }
    };
    r.accepted(Work::Reboot { hard }).await
}

/// The rebuild fields a microversion does not know yet (or no longer knows), refused
/// as Nova's schema refuses additional properties.
fn rebuild_fields_check(a: &RebuildArg, mv: Microversion) -> ApiResult<()> {
    let refused = [
        ("personality", a.personality.is_some() && mv.at_least(57)),
        ("key_name", a.key_name.is_some() && !mv.at_least(54)),
        ("user_data", a.user_data.is_some() && !mv.at_least(57)),
        ("description", a.description.is_some() && !mv.at_least(19)),
    ];
    if let Some((field, _)) = refused.iter().find(|(_, refused)| *refused) {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{field}' was unexpected)."
        )));
    }
    crate::compute::servers::check_hostname(&a.hostname, mv)
}

/// `rebuild` (api-ref: Rebuild Server).
async fn server_action_rebuild(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: RebuildArg = arg("rebuild", value)?;
    let compute = &r.cloud.compute;
    let pass = a
        .admin_pass
        .clone()
        .unwrap_or_else(super::servers::admin_pass);
    crate::compute::servers::check_access(&a.disk_config, &a.access_ipv4, &a.access_ipv6)?;
    rebuild_fields_check(&a, r.mv)?;
    let mut plan = compute
        .rebuild_plan(
            r.ctx,
            &a.image_ref,
            a.name,
            a.metadata,
            a.key_name,
            a.user_data,
            a.description,
        )
        .await?;
    plan.hostname = a.hostname;
    compute
        .rebuild_volume_plan(r.ctx, &r.id, &mut plan, r.mv.at_least(93))
        .await?;
    let accepted = r.accept(Work::Rebuild(plan)).await?;
    compute
        .server_set_access(&accepted.id, a.disk_config, a.access_ipv4, a.access_ipv6)
        .await?;
    let s = compute.server_get(r.ctx, accepted.id).await?;
    let mut doc = super::servers::render_one(r.cloud, r.headers, r.mv, r.ctx, &s).await?;
    super::servers::basic_view(&mut doc, r.mv, true);
    // From 2.75 the rebuild answer is the full server view, except that user data
    // is only the top-level `user_data` (2.57), never `OS-EXT-SRV-ATTR:user_data`
    // (Nova's view is built without it).
    if let Some(o) = doc.as_object_mut() {
        o.remove("OS-EXT-SRV-ATTR:user_data");
    }
    doc["adminPass"] = json!(pass);
    if r.mv.at_least(57) {
        doc["user_data"] = json!(s.user_data);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"server": doc}))).into_response())
}

/// `resize` (api-ref: Resize Server).
async fn server_action_resize(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: ResizeArg = arg("resize", value)?;
    crate::compute::servers::check_access(&a.disk_config, &None, &None)?;
    let compute = &r.cloud.compute;
    let flavor = compute.resize_flavor(r.ctx, &a.flavor_ref).await?;
    let resizing = r.accept(Work::Resize { flavor }).await?;
    compute
        .server_set_access(&resizing.id, a.disk_config, None, None)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The `name` of a snapshot or backup image: 1 to 255 characters, not all blank.
fn image_name_check(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute name.",
        ));
    }
    Ok(())
}

/// `createImage` (api-ref: Create Image): a snapshot of the root disk, or of the
/// root volume for a volume-backed server.
async fn server_action_create_image(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: CreateImageArg = arg("createImage", value)?;
    image_name_check(&a.name)?;
    let compute = &r.cloud.compute;
    let s = compute.server_get(r.ctx, r.id.clone()).await?;
    let meta = a.metadata.unwrap_or_default();
    if s.boot_volume().is_some() {
        let image_id = compute
            .snapshot_volume_backed(r.ctx, &s, a.name, meta)
            .await?;
        return Ok(snapshot_accepted(r.headers, r.mv, &image_id));
    }
    let image_id = compute
        .snapshot_image_create(r.ctx, &s, a.name, meta)
        .await?;
    let work = Work::Snapshot {
        image_id: image_id.clone(),
    };
    r.accept_into_image(work, &image_id).await?;
    Ok(snapshot_accepted(r.headers, r.mv, &image_id))
}

/// `os-getConsoleOutput` (api-ref: Show Console Output); `length` -1 or absent is
/// the whole log.
async fn server_action_console_output(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: ConsoleArg = if value.is_null() {
        ConsoleArg::default()
    } else {
        arg("os-getConsoleOutput", value)?
    };
    let bad = || ApiError::bad_request("Invalid input for field/attribute length.");
    let length = match a.length {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| bad())?),
        Some(_) => return Err(bad()),
    };
    if length.is_some_and(|l| l < -1) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute length. Value must be >= -1.",
        ));
    }
    let output = r
        .cloud
        .compute
        .server_console_output(r.ctx, r.id.clone(), length)
        .await?;
    Ok(axum::Json(json!({"output": output})).into_response())
}

/// `os-getSerialConsole` (api-ref: Get Serial Console, deprecated).
async fn server_action_serial_console(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: SerialConsoleArg = arg("os-getSerialConsole", value)?;
    if a.kind != "serial" {
        return Err(ApiError::bad_request(format!(
            "Unavailable console type {}.",
            a.kind
        )));
    }
    let url =
        super::remote_consoles::serial_console_url(r.cloud, r.ctx, r.headers, r.id.clone()).await?;
    Ok(axum::Json(json!({"console": {"type": "serial", "url": url}})).into_response())
}

/// `lock` (api-ref: Lock Server); `locked_reason` from 2.73.
async fn server_action_lock(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: LockArg = if value.is_null() {
        LockArg::default()
    } else {
        arg("lock", value)?
    };
    if a.locked_reason.is_some() && !r.mv.at_least(73) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute lock.",
        ));
    }
    r.cloud
        .compute
        .server_lock_set(
            r.ctx,
            r.id.clone(),
            true,
            a.locked_reason,
            r.request_id.clone(),
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `unlock` (api-ref: Unlock Server).
async fn server_action_unlock(r: &ActionReq<'_>) -> ApiResult<Response> {
    r.cloud
        .compute
        .server_lock_set(r.ctx, r.id.clone(), false, None, r.request_id.clone())
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `rescue` (api-ref: Rescue Server): from the server's own image or
/// `rescue_image_ref`; a volume-backed server only from 2.87 with a stable-rescue
/// image.
async fn server_action_rescue(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: RescueArg = if value.is_null() {
        RescueArg::default()
    } else {
        arg("rescue", value)?
    };
    let s = r.cloud.compute.server_get(r.ctx, r.id.clone()).await?;
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
    let Ok(image) = r.cloud.image.image_get(r.ctx, image_id.clone()).await else {
        return Err(ApiError::bad_request(format!(
            "Image {image_id} could not be found."
        )));
    };
    // A "stable rescue" image says how the rescue disk is attached, which keeps
    // the root volume at its place, as in Nova.
    let stable = ["hw_rescue_device", "hw_rescue_bus"]
        .iter()
        .any(|p| image.properties.contains_key(*p));
    if s.image_id.is_empty() && !(r.mv.at_least(87) && stable) {
        return Err(not_rescuable());
    }
    let pass = a.admin_pass.unwrap_or_else(super::servers::admin_pass);
    r.accept(Work::Rescue { image_id }).await?;
    Ok(axum::Json(json!({"adminPass": pass})).into_response())
}

/// `shelve` (api-ref: Shelve Server): a `<name>-shelved` snapshot, then offload.
async fn server_action_shelve(r: &ActionReq<'_>) -> ApiResult<Response> {
    let compute = &r.cloud.compute;
    let s = compute.server_get(r.ctx, r.id.clone()).await?;
    let name = format!("{}-shelved", s.name);
    let image_id = compute
        .snapshot_image_create(r.ctx, &s, name, BTreeMap::new())
        .await?;
    let work = Work::Shelve {
        image_id: image_id.clone(),
        offload: true,
    };
    r.accept_into_image(work, &image_id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `shelveOffload` (api-ref: Shelf-Offload Server), admin-only by Nova's policy.
async fn server_action_shelve_offload(r: &ActionReq<'_>) -> ApiResult<Response> {
    if !r.ctx.allowed(crate::http::policy::COMPUTE_SHELVE_OFFLOAD) {
        return Err(ApiError::forbidden());
    }
    r.accepted(Work::ShelveOffload).await
}

/// `unshelve` (api-ref: Unshelve Server): a body from 2.77 (`availability_zone`),
/// `host` and a null zone from 2.91.
async fn server_action_unshelve(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    if !value.is_null() {
        if !r.mv.at_least(77) {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute unshelve. Value: it must be null.",
            ));
        }
        let a: UnshelveArg = arg("unshelve", value)?;
        if a.host.is_some() && !r.mv.at_least(91) {
            return Err(ApiError::bad_request(
                "Additional properties are not allowed ('host' was unexpected)",
            ));
        }
        if matches!(a.availability_zone, Some(None)) && !r.mv.at_least(91) {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute availability_zone. Value: None. None is not of type 'string'",
            ));
        }
        r.cloud
            .compute
            .unshelve_target(r.ctx, r.id.clone(), a.availability_zone, a.host)
            .await?;
    }
    r.accepted(Work::Unshelve).await
}

/// A backup's `rotation`: an integer (or its string) >= 0.
fn backup_rotation(a: &BackupArg) -> ApiResult<u64> {
    let rotation = match &a.rotation {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    rotation.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute rotation. Value: {}. It must be an integer >= 0.",
            a.rotation
        ))
    })
}

/// `createBackup` (api-ref: Create Server Back Up): a snapshot marked as a backup,
/// then the oldest backups beyond `rotation` deleted.
async fn server_action_create_backup(r: &ActionReq<'_>, value: Value) -> ApiResult<Response> {
    let a: BackupArg = arg("createBackup", value)?;
    let rotation = backup_rotation(&a)?;
    image_name_check(&a.name)?;
    let compute = &r.cloud.compute;
    let s = compute.server_get(r.ctx, r.id.clone()).await?;
    if s.image_id.is_empty() {
        return Err(ApiError::bad_request(
            "Backup is not supported for volume-backed instances.",
        ));
    }
    let mut meta = a.metadata.unwrap_or_default();
    meta.insert("image_type".into(), "backup".into());
    meta.insert("backup_type".into(), a.backup_type.clone());
    let image_id = compute
        .snapshot_image_create(r.ctx, &s, a.name, meta)
        .await?;
    let work = Work::Backup {
        image_id: image_id.clone(),
        backup_type: a.backup_type,
        rotation,
    };
    r.accept_into_image(work, &image_id).await?;
    // Before 2.45 a rotation of 0 keeps no image, so there is nothing to locate.
    if r.mv.at_least(45) || rotation > 0 {
        return Ok(snapshot_accepted(r.headers, r.mv, &image_id));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `addSecurityGroup` / `removeSecurityGroup` (api-ref: Add/Remove Security Group).
async fn server_action_security_group(
    r: &ActionReq<'_>,
    value: Value,
    add: bool,
) -> ApiResult<Response> {
    let action = if add {
        "addSecurityGroup"
    } else {
        "removeSecurityGroup"
    };
    let a: GroupArg = arg(action, value)?;
    r.cloud
        .compute
        .server_security_group(r.ctx, r.id.clone(), a.name, add)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The nova-network proxy's actions and the admin actions, else Nova's 400.
async fn server_action_other(r: ActionReq<'_>, action: &str, value: Value) -> ApiResult<Response> {
    if let Some(res) =
        super::network_proxy::dispatch(r.cloud, r.ctx, r.mv, r.id.clone(), action, value.clone())
            .await
    {
        return res;
    }
    let handled =
        super::admin_actions::dispatch(r.cloud, r.ctx, r.mv, r.id, action, value, r.request_id)
            .await;
    handled.unwrap_or_else(|| {
        Err(ApiError::bad_request(format!(
            "There is no such action: {action}"
        )))
    })
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
