//! Availability zones and services (api-ref: block storage v3 "Availability zones
//! (os-availability-zone)", "Services (os-services)").

use axum::Router;
use axum::extract::Path;
use axum::extract::{RawQuery, State};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::{Mv, query};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::model::ZONE;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-availability-zone", get(zones))
        .route("/os-services", get(services))
        .route("/os-services/{action}", put(service_action))
        .route("/extensions", get(extensions))
}

async fn zones(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": ZONE, "zoneState": {"available": true}}
    ]}))
}

/// The scheduler and the volume service of this host (admin). Both live in this
/// process, so they are up whenever the API answers.
async fn services(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let now = crate::volume::store::now();
    let host = cloud.volume.host().to_owned();
    let list: Vec<Value> = [
        ("cinder-scheduler", host.clone()),
        (
            "cinder-volume",
            format!("{host}@{}", crate::volume::model::BACKEND_NAME),
        ),
    ]
    .into_iter()
    .filter(|(binary, h)| {
        // Cinder matches `host` itself or any `host@backend` on it.
        q.get("binary").is_none_or(|b| b == binary)
            && q.get("host").is_none_or(|x| {
                x == h
                    || h.strip_prefix(x.as_str())
                        .is_some_and(|r| r.starts_with('@'))
            })
    })
    .map(|(binary, h)| {
        let mut s = json!({
            "binary": binary, "host": h, "zone": ZONE, "status": "enabled", "state": "up",
            "updated_at": now, "disabled_reason": null,
        });
        if mv.at_least(7) {
            s["cluster"] = Value::Null;
        }
        if mv.at_least(49) && binary == "cinder-volume" {
            s["backend_state"] = json!("up");
        }
        s
    })
    .collect();
    Ok(axum::Json(json!({"services": list})))
}

/// `PUT /os-services/{enable|disable|disable-log-reason|freeze|thaw}` (admin).
/// Both services live in this process and serve every request, so disabling one is
/// refused; freeze and thaw (replication failover) have nothing to do on a backend
/// without replication, as Cinder's drivers without it answer.
async fn service_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(action): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let host = body.get("host").and_then(Value::as_str).unwrap_or_default();
    let own = cloud.volume.host().to_owned();
    let backend = format!("{own}@{}", crate::volume::model::BACKEND_NAME);
    let known_host = host == own || host == backend;
    match action.as_str() {
        "freeze" | "thaw" => {
            if !known_host {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Host {host} is not a volume service host."
                )));
            }
            Ok(axum::Json(json!({})))
        }
        "enable" | "disable" | "disable-log-reason" => {
            let binary = body
                .get("binary")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if action == "disable-log-reason" {
                let ok = body
                    .get("disabled_reason")
                    .and_then(Value::as_str)
                    .is_some_and(|r| !r.trim().is_empty() && r.chars().count() <= 255);
                if !ok {
                    return Err(ApiError::bad_request(
                        "Disabled reason contains invalid characters or is too long",
                    ));
                }
            }
            let service = match binary {
                "cinder-scheduler" => host == own,
                "cinder-volume" => host == backend,
                _ => false,
            };
            if !service {
                return Err(ApiError::Missing(format!(
                    "Service {binary} could not be found on host {host}."
                )));
            }
            if action == "enable" {
                let now = crate::volume::store::now();
                return Ok(axum::Json(json!({
                    "host": host, "binary": binary, "status": "enabled",
                    "disabled": false, "disabled_reason": null, "updated_at": now,
                })));
            }
            Err(ApiError::bad_request(
                "Invalid input received: this cloud's one scheduler and volume service cannot be disabled.",
            ))
        }
        _ => Err(ApiError::Missing("The resource could not be found.".into())),
    }
}

/// The API extensions Cinder lists that onestack serves: name, alias, description.
const EXTS: &[(&str, &str, &str)] = &[
    (
        "AvailabilityZones",
        "os-availability-zone",
        "Describe Availability Zones.",
    ),
    ("Backups", "backups", "Backups support."),
    ("Capabilities", "capabilities", "Capabilities support."),
    (
        "ExtendedSnapshotAttributes",
        "os-extended-snapshot-attributes",
        "Extended attributes for snapshots.",
    ),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    (
        "QuotaClasses",
        "os-quota-class-sets",
        "Quota classes management support.",
    ),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("Qos_specs_manage", "qos-specs", "QoS specs support."),
    (
        "SchedulerStats",
        "scheduler-stats",
        "Scheduler stats support.",
    ),
    ("Services", "os-services", "Services support."),
    (
        "SnapshotActions",
        "os-snapshot-actions",
        "Enable snapshot manager actions.",
    ),
    (
        "TypesExtraSpecs",
        "os-types-extra-specs",
        "Type extra specs support.",
    ),
    ("TypesManage", "os-types-manage", "Types manage support."),
    (
        "VolumeActions",
        "os-volume-actions",
        "Enable volume actions.",
    ),
    (
        "VolumeHostAttribute",
        "os-vol-host-attr",
        "Expose host as an attribute of a volume.",
    ),
    (
        "VolumeImageMetadata",
        "os-vol-image-meta",
        "Show image metadata associated with the volume.",
    ),
    (
        "VolumeMigStatusAttribute",
        "os-vol-mig-status-attr",
        "Expose migration_status as an attribute of a volume.",
    ),
    (
        "VolumeTenantAttribute",
        "os-vol-tenant-attr",
        "Expose the internal project_id as an attribute of a volume.",
    ),
    (
        "VolumeTransfer",
        "os-volume-transfer",
        "Volume transfer management support.",
    ),
    (
        "VolumeTypeAccess",
        "os-volume-type-access",
        "Volume type access support.",
    ),
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
];

/// `GET /extensions`: the API extensions Cinder lists that onestack serves.
async fn extensions(_ctx: Ctx) -> axum::Json<Value> {
    let list: Vec<Value> = EXTS
        .iter()
        .map(|(name, alias, desc)| {
            json!({"name": name, "alias": alias, "description": desc,
                   "updated": "2013-01-01T00:00:00+00:00", "namespace": "", "links": []})
        })
        .collect();
    axum::Json(json!({"extensions": list}))
}
