//! One generic collection for every service: a resource type names its envelope
//! keys, list filters, request body, view and its service's calls (list, create,
//! get, update, delete) through `collection!`. Each service's `api/crud.rs` keeps
//! only the handlers in its own wire shape (Keystone's `links` and `PATCH`,
//! Neutron's `fields`, bulk create and `If-Match` on `PUT`). Policy stays in the
//! service calls, so it is checked after the body parses.

use std::future::Future;

use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

/// A collection of `Self` held by `Service`, under `/<plural>`.
pub(crate) trait Collection: Sized + Send + Sync + 'static {
    /// The service that holds the collection (`Identity`, `NetworkService`).
    type Service: Send + Sync;
    /// Key of one resource in request and response bodies (`"network"`).
    const SINGULAR: &'static str;
    /// Key of the list and last segment of its URL (`"networks"`).
    const PLURAL: &'static str;
    /// Fields a list query filters on by exact match, where the handler filters
    /// (Keystone; Neutron filters on every field).
    const FILTERS: &'static [&'static str];
    /// The request envelope, `{"<singular>": {...}}`.
    type Body: DeserializeOwned + Send + 'static;

    fn service(cloud: &Cloud) -> &Self::Service;

    /// The resource as the API shows it to this caller.
    fn view(h: &HeaderMap, ctx: &RequestContext, r: &Self) -> Value;

    fn list(
        svc: &Self::Service,
        ctx: &RequestContext,
    ) -> impl Future<Output = ApiResult<Vec<Self>>> + Send;
    fn create(
        svc: &Self::Service,
        ctx: &RequestContext,
        body: Self::Body,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
    fn get(
        svc: &Self::Service,
        ctx: &RequestContext,
        id: String,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
    fn delete(
        svc: &Self::Service,
        ctx: &RequestContext,
        id: String,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// A [`Collection`] whose resources change in place. `if_match` is the request's
/// `If-Match` (Neutron's `revision_number=<n>`), for the services that check it.
pub(crate) trait Updatable: Collection {
    fn update(
        svc: &Self::Service,
        ctx: &RequestContext,
        id: String,
        body: Self::Body,
        if_match: Option<String>,
    ) -> impl Future<Output = ApiResult<Self>> + Send;
}

/// Implements [`Collection`] for `$ty`, held by `cloud.$svc` (of type `$svc_ty`):
/// `$body { $field }` is the request envelope and the field holding the input;
/// `view:` names a view of `(headers, resource)`, `view_ctx:` one of `(resource,
/// caller)`; `filters:` the list's exact-match filters; the bracket names the
/// service's list, create, get and delete calls. `update:` implements
/// [`Updatable`] with a call of `(ctx, id, input)`, `update_if_match:` with one that
/// also takes the `If-Match` header. Each file keeps its own `$body` struct: its
/// name shows in body parse errors (`expected struct Body`), which clients see.
macro_rules! collection {
    (@updatable $ty:ty, $svc_ty:ty, $body:ident,
        |$svc:ident, $ctx:ident, $id:ident, $b:ident, $if_match:ident| $call:expr) => {
        impl $crate::http::crud::Updatable for $ty {
            async fn update(
                $svc: &$svc_ty,
                $ctx: &$crate::http::context::RequestContext,
                $id: String,
                $b: $body,
                $if_match: Option<String>,
            ) -> $crate::http::error::ApiResult<Self> {
                $call
            }
        }
    };
    (
        $ty:ty, $singular:literal, $plural:literal, $body:ident { $field:ident },
        $svc:ident: $svc_ty:ty,
        $(view: $view:path,)?
        $(view_ctx: $view_ctx:path,)?
        $(filters: [$($filter:literal),* $(,)?],)?
        [$list:ident, $create:ident, $get:ident, $delete:ident $(,)?]
        $(, update: $update:ident)?
        $(, update_if_match: $update_if_match:ident)? $(,)?
    ) => {
        impl $crate::http::crud::Collection for $ty {
            type Service = $svc_ty;
            const SINGULAR: &'static str = $singular;
            const PLURAL: &'static str = $plural;
            const FILTERS: &'static [&'static str] = &[$($($filter),*)?];
            type Body = $body;
            fn service(cloud: &$crate::cloud::Cloud) -> &$svc_ty {
                &cloud.$svc
            }
            $(
                fn view(
                    h: &::axum::http::HeaderMap,
                    _: &$crate::http::context::RequestContext,
                    r: &Self,
                ) -> ::serde_json::Value {
                    $view(h, r)
                }
            )?
            $(
                fn view(
                    _: &::axum::http::HeaderMap,
                    ctx: &$crate::http::context::RequestContext,
                    r: &Self,
                ) -> ::serde_json::Value {
                    $view_ctx(r, ctx)
                }
            )?
            async fn list(
                svc: &$svc_ty,
                ctx: &$crate::http::context::RequestContext,
            ) -> $crate::http::error::ApiResult<Vec<Self>> {
                svc.$list(ctx).await
            }
            async fn create(
                svc: &$svc_ty,
                ctx: &$crate::http::context::RequestContext,
                b: $body,
            ) -> $crate::http::error::ApiResult<Self> {
                svc.$create(ctx, b.$field).await
            }
            async fn get(
                svc: &$svc_ty,
                ctx: &$crate::http::context::RequestContext,
                id: String,
            ) -> $crate::http::error::ApiResult<Self> {
                svc.$get(ctx, id).await
            }
            async fn delete(
                svc: &$svc_ty,
                ctx: &$crate::http::context::RequestContext,
                id: String,
            ) -> $crate::http::error::ApiResult<()> {
                svc.$delete(ctx, id).await
            }
        }
        $(
            $crate::http::crud::collection!(@updatable $ty, $svc_ty, $body,
                |svc, ctx, id, b, _if_match| svc.$update(ctx, id, b.$field).await);
        )?
        $(
            $crate::http::crud::collection!(@updatable $ty, $svc_ty, $body,
                |svc, ctx, id, b, if_match| svc.$update_if_match(ctx, id, b.$field, if_match).await);
        )?
    };
}
pub(crate) use collection;
