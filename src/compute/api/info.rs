//! Informational compute APIs (api-ref: "Availability zones", "Compute services
//! (os-services)", "Hypervisors (os-hypervisors)", "Usage reports
//! (os-simple-tenant-usage)"): one host runs nova-compute, the scheduler and
//! conductor live in the `internal` zone.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Microversion;
use super::params::{flag, query};
use crate::cloud::Cloud;
use crate::compute::info::{TenantUsage, usage_state};
use crate::compute::services::{
    COMPUTE_BINARY, SERVICES, ServiceChange, ServiceKind, ServiceState, kind,
};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
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
        .route("/os-hypervisors", get(hypervisor_list))
        .route("/os-hypervisors/detail", get(hypervisor_list_detail))
        .route("/os-hypervisors/statistics", get(hypervisor_statistics))
        .route("/os-hypervisors/{id}", get(hypervisor_show))
        .route("/os-hypervisors/{id}/uptime", get(hypervisor_uptime))
        .route("/os-hypervisors/{id}/search", get(hypervisor_search))
        .route("/os-hypervisors/{id}/servers", get(hypervisor_servers))
        .route("/os-simple-tenant-usage", get(usage_list))
        .route("/os-instance_usage_audit_log", get(audit_log_list))
        .route("/os-instance_usage_audit_log/{before}", get(audit_log_show))
        .route("/os-simple-tenant-usage/{tenant_id}", get(usage_show))
}

fn service_uuid(host: &str, binary: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{host}/{binary}").as_bytes(),
    )
    .to_string()
}

fn service_id(host: &str, kind: ServiceKind, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(service_uuid(host, kind.binary))
    } else {
        json!(kind.legacy_id)
    }
}

fn now_micros() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Get Availability Zone Information: `GET /os-availability-zone`; a zone whose
/// services are all disabled is listed as unavailable, as Nova does.
async fn availability_zone_list(
    State(cloud): State<Cloud>,
    _ctx: Ctx,
) -> ApiResult<axum::Json<Value>> {
    let compute = cloud.compute.service_state(COMPUTE_BINARY).await?;
    let zone = cloud.compute.host_zone().await?;
    Ok(axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": !compute.disabled}, "hosts": null}
    ]})))
}

/// Get Detailed Availability Zone Information (admin).
async fn availability_zone_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let host = &cloud.compute.config().host;
    let updated = now_micros();
    let compute_zone = cloud.compute.host_zone().await?;
    let mut zones: Vec<(&str, serde_json::Map<String, Value>)> = vec![
        ("internal", Default::default()),
        (&compute_zone, Default::default()),
    ];
    for kind in SERVICES {
        let st = cloud.compute.service_state(kind.binary).await?;
        let zone = if kind.binary == COMPUTE_BINARY {
            compute_zone.as_str()
        } else {
            kind.zone
        };
        if let Some((_, services)) = zones.iter_mut().find(|(z, _)| *z == zone) {
            services.insert(
                kind.binary.to_owned(),
                json!({"available": !st.disabled, "active": !st.forced_down, "updated_at": updated}),
            );
        }
    }
    let list: Vec<Value> = zones
        .into_iter()
        .map(|(zone, services)| {
            let available = services.values().any(|v| v["available"] == json!(true));
            json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": {host: services}})
        })
        .collect();
    Ok(axum::Json(json!({"availabilityZoneInfo": list})))
}

/// One service as os-services shows it.
fn service_view(host: &str, kind: ServiceKind, st: &ServiceState, mv: Microversion) -> Value {
    let mut v = json!({
        "id": service_id(host, kind, mv),
        "binary": kind.binary,
        "host": host,
        "zone": kind.zone,
        "status": if st.disabled { "disabled" } else { "enabled" },
        "state": if st.forced_down { "down" } else { "up" },
        "updated_at": now_micros(),
        "disabled_reason": st.disabled_reason,
    });
    if mv.at_least(11) {
        v["forced_down"] = json!(st.forced_down);
    }
    v
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
    let mut list = Vec::new();
    for kind in SERVICES {
        if q.get("binary").is_some_and(|b| b != kind.binary)
            || q.get("host").is_some_and(|h| h != host)
        {
            continue;
        }
        let st = cloud.compute.service_state(kind.binary).await?;
        list.push(service_view(host, *kind, &st, mv));
    }
    Ok(axum::Json(json!({"services": list})))
}

