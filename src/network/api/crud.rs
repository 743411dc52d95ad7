//! The handlers of a Neutron collection, written once over the generic
//! [`Collection`] (`crate::http::crud`): they add the view, the envelopes, list
//! filters/paging, `fields`, bulk create, status codes and `If-Match`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::view::{list_body, select_fields, view};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
pub(super) use crate::http::crud::collection;
use crate::http::crud::{Collection, Updatable};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{self, JsonDoc};
use crate::network::NetworkService;
use crate::network::model::Resource;

/// A Neutron collection: the generic [`Collection`] of the network service's
/// resources, each shown by [`view`] as it is.
pub(super) trait NeutronCollection: Collection<Service = NetworkService> + Resource {}
impl<R: Collection<Service = NetworkService> + Resource> NeutronCollection for R {}

/// `GET /v2.0/<plural>`: filters, `fields`, sorting and paging.
pub(super) async fn list<R: NeutronCollection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = R::list(R::service(&cloud), &ctx)
        .await?
        .iter()
        .map(|r| view(r, &ctx))
        .collect();
    Ok(axum::Json(list_body(&h, R::PLURAL, items, &query(raw)?)?))
}

/// Neutron's `NAME_FIELD_SIZE` and `DESCRIPTION_FIELD_SIZE`, for every resource.
const NEUTRON_LENGTHS: &[(&str, usize)] = &[("name", 255), ("description", 255)];

/// `POST /v2.0/<plural>` -> 201 with the new resource; or, with `{"<plural>": [...]}`,
/// the bulk form: every resource or none (those made before a failure are deleted
/// again, as Neutron's bulk create rolls back), 201 with `{"<plural>": [...]}`.
pub(super) async fn create<R: NeutronCollection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    json::require_json(&headers)?;
    let Some(bodies) = bulk::<R>(&body)? else {
        let doc: Value = json::parse(&body)?;
        crate::http::validate::max_lens(&doc, R::SINGULAR, NEUTRON_LENGTHS)?;
        let b: R::Body = json::parse(&body)?;
        let r = R::create(R::service(&cloud), &ctx, b).await?;
        return Ok(created(R::SINGULAR, view(&r, &ctx)));
    };
    let mut made: Vec<R> = Vec::with_capacity(bodies.len());
    for b in bodies {
        match R::create(R::service(&cloud), &ctx, b).await {
            Ok(r) => made.push(r),
            Err(e) => {
                for r in made.iter().rev() {
                    let id = r.std().id.clone();
                    if let Err(undo) = R::delete(R::service(&cloud), &ctx, id.clone()).await {
                        tracing::warn!(kind = R::SINGULAR, %id, error = %undo,
                            "bulk create: could not delete a resource made before the failure");
                    }
                }
                return Err(e);
            }
        }
    }
    let views: Vec<Value> = made.iter().map(|r| view(r, &ctx)).collect();
    Ok(created(R::PLURAL, json!(views)))
}

/// The bulk form's items, each parsed as a single-resource body; `None` for the
/// single form.
fn bulk<R: NeutronCollection>(body: &[u8]) -> ApiResult<Option<Vec<R::Body>>> {
    let v: Value = json::parse(body)?;
    let Some(items) = v.get(R::PLURAL) else {
        return Ok(None);
    };
    let Some(items) = items.as_array() else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for {}. Reason: not a list.",
            R::PLURAL
        )));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("Resources required"));
    }
    items
        .iter()
        .map(|item| {
            let wrapped = json!({ R::SINGULAR: item });
            crate::http::validate::max_lens(&wrapped, R::SINGULAR, NEUTRON_LENGTHS)?;
            let one = serde_json::to_vec(&wrapped)
                .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
            json::parse(&one)
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

/// `GET /v2.0/<plural>/{id}`, with `fields`.
pub(super) async fn show<R: NeutronCollection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let r = R::get(R::service(&cloud), &ctx, id).await?;
    one(R::SINGULAR, view(&r, &ctx), raw)
}

/// `PUT /v2.0/<plural>/{id}`, honouring `If-Match`.
pub(super) async fn update<R: NeutronCollection + Updatable>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    JsonDoc(b, doc): JsonDoc<R::Body>,
) -> ApiResult<axum::Json<Value>> {
    crate::http::validate::max_lens(&doc, R::SINGULAR, NEUTRON_LENGTHS)?;
    let r = R::update(R::service(&cloud), &ctx, id, b, if_match(&h)).await?;
    Ok(axum::Json(json!({ R::SINGULAR: view(&r, &ctx) })))
}

/// `DELETE /v2.0/<plural>/{id}` -> 204.
pub(super) async fn delete<R: NeutronCollection>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    R::delete(R::service(&cloud), &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query string as ordered pairs (a key may repeat: `fields`, filters).
pub(super) fn query(raw: Option<String>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(&raw.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
}

/// The `If-Match` header (`revision_number=<n>`), checked by the service.
pub(super) fn if_match(h: &HeaderMap) -> Option<String> {
    h.get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// 201 with `{"<key>": v}`.
pub(super) fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ key: v }))).into_response()
}

/// `{"<key>": v}` cut down to the requested `fields`.
pub(super) fn one(key: &str, v: Value, raw: Option<String>) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(json!({ key: select_fields(v, &query(raw)?) })))
}
