//! Snapshots (api-ref: block storage v3 "Volume snapshots (snapshots)", "Snapshot
//! actions (snapshots, action)"): routes, request parsing and views.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{
    Mv, UrlProject, envelope, json_bool, next_link, opt_string, parse_bool, query, string_map,
    v3_root,
};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::pagination::{Dialect, PageQuery};
use crate::volume::model::{Snapshot, SnapshotStatus};
use crate::volume::snapshots::SnapshotCreate;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/snapshots", get(snapshot_list).post(snapshot_create))
        .route("/snapshots/detail", get(snapshot_list_detail))
        .route(
            "/snapshots/{id}",
            get(snapshot_show)
                .put(snapshot_update)
                .delete(snapshot_delete),
        )
        .route("/snapshots/{id}/action", post(snapshot_action))
        .route(
            "/snapshots/{id}/metadata",
            get(metadata_show)
                .post(metadata_merge)
                .put(metadata_replace),
        )
        .route(
            "/snapshots/{id}/metadata/{key}",
            get(metadata_key_show)
                .put(metadata_key_set)
                .delete(metadata_key_delete),
        )
}

type Proj = Option<axum::Extension<UrlProject>>;

fn root(h: &HeaderMap, p: &Proj) -> String {
    v3_root(h, &p.as_ref().map(|e| e.0.clone()))
}

/// Cinder's snapshot view (cinder/api/views/snapshots.py: no links); `detail`
/// adds the extended attributes, which Cinder shows on show and list-detail only
/// (create and update answer without them).
fn view(s: &Snapshot, mv: Mv, detail: bool) -> Value {
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "status": s.status.as_str(),
        "size": s.size,
        "volume_id": s.volume_id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "metadata": s.metadata,
    });
    if detail {
        v["os-extended-snapshot-attributes:project_id"] = json!(s.project_id);
        let progress = match &s.progress {
            Some(p) => p.as_str(),
            None if s.status == SnapshotStatus::Available => "100%",
            None => "0%",
        };
        v["os-extended-snapshot-attributes:progress"] = json!(progress);
    }
    if mv.at_least(14) {
        v["group_snapshot_id"] = json!(s.group_snapshot_id);
    }
    if mv.at_least(41) {
        v["user_id"] = json!(s.user_id);
    }
    if mv.at_least(65) {
        v["consumes_quota"] = json!(true);
    }
    v
}

async fn snapshot_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let s = envelope(&body, "snapshot")?;
    let volume_id = match s.get("volume_id") {
        None => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute snapshot. 'volume_id' is a required property",
            ));
        }
        // An explicit null names no volume: Cinder's 404.
        Some(Value::Null) => {
            return Err(ApiError::Missing("Volume None could not be found.".into()));
        }
        Some(v) => opt_string("volume_id", Some(v))?.unwrap_or_default(),
    };
    let name = match opt_string("name", s.get("name"))? {
        Some(n) => Some(n),
        None => opt_string("display_name", s.get("display_name"))?,
    };
    let description = match opt_string("description", s.get("description"))? {
        Some(d) => Some(d),
        None => opt_string("display_description", s.get("display_description"))?,
    };
    let force = match s.get("force") {
        None | Some(Value::Null) => false,
        Some(v) => json_bool("force", v)?,
    };
    let req = SnapshotCreate {
        volume_id,
        name,
        description,
        metadata: string_map("metadata", s.get("metadata"))?,
        force,
    };
    let snap = cloud.volume.snapshot_create(&ctx, req).await?;
    let body = json!({"snapshot": view(&snap, mv, false)});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

fn filtered(q: &HashMap<String, String>, snaps: Vec<Snapshot>) -> Vec<Snapshot> {
    snaps
        .into_iter()
        .filter(|s| {
            q.get("name")
                .is_none_or(|n| s.name.as_deref() == Some(n.as_str()))
        })
        .filter(|s| q.get("status").is_none_or(|st| s.status.as_str() == st))
        .filter(|s| q.get("volume_id").is_none_or(|v| &s.volume_id == v))
        .collect()
}

