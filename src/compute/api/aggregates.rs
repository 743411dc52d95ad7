//! Host aggregates (api-ref: compute "Host aggregates (os-aggregates)").

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Microversion;
use super::schema;
use crate::cloud::Cloud;
use crate::compute::aggregates::{Aggregate, AggregateChange};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-aggregates", get(list).post(create))
        .route("/os-aggregates/{id}", get(show).put(update).delete(delete))
        .route("/os-aggregates/{id}/action", post(action))
        .route("/os-aggregates/{id}/images", post(cache_images))
}

/// Request Image Pre-caching For Aggregate: `POST /os-aggregates/{id}/images`
/// (admin, 2.81) -> 202.
async fn cache_images(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::http::StatusCode> {
    ctx.require_admin()?;
    if !mv.at_least(81) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    let wrapped = json!({"request": body});
    let o = schema::object(&wrapped, "request", &["cache"])?;
    let list = o
        .get("cache")
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute body. 'cache' is a required property",
            )
        })?
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute cache. It must be a non-empty array.",
            )
        })?;
    let mut ids = Vec::new();
    for item in list {
        let wrapped = json!({"image": item});
        let i = schema::object(&wrapped, "image", &["id"])?;
        let image_id = schema::required(i, "id", 1, 255)?;
        if uuid::Uuid::parse_str(&image_id).is_err() {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute id. Value: {image_id}. '{image_id}' is not a 'uuid'"
            )));
        }
        ids.push(image_id);
    }
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute id. Value: {id}."
        ))
    })?;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(ApiError::bad_request("Duplicate images in request"));
    }
    cloud.compute.aggregate_cache_images(&ctx, id, ids).await?;
    Ok(axum::http::StatusCode::ACCEPTED)
}

/// Nova's aggregate ids are integers; anything else names no aggregate.
fn agg_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::Missing(format!("Aggregate {id} could not be found.")))
}

fn base(a: &Aggregate, mv: Microversion) -> Value {
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.availability_zone(),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "deleted": false,
        "deleted_at": null,
    });
    if mv.at_least(41) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

fn view(a: &Aggregate, mv: Microversion) -> Value {
    let mut v = base(a, mv);
    v["hosts"] = json!(a.hosts);
    v["metadata"] = json!(a.metadata);
    v
}

fn one(a: &Aggregate, mv: Microversion) -> axum::Json<Value> {
    axum::Json(json!({"aggregate": view(a, mv)}))
}

/// List Aggregates: `GET /os-aggregates`.
async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    let all = cloud.compute.aggregate_list(&ctx).await?;
    let list: Vec<Value> = all.iter().map(|a| view(a, mv)).collect();
    Ok(axum::Json(json!({"aggregates": list})))
}

/// Create Aggregate: `POST /os-aggregates` -> 200 without hosts and metadata.
async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let o = schema::object(&body, "aggregate", &["name", "availability_zone"])?;
    let name = schema::required(o, "name", 1, 255)?;
    let zone = schema::nullable(o, "availability_zone", 1, 255)?.flatten();
    let a = cloud.compute.aggregate_create(&ctx, name, zone).await?;
    Ok(axum::Json(json!({"aggregate": base(&a, mv)})))
}

/// Show Aggregate Details: `GET /os-aggregates/{aggregate_id}`.
async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let a = cloud.compute.aggregate_get(&ctx, agg_id(&id)?).await?;
    Ok(one(&a, mv))
}

/// Update Aggregate: `PUT /os-aggregates/{aggregate_id}`.
async fn update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let o = schema::object(&body, "aggregate", &["name", "availability_zone"])?;
    if o.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute aggregate. Value: {}. {} does not have enough properties",
        ));
    }
    let change = AggregateChange {
        name: o
            .get("name")
            .map(|v| schema::string("name", v, 1, 255, true))
            .transpose()?,
        availability_zone: schema::nullable(o, "availability_zone", 1, 255)?,
    };
    let a = cloud
        .compute
        .aggregate_update(&ctx, agg_id(&id)?, change)
        .await?;
    Ok(one(&a, mv))
}

/// Delete Aggregate -> 200 with no body, as Nova answers.
async fn delete(State(cloud): State<Cloud>, ctx: Ctx, Path(id): Path<String>) -> ApiResult<()> {
    ctx.require_admin()?;
    cloud.compute.aggregate_delete(&ctx, agg_id(&id)?).await
}

fn metadata(body: &Value) -> ApiResult<BTreeMap<String, Option<String>>> {
    let o = schema::object(body, "set_metadata", &["metadata"])?;
    let m = o
        .get("metadata")
        .ok_or_else(|| ApiError::bad_request("'metadata' is a required property"))?
        .as_object()
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute metadata. It is not of type 'object'",
            )
        })?;
    let mut out = BTreeMap::new();
    for (k, v) in m {
        schema::string("metadata", &json!(k), 1, 255, false)?;
        let v = match v {
            Value::Null => None,
            v => Some(schema::string(k, v, 0, 255, false)?),
        };
        out.insert(k.clone(), v);
    }
    Ok(out)
}

fn host_arg(body: &Value, action: &str) -> ApiResult<String> {
    let o = schema::object(body, action, &["host"])?;
    schema::required(o, "host", 1, 255)
}

/// Add Host / Remove Host / Create Or Update Aggregate Metadata:
/// `POST /os-aggregates/{aggregate_id}/action`.
async fn action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let id = agg_id(&id)?;
    let compute = &cloud.compute;
    let Some(name) = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next())
    else {
        return Err(ApiError::bad_request(
            "Malformed request body: exactly one action is expected.",
        ));
    };
    let a = match name.as_str() {
        "add_host" => {
            compute
                .aggregate_add_host(&ctx, id, host_arg(&body, name)?)
                .await?
        }
        "remove_host" => {
            compute
                .aggregate_remove_host(&ctx, id, host_arg(&body, name)?)
                .await?
        }
        "set_metadata" => {
            compute
                .aggregate_set_metadata(&ctx, id, metadata(&body)?)
                .await?
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Additional properties are not allowed ('{other}' was unexpected)"
            )));
        }
    };
    Ok(one(&a, mv))
}