/// The body of `PUT /os-services/{service_id}` (2.53).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceUpdate {
    status: Option<String>,
    disabled_reason: Option<String>,
    forced_down: Option<bool>,
}

/// The body of the pre-2.53 `PUT /os-services/{action}` calls.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyServiceUpdate {
    host: String,
    binary: String,
    disabled_reason: Option<String>,
    forced_down: Option<bool>,
}

fn parse_status(status: &str) -> ApiResult<bool> {
    match status {
        "enabled" => Ok(false),
        "disabled" => Ok(true),
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute status. Value: {other}. '{other}' is not one of ['enabled', 'disabled']"
        ))),
    }
}

/// Update Compute Service: `PUT /os-services/{service_id}` (2.53, admin); below
/// 2.53 the last segment names the action instead (`enable`, `disable`,
/// `disable-log-reason`, and `force-down` from 2.11), with host and binary in the body.
async fn service_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let host = cloud.compute.config().host.clone();
    if !mv.at_least(53) {
        return service_update_legacy(&cloud, &host, mv, &id, body).await;
    }
    let b: ServiceUpdate = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid input for the service update: {e}")))?;
    let kind = SERVICES
        .iter()
        .copied()
        .find(|k| service_uuid(&host, k.binary) == id)
        .ok_or_else(|| {
            if uuid::Uuid::parse_str(&id).is_err() {
                ApiError::bad_request(format!("Invalid uuid {id}"))
            } else {
                ApiError::Missing(format!("Service {id} could not be found."))
            }
        })?;
    if b.status.is_none() && b.forced_down.is_none() {
        return Err(ApiError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let change = ServiceChange {
        disabled: b.status.as_deref().map(parse_status).transpose()?,
        disabled_reason: b.disabled_reason.map(Some),
        forced_down: b.forced_down,
    };
    let st = cloud.compute.service_update(kind.binary, change).await?;
    Ok(axum::Json(
        json!({"service": service_view(&host, kind, &st, mv)}),
    ))
}

async fn service_update_legacy(
    cloud: &Cloud,
    host: &str,
    mv: Microversion,
    action: &str,
    body: Value,
) -> ApiResult<axum::Json<Value>> {
    let b: LegacyServiceUpdate = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid input for the service update: {e}")))?;
    let change = match action {
        "enable" => ServiceChange {
            disabled: Some(false),
            ..Default::default()
        },
        "disable" => ServiceChange {
            disabled: Some(true),
            ..Default::default()
        },
        "disable-log-reason" => ServiceChange {
            disabled: Some(true),
            disabled_reason: Some(Some(
                b.disabled_reason
                    .clone()
                    .ok_or_else(|| ApiError::bad_request("Missing disabled reason field"))?,
            )),
            ..Default::default()
        },
        "force-down" if mv.at_least(11) => ServiceChange {
            forced_down: Some(
                b.forced_down
                    .ok_or_else(|| ApiError::bad_request("Missing forced_down field"))?,
            ),
            ..Default::default()
        },
        other => return Err(ApiError::Missing(format!("Unknown action {other}"))),
    };
    let kind = kind(&b.binary).filter(|_| b.host == host).ok_or_else(|| {
        ApiError::Missing(format!(
            "Could not find binary {} on host {}.",
            b.binary, b.host
        ))
    })?;
    let st = cloud.compute.service_update(kind.binary, change).await?;
    let mut v = json!({"host": host, "binary": kind.binary});
    if action == "force-down" {
        v["forced_down"] = json!(st.forced_down);
    } else {
        v["status"] = json!(if st.disabled { "disabled" } else { "enabled" });
        if action == "disable-log-reason" {
            v["disabled_reason"] = json!(st.disabled_reason);
        }
    }
    Ok(axum::Json(json!({"service": v})))
}

/// Delete Compute Service (admin): this host's services are this process, so
/// there is nothing to delete; disabling is the way to take the host out of use.
async fn service_delete(ctx: Ctx, Path(_id): Path<String>) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    Err(ApiError::Conflict(
        "onestack runs its compute services inside one process on one host; they cannot be deleted. Disable the nova-compute service instead.".into(),
    ))
}

