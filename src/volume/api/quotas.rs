//! Quota sets and limits (api-ref: block storage v3 "Quota sets extension
//! (os-quota-sets)", "Limits (limits)").

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::{envelope, parse_bool, query};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/os-quota-sets/{project}",
            get(quota_show).put(quota_update).delete(quota_delete),
        )
        .route("/os-quota-sets/{project}/defaults", get(quota_defaults))
        .route(
            "/os-quota-class-sets/{class}",
            get(quota_class_show).put(quota_class_update),
        )
        .route("/limits", get(limits))
}

async fn quota_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let usage = q
        .get("usage")
        .map(|u| parse_bool("usage", u))
        .transpose()?
        .unwrap_or(false);
    let quotas = cloud.volume.quota_show(&ctx, project.clone()).await?;
    let mut set = serde_json::Map::new();
    set.insert("id".into(), json!(project));
    for (k, u) in quotas {
        let v = if usage {
            json!({"limit": u.limit, "in_use": u.in_use, "reserved": 0, "allocated": 0})
        } else {
            json!(u.limit)
        };
        set.insert(k, v);
    }
    Ok(axum::Json(json!({"quota_set": set})))
}

async fn quota_defaults(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    // Cinder authorizes `volume_extension:quotas:show` against the named project.
    crate::http::policy::VOLUME_QUOTA_SHOW.enforce(&ctx, Some(&project))?;
    let d = cloud.volume.quota_defaults().await?;
    let mut set = serde_json::Map::new();
    set.insert("id".into(), json!(project));
    for (k, v) in d {
        set.insert(k, json!(v));
    }
    Ok(axum::Json(json!({"quota_set": set})))
}

async fn quota_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let changes = limits_in(envelope(&body, "quota_set")?)?;
    let out = cloud.volume.quota_update(&ctx, project, changes).await?;
    Ok(axum::Json(json!({"quota_set": out})))
}

/// The limits of an update body, each an integer (or a string of one).
fn limits_in(set: &serde_json::Map<String, Value>) -> ApiResult<BTreeMap<String, i64>> {
    let mut changes = BTreeMap::new();
    for (k, v) in set {
        // Cinder ignores these bookkeeping keys in an update body.
        if k == "id" || k == "tenant_id" || k == "class_name" {
            continue;
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input received: Quota value for key '{k}' must be an integer."
            ))
        })?;
        changes.insert(k.clone(), n);
    }
    Ok(changes)
}

/// The one quota class projects draw their defaults from.
const DEFAULT_CLASS: &str = "default";

/// `GET /os-quota-class-sets/{class}` (admin): the `default` class is the defaults
/// every project without its own limits gets.
async fn quota_class_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(class): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let d = cloud.volume.quota_defaults().await?;
    let mut set = serde_json::Map::new();
    set.insert("id".into(), json!(class));
    for (k, v) in d {
        set.insert(k, json!(v));
    }
    Ok(axum::Json(json!({"quota_class_set": set})))
}

/// `PUT /os-quota-class-sets/default` (admin): changes the defaults. Cinder's other
/// quota classes are never applied to a project, so only `default` is kept.
async fn quota_class_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(class): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let changes = limits_in(envelope(&body, "quota_class_set")?)?;
    if class != DEFAULT_CLASS {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: only the quota class '{DEFAULT_CLASS}' is supported, not '{class}'."
        )));
    }
    let out = cloud
        .volume
        .quota_update(&ctx, String::new(), changes)
        .await?;
    Ok(axum::Json(json!({"quota_class_set": out})))
}

async fn quota_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    cloud.volume.quota_delete(&ctx, project).await?;
    Ok(axum::http::StatusCode::OK)
}

/// `GET /limits`: the caller project's absolute limits (no rate limits).
async fn limits(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let (l, u) = cloud.volume.limits(&ctx).await?;
    let get = |k: &str| l.get(k).copied().unwrap_or(-1);
    Ok(axum::Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": get("volumes"),
        "maxTotalSnapshots": get("snapshots"),
        "maxTotalVolumeGigabytes": get("gigabytes"),
        "maxTotalBackups": get("backups"),
        "maxTotalBackupGigabytes": get("backup_gigabytes"),
        "totalVolumesUsed": u.volumes,
        "totalGigabytesUsed": u.gigabytes,
        "totalSnapshotsUsed": u.snapshots,
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}})))
}
