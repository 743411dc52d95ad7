//! Hosts, pools and capabilities (api-ref: block storage v3 "Hosts extension
//! (os-hosts)", "Back-end storage pools", "Capabilities for storage back ends
//! (capabilities)"): the admin's view of the one backend this process serves.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::{parse_bool, query};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::volume::hosts::{DRIVER_VERSION, PROTOCOL, VENDOR, host_not_found};
use crate::volume::model::{BACKEND_NAME, ZONE};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-hosts", get(host_list))
        .route("/os-hosts/{host}", get(host_show))
        .route("/scheduler-stats/get_pools", get(pools))
        .route("/capabilities/{host}", get(capabilities))
}

/// `GET /os-hosts`: the scheduler's host and the volume service's `host@backend`.
async fn host_list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let now = crate::volume::store::now();
    let hosts: Vec<Value> = [
        ("cinder-scheduler", cloud.volume.host().to_owned()),
        ("cinder-volume", cloud.volume.backend_host()),
    ]
    .into_iter()
    .map(|(service, host)| {
        json!({
            "host_name": host, "service": service, "zone": ZONE,
            "service-status": "available", "service-state": "enabled", "last-update": now,
        })
    })
    .collect();
    Ok(axum::Json(json!({"hosts": hosts})))
}

/// `GET /os-hosts/{host}`: the volume host's usage, in total and per project
/// (Cinder's counts are strings).
async fn host_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(host): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    if host != cloud.volume.backend_host() {
        return Err(host_not_found(&host));
    }
    let usage = cloud.volume.host_usage(&ctx).await?;
    let line = |project: &str, u: &[i64; 4]| {
        json!({"resource": {
            "host": host, "project": project,
            "volume_count": u[0].to_string(), "total_volume_gb": u[1].to_string(),
            "snapshot_count": u[2].to_string(), "total_snapshot_gb": u[3].to_string(),
        }})
    };
    let mut total = [0i64; 4];
    for u in usage.values() {
        for (t, x) in total.iter_mut().zip(u) {
            *t += x;
        }
    }
    let mut out = vec![line("(total)", &total)];
    out.extend(usage.iter().map(|(p, u)| line(p, u)));
    Ok(axum::Json(json!({"host": out})))
}

/// `GET /scheduler-stats/get_pools[?detail=true]`: the one pool, `host@backend#pool`.
async fn pools(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let detail = q
        .get("detail")
        .map(|d| parse_bool("detail", d))
        .transpose()?
        .unwrap_or(false);
    let name = cloud.volume.volume_host();
    if !detail {
        return Ok(axum::Json(json!({"pools": [{"name": name}]})));
    }
    let (total, free) = cloud.volume.pool_capacity().await;
    let now = crate::volume::store::now();
    Ok(axum::Json(
        json!({"pools": [{"name": name, "capabilities": {
            "pool_name": BACKEND_NAME,
            "volume_backend_name": BACKEND_NAME,
            "vendor_name": VENDOR,
            "driver_version": DRIVER_VERSION,
            "storage_protocol": PROTOCOL,
            "total_capacity_gb": total,
            "free_capacity_gb": free,
            "reserved_percentage": 0,
            "QoS_support": false,
            "thin_provisioning_support": true,
            "thick_provisioning_support": false,
            "multiattach": false,
            "backend_state": "up",
            "timestamp": now,
            "updated": now,
        }}]}),
    ))
}

/// `GET /capabilities/{host}`: what the backend offers for volume types' extra specs.
async fn capabilities(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(host): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    if !cloud.volume.is_backend(&host) {
        return Err(host_not_found(&host));
    }
    Ok(axum::Json(json!({
        "namespace": format!("OS::Storage::Capabilities::{BACKEND_NAME}"),
        "volume_backend_name": BACKEND_NAME,
        "pool_name": null,
        "vendor_name": VENDOR,
        "driver_version": DRIVER_VERSION,
        "storage_protocol": PROTOCOL,
        "display_name": "Capabilities of the onestack file volume driver",
        "description": "Volumes are sparse raw files in the state directory.",
        "visibility": null,
        "replication_targets": [],
        "properties": {
            "thin_provisioning": {
                "title": "Thin Provisioning",
                "description": "Sets thin provisioning.",
                "type": "boolean",
            },
        },
    })))
}
