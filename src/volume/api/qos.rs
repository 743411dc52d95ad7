//! QoS specs (api-ref: block storage v3 "Quality of service (QoS) specifications
//! (qos-specs)"), admin only.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::{UrlProject, envelope, parse_bool, query, v3_root};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::model::QosSpecs;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/qos-specs", get(list).post(create))
        .route("/qos-specs/{id}", get(show).put(set_keys).delete(delete))
        .route("/qos-specs/{id}/delete_keys", put(unset_keys))
        .route("/qos-specs/{id}/associations", get(associations))
        .route("/qos-specs/{id}/associate", get(associate))
        .route("/qos-specs/{id}/disassociate", get(disassociate))
        .route("/qos-specs/{id}/disassociate_all", get(disassociate_all))
}

type Proj = Option<axum::Extension<UrlProject>>;

fn view(q: &QosSpecs) -> Value {
    json!({"id": q.id, "name": q.name, "consumer": q.consumer, "specs": q.specs})
}

/// Cinder's qos links: a self link and a bookmark.
fn links(h: &HeaderMap, p: &Proj, id: &str) -> Value {
    super::view::links(
        &v3_root(h, &p.as_ref().map(|e| e.0.clone())),
        "qos-specs",
        id,
    )
}

/// Spec values are strings (numbers and booleans are taken as Cinder's API does).
fn spec_value(k: &str, v: &Value) -> ApiResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.into()),
        other => Err(ApiError::bad_request(format!(
            "Invalid input received: Value for QoS spec key {k} must be a string, not {other}."
        ))),
    }
}

async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    ctx.require_admin()?;
    let b = envelope(&body, "qos_specs")?;
    let name = match b.get("name") {
        Some(Value::String(n)) => n.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute qos_specs. 'name' is a required property",
            ));
        }
    };
    let mut consumer = None;
    let mut specs = BTreeMap::new();
    for (k, v) in b {
        match k.as_str() {
            "name" => {}
            "consumer" => consumer = Some(spec_value(k, v)?),
            _ => {
                specs.insert(k.clone(), spec_value(k, v)?);
            }
        }
    }
    let q = cloud.volume.qos_create(&ctx, name, consumer, specs).await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"qos_specs": view(&q), "links": links(&h, &p, &q.id)})),
    ))
}

async fn list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let qs = cloud.volume.qos_list(&ctx).await?;
    Ok(axum::Json(
        json!({"qos_specs": qs.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let q = cloud.volume.qos_get(&ctx, id).await?;
    Ok(axum::Json(
        json!({"qos_specs": view(&q), "links": links(&h, &p, &q.id)}),
    ))
}

async fn set_keys(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let b = envelope(&body, "qos_specs")?;
    let mut set = BTreeMap::new();
    for (k, v) in b {
        set.insert(k.clone(), spec_value(k, v)?);
    }
    let out = cloud.volume.qos_set_keys(&ctx, id, set).await?;
    Ok(axum::Json(json!({"qos_specs": out})))
}

async fn unset_keys(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    ctx.require_admin()?;
    let keys = match body.get("keys") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|k| {
                k.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::bad_request("Invalid input received: keys must be strings.")
                })
            })
            .collect::<ApiResult<Vec<_>>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "Missing required element 'keys' in request body.",
            ));
        }
    };
    cloud.volume.qos_unset_keys(&ctx, id, keys).await?;
    Ok(StatusCode::ACCEPTED)
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
        .map(|f| parse_bool("force", f))
        .transpose()?
        .unwrap_or(false);
    cloud.volume.qos_delete(&ctx, id, force).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn associations(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let types = cloud.volume.qos_associations(&ctx, id).await?;
    let items: Vec<Value> = types
        .into_iter()
        .map(|(id, name)| json!({"association_type": "volume_type", "id": id, "name": name}))
        .collect();
    Ok(axum::Json(json!({"qos_associations": items})))
}

/// The `vol_type_id` query parameter (Cinder's 400 when it is missing).
fn type_param(raw: Option<String>) -> ApiResult<String> {
    query(raw)?
        .remove("vol_type_id")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("Volume Type id must not be None."))
}

async fn associate(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    ctx.require_admin()?;
    let t = type_param(raw)?;
    cloud.volume.qos_associate(&ctx, id, t).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn disassociate(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    ctx.require_admin()?;
    let t = type_param(raw)?;
    cloud.volume.qos_disassociate(&ctx, id, Some(t)).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn disassociate_all(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.volume.qos_disassociate(&ctx, id, None).await?;
    Ok(StatusCode::ACCEPTED)
}