fn hypervisor_id(cloud: &Cloud, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(cloud.compute.config().provider_uuid)
    } else {
        json!(1)
    }
}

/// The hypervisor's id, name, and the state and status of its nova-compute.
async fn brief(cloud: &Cloud, mv: Microversion) -> ApiResult<Value> {
    let st = cloud.compute.service_state(COMPUTE_BINARY).await?;
    Ok(json!({
        "id": hypervisor_id(cloud, mv),
        "hypervisor_hostname": cloud.compute.config().host,
        "state": if st.forced_down { "down" } else { "up" },
        "status": if st.disabled { "disabled" } else { "enabled" },
    }))
}

async fn detail(cloud: &Cloud, mv: Microversion) -> ApiResult<Value> {
    let st = cloud.compute.hypervisor_stats().await?;
    let service = cloud.compute.service_state(COMPUTE_BINARY).await?;
    let host = &cloud.compute.config().host;
    let compute = kind(COMPUTE_BINARY).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "nova-compute missing from the service list"
        ))
    })?;
    let mut v = brief(cloud, mv).await?;
    let common = json!({
        "hypervisor_type": cloud.compute.hypervisor().kind().hypervisor_type(),
        "hypervisor_version": cloud.compute.hypervisor().version().unwrap_or(0),
        "host_ip": cloud.profile.public_host(),
        "service": {
            "id": service_id(host, compute, mv),
            "host": host,
            "disabled_reason": service.disabled_reason,
        },
    });
    if let (Some(o), Some(f)) = (v.as_object_mut(), common.as_object()) {
        o.extend(f.clone());
    }
    // 2.88 dropped the resource figures (placement has them) and folded the
    // uptime route's `uptime` in.
    if mv.at_least(88) {
        v["uptime"] = json!(uptime_text().await);
        return Ok(v);
    }
    let fields = json!({
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

/// Whether the one hypervisor passes `hypervisor_hostname_pattern` (2.53, a substring match).
fn matches_pattern(cloud: &Cloud, q: &HashMap<String, String>) -> bool {
    q.get("hypervisor_hostname_pattern")
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
            brief(cloud, mv).await?
        };
        if mv.at_least(53) && flag(&q, "with_servers") {
            with_servers(cloud, &mut v).await?;
        }
        list.push(v);
    } else if mv.at_least(53) {
        return Err(ApiError::Missing(format!(
            "Hypervisor with hostname pattern {} could not be found.",
            q.get("hypervisor_hostname_pattern")
                .map_or("", String::as_str)
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

/// The hypervisors whose name contains `pattern` for the routes below 2.53, or
/// Nova's 404: those routes are gone from 2.53 (the index's `hostname_pattern`
/// and `with_servers` replace them), and a pattern matching no hypervisor is 404.
async fn search_pattern(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Microversion,
    pattern: &str,
) -> ApiResult<Value> {
    ctx.require_admin()?;
    if mv.at_least(53) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    if !cloud.compute.config().host.contains(pattern) {
        return Err(ApiError::Missing(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    brief(cloud, mv).await
}

/// Search Hypervisor: `GET /os-hypervisors/{hypervisor_hostname_pattern}/search`
/// (admin, 2.1 to 2.52).
async fn hypervisor_search(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(pattern): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let v = search_pattern(&cloud, &ctx, mv, &pattern).await?;
    Ok(axum::Json(json!({"hypervisors": [v]})))
}

/// List Hypervisor Servers: `GET /os-hypervisors/{hypervisor_hostname_pattern}/servers`
/// (admin, 2.1 to 2.52); `servers` is left out when the host runs none, as in Nova.
async fn hypervisor_servers(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(pattern): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let mut v = search_pattern(&cloud, &ctx, mv, &pattern).await?;
    with_servers(&cloud, &mut v).await?;
    if v["servers"].as_array().is_some_and(Vec::is_empty)
        && let Some(o) = v.as_object_mut()
    {
        o.remove("servers");
    }
    Ok(axum::Json(json!({"hypervisors": [v]})))
}

/// The host's uptime in the form of `uptime(1)`, which Nova's libvirt driver reports.
async fn uptime_text() -> String {
    let secs = tokio::fs::read_to_string("/proc/uptime")
        .await
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|s| s.parse::<f64>().ok())
        })
        .unwrap_or(0.0) as i64;
    format!(
        " {} up {} days, {:02}:{:02}",
        Utc::now().format("%H:%M:%S"),
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60
    )
}

/// Nova's 404 for a route a microversion removed.
fn gone() -> ApiError {
    ApiError::Missing("The resource could not be found.".into())
}

/// Show Hypervisor Uptime (admin, 2.1 to 2.87; from 2.88 `uptime` is in the
/// hypervisor's own document).
async fn hypervisor_uptime(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    if mv.at_least(88) {
        return Err(gone());
    }
    check_hypervisor_id(&cloud, mv, &id)?;
    let mut v = brief(&cloud, mv).await?;
    v["uptime"] = json!(uptime_text().await);
    Ok(axum::Json(json!({"hypervisor": v})))
}

/// Show Hypervisor Statistics: `GET /os-hypervisors/statistics` (admin, 2.1 to
/// 2.87: 2.88 removed it, placement has the figures).
async fn hypervisor_statistics(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    if mv.at_least(88) {
        return Err(gone());
    }
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

/// The audit period Nova reports: the last whole month that ended before `before`
/// (Nova's default `instance_usage_audit_period` is a month).
fn last_completed_audit_period(before: chrono::NaiveDateTime) -> (String, String) {
    use chrono::Datelike;
    let (y, m) = (before.year(), before.month());
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let day1 = |y: i32, m: u32| format!("{y:04}-{m:02}-01 00:00:00");
    (day1(py, pm), day1(y, m))
}

/// The task-log summary of the instance usage audit for the period before `before`.
/// onestack runs no periodic usage audit (Nova's `instance_usage_audit` is off by
/// default too), so its one compute host is reported as not having run it.
fn audit_log(cloud: &Cloud, before: chrono::NaiveDateTime) -> Value {
    let (begin, end) = last_completed_audit_period(before);
    let host = &cloud.compute.config().host;
    json!({
        "period_beginning": begin,
        "period_ending": end,
        "num_hosts": 1,
        "num_hosts_done": 0,
        "num_hosts_running": 0,
        "num_hosts_not_run": 1,
        "hosts_not_run": [host],
        "total_instances": 0,
        "total_errors": 0,
        "overall_status": "0 of 1 hosts done. 0 errors.",
        "log": {},
    })
}

/// List Server Usage Audits: `GET /os-instance_usage_audit_log` (admin).
async fn audit_log_list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let v = audit_log(&cloud, Utc::now().naive_utc());
    Ok(axum::Json(json!({"instance_usage_audit_logs": v})))
}

/// List Usage Audits Before Specified Time:
/// `GET /os-instance_usage_audit_log/{before_timestamp}` (admin); the timestamp is
/// `YYYY-MM-DD hh:mm:ss[.ffffff]` as in Nova, anything else is 400.
async fn audit_log_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(before): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let format = if before.contains('.') {
        "%Y-%m-%d %H:%M:%S%.f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let at = chrono::NaiveDateTime::parse_from_str(&before, format)
        .map_err(|_| ApiError::bad_request(format!("Invalid timestamp for date {before}")))?;
    Ok(axum::Json(
        json!({"instance_usage_audit_log": audit_log(&cloud, at)}),
    ))
}
