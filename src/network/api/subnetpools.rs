//! Subnet pool routes: `/v2.0/subnetpools` through the generic handlers of `crud`,
//! and the subnetpool-prefix-ops actions.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::network::model::SubnetPool;
use crate::network::subnetpools::SubnetPoolInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/subnetpools",
            get(list::<SubnetPool>).post(create::<SubnetPool>),
        )
        .route(
            "/v2.0/subnetpools/{id}",
            get(show::<SubnetPool>)
                .put(update::<SubnetPool>)
                .delete(delete::<SubnetPool>),
        )
        .route(
            "/v2.0/subnetpools/{id}/add_prefixes",
            put(subnetpool_add_prefixes),
        )
        .route(
            "/v2.0/subnetpools/{id}/remove_prefixes",
            put(subnetpool_remove_prefixes),
        )
}

#[derive(Deserialize)]
pub(crate) struct SubnetPoolBody {
    subnetpool: SubnetPoolInput,
}

/// `{"prefixes": [...]}`, the body of both prefix actions and of their answers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixesBody {
    #[serde(default)]
    prefixes: Vec<String>,
}

collection! {
    SubnetPool, "subnetpool", "subnetpools", SubnetPoolBody { subnetpool }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [subnetpool_list, subnetpool_create, subnetpool_get, subnetpool_delete], update_if_match: subnetpool_update
}

/// `PUT /v2.0/subnetpools/{id}/add_prefixes` (Add prefixes).
async fn subnetpool_add_prefixes(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<PrefixesBody>,
) -> ApiResult<axum::Json<Value>> {
    let prefixes = cloud
        .network
        .subnetpool_add_prefixes(&ctx, id, b.prefixes)
        .await?;
    Ok(axum::Json(json!({ "prefixes": prefixes })))
}

/// `PUT /v2.0/subnetpools/{id}/remove_prefixes` (Remove prefixes).
async fn subnetpool_remove_prefixes(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<PrefixesBody>,
) -> ApiResult<axum::Json<Value>> {
    let prefixes = cloud
        .network
        .subnetpool_remove_prefixes(&ctx, id, b.prefixes)
        .await?;
    Ok(axum::Json(json!({ "prefixes": prefixes })))
}
