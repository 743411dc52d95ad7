//! Routes of `/v2.0/floatingips/{floatingip_id}/port_forwardings` (api-ref:
//! Floating IPs port forwarding), thin over `network::port_forwarding`. Written
//! out rather than through `crud`: nested under a floating IP, shown without the
//! common view, updated without `If-Match`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{created, one, query};
use super::view::list_body_at;
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::network::port_forwarding::PortForwardingInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/floatingips/{fip}/port_forwardings",
            get(port_forwarding_list).post(port_forwarding_create),
        )
        .route(
            "/v2.0/floatingips/{fip}/port_forwardings/{id}",
            get(port_forwarding_show)
                .put(port_forwarding_update)
                .delete(port_forwarding_delete),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    port_forwarding: PortForwardingInput,
}

/// List floating IP port forwardings: filters, `fields`, sorting and paging as
/// the other collections.
async fn port_forwarding_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(fip): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items: Vec<Value> = cloud
        .network
        .port_forwarding_list(&ctx, fip.clone())
        .await?
        .iter()
        .map(|p| p.view())
        .collect();
    let path = format!("floatingips/{fip}/port_forwardings");
    Ok(axum::Json(list_body_at(
        &h,
        "port_forwardings",
        &path,
        items,
        &query(raw)?,
    )?))
}

/// Create port forwarding: 201 with the new rule.
async fn port_forwarding_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(fip): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let pf = cloud
        .network
        .port_forwarding_create(&ctx, fip, b.port_forwarding)
        .await?;
    Ok(created("port_forwarding", pf.view()))
}

/// Show port forwarding.
async fn port_forwarding_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((fip, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let pf = cloud.network.port_forwarding_get(&ctx, fip, id).await?;
    one("port_forwarding", pf.view(), raw)
}

/// Update a port forwarding.
async fn port_forwarding_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((fip, id)): Path<(String, String)>,
    Json(b): Json<Body>,
) -> ApiResult<axum::Json<Value>> {
    let pf = cloud
        .network
        .port_forwarding_update(&ctx, fip, id, b.port_forwarding)
        .await?;
    Ok(axum::Json(json!({"port_forwarding": pf.view()})))
}

/// Delete a floating IP port forwarding: 204.
async fn port_forwarding_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((fip, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.network.port_forwarding_delete(&ctx, fip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
