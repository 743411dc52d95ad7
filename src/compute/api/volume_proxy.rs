//! Nova's deprecated block storage proxies, up to microversion 2.35 (api-ref:
//! compute "Volume Extension (os-volumes, os-snapshots) (DEPRECATED)"): Nova's
//! camelCase shapes and faults over the block storage service, called as the
//! requesting user the way Nova calls Cinder with the user's token.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::Microversion;
use super::hosts::until;
use super::params::query;
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::facade::{ListOptions, Snapshot, SnapshotCreate, Volume, VolumeCreate};

/// The last microversion of the proxy APIs (2.36 removed them).
const LAST: u32 = 35;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-volumes", get(volume_list).post(volume_create))
        .route("/os-volumes/detail", get(volume_list_detail))
        .route("/os-volumes/{id}", get(volume_show).delete(volume_delete))
        .route("/os-snapshots", get(snapshot_list).post(snapshot_create))
        .route("/os-snapshots/detail", get(snapshot_list_detail))
        .route(
            "/os-snapshots/{id}",
            get(snapshot_show).delete(snapshot_delete),
        )
}

/// Nova's volume view: an unattached volume has `attachments: [{}]`, an attached
/// one its first attachment (Nova's proxy shows one).
fn volume_view(v: &Volume) -> Value {
    let attachment = v
        .attachments
        .iter()
        .find(|a| a.status == "attached" && a.instance_uuid.is_some());
    let attachments = match attachment {
        Some(a) if v.attach_status == "attached" => {
            let mut one = json!({
                "id": v.id,
                "volumeId": v.id,
                "serverId": a.instance_uuid,
            });
            if let Some(m) = &a.mountpoint {
                one["device"] = json!(m);
            }
            json!([one])
        }
        _ => json!([{}]),
    };
    json!({
        "id": v.id,
        "status": v.status.as_str(),
        "size": v.size,
        "availabilityZone": v.availability_zone,
        "createdAt": v.created_at,
        "attachments": attachments,
        "displayName": v.name,
        "displayDescription": v.description,
        "volumeType": if v.type_name.is_empty() { json!(null) } else { json!(v.type_name) },
        "snapshotId": v.snapshot_id,
        "metadata": v.metadata,
    })
}

fn snapshot_view(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "volumeId": s.volume_id,
        "status": s.status.as_str(),
        "size": s.size,
        "createdAt": s.created_at,
        "displayName": s.name,
        "displayDescription": s.description,
    })
}

/// Nova's `offset`/`limit` slicing of the proxies' lists (400 for a negative or
/// non-numeric value).
fn limited<T>(items: Vec<T>, raw: Option<String>) -> ApiResult<Vec<T>> {
    let q = query(raw)?;
    let number = |key: &str| -> ApiResult<Option<usize>> {
        q.get(key)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters {key}. Value: {v}."
                    ))
                })
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let limit = number("limit")?.filter(|l| *l > 0).unwrap_or(usize::MAX);
    Ok(items.into_iter().skip(offset).take(limit).collect())
}

async fn volumes(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Microversion,
    raw: Option<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let list = cloud
        .volume
        .volume_list(ctx, ListOptions::default())
        .await?;
    let list: Vec<Value> = limited(list, raw)?.iter().map(volume_view).collect();
    Ok(axum::Json(json!({"volumes": list})))
}

/// List Volumes: `GET /os-volumes`.
async fn volume_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    volumes(&cloud, &ctx, mv, raw).await
}

/// List Volumes With Details: `GET /os-volumes/detail` (the same view in Nova).
async fn volume_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    volumes(&cloud, &ctx, mv, raw).await
}

/// An optional string member of a proxy body (400 when it is not a string).
fn text(o: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. {v} is not of type 'string'"
        ))),
    }
}

/// The members an os-volumes create may carry (Nova's schema has
/// `additionalProperties: false`).
const VOLUME_CREATE_MEMBERS: &[&str] = &[
    "volume_type",
    "metadata",
    "snapshot_id",
    "size",
    "availability_zone",
    "display_name",
    "display_description",
];