/// The sort keys asked, each with whether it is ascending: `sort=key:dir,...`
/// or `sort_key`/`sort_dir`.
fn sort_keys(q: &HashMap<String, String>) -> ApiResult<Vec<(String, bool)>> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    let dir = |d: Option<&str>| -> ApiResult<bool> {
        match d.map(str::to_ascii_lowercase).as_deref() {
            None | Some("desc") => Ok(false),
            Some("asc") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'. ({other})"
            ))),
        }
    };
    if let Some(s) = q.get("sort") {
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, d) = match part.split_once(':') {
                Some((k, d)) => (k, Some(d)),
                None => (part, None),
            };
            keys.push((k.trim().to_owned(), dir(d)?));
        }
    } else if let Some(k) = q.get("sort_key") {
        keys.push((k.clone(), dir(q.get("sort_dir").map(String::as_str))?));
    } else if let Some(d) = q.get("sort_dir") {
        keys.push(("created_at".into(), dir(Some(d))?));
    }
    for (k, _) in &keys {
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "display_name"
                | "status"
                | "size"
                | "created_at"
                | "updated_at"
                | "volume_id"
        ) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Invalid sort key {k}"
            )));
        }
    }
    Ok(keys)
}

/// `sort=key:dir,...` or `sort_key`/`sort_dir` (default: newest first).
fn sort(q: &HashMap<String, String>, snaps: &mut [Snapshot]) -> ApiResult<()> {
    let keys = sort_keys(q)?;
    if keys.is_empty() {
        return Ok(());
    }
    snaps.sort_by(|a, b| {
        for (k, asc) in &keys {
            let o = match k.as_str() {
                "id" => a.id.cmp(&b.id),
                "name" | "display_name" => a.name.cmp(&b.name),
                "status" => a.status.as_str().cmp(b.status.as_str()),
                "size" => a.size.cmp(&b.size),
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                "volume_id" => a.volume_id.cmp(&b.volume_id),
                _ => a.created_at.cmp(&b.created_at),
            };
            let o = if *asc { o } else { o.reverse() };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        b.id.cmp(&a.id)
    });
    Ok(())
}

async fn list(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Mv,
    h: &HeaderMap,
    p: &Proj,
    raw: Option<String>,
    detail: bool,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let all = q
        .get("all_tenants")
        .map(|v| parse_bool("all_tenants", v))
        .transpose()?
        .unwrap_or(false);
    let mut snaps = filtered(&q, cloud.volume.snapshot_list(ctx, all).await?);
    sort(&q, &mut snaps)?;
    let offset = match q.get("offset") {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input received: offset {o} is not a non-negative integer."
            ))
        })?,
    };
    let snaps: Vec<Snapshot> = snaps.into_iter().skip(offset).collect();
    let page = PageQuery {
        limit: q.get("limit").cloned(),
        marker: q.get("marker").cloned(),
    };
    if let Some(m) = page.marker.as_deref().filter(|m| !m.is_empty())
        && !snaps.iter().any(|s| s.id == m)
    {
        // Cinder's MarkerNotFound is a 404 for snapshots.
        return Err(ApiError::Missing(format!("Marker {m} could not be found.")));
    }
    let limit = page.limit_as(Dialect::Cinder)?;
    let mut pg = page.apply_as(Dialect::Cinder, snaps, |s| &s.id)?;
    // Cinder links the next page whenever a page is full, even when it is the last.
    pg.has_more = limit.is_some_and(|l| l > 0 && pg.items.len() == l);
    let root = root(h, p);
    let items: Vec<Value> = pg.items.iter().map(|s| view(s, mv, detail)).collect();
    let mut body = json!({"snapshots": items});
    if let (true, Some(last)) = (pg.has_more, pg.items.last()) {
        let path = if detail {
            "snapshots/detail"
        } else {
            "snapshots"
        };
        body["snapshots_links"] = next_link(&root, path, &q, &last.id);
    }
    Ok(axum::Json(body))
}

