//! Hosts (api-ref: compute "Hosts (os-hosts) (DEPRECATED)"), up to microversion
//! 2.42: the services of this one host, its resources, its enabled status. Power
//! actions and maintenance mode are not implemented by the libvirt driver, so Nova
//! answers 501 to them; so does onestack.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::params::query;
use super::schema;
use crate::cloud::Cloud;
use crate::compute::hosts::HostUse;
use crate::compute::services::{COMPUTE_BINARY, SERVICES, ServiceChange};
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-hosts", get(list))
        .route("/os-hosts/{host}", get(show).put(update))
        .route("/os-hosts/{host}/{action}", get(power_action))
}

/// The API is gone from 2.43 on: Nova answers 404 there.
pub(super) fn until(mv: Microversion, last: u32) -> ApiResult<()> {
    if mv.at_least(last + 1) {
        Err(ApiError::Missing("The resource could not be found.".into()))
    } else {
        Ok(())
    }
}

fn gate(ctx: &RequestContext, mv: Microversion) -> ApiResult<()> {
    until(mv, 42)?;
    ctx.require_admin()
}

/// The compute host named `host`, or Nova's 404.
fn compute_host(cloud: &Cloud, host: &str) -> ApiResult<String> {
    let ours = &cloud.compute.config().host;
    if host == ours {
        Ok(ours.clone())
    } else {
        Err(ApiError::Missing(format!(
            "Compute host {host} could not be found."
        )))
    }
}

/// List Hosts: `GET /os-hosts?zone=`: one row per service of the host.
async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    gate(&ctx, mv)?;
    let q: HashMap<String, String> = query(raw)?;
    let host = cloud.compute.config().host.clone();
    let compute_zone = cloud.compute.host_zone().await?;
    let hosts: Vec<Value> = SERVICES
        .iter()
        .map(|k| {
            let zone = if k.binary == COMPUTE_BINARY {
                compute_zone.as_str()
            } else {
                k.zone
            };
            (k.binary.trim_start_matches("nova-"), zone)
        })
        .filter(|(_, zone)| q.get("zone").is_none_or(|z| z.is_empty() || z == zone))
        .map(|(service, zone)| json!({"host_name": host, "service": service, "zone": zone}))
        .collect();
    Ok(axum::Json(json!({"hosts": hosts})))
}

fn resource(host: &str, project: &str, u: HostUse) -> Value {
    json!({"resource": {
        "host": host, "project": project,
        "cpu": u.cpu, "memory_mb": u.memory_mb, "disk_gb": u.disk_gb,
    }})
}

/// Show Host Details: `GET /os-hosts/{host_name}`.
async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(host): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    gate(&ctx, mv)?;
    let host = compute_host(&cloud, &host)?;
    let r = cloud.compute.host_resources().await?;
    let mut rows = vec![
        resource(&host, "(total)", r.total),
        resource(&host, "(used_now)", r.used_now),
        resource(&host, "(used_max)", r.used_now),
    ];
    rows.extend(r.projects.iter().map(|(p, u)| resource(&host, p, *u)));
    Ok(axum::Json(json!({"host": rows})))
}

fn enable_flag(o: &serde_json::Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s == "enable" => Ok(Some(true)),
        Some(Value::String(s)) if s == "disable" => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. {v} is not one of ['enable', 'disable']"
        ))),
    }
}

/// Update Host Status: `PUT /os-hosts/{host_name}` with `status` and/or
/// `maintenance_mode` ("enable"/"disable").
async fn update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(host): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    gate(&ctx, mv)?;
    let wrapped = json!({"host": body});
    let o = schema::object(&wrapped, "host", &["status", "maintenance_mode"])?;
    let status = enable_flag(o, "status")?;
    let maintenance = enable_flag(o, "maintenance_mode")?;
    if status.is_none() && maintenance.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute host. {} should be non-empty",
        ));
    }
    let host = compute_host(&cloud, &host)?;
    if maintenance.is_some() {
        return Err(not_implemented("host maintenance mode"));
    }
    let enabled = status.unwrap_or(true);
    let change = ServiceChange {
        disabled: Some(!enabled),
        ..ServiceChange::default()
    };
    cloud.compute.service_update(COMPUTE_BINARY, change).await?;
    let status = if enabled { "enabled" } else { "disabled" };
    Ok(axum::Json(json!({"host": host, "status": status})))
}

fn not_implemented(what: &str) -> ApiError {
    ApiError::NotImplemented(format!("Virt driver does not implement {what}."))
}

/// Start/Shut down/Reboot Host: `GET /os-hosts/{host_name}/{startup|shutdown|reboot}`.
async fn power_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((host, action)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    gate(&ctx, mv)?;
    if !["startup", "shutdown", "reboot"].contains(&action.as_str()) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    compute_host(&cloud, &host)?;
    Err(not_implemented("host power actions"))
}
