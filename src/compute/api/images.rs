//! Images (api-ref: compute "Images (DEPRECATED)"), up to microversion 2.35: Nova's
//! proxy to the image service, here through the image service's own calls with
//! the caller's rights. Image metadata is the image's custom properties.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::Microversion;
use super::hosts::until;
use super::params::query;
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::image::ListQuery;
use crate::image::model::Image;

/// The last microversion that has the proxy APIs.
const LAST: u32 = 35;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/images", get(list))
        .route("/images/detail", get(list_detail))
        .route("/images/{id}", get(show).delete(delete))
        .route(
            "/images/{id}/metadata",
            get(meta_list).put(meta_replace).post(meta_merge),
        )
        .route(
            "/images/{id}/metadata/{key}",
            get(meta_show).put(meta_set).delete(meta_delete),
        )
}

fn not_found() -> ApiError {
    ApiError::Missing("Image not found.".into())
}

/// Nova's image status and progress for a Glance status.
fn status(i: &Image) -> (&'static str, i64) {
    match i.status.as_str() {
        "active" => ("ACTIVE", 100),
        "queued" => ("SAVING", 25),
        "saving" | "uploading" | "importing" => ("SAVING", 50),
        "deleted" | "pending_delete" => ("DELETED", 0),
        "killed" => ("ERROR", 0),
        _ => ("UNKNOWN", 0),
    }
}

fn links(h: &HeaderMap, id: &str) -> Value {
    let base = crate::http::base_url(h);
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/images/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/images/{id}")},
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": format!("{base}/image/images/{id}")},
    ])
}

fn metadata(i: &Image) -> Map<String, Value> {
    i.properties.clone()
}

fn detail(h: &HeaderMap, i: &Image) -> Value {
    let (st, progress) = status(i);
    let mut v = json!({
        "id": i.id, "name": i.name, "status": st, "progress": progress,
        "minDisk": i.min_disk, "minRam": i.min_ram,
        "created": iso(&i.created_at), "updated": iso(&i.updated_at),
        "metadata": metadata(i), "links": links(h, &i.id),
        "OS-EXT-IMG-SIZE:size": i.size,
    });
    if let Some(server) = i.properties.get("instance_uuid").and_then(Value::as_str) {
        let base = crate::http::base_url(h);
        v["server"] = json!({"id": server, "links": [
            {"rel": "self", "href": format!("{base}/compute/v2.1/servers/{server}")},
            {"rel": "bookmark", "href": format!("{base}/compute/servers/{server}")},
        ]});
    }
    v
}

/// Nova shows image times without fractions: `2026-01-01T00:00:00Z`.
fn iso(t: &str) -> String {
    crate::http::time::parse(t)
        .map(crate::http::time::iso_seconds)
        .unwrap_or_else(|_| t.to_owned())
}

/// Every image the caller sees, oldest page first.
async fn all_images(cloud: &Cloud, ctx: &RequestContext) -> ApiResult<Vec<Image>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut q = vec![("limit".to_owned(), "1000".to_owned())];
        if let Some(m) = &marker {
            q.push(("marker".into(), m.clone()));
        }
        let page = cloud.image.image_list(ctx, ListQuery(q)).await?;
        out.extend(page.images);
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => return Ok(out),
        }
    }
}

