//! Nova v2.1 HTTP routes under `/compute`: version discovery, microversions and the
//! resource routes, one file per api-ref section.

mod admin_actions;
mod aggregates;
mod assisted_volume_snapshots;
mod extensions;
mod flavors;
mod hosts;
mod images;
mod info;
mod keypairs;
mod limits;
pub(crate) mod microversion;
mod migrations;
mod network_proxy;
mod params;
mod query_schemas;
mod remote_consoles;
mod schema;
mod security_groups;
mod server_actions;
mod server_admin;
mod server_extras;
mod server_groups;
mod server_shares;
pub(crate) mod servers;
pub(crate) mod view;
mod volume_attachments;
mod volume_proxy;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::from_fn;
use axum::routing::get;
use serde_json::{Value, json};

pub(crate) use microversion::Microversion;

use crate::cloud::Cloud;

pub(crate) fn router() -> Router<Cloud> {
    let v21 = Router::new()
        .route("/", get(version_v21))
        .merge(resources())
        .layer(from_fn(microversion::layer))
        .layer(from_fn(compute_request_id));
    let v2 = Router::new()
        .route("/", get(version_v2))
        .merge(resources())
        .layer(from_fn(microversion::layer))
        .layer(from_fn(legacy_v2))
        .layer(from_fn(compute_request_id));
    Router::new()
        .route("/", get(versions))
        // `/v2.1` and `/v2` themselves are the nested routers' `/`; the
        // trailing-slash forms are routed here so both spellings answer.
        .route("/v2.1/", get(version_v21))
        .route("/v2/", get(version_v2))
        .merge(remote_consoles::proxy_routes())
        .nest("/v2.1", v21)
        .nest("/v2", v2)
}

/// The resource routes, served under `/v2.1` and, as Nova's "legacy v2
/// compatible" API, under `/v2`.
fn resources() -> Router<Cloud> {
    Router::new()
        .merge(aggregates::routes())
        .merge(extensions::routes())
        .merge(flavors::routes())
        .merge(hosts::routes())
        .merge(images::routes())
        .merge(security_groups::routes())
        .merge(network_proxy::routes())
        .merge(keypairs::routes())
        .merge(limits::routes())
        .merge(migrations::routes())
        .merge(server_groups::routes())
        .merge(server_shares::routes())
        .merge(info::routes())
        .merge(servers::routes())
        .merge(server_actions::routes())
        .merge(server_admin::routes())
        .merge(assisted_volume_snapshots::routes())
        .merge(server_extras::routes())
        .merge(remote_consoles::routes())
        .merge(volume_attachments::routes())
        .merge(volume_proxy::routes())
        .route_layer(from_fn(query_schemas::layer))
}

/// Nova's `/v2` endpoint is the v2.1 API without microversions: a version asked
/// for in the headers is ignored there, so every request is served as 2.1 (the
/// behaviour v2.0 clients were written against).
async fn legacy_v2(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let h = req.headers_mut();
    h.remove("openstack-api-version");
    h.remove("x-openstack-nova-api-version");
    next.run(req).await
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

/// The legacy v2.0 API's version document: no microversions (empty
/// `version`/`min_version`, as Nova shows them).
fn version_doc_v2(headers: &HeaderMap) -> Value {
    let base = crate::http::base_url(headers);
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}],
    })
}

/// `GET /compute/`: the API versions (no token needed), v2.0 first as in Nova.
pub(crate) async fn versions(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"versions": [version_doc_v2(&headers), version_doc(&headers)]}))
}

/// `GET /compute/v2`: the legacy v2.0 API's version document.
async fn version_v2(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"version": version_doc_v2(&headers)}))
}

/// `GET /compute/v2.1`: the version document keystoneauth reads the maximum from.
async fn version_v21(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"version": version_doc(&headers)}))
}