/// The `volume` member of an os-volumes create, checked against Nova's schema.
fn parse_volume_create(body: &Value) -> ApiResult<VolumeCreate> {
    let o = body
        .get("volume")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'volume' is a required property"))?;
    if let Some(k) = o
        .keys()
        .find(|k| !VOLUME_CREATE_MEMBERS.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let size = volume_size(o)?;
    let metadata = volume_metadata(o)?;
    Ok(VolumeCreate {
        size,
        name: text(o, "display_name")?,
        description: text(o, "display_description")?,
        volume_type: text(o, "volume_type")?,
        availability_zone: text(o, "availability_zone")?,
        metadata,
        multiattach: false,
        snapshot_id: text(o, "snapshot_id")?,
        source_volid: None,
        image_ref: None,
        group_id: None,
    })
}

/// The required `size`: a positive integer, or a string of digits naming one
/// (Nova's schema takes both).
fn volume_size(o: &Map<String, Value>) -> ApiResult<i64> {
    match o.get("size") {
        None => return Err(ApiError::bad_request("'size' is a required property")),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Some(_) => None,
    }
    .filter(|n| *n >= 1)
    .ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute size. Value: {}. It must be an integer of at least 1.",
            o.get("size").map(Value::to_string).unwrap_or_default()
        ))
    })
}

/// The optional `metadata` object; a value that is not a string is kept as its
/// JSON text.
fn volume_metadata(o: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
    match o.get("metadata") {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), v)
            })
            .collect()),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute metadata. Value: {v}. {v} is not of type 'object'"
        ))),
    }
}

/// Create Volume: `POST /os-volumes` -> 200 with Nova's view and a Location.
async fn volume_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    until(mv, LAST)?;
    let req = parse_volume_create(&body)?;
    if let Some(s) = &req.snapshot_id {
        cloud.volume.snapshot_get(&ctx, s.clone()).await?;
    }
    let v = cloud.volume.volume_create(&ctx, req).await?;
    let location = format!(
        "{}/os-volumes/{}",
        super::params::compute_root(&headers),
        v.id
    );
    let mut resp = axum::Json(json!({"volume": volume_view(&v)})).into_response();
    if let Ok(h) = axum::http::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(axum::http::header::LOCATION, h);
    }
    Ok(resp)
}

/// Show Volume Details: `GET /os-volumes/{volume_id}`.
async fn volume_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let v = cloud.volume.volume_get(&ctx, id).await?;
    Ok(axum::Json(json!({"volume": volume_view(&v)})))
}

/// Delete Volume: `DELETE /os-volumes/{volume_id}` -> 202.
async fn volume_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    until(mv, LAST)?;
    cloud.volume.volume_delete(&ctx, id, false, false).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn snapshots(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Microversion,
    raw: Option<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let list = cloud.volume.snapshot_list(ctx, false).await?;
    let list: Vec<Value> = limited(list, raw)?.iter().map(snapshot_view).collect();
    Ok(axum::Json(json!({"snapshots": list})))
}

/// List Snapshots: `GET /os-snapshots`.
async fn snapshot_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    snapshots(&cloud, &ctx, mv, raw).await
}

/// List Snapshots With Details: `GET /os-snapshots/detail`.
async fn snapshot_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    snapshots(&cloud, &ctx, mv, raw).await
}

/// Create Snapshot: `POST /os-snapshots` -> 200.
async fn snapshot_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let o = body
        .get("snapshot")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'snapshot' is a required property"))?;
    const KNOWN: &[&str] = &["volume_id", "force", "display_name", "display_description"];
    if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let volume_id = text(o, "volume_id")?
        .ok_or_else(|| ApiError::bad_request("'volume_id' is a required property"))?;
    let force = match o.get("force") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => true,
            "0" | "f" | "false" | "off" | "n" | "no" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute force. Value: {s}."
                )));
            }
        },
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute force. Value: {v}."
            )));
        }
    };
    let req = SnapshotCreate {
        volume_id,
        name: text(o, "display_name")?,
        description: text(o, "display_description")?,
        metadata: BTreeMap::new(),
        force,
    };
    let s = cloud.volume.snapshot_create(&ctx, req).await?;
    Ok(axum::Json(json!({"snapshot": snapshot_view(&s)})))
}

/// Show Snapshot Details: `GET /os-snapshots/{snapshot_id}`.
async fn snapshot_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let s = cloud.volume.snapshot_get(&ctx, id).await?;
    Ok(axum::Json(json!({"snapshot": snapshot_view(&s)})))
}

/// Delete Snapshot: `DELETE /os-snapshots/{snapshot_id}` -> 202.
async fn snapshot_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    until(mv, LAST)?;
    cloud.volume.snapshot_delete(&ctx, id, false).await?;
    Ok(StatusCode::ACCEPTED)
}
