//! Backups (api-ref: block storage v3 "Backups (backups)", "Backup actions
//! (backups, action)").

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::view::links;
use super::{
    Mv, UrlProject, envelope, json_bool, next_link, opt_string, parse_bool, query, string_map,
    v3_root,
};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::pagination::{Dialect, PageQuery};
use crate::volume::backups::BackupCreate;
use crate::volume::model::{Backup, BackupStatus};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/backups", get(list).post(create))
        .route("/backups/detail", get(list_detail))
        .route("/backups/{id}", get(show).put(update).delete(delete))
        .route("/backups/{id}/restore", post(restore))
        .route("/backups/{id}/action", post(action))
        .route("/backups/{id}/export_record", get(export_record))
        .route("/backups/import_record", post(import_record))
}

type Proj = Option<axum::Extension<UrlProject>>;

fn root(h: &HeaderMap, p: &Proj) -> String {
    v3_root(h, &p.as_ref().map(|e| e.0.clone()))
}

fn summary(root: &str, b: &Backup) -> Value {
    json!({"id": b.id, "name": b.name, "links": links(root, "backups", &b.id)})
}

/// Cinder's backup detail; the project (3.18) and user (3.56) for admins.
fn detail(root: &str, b: &Backup, mv: Mv, ctx: &RequestContext) -> Value {
    let mut v = json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "status": b.status.as_str(),
        "size": b.size,
        "object_count": b.object_count,
        "container": b.container,
        "availability_zone": b.availability_zone,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
        "volume_id": b.volume_id,
        "snapshot_id": b.snapshot_id,
        "fail_reason": b.fail_reason,
        "is_incremental": b.is_incremental,
        "has_dependent_backups": b.has_dependents,
        "data_timestamp": b.data_timestamp,
        "links": links(root, "backups", &b.id),
    });
    if mv.at_least(18) && ctx.allowed(crate::http::policy::BACKUP_PROJECT_ATTRIBUTE) {
        v["os-backup-project-attr:project_id"] = json!(b.project_id);
    }
    if mv.at_least(43) {
        v["metadata"] = json!(b.metadata);
    }
    if mv.at_least(56) && ctx.allowed(crate::http::policy::BACKUP_PROJECT_ATTRIBUTE) {
        v["user_id"] = json!(b.user_id);
    }
    if mv.at_least(64) {
        v["encryption_key_id"] = Value::Null;
    }
    v
}

fn opt_bool(field: &str, v: Option<&Value>) -> ApiResult<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(v) => json_bool(field, v),
    }
}

async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let b = envelope(&body, "backup")?;
    let volume_id = opt_string("volume_id", b.get("volume_id"))?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute backup. 'volume_id' is a required property",
        )
    })?;
    let req = BackupCreate {
        volume_id,
        snapshot_id: opt_string("snapshot_id", b.get("snapshot_id"))?,
        name: opt_string("name", b.get("name"))?,
        description: opt_string("description", b.get("description"))?,
        container: opt_string("container", b.get("container"))?,
        incremental: opt_bool("incremental", b.get("incremental"))?,
        force: opt_bool("force", b.get("force"))?,
        metadata: if mv.at_least(43) {
            string_map("metadata", b.get("metadata"))?
        } else {
            Default::default()
        },
    };
    let backup = cloud.volume.backup_create(&ctx, req).await?;
    let mut v = summary(&root(&h, &p), &backup);
    if mv.at_least(43) {
        v["metadata"] = json!(backup.metadata);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"backup": v}))).into_response())
}

