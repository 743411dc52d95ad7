//! Informational compute APIs (api-ref: "Availability zones", "Compute services
//! (os-services)", "Hypervisors (os-hypervisors)", "Usage reports
//! (os-simple-tenant-usage)"): one host runs nova-compute, the scheduler and
//! conductor live in the `internal` zone.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Microversion;
use super::params::{flag, query};
use crate::cloud::Cloud;
use crate::compute::info::{TenantUsage, usage_state};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-availability-zone", get(availability_zone_list))
        .route(
            "/os-availability-zone/detail",
            get(availability_zone_list_detail),
        )
        .route("/os-services", get(service_list))
        .route(
            "/os-services/{id}",
            put(service_update).delete(service_delete),
        )
        .route("/os-services/disable", put(service_update_legacy))
        .route("/os-services/enable", put(service_update_legacy))
        .route("/os-hypervisors", get(hypervisor_list))
        .route("/os-hypervisors/detail", get(hypervisor_list_detail))
        .route("/os-hypervisors/statistics", get(hypervisor_statistics))
        .route("/os-hypervisors/{id}", get(hypervisor_show))
        .route("/os-hypervisors/{id}/uptime", get(hypervisor_uptime))
        .route("/os-simple-tenant-usage", get(usage_list))
        .route("/os-simple-tenant-usage/{tenant_id}", get(usage_show))
}

/// The three services this process stands in for: (binary, zone, legacy id).
const SERVICES: &[(&str, &str, i64)] = &[
    ("nova-conductor", "internal", 1),
    ("nova-scheduler", "internal", 2),
    ("nova-compute", "nova", 3),
];

fn service_uuid(host: &str, binary: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{host}/{binary}").as_bytes(),
    )
    .to_string()
}

fn service_id(host: &str, binary: &str, legacy: i64, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(service_uuid(host, binary))
    } else {
        json!(legacy)
    }
}

fn now_micros() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Get Availability Zone Information: `GET /os-availability-zone`.
async fn availability_zone_list(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}
    ]}))
}

/// Get Detailed Availability Zone Information (admin).
async fn availability_zone_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let host = &cloud.compute.config().host;
    let updated = now_micros();
    let svc = |binary: &str| {
        (
            binary.to_owned(),
            json!({"available": true, "active": true, "updated_at": updated}),
        )
    };
    let internal: serde_json::Map<String, Value> = [svc("nova-conductor"), svc("nova-scheduler")]
        .into_iter()
        .collect();
    let nova: serde_json::Map<String, Value> = [svc("nova-compute")].into_iter().collect();
    Ok(axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": "internal", "zoneState": {"available": true}, "hosts": {host: internal}},
        {"zoneName": "nova", "zoneState": {"available": true}, "hosts": {host: nova}},
    ]})))
}

/// List Compute Services: `GET /os-services` (admin), filters `host`, `binary`.
async fn service_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let host = &cloud.compute.config().host;
    let updated = now_micros();
    let list: Vec<Value> = SERVICES
        .iter()
        .filter(|(b, _, _)| q.get("binary").is_none_or(|x| x == b))
        .filter(|_| q.get("host").is_none_or(|x| x == host))
        .map(|(binary, zone, legacy)| {
            let mut v = json!({
                "id": service_id(host, binary, *legacy, mv),
                "binary": binary,
                "host": host,
                "zone": zone,
                "status": "enabled",
                "state": "up",
                "updated_at": updated,
                "disabled_reason": null,
            });
            if mv.at_least(11) {
                v["forced_down"] = json!(false);
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({"services": list})))
}

/// Onestack's services are this process; they cannot be disabled or deleted
/// separately, so such requests are refused rather than pretended.
fn services_fixed() -> ApiError {
    ApiError::bad_request(
        "onestack runs the compute services inside one process on one host; they cannot be disabled, forced down or deleted.",
    )
}

/// Update Compute Service: `PUT /os-services/{service_id}` (2.53, admin).
async fn service_update(ctx: Ctx, Path(_id): Path<String>) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    Err(services_fixed())
}

/// Disable/Enable Scheduling For A Compute Service (below 2.53, admin).
async fn service_update_legacy(ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    Err(services_fixed())
}

/// Delete Compute Service (admin).
async fn service_delete(ctx: Ctx, Path(_id): Path<String>) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    Err(services_fixed())
}

