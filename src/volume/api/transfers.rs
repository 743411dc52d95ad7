//! Volume transfers (api-ref: block storage v3 "Volume transfer" under
//! `/os-volume-transfer`, and "Volume transfers (volume-transfers, 3.55 or later)").

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::view::links;
use super::{Mv, UrlProject, envelope, json_bool, opt_string, parse_bool, query, v3_root};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::model::Transfer;

/// The microversion that adds `/volume-transfers` and `no_snapshots`.
const NEW_API: u32 = 55;
/// The microversion that shows the projects and `accepted`.
const WITH_PROJECTS: u32 = 57;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-volume-transfer", get(list).post(create))
        .route("/os-volume-transfer/detail", get(list_detail))
        .route("/os-volume-transfer/{id}", get(show).delete(delete))
        .route("/os-volume-transfer/{id}/accept", post(accept))
        .route("/volume-transfers", get(list).post(create))
        .route("/volume-transfers/detail", get(list_detail))
        .route("/volume-transfers/{id}", get(show).delete(delete))
        .route("/volume-transfers/{id}/accept", post(accept))
}

type Proj = Option<axum::Extension<UrlProject>>;

/// `/volume-transfers` exists from 3.55 on; before, it is not found.
fn check_path(uri: &axum::http::Uri, mv: Mv) -> ApiResult<()> {
    if uri.path().starts_with("/volume-transfers") && !mv.at_least(NEW_API) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    Ok(())
}

fn root(h: &HeaderMap, p: &Proj) -> String {
    v3_root(h, &p.as_ref().map(|e| e.0.clone()))
}

/// Cinder's transfer view: the summary (id, name, volume, links), or the detail
/// with the creation time and the microversions' additions.
fn view(root: &str, t: &Transfer, mv: Mv, detail: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "volume_id": t.volume_id,
        "links": links(root, "os-volume-transfer", &t.id),
    });
    if detail {
        v["created_at"] = json!(t.created_at);
        if mv.at_least(NEW_API) {
            v["no_snapshots"] = json!(t.no_snapshots);
        }
        if mv.at_least(WITH_PROJECTS) {
            v["source_project_id"] = json!(t.source_project_id);
            v["destination_project_id"] = Value::Null;
            v["accepted"] = json!(false);
        }
    }
    v
}

#[allow(clippy::too_many_arguments)]
async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    check_path(&uri, mv)?;
    let t = envelope(&body, "transfer")?;
    let volume_id = opt_string("volume_id", t.get("volume_id"))?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute transfer. 'volume_id' is a required property",
        )
    })?;
    let name = opt_string("name", t.get("name"))?;
    if name.as_ref().is_some_and(|n| n.chars().count() > 255) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute name. Value is too long (maximum 255 characters).",
        ));
    }
    let no_snapshots = match t.get("no_snapshots") {
        Some(v) if mv.at_least(NEW_API) => json_bool("no_snapshots", v)?,
        _ => false,
    };
    let offer = cloud
        .volume
        .transfer_create(&ctx, volume_id, name, no_snapshots)
        .await?;
    let mut v = view(&root(&h, &p), &offer.transfer, mv, true);
    v["auth_key"] = json!(offer.auth_key);
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"transfer": v}))).into_response())
}

#[allow(clippy::too_many_arguments)]
async fn list_any(
    cloud: Cloud,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    raw: Option<String>,
    detail: bool,
) -> ApiResult<axum::Json<Value>> {
    check_path(&uri, mv)?;
    let q = query(raw)?;
    let all = q
        .get("all_tenants")
        .map(|v| parse_bool("all_tenants", v))
        .transpose()?
        .unwrap_or(false);
    let ts = cloud.volume.transfer_list(&ctx, all).await?;
    let root = root(&h, &p);
    let items: Vec<Value> = ts
        .iter()
        .filter(|t| q.get("name").is_none_or(|n| t.name.as_deref() == Some(n)))
        .map(|t| view(&root, t, mv, detail))
        .collect();
    Ok(axum::Json(json!({"transfers": items})))
}

async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list_any(cloud, ctx, mv, h, uri, p, raw, false).await
}

async fn list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list_any(cloud, ctx, mv, h, uri, p, raw, true).await
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    check_path(&uri, mv)?;
    let t = cloud.volume.transfer_get(&ctx, id).await?;
    Ok(axum::Json(
        json!({"transfer": view(&root(&h, &p), &t, mv, true)}),
    ))
}

async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    uri: axum::http::Uri,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    check_path(&uri, mv)?;
    cloud.volume.transfer_delete(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[allow(clippy::too_many_arguments)]
async fn accept(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    uri: axum::http::Uri,
    p: Proj,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    check_path(&uri, mv)?;
    let a = envelope(&body, "accept")?;
    let key = opt_string("auth_key", a.get("auth_key"))?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute accept. 'auth_key' is a required property",
        )
    })?;
    let t = cloud.volume.transfer_accept(&ctx, id, key).await?;
    let v = view(&root(&h, &p), &t, mv, false);
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"transfer": v}))).into_response())
}