fn filtered(q: &HashMap<String, String>, bs: Vec<Backup>) -> Vec<Backup> {
    bs.into_iter()
        .filter(|b| q.get("name").is_none_or(|n| b.name.as_deref() == Some(n)))
        .filter(|b| q.get("status").is_none_or(|s| b.status.as_str() == s))
        .filter(|b| q.get("volume_id").is_none_or(|v| &b.volume_id == v))
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn list_any(
    cloud: Cloud,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    raw: Option<String>,
    with_detail: bool,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let all = q
        .get("all_tenants")
        .map(|v| parse_bool("all_tenants", v))
        .transpose()?
        .unwrap_or(false);
    let bs = filtered(&q, cloud.volume.backup_list(&ctx, all).await?);
    let total = bs.len();
    let page = PageQuery {
        limit: q.get("limit").cloned(),
        marker: q.get("marker").cloned(),
    };
    let limit = page.limit_as(Dialect::Cinder)?;
    let pg = page.apply_as(Dialect::Cinder, bs, |b| &b.id)?;
    let root = root(&h, &p);
    let items: Vec<Value> = pg
        .items
        .iter()
        .map(|b| {
            if with_detail {
                detail(&root, b, mv, &ctx)
            } else {
                summary(&root, b)
            }
        })
        .collect();
    let mut body = json!({"backups": items});
    if let (true, Some(last)) = (
        limit.is_some_and(|l| l > 0 && pg.items.len() == l),
        pg.items.last(),
    ) {
        let path = if with_detail {
            "backups/detail"
        } else {
            "backups"
        };
        body["backups_links"] = next_link(&root, path, &q, &last.id);
    }
    if mv.at_least(45)
        && let Some(c) = q.get("with_count")
        && parse_bool("with_count", c)?
    {
        body["count"] = json!(total);
    }
    Ok(axum::Json(body))
}

async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list_any(cloud, ctx, mv, h, p, raw, false).await
}

async fn list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list_any(cloud, ctx, mv, h, p, raw, true).await
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let b = cloud.volume.backup_get(&ctx, id).await?;
    Ok(axum::Json(
        json!({"backup": detail(&root(&h, &p), &b, mv, &ctx)}),
    ))
}

/// `PUT /backups/{id}` (3.9): name, description; metadata from 3.43.
async fn update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    if !mv.at_least(9) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    let b = envelope(&body, "backup")?;
    let field = |k: &str| -> ApiResult<Option<Option<String>>> {
        match b.get(k) {
            None => Ok(None),
            Some(v) => Ok(Some(opt_string(k, Some(v))?)),
        }
    };
    let name = field("name")?;
    let description = field("description")?;
    let metadata = match b.get("metadata") {
        Some(m) if mv.at_least(43) => Some(string_map("metadata", Some(m))?),
        _ => None,
    };
    let backup = cloud
        .volume
        .backup_update(&ctx, id, name, description, metadata)
        .await?;
    let mut v = summary(&root(&h, &p), &backup);
    if mv.at_least(43) {
        v["metadata"] = json!(backup.metadata);
    }
    Ok(axum::Json(json!({"backup": v})))
}

async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q = query(raw)?;
    let force = q
        .get("force")
        .map(|v| parse_bool("force", v))
        .transpose()?
        .unwrap_or(false);
    cloud.volume.backup_delete(&ctx, id, force).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn restore(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let r = envelope(&body, "restore")?;
    let volume_id = opt_string("volume_id", r.get("volume_id"))?;
    let name = opt_string("name", r.get("name"))?;
    let out = cloud
        .volume
        .backup_restore(&ctx, id, volume_id, name)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"restore": {
            "backup_id": out.backup_id,
            "volume_id": out.volume_id,
            "volume_name": out.volume_name,
        }})),
    )
        .into_response())
}

async fn action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    if let Some(a) = body.get("os-reset_status") {
        let st = opt_string("status", a.get("status"))?
            .ok_or_else(|| ApiError::bad_request("Must specify 'status'"))?;
        let status = BackupStatus::parse(&st.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input received: Invalid status {st}."))
        })?;
        cloud.volume.backup_reset_status(&ctx, id, status).await?;
    } else if body.get("os-force_delete").is_some() {
        cloud.volume.backup_delete(&ctx, id, true).await?;
    } else {
        return Err(ApiError::bad_request("There is no such action."));
    }
    Ok(StatusCode::ACCEPTED)
}

async fn export_record(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let url = cloud.volume.backup_export(&ctx, id).await?;
    Ok(axum::Json(json!({"backup-record": {
        "backup_service": crate::volume::backups::BACKUP_SERVICE,
        "backup_url": url,
    }})))
}

async fn import_record(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    ctx.require_admin()?;
    let r = envelope(&body, "backup-record")?;
    let service = opt_string("backup_service", r.get("backup_service"))?
        .ok_or_else(|| ApiError::bad_request("Incorrect request body format."))?;
    let url = opt_string("backup_url", r.get("backup_url"))?
        .ok_or_else(|| ApiError::bad_request("Incorrect request body format."))?;
    let b = cloud.volume.backup_import(&ctx, service, url).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"backup": summary(&root(&h, &p), &b)})),
    )
        .into_response())
}