fn matches(i: &Image, q: &HashMap<String, String>) -> ApiResult<bool> {
    let prop = |k: &str| {
        i.properties
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    for (k, v) in q {
        let ok = match k.as_str() {
            "name" => i.name.as_deref() == Some(v.as_str()),
            "status" => status(i).0.eq_ignore_ascii_case(v),
            "server" => v
                .rsplit('/')
                .next()
                .is_some_and(|id| prop("instance_uuid") == id),
            "type" => prop("image_type") == *v,
            "minRam" => i.min_ram >= v.parse::<i64>().map_err(|_| bad_filter(k, v))?,
            "minDisk" => i.min_disk >= v.parse::<i64>().map_err(|_| bad_filter(k, v))?,
            "changes-since" => {
                let since = crate::http::time::parse(v)?;
                crate::http::time::parse(&i.updated_at).is_ok_and(|t| t >= since)
            }
            // `property-<key>`: an image without the property does not match.
            other => match other.strip_prefix("property-") {
                Some(key) => match i.properties.get(key) {
                    Some(Value::String(s)) => s == v,
                    Some(x) => serde_json::from_str::<Value>(v).ok().as_ref() == Some(x),
                    None => false,
                },
                None => true,
            },
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn bad_filter(k: &str, v: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid filter {k}: {v}"))
}

/// The filtered page: `marker` names the last image of the previous page.
async fn page(cloud: &Cloud, ctx: &RequestContext, raw: Option<String>) -> ApiResult<Vec<Image>> {
    let mut q = query(raw)?;
    let limit = q
        .remove("limit")
        .map(|l| l.parse::<usize>().map_err(|_| bad_filter("limit", &l)))
        .transpose()?;
    let marker = q.remove("marker");
    q.remove("page_size");
    let mut list = Vec::new();
    for i in all_images(cloud, ctx).await? {
        if matches(&i, &q)? {
            list.push(i);
        }
    }
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    if let Some(m) = marker {
        let at = list
            .iter()
            .position(|i| i.id == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        list.drain(..=at);
    }
    if let Some(l) = limit {
        list.truncate(l);
    }
    Ok(list)
}

/// List Images: `GET /images` (id, name, links).
async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let images = page(&cloud, &ctx, raw).await?;
    let list: Vec<Value> = images
        .iter()
        .map(|i| json!({"id": i.id, "name": i.name, "links": links(&headers, &i.id)}))
        .collect();
    Ok(axum::Json(json!({"images": list})))
}

/// List Images With Details: `GET /images/detail`.
async fn list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let images = page(&cloud, &ctx, raw).await?;
    let list: Vec<Value> = images.iter().map(|i| detail(&headers, i)).collect();
    Ok(axum::Json(json!({"images": list})))
}

async fn image(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
) -> ApiResult<Image> {
    until(mv, LAST)?;
    cloud.image.image_get(ctx, id).await.map_err(|e| match e {
        ApiError::Internal(e) => ApiError::Internal(e),
        _ => not_found(),
    })
}

/// Show Image Details: `GET /images/{image_id}`.
async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id).await?;
    Ok(axum::Json(json!({"image": detail(&headers, &i)})))
}

/// Delete Image -> 204.
async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    image(&cloud, &ctx, mv, id.clone()).await?;
    cloud.image.image_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies property changes through the image service's JSON patch.
async fn patch(
    cloud: &Cloud,
    ctx: &RequestContext,
    id: String,
    ops: Vec<Value>,
) -> ApiResult<Image> {
    let ops = serde_json::from_value(Value::Array(ops))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("image patch: {e}")))?;
    cloud.image.image_update(ctx, id, ops).await
}

fn string_map(body: &Value, key: &str) -> ApiResult<Map<String, Value>> {
    let m = body
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request(format!("'{key}' is a required property")))?;
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 || !v.is_string() {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. Value: {k}."
            )));
        }
    }
    Ok(m.clone())
}

fn set_ops(m: &Map<String, Value>, existing: &Map<String, Value>) -> Vec<Value> {
    m.iter()
        .map(|(k, v)| {
            let op = if existing.contains_key(k) { "replace" } else { "add" };
            json!({"op": op, "path": format!("/{}", k.replace('~', "~0").replace('/', "~1")), "value": v})
        })
        .collect()
}

async fn meta_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id).await?;
    Ok(axum::Json(json!({"metadata": metadata(&i)})))
}

/// Create Image Metadata: `POST /images/{id}/metadata` merges.
async fn meta_merge(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id.clone()).await?;
    let m = string_map(&body, "metadata")?;
    let i = patch(&cloud, &ctx, id, set_ops(&m, &i.properties)).await?;
    Ok(axum::Json(json!({"metadata": metadata(&i)})))
}

/// Update Image Metadata: `PUT /images/{id}/metadata` replaces all of it.
async fn meta_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id.clone()).await?;
    let m = string_map(&body, "metadata")?;
    let mut ops: Vec<Value> = i
        .properties
        .keys()
        .filter(|k| !m.contains_key(*k))
        .map(|k| json!({"op": "remove", "path": format!("/{}", k.replace('~', "~0").replace('/', "~1"))}))
        .collect();
    ops.extend(set_ops(&m, &i.properties));
    let i = patch(&cloud, &ctx, id, ops).await?;
    Ok(axum::Json(json!({"metadata": metadata(&i)})))
}

async fn meta_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id).await?;
    let v = i
        .properties
        .get(&key)
        .ok_or_else(|| ApiError::Missing("Image not found.".into()))?;
    Ok(axum::Json(json!({"meta": {key: v}})))
}

/// Create Or Update Image Metadata Item: `PUT /images/{id}/metadata/{key}`.
async fn meta_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let i = image(&cloud, &ctx, mv, id.clone()).await?;
    let m = string_map(&body, "meta")?;
    if m.len() != 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !m.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    patch(&cloud, &ctx, id, set_ops(&m, &i.properties)).await?;
    Ok(axum::Json(json!({"meta": m})))
}

/// Delete Image Metadata Item -> 204.
async fn meta_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let i = image(&cloud, &ctx, mv, id.clone()).await?;
    if !i.properties.contains_key(&key) {
        return Err(ApiError::Missing("Image not found.".into()));
    }
    let path = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
    patch(
        &cloud,
        &ctx,
        id,
        vec![json!({"op": "remove", "path": path})],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