async fn snapshot_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, mv, &h, &p, raw, false).await
}

async fn snapshot_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, mv, &h, &p, raw, true).await
}

async fn snapshot_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.volume.snapshot_get(&ctx, id).await?;
    Ok(axum::Json(json!({"snapshot": view(&s, mv, true)})))
}

async fn snapshot_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let s = envelope(&body, "snapshot")?;
    let field = |a: &str, b: &str| -> ApiResult<Option<Option<String>>> {
        match (s.get(a), s.get(b)) {
            (Some(v), _) | (None, Some(v)) => Ok(Some(opt_string(a, Some(v))?)),
            (None, None) => Ok(None),
        }
    };
    let name = field("name", "display_name")?;
    let description = field("description", "display_description")?;
    if name.is_none() && description.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute snapshot. Value: {}. {} does not have enough properties",
        ));
    }
    let snap = cloud
        .volume
        .snapshot_update(&ctx, id, name, description, None, None)
        .await?;
    Ok(axum::Json(json!({"snapshot": view(&snap, mv, false)})))
}

async fn snapshot_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.volume.snapshot_delete(&ctx, id, false).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn snapshot_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    if let Some(a) = body.get("os-reset_status") {
        let st = opt_string("status", a.get("status"))?
            .ok_or_else(|| ApiError::bad_request("Must specify 'status'"))?;
        let status = SnapshotStatus::parse(&st.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input received: Invalid status {st}."))
        })?;
        cloud.volume.snapshot_reset_status(&ctx, id, status).await?;
    } else if let Some(a) = body.get("os-update_snapshot_status") {
        let st = opt_string("status", a.get("status"))?
            .ok_or_else(|| ApiError::bad_request("'status' must be specified."))?;
        let status = SnapshotStatus::parse(&st.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input received: Invalid status {st}."))
        })?;
        let progress = opt_string("progress", a.get("progress"))?;
        cloud
            .volume
            .snapshot_update_status(&ctx, id, status, progress)
            .await?;
    } else if body.get("os-unmanage").is_some() {
        cloud.volume.snapshot_unmanage(&ctx, id).await?;
    } else if body.get("os-force_delete").is_some() {
        cloud.volume.snapshot_delete(&ctx, id, true).await?;
    } else {
        return Err(ApiError::bad_request("There is no such action."));
    }
    Ok(StatusCode::ACCEPTED)
}

async fn metadata_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.volume.snapshot_get(&ctx, id).await?;
    Ok(axum::Json(json!({"metadata": s.metadata})))
}

async fn change(
    cloud: &Cloud,
    ctx: &Ctx,
    id: String,
    body: &Value,
    replace: bool,
) -> ApiResult<axum::Json<Value>> {
    let m = body
        .get("metadata")
        .ok_or_else(|| ApiError::bad_request("Malformed request body"))?;
    let set = string_map("metadata", Some(m))?;
    let s = cloud
        .volume
        .snapshot_update(ctx, id, None, None, Some((set, replace)), None)
        .await?;
    Ok(axum::Json(json!({"metadata": s.metadata})))
}

async fn metadata_merge(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    change(&cloud, &ctx, id, &body, false).await
}

async fn metadata_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    change(&cloud, &ctx, id, &body, true).await
}

async fn metadata_key_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.volume.snapshot_get(&ctx, id.clone()).await?;
    let v = s.metadata.get(&key).ok_or_else(|| {
        ApiError::Missing(format!("Snapshot {id} has no metadata with key {key}."))
    })?;
    Ok(axum::Json(json!({"meta": {key: v}})))
}

async fn metadata_key_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let meta = envelope(&body, "meta")?;
    if meta.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let set = string_map("meta", body.get("meta"))?;
    cloud
        .volume
        .snapshot_update(&ctx, id, None, None, Some((set.clone(), false)), None)
        .await?;
    Ok(axum::Json(json!({"meta": set})))
}

async fn metadata_key_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .volume
        .snapshot_update(&ctx, id, None, None, None, Some(key))
        .await?;
    Ok(StatusCode::OK)
}
