//! Subnet pool routes: `/v2.0/subnetpools` through the generic handlers of `crud`,
//! and the subnetpool-prefix-ops actions.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{Collection, Updatable, create, delete, list, show, update};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::network::NetworkService;
use crate::network::model::SubnetPool;
use crate::network::subnetpools::SubnetPoolInput;

pub fn routes() -> Router<Cloud> {
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
pub(super) struct SubnetPoolBody {
    subnetpool: SubnetPoolInput,
}

/// `{"prefixes": [...]}`, the body of both prefix actions and of their answers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixesBody {
    #[serde(default)]
    prefixes: Vec<String>,
}

impl Collection for SubnetPool {
    const SINGULAR: &'static str = "subnetpool";
    const PLURAL: &'static str = "subnetpools";
    type Body = SubnetPoolBody;
    async fn list(net: &NetworkService, ctx: &RequestContext) -> ApiResult<Vec<Self>> {
        net.subnetpool_list(ctx).await
    }
    async fn create(
        net: &NetworkService,
        ctx: &RequestContext,
        b: SubnetPoolBody,
    ) -> ApiResult<Self> {
        net.subnetpool_create(ctx, b.subnetpool).await
    }
    async fn get(net: &NetworkService, ctx: &RequestContext, id: String) -> ApiResult<Self> {
        net.subnetpool_get(ctx, id).await
    }
    async fn delete(net: &NetworkService, ctx: &RequestContext, id: String) -> ApiResult<()> {
        net.subnetpool_delete(ctx, id).await
    }
}
impl Updatable for SubnetPool {
    async fn update(
        net: &NetworkService,
        ctx: &RequestContext,
        id: String,
        b: SubnetPoolBody,
        if_match: Option<String>,
    ) -> ApiResult<Self> {
        net.subnetpool_update(ctx, id, b.subnetpool, if_match).await
    }
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
