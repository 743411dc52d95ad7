//! `/v3/roles` (Identity API v3: Roles) through the generic handlers of `crud.rs`;
//! implied roles and `/v3/role_inferences`, which differ from that shape, written out.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::{no_content, self_link, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::identity::model::Role;
use crate::identity::resources::RoleInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/roles", get(list::<Role>).post(create::<Role>))
        .route(
            "/v3/roles/{role_id}",
            get(show::<Role>)
                .patch(update::<Role>)
                .delete(delete::<Role>),
        )
        .route("/v3/roles/{prior_role_id}/implies", get(implied_role_list))
        .route(
            "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
            get(implied_role_show)
                .head(implied_role_check)
                .put(implied_role_create)
                .delete(implied_role_delete),
        )
        .route("/v3/role_inferences", get(role_inference_list))
}

#[derive(Deserialize)]
pub(crate) struct Body {
    role: RoleInput,
}

pub(super) fn view(h: &HeaderMap, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
        "options": {}, "links": self_link(h, &format!("roles/{}", r.id)),
    })
}

fn brief(h: &HeaderMap, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": self_link(h, &format!("roles/{}", r.id))})
}

collection! {
    Role, "role", "roles", Body { role }, identity: crate::identity::Identity,
    view: view, filters: ["name", "domain_id", "id"],
    [role_list, role_create, role_get, role_delete], update: role_update
}

fn inference_view(h: &HeaderMap, prior: &Role, implies: Value) -> Value {
    json!({
        "role_inference": {"prior_role": brief(h, prior), "implies": implies},
        "links": {"self": format!("{}/roles/{}/implies", v3_url(h), prior.id)},
    })
}

async fn implied_role_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(prior): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let rules = cloud
        .identity
        .role_inferences(&ctx, Some(prior.clone()))
        .await?;
    let prior_role = cloud.identity.role_get(&ctx, prior).await?;
    let implies: Vec<Value> = rules
        .iter()
        .flat_map(|(_, list)| list.iter().map(|r| brief(&h, r)))
        .collect();
    Ok(axum::Json(inference_view(&h, &prior_role, json!(implies))))
}

async fn implied_role_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let (prior, implied) = cloud.identity.implied_role(&ctx, p, i, None).await?;
    Ok(axum::Json(inference_view(&h, &prior, brief(&h, &implied))))
}

async fn implied_role_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.implied_role(&ctx, p, i, None).await?;
    Ok(no_content())
}

async fn implied_role_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (prior, implied) = cloud.identity.implied_role(&ctx, p, i, Some(true)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(inference_view(&h, &prior, brief(&h, &implied))),
    )
        .into_response())
}

async fn implied_role_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.implied_role(&ctx, p, i, Some(false)).await?;
    Ok(no_content())
}

async fn role_inference_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let rules = cloud.identity.role_inferences(&ctx, None).await?;
    let list: Vec<Value> = rules
        .iter()
        .map(|(p, implied)| json!({"prior_role": brief(&h, p), "implies": implied.iter().map(|r| brief(&h, r)).collect::<Vec<_>>()}))
        .collect();
    Ok(axum::Json(
        json!({"role_inferences": list, "links": {"self": format!("{}/role_inferences", v3_url(&h))}}),
    ))
}
