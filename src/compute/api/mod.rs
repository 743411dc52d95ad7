//! Nova v2.1 HTTP routes under `/compute`: version discovery, microversions and the
//! resource routes, one file per api-ref section.

mod admin_actions;
mod aggregates;
mod flavors;
mod hosts;
mod images;
mod info;
mod keypairs;
mod limits;
pub mod microversion;
mod network_proxy;
mod params;
mod remote_consoles;
mod schema;
mod security_groups;
mod server_actions;
mod server_admin;
mod server_extras;
mod server_groups;
pub mod servers;
pub mod view;
mod volume_attachments;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::from_fn;
use axum::routing::get;
use serde_json::{Value, json};

pub use microversion::Microversion;

use crate::cloud::Cloud;

pub fn router() -> Router<Cloud> {
    let v21 = Router::new()
        .route("/", get(version_v21))
        .merge(aggregates::routes())
        .merge(flavors::routes())
        .merge(hosts::routes())
        .merge(images::routes())
        .merge(security_groups::routes())
        .merge(network_proxy::routes())
        .merge(keypairs::routes())
        .merge(limits::routes())
        .merge(server_groups::routes())
        .merge(info::routes())
        .merge(servers::routes())
        .merge(server_actions::routes())
        .merge(server_admin::routes())
        .merge(server_extras::routes())
        .merge(remote_consoles::routes())
        .merge(volume_attachments::routes())
        .layer(from_fn(microversion::layer))
        .layer(from_fn(compute_request_id));
    Router::new()
        .route("/", get(versions))
        // `/v2.1` itself is the nested router's `/`; the trailing-slash form is
        // routed here so both spellings answer.
        .route("/v2.1/", get(version_v21))
        .merge(remote_consoles::proxy_routes())
        .nest("/v2.1", v21)
}

/// Nova also names the request id `x-compute-request-id` (clients read it to
/// look up instance actions).
async fn compute_request_id(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = req.extensions().get::<crate::http::RequestId>().cloned();
    let mut resp = next.run(req).await;
    if let Some(v) = id.and_then(|i| axum::http::HeaderValue::from_str(&i.0).ok()) {
        resp.headers_mut().insert("x-compute-request-id", v);
    }
    resp
}

fn version_doc(headers: &HeaderMap) -> Value {
    let base = crate::http::base_url(headers);
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion::MAX.label(),
        "min_version": microversion::MIN.label(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

/// `GET /compute/`: the API versions (no token needed).
pub async fn versions(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"versions": [version_doc(&headers)]}))
}

/// `GET /compute/v2.1`: the version document keystoneauth reads the maximum from.
async fn version_v21(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"version": version_doc(&headers)}))
}
