//! Resource classes (1.2) and traits (1.6): the names inventories, allocations and
//! providers may use (api-ref: resource_classes, resource_class, traits).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, Mv, PREFIX, check_params, link, location, query_pairs, single};
use crate::cloud::Cloud;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/resource_classes",
            get(resource_class_list).post(resource_class_create),
        )
        .route(
            "/resource_classes/{name}",
            get(resource_class_show)
                .put(resource_class_update)
                .delete(resource_class_delete),
        )
        .route("/traits", get(trait_list))
        .route(
            "/traits/{name}",
            get(trait_show).put(trait_update).delete(trait_delete),
        )
}

fn class_href(name: &str) -> String {
    format!("{PREFIX}/resource_classes/{name}")
}

fn class_view(name: &str) -> Value {
    json!({"name": name, "links": [link("self", class_href(name))]})
}

async fn resource_class_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(2)?;
    let names = cloud.placement.classes_list().await?;
    let views: Vec<Value> = names.iter().map(|n| class_view(n)).collect();
    Ok(axum::Json(json!({"resource_classes": views})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassCreate {
    name: String,
}

/// `POST /resource_classes`: a new CUSTOM_* class, 201 with its Location.
async fn resource_class_create(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    headers: HeaderMap,
    Json(body): Json<ClassCreate>,
) -> ApiResult<Response> {
    mv.require(2)?;
    cloud.placement.class_create(&body.name, false).await?;
    Ok((
        StatusCode::CREATED,
        location(&headers, &class_href(&body.name)),
    )
        .into_response())
}

async fn resource_class_show(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(2)?;
    cloud.placement.class_get(&name).await?;
    Ok(axum::Json(class_view(&name)))
}

/// `PUT /resource_classes/{name}` from 1.7: create if missing (201), else 204.
async fn resource_class_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    mv.require(2)?;
    if !mv.at_least(7) {
        // 1.2-1.6 renamed classes through a body; Placement has refused that since.
        return Err(ApiError::bad_request(
            "Updating a resource class needs microversion 1.7 or later.",
        ));
    }
    if cloud.placement.class_create(&name, true).await? {
        Ok((StatusCode::CREATED, location(&headers, &class_href(&name))).into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn resource_class_delete(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(2)?;
    cloud.placement.class_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /traits?name=in:A,B|startswith:P&associated=true|false`.
async fn trait_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    mv.require(6)?;
    let pairs = query_pairs(raw)?;
    check_params(&pairs, &["name", "associated"])?;
    let associated = match single(&pairs, "associated")? {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid query string parameters: 'associated' must be true or false, got {v}"
            )));
        }
    };
    let name = single(&pairs, "name")?.map(str::to_owned);
    let traits = cloud.placement.traits_list(name, associated).await?;
    Ok(axum::Json(json!({"traits": traits})))
}

/// `GET /traits/{name}`: 204 if it exists.
async fn trait_show(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(6)?;
    cloud.placement.trait_exists(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /traits/{name}`: 201 when created, 204 when it already existed.
async fn trait_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    mv.require(6)?;
    if cloud.placement.trait_put(&name).await? {
        Ok((
            StatusCode::CREATED,
            location(&headers, &format!("{PREFIX}/traits/{name}")),
        )
            .into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn trait_delete(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(6)?;
    cloud.placement.trait_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
