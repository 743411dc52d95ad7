//! The handlers of a Keystone v3 collection, written once over the generic
//! [`Collection`] (`crate::http::crud`): they add the envelopes, `links`,
//! filtering/paging and status codes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::{created, list_response, no_content};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
pub(super) use crate::http::crud::collection;
use crate::http::crud::{Collection, Updatable};
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::Identity;

/// `GET /v3/<plural>`: exact-match filters, `limit`/`marker` paging, `links`.
pub(super) async fn list<R: Collection<Service = Identity>>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = R::list(R::service(&cloud), &ctx)
        .await?
        .iter()
        .map(|r| R::view(&h, &ctx, r))
        .collect();
    list_response(&h, R::PLURAL, R::PLURAL, items, &q, R::FILTERS)
}

/// `POST /v3/<plural>` -> 201 with the new resource.
pub(super) async fn create<R: Collection<Service = Identity>>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<R::Body>,
) -> ApiResult<Response> {
    let r = R::create(R::service(&cloud), &ctx, b).await?;
    Ok(created(json!({ R::SINGULAR: R::view(&h, &ctx, &r) })))
}

/// `GET /v3/<plural>/{id}`.
pub(super) async fn show<R: Collection<Service = Identity>>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let r = R::get(R::service(&cloud), &ctx, id).await?;
    Ok(axum::Json(json!({ R::SINGULAR: R::view(&h, &ctx, &r) })))
}

/// `PATCH /v3/<plural>/{id}`.
pub(super) async fn update<R: Updatable<Service = Identity>>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<R::Body>,
) -> ApiResult<axum::Json<Value>> {
    let r = R::update(R::service(&cloud), &ctx, id, b, None).await?;
    Ok(axum::Json(json!({ R::SINGULAR: R::view(&h, &ctx, &r) })))
}

/// `DELETE /v3/<plural>/{id}` -> 204.
pub(super) async fn delete<R: Collection<Service = Identity>>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    R::delete(R::service(&cloud), &ctx, id).await?;
    Ok(no_content())
}
