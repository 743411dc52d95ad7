//! The common shape of a Keystone v3 collection's routes, written once: a
//! resource type implements [`Collection`], through `collection!`, by naming its
//! keys, list filters, request envelope, view and `Identity` calls; the generic
//! handlers here add the envelopes, `links`, filtering/paging and status codes.
//! Policy stays in the `Identity` calls, so it is checked after the body parses.

use std::collections::HashMap;
use std::future::Future;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{created, list_response, no_content};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::Identity;

/// A collection served by [`list`], [`create`], [`show`], [`update`] (`PATCH`)
/// and [`delete`] under `/v3/<plural>`.
pub(super) trait Collection: Sized + Sync {
    /// Key of one resource in request and response bodies (`"domain"`).
    const SINGULAR: &'static str;
    /// Key of the list and last segment of its URL (`"domains"`).
    const PLURAL: &'static str;
    /// Fields a list query filters on by exact match.
    const FILTERS: &'static [&'static str];
    /// The request envelope, `{"<singular>": {...}}`.
    type Body: DeserializeOwned + Send + 'static;

    /// The resource as the API shows it, with its `links.self`.
    fn view(h: &HeaderMap, r: &Self) -> Value;

    fn list(
        identity: &Identity,
        ctx: &RequestContext,
    ) -> impl Future<Output = ApiResult<Vec<Self>>> + Send;
    fn create(
        identity: &Identity,
        ctx: &RequestContext,
        body: Self::Body,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
    fn get(
        identity: &Identity,
        ctx: &RequestContext,
        id: String,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
    fn update(
        identity: &Identity,
        ctx: &RequestContext,
        id: String,
        body: Self::Body,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
    fn delete(
        identity: &Identity,
        ctx: &RequestContext,
        id: String,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// Implements [`Collection`] for `$ty`: `$body { $field }` is the request envelope
/// and the field holding the input, `$view` the view function, `filters` the list
/// filters, and the bracket names the `Identity` calls (list, create, get, update,
/// delete). Each file keeps its own `$body` struct: its name shows in body parse
/// errors (`expected struct Body`), which clients see.
macro_rules! collection {
    (
        $ty:ty, $singular:literal, $plural:literal, $body:ident { $field:ident }, $view:path,
        filters: [$($filter:literal),* $(,)?],
        [$list:ident, $create:ident, $get:ident, $update:ident, $delete:ident $(,)?] $(,)?
    ) => {
        impl $crate::identity::api::crud::Collection for $ty {
            const SINGULAR: &'static str = $singular;
            const PLURAL: &'static str = $plural;
            const FILTERS: &'static [&'static str] = &[$($filter),*];
            type Body = $body;
            fn view(h: &::axum::http::HeaderMap, r: &Self) -> ::serde_json::Value {
                $view(h, r)
            }
            async fn list(
                identity: &$crate::identity::Identity,
                ctx: &$crate::http::context::RequestContext,
            ) -> $crate::http::error::ApiResult<Vec<Self>> {
                identity.$list(ctx).await
            }
            async fn create(
                identity: &$crate::identity::Identity,
                ctx: &$crate::http::context::RequestContext,
                b: $body,
            ) -> $crate::http::error::ApiResult<Self> {
                identity.$create(ctx, b.$field).await
            }
            async fn get(
                identity: &$crate::identity::Identity,
                ctx: &$crate::http::context::RequestContext,
                id: String,
            ) -> $crate::http::error::ApiResult<Self> {
                identity.$get(ctx, id).await
            }
            async fn update(
                identity: &$crate::identity::Identity,
                ctx: &$crate::http::context::RequestContext,
                id: String,
                b: $body,
            ) -> $crate::http::error::ApiResult<Self> {
                identity.$update(ctx, id, b.$field).await
            }
            async fn delete(
                identity: &$crate::identity::Identity,
                ctx: &$crate::http::context::RequestContext,
                id: String,
            ) -> $crate::http::error::ApiResult<()> {
                identity.$delete(ctx, id).await
            }
        }
    };
}
pub(super) use collection;

/// `GET /v3/<plural>`: exact-match filters, `limit`/`marker` paging, `links`.
pub(super) async fn list<R: Collection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = R::list(&cloud.identity, &ctx)
        .await?
        .iter()
        .map(|r| R::view(&h, r))
        .collect();
    list_response(&h, R::PLURAL, R::PLURAL, items, &q, R::FILTERS)
}

/// `POST /v3/<plural>` -> 201 with the new resource.
pub(super) async fn create<R: Collection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<R::Body>,
) -> ApiResult<Response> {
    let r = R::create(&cloud.identity, &ctx, b).await?;
    Ok(created(json!({ R::SINGULAR: R::view(&h, &r) })))
}

/// `GET /v3/<plural>/{id}`.
pub(super) async fn show<R: Collection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let r = R::get(&cloud.identity, &ctx, id).await?;
    Ok(axum::Json(json!({ R::SINGULAR: R::view(&h, &r) })))
}

/// `PATCH /v3/<plural>/{id}`.
pub(super) async fn update<R: Collection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<R::Body>,
) -> ApiResult<axum::Json<Value>> {
    let r = R::update(&cloud.identity, &ctx, id, b).await?;
    Ok(axum::Json(json!({ R::SINGULAR: R::view(&h, &r) })))
}

/// `DELETE /v3/<plural>/{id}` -> 204.
pub(super) async fn delete<R: Collection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    R::delete(&cloud.identity, &ctx, id).await?;
    Ok(no_content())
}