fn hypervisor_id(cloud: &Cloud, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(cloud.compute.config().provider_uuid)
    } else {
        json!(1)
    }
}

fn brief(cloud: &Cloud, mv: Microversion) -> Value {
    json!({
        "id": hypervisor_id(cloud, mv),
        "hypervisor_hostname": cloud.compute.config().host,
        "state": "up",
        "status": "enabled",
    })
}

async fn detail(cloud: &Cloud, mv: Microversion) -> ApiResult<Value> {
    let st = cloud.compute.hypervisor_stats().await?;
    let host = &cloud.compute.config().host;
    let mut v = brief(cloud, mv);
    let fields = json!({
        "hypervisor_type": cloud.compute.hypervisor().kind().hypervisor_type(),
        "hypervisor_version": 0,
        "host_ip": cloud.profile.public_host(),
        "service": {
            "id": service_id(host, "nova-compute", 3, mv),
            "host": host,
            "disabled_reason": null,
        },
        "vcpus": st.vcpus,
        "memory_mb": st.memory_mb,
        "local_gb": st.local_gb,
        "vcpus_used": st.vcpus_used,
        "memory_mb_used": st.memory_mb_used,
        "local_gb_used": st.local_gb_used,
        "free_ram_mb": st.memory_mb - st.memory_mb_used,
        "free_disk_gb": st.local_gb - st.local_gb_used,
        "disk_available_least": st.free_disk_gb,
        "current_workload": 0,
        "running_vms": st.running_vms,
        "cpu_info": if mv.at_least(28) { json!({}) } else { json!("{}") },
    });
    if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    Ok(v)
}

/// `servers` of a hypervisor (2.53 `with_servers`).
async fn with_servers(cloud: &Cloud, v: &mut Value) -> ApiResult<()> {
    let servers = cloud.compute.hypervisor_servers().await?;
    let list: Vec<Value> = servers
        .into_iter()
        .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
        .collect();
    v["servers"] = json!(list);
    Ok(())
}

/// Whether the one hypervisor passes `hostname_pattern` (2.53, a substring match).
fn matches_pattern(cloud: &Cloud, q: &HashMap<String, String>) -> bool {
    q.get("hostname_pattern")
        .is_none_or(|p| cloud.compute.config().host.contains(p.as_str()))
}

async fn hypervisors(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Microversion,
    raw: Option<String>,
    full: bool,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let mut list = Vec::new();
    if matches_pattern(cloud, &q) {
        let mut v = if full {
            detail(cloud, mv).await?
        } else {
            brief(cloud, mv)
        };
        if mv.at_least(53) && flag(&q, "with_servers") {
            with_servers(cloud, &mut v).await?;
        }
        list.push(v);
    } else if mv.at_least(53) {
        return Err(ApiError::Missing(format!(
            "Hypervisor with hostname pattern {} could not be found.",
            q.get("hostname_pattern").map_or("", String::as_str)
        )));
    }
    Ok(axum::Json(json!({"hypervisors": list})))
}

/// List Hypervisors: `GET /os-hypervisors` (admin).
async fn hypervisor_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    hypervisors(&cloud, &ctx, mv, raw, false).await
}

/// List Hypervisors Details: `GET /os-hypervisors/detail` (admin).
async fn hypervisor_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    hypervisors(&cloud, &ctx, mv, raw, true).await
}

/// The hypervisor named by `id`, or Nova's 404 (400 for a non-UUID from 2.53).
fn check_hypervisor_id(cloud: &Cloud, mv: Microversion, id: &str) -> ApiResult<()> {
    if mv.at_least(53) {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::bad_request(format!("Invalid uuid {id}")));
        }
        if id == cloud.compute.config().provider_uuid {
            return Ok(());
        }
    } else if id == "1" {
        return Ok(());
    }
    Err(ApiError::Missing(format!(
        "Hypervisor with ID {id} could not be found."
    )))
}

/// Show Hypervisor Details: `GET /os-hypervisors/{hypervisor_id}` (admin).
async fn hypervisor_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    check_hypervisor_id(&cloud, mv, &id)?;
    let q = query(raw)?;
    let mut v = detail(&cloud, mv).await?;
    if mv.at_least(53) && flag(&q, "with_servers") {
        with_servers(&cloud, &mut v).await?;
    }
    Ok(axum::Json(json!({"hypervisor": v})))
}

