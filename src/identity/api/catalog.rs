//! `/v3/regions`, `/v3/services`, `/v3/endpoints` (Identity API v3: Service catalog):
//! envelopes, views and filters; the handlers are the generic ones of `crud.rs`.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use axum::extract::{Path, State};
use axum::response::Response;

use super::crud::{collection, create, delete, list, show, update};
use super::{created, self_link};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::identity::catalog::{EndpointInput, RegionInput, ServiceInput};
use crate::identity::model::{Endpoint, Region, Service};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/regions", get(list::<Region>).post(create::<Region>))
        .route(
            "/v3/regions/{region_id}",
            get(show::<Region>)
                .put(region_put)
                .patch(update::<Region>)
                .delete(delete::<Region>),
        )
        .route("/v3/services", get(list::<Service>).post(create::<Service>))
        .route(
            "/v3/services/{service_id}",
            get(show::<Service>)
                .patch(update::<Service>)
                .delete(delete::<Service>),
        )
        .route(
            "/v3/endpoints",
            get(list::<Endpoint>).post(create::<Endpoint>),
        )
        .route(
            "/v3/endpoints/{endpoint_id}",
            get(show::<Endpoint>)
                .patch(update::<Endpoint>)
                .delete(delete::<Endpoint>),
        )
}

/// `PUT /v3/regions/{region_id}`: creates the region with the id of the URL -> 201
/// (409 when it exists; Keystone refuses a different `id` in the body).
async fn region_put(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(mut b): Json<RegionBody>,
) -> ApiResult<Response> {
    if b.region.id.as_deref().is_some_and(|body_id| body_id != id) {
        return Err(ApiError::bad_request(
            "The region id in the body does not match the one of the URL.",
        ));
    }
    b.region.id = Some(id);
    let r = cloud.identity.region_create(&ctx, b.region).await?;
    Ok(created(json!({"region": region_view(&h, &r)})))
}

#[derive(Deserialize)]
pub(crate) struct RegionBody {
    region: RegionInput,
}
#[derive(Deserialize)]
pub(crate) struct ServiceBody {
    service: ServiceInput,
}
#[derive(Deserialize)]
pub(crate) struct EndpointBody {
    endpoint: EndpointInput,
}

fn region_view(h: &HeaderMap, r: &Region) -> Value {
    json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
           "links": self_link(h, &format!("regions/{}", r.id))})
}

fn service_view(h: &HeaderMap, s: &Service) -> Value {
    json!({"id": s.id, "type": s.service_type, "name": s.name, "description": s.description,
           "enabled": s.enabled, "links": self_link(h, &format!("services/{}", s.id))})
}

pub(super) fn endpoint_view(h: &HeaderMap, e: &Endpoint) -> Value {
    json!({"id": e.id, "service_id": e.service_id, "interface": e.interface, "region": e.region_id,
           "region_id": e.region_id, "url": e.url, "enabled": e.enabled,
           "links": self_link(h, &format!("endpoints/{}", e.id))})
}

collection! {
    Region, "region", "regions", RegionBody { region }, identity: crate::identity::Identity,
    view: region_view, filters: ["parent_region_id", "id"],
    [region_list, region_create, region_get, region_delete], update: region_update
}
collection! {
    Service, "service", "services", ServiceBody { service }, identity: crate::identity::Identity,
    view: service_view, filters: ["type", "name", "enabled", "id"],
    [service_list, service_create, service_get, service_delete], update: service_update
}
collection! {
    Endpoint, "endpoint", "endpoints", EndpointBody { endpoint }, identity: crate::identity::Identity,
    view: endpoint_view, filters: ["interface", "service_id", "region_id", "enabled", "id"],
    [endpoint_list, endpoint_create, endpoint_get, endpoint_delete], update: endpoint_update
}
