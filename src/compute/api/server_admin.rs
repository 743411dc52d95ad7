//! Per-server extras of the compute API: diagnostics ("Servers diagnostics"),
//! the guest's encrypted password ("Servers Password"), and the external events
//! Neutron and Cinder send ("Create External Events (os-server-external-events)").

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Microversion;
use super::schema;
use crate::cloud::Cloud;
use crate::compute::diagnostics::Diagnostics;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/servers/{id}/diagnostics", get(diagnostics))
        .route(
            "/servers/{id}/os-server-password",
            get(password_show).delete(password_clear),
        )
        .route("/os-server-external-events", post(external_events))
}

fn diagnostics_view(d: &Diagnostics, mv: Microversion) -> Value {
    if !mv.at_least(48) {
        // Before 2.48 each driver had its own keys; libvirt's carry the memory in KiB.
        return json!({"memory": d.memory_mb * 1024});
    }
    let counters = |mac: &String| {
        json!({
            "mac_address": mac, "rx_octets": null, "rx_errors": null, "rx_drop": null,
            "rx_packets": null, "rx_rate": null, "tx_octets": null, "tx_errors": null,
            "tx_drop": null, "tx_packets": null, "tx_rate": null,
        })
    };
    let disk = json!({"read_bytes": null, "read_requests": null, "write_bytes": null,
        "write_requests": null, "errors_count": null});
    json!({
        "state": d.state,
        "driver": "libvirt",
        "hypervisor": d.hypervisor,
        "hypervisor_os": "linux",
        "uptime": d.uptime,
        "config_drive": d.config_drive,
        "num_cpus": d.num_cpus,
        "num_nics": d.macs.len(),
        "num_disks": d.num_disks,
        "memory_details": {"maximum": d.memory_mb, "used": null},
        "cpu_details": (0..d.num_cpus).map(|i| json!({"id": i, "time": null, "utilisation": null})).collect::<Vec<_>>(),
        "nic_details": d.macs.iter().map(counters).collect::<Vec<_>>(),
        "disk_details": vec![disk; d.num_disks],
    })
}

/// Show Server Diagnostics: `GET /servers/{server_id}/diagnostics` (admin).
async fn diagnostics(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud.compute.server_diagnostics(&ctx, id).await?;
    Ok(axum::Json(diagnostics_view(&d, mv)))
}

/// Show Server Password: the guest never posted one (the metadata service
/// takes no password), so it is empty, as Nova answers then.
async fn password_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    cloud.compute.server_get(&ctx, id).await?;
    Ok(axum::Json(json!({"password": ""})))
}

/// Clear Admin Password -> 204 (owner or admin).
async fn password_clear(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    crate::compute::may_change(&ctx, &s.project_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The event names each microversion accepts.
fn event_names(mv: Microversion) -> Vec<&'static str> {
    let mut names = vec![
        "network-changed",
        "network-vif-plugged",
        "network-vif-unplugged",
        "network-vif-deleted",
    ];
    for (minor, name) in [
        (51, "volume-extended"),
        (76, "power-update"),
        (82, "accelerator-request-bound"),
        (93, "volume-reimaged"),
    ] {
        if mv.at_least(minor) {
            names.push(name);
        }
    }
    names
}

fn parse_event(v: &Value, mv: Microversion) -> ApiResult<serde_json::Map<String, Value>> {
    let wrapped = json!({"event": v});
    let o = schema::object(&wrapped, "event", &["name", "server_uuid", "status", "tag"])?;
    let name = schema::required(o, "name", 1, 255)?;
    if !event_names(mv).contains(&name.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute name. Value: {name}. '{name}' is not one of {:?}",
            event_names(mv)
        )));
    }
    schema::required(o, "server_uuid", 1, 255)?;
    let status = match o.get("status") {
        None => "completed".to_owned(),
        Some(v) => schema::string("status", v, 1, 255, true)?,
    };
    if !["failed", "completed", "in-progress"].contains(&status.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute status. Value: {status}. '{status}' is not one of ['failed', 'completed', 'in-progress']"
        )));
    }
    if let Some(t) = o.get("tag") {
        schema::string("tag", t, 0, 255, false)?;
    }
    let mut event = o.clone();
    event.insert("status".into(), json!(status));
    Ok(event)
}

/// Run Events: `POST /os-server-external-events` (admin or service). Each event
/// answers 200 when its server exists, 404 when not; 207 when some were not
/// found, 404 when none was.
async fn external_events(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    crate::http::policy::COMPUTE_EXTERNAL_EVENTS.enforce(&ctx, None)?;
    let list = body
        .get("events")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("'events' is a required property and must be a non-empty array")
        })?;
    let mut events = Vec::new();
    for v in list {
        events.push(parse_event(v, mv)?);
    }
    let mut found = 0;
    for e in &mut events {
        let id = e["server_uuid"].as_str().unwrap_or_default().to_owned();
        let known = cloud.compute.server_get(&ctx, id.clone()).await.is_ok();
        if known {
            found += 1;
            tracing::info!(server = %id, event = %e["name"], status = %e["status"], "external event");
            // Cinder's news that an attached volume grew (its id is the tag).
            if e["name"] == "volume-extended"
                && let Some(volume) = e.get("tag").and_then(Value::as_str)
                && let Err(err) = cloud
                    .compute
                    .server_volume_extended(id.clone(), volume.to_owned(), None)
                    .await
            {
                tracing::warn!(server = %id, volume, error = %err, "volume-extended event not applied");
            }
            // Cinder's news that a volume-backed rebuild's root volume holds
            // its new image (the volume's id is the tag).
            if e["name"] == "volume-reimaged"
                && let Some(volume) = e.get("tag").and_then(Value::as_str)
            {
                cloud
                    .compute
                    .server_volume_reimaged(&id, volume, e["status"] != "failed");
            }
        }
        e.insert("code".into(), json!(if known { 200 } else { 404 }));
    }
    let status = match found {
        0 => StatusCode::NOT_FOUND,
        n if n == events.len() => StatusCode::OK,
        _ => StatusCode::MULTI_STATUS,
    };
    Ok((status, axum::Json(json!({"events": events}))).into_response())
}