/// Show Hypervisor Uptime (admin).
async fn hypervisor_uptime(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    check_hypervisor_id(&cloud, mv, &id)?;
    let secs = tokio::fs::read_to_string("/proc/uptime")
        .await
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|s| s.parse::<f64>().ok())
        })
        .unwrap_or(0.0) as i64;
    let mut v = brief(&cloud, mv);
    v["uptime"] = json!(format!(
        " {} up {} days, {:02}:{:02}",
        Utc::now().format("%H:%M:%S"),
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60
    ));
    Ok(axum::Json(json!({"hypervisor": v})))
}

/// Show Hypervisor Statistics: `GET /os-hypervisors/statistics` (admin).
async fn hypervisor_statistics(
    State(cloud): State<Cloud>,
    ctx: Ctx,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let st = cloud.compute.hypervisor_stats().await?;
    Ok(axum::Json(json!({"hypervisor_statistics": {
        "count": 1,
        "vcpus": st.vcpus,
        "vcpus_used": st.vcpus_used,
        "memory_mb": st.memory_mb,
        "memory_mb_used": st.memory_mb_used,
        "free_ram_mb": st.memory_mb - st.memory_mb_used,
        "local_gb": st.local_gb,
        "local_gb_used": st.local_gb_used,
        "free_disk_gb": st.local_gb - st.local_gb_used,
        "disk_available_least": st.free_disk_gb,
        "current_workload": 0,
        "running_vms": st.running_vms,
    }})))
}

/// `start`/`end` as Nova accepts them (ISO 8601, `T` or space); now when absent.
fn period(q: &HashMap<String, String>) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let parse = |key: &str| -> ApiResult<DateTime<Utc>> {
        match q.get(key) {
            None => Ok(Utc::now()),
            Some(s) => crate::http::time::parse(&s.replacen(' ', "T", 1))
                .map_err(|_| ApiError::bad_request(format!("Invalid datetime string: {s}"))),
        }
    };
    let (start, end) = (parse("start")?, parse("end")?);
    if start > end {
        return Err(ApiError::bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    Ok((start, end))
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn usage_view(t: &TenantUsage, start: DateTime<Utc>, end: DateTime<Utc>, detailed: bool) -> Value {
    let mut v = json!({
        "tenant_id": t.tenant_id,
        "start": iso(start),
        "stop": iso(end),
        "total_hours": t.total_hours,
        "total_vcpus_usage": t.total_vcpus_usage,
        "total_memory_mb_usage": t.total_memory_mb_usage,
        "total_local_gb_usage": t.total_local_gb_usage,
    });
    if detailed {
        let servers: Vec<Value> = t
            .servers
            .iter()
            .map(|u| {
                let s = &u.server;
                json!({
                    "instance_id": s.id,
                    "name": s.name,
                    "tenant_id": s.project_id,
                    "flavor": s.flavor.name,
                    "hours": u.hours,
                    "vcpus": s.flavor.vcpus,
                    "memory_mb": s.flavor.ram,
                    "local_gb": s.flavor.disk + s.flavor.ephemeral,
                    "started_at": u.started_at.map(iso),
                    "ended_at": u.ended_at.map(iso),
                    "state": usage_state(s),
                    "uptime": u.uptime,
                })
            })
            .collect();
        v["server_usages"] = json!(servers);
    }
    v
}

/// List Tenant Usage Statistics For All Tenants (admin).
async fn usage_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let (start, end) = period(&q)?;
    let detailed = flag(&q, "detailed");
    let usages = cloud.compute.tenant_usage(&ctx, None, start, end).await?;
    let list: Vec<Value> = usages
        .iter()
        .map(|t| usage_view(t, start, end, detailed))
        .collect();
    Ok(axum::Json(json!({"tenant_usages": list})))
}

/// Show Usage Statistics For Tenant (admin, or a member of that project).
async fn usage_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let (start, end) = period(&q)?;
    let usages = cloud
        .compute
        .tenant_usage(&ctx, Some(tenant), start, end)
        .await?;
    let body = match usages.first() {
        Some(t) => usage_view(t, start, end, true),
        None => json!({}),
    };
    Ok(axum::Json(json!({"tenant_usage": body})))
}
