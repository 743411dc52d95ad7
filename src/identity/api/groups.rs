//! `/v3/groups` (Identity API v3: Groups) through the generic handlers of `crud.rs`;
//! a group's users and membership, which differ from that shape, written out.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::{list_response, no_content, self_link, users};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::identity::model::Group;
use crate::identity::resources::GroupInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/groups", get(list::<Group>).post(create::<Group>))
        .route(
            "/v3/groups/{group_id}",
            get(show::<Group>)
                .patch(update::<Group>)
                .delete(delete::<Group>),
        )
        .route("/v3/groups/{group_id}/users", get(group_users))
        .route(
            "/v3/groups/{group_id}/users/{user_id}",
            put(group_member_add)
                .head(group_member_check)
                .get(group_member_check)
                .delete(group_member_remove),
        )
}

#[derive(Deserialize)]
pub(crate) struct Body {
    group: GroupInput,
}

pub(super) fn view(h: &HeaderMap, g: &Group) -> Value {
    json!({
        "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
        "links": self_link(h, &format!("groups/{}", g.id)),
    })
}

collection! {
    Group, "group", "groups", Body { group }, identity: crate::identity::Identity,
    view: view, filters: ["name", "domain_id", "id"],
    [group_list, group_create, group_get, group_delete], update: group_update
}

async fn group_users(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .group_users(&ctx, id.clone())
        .await?
        .iter()
        .map(|u| users::view(&h, u))
        .collect();
    list_response(
        &h,
        "users",
        &format!("groups/{id}/users"),
        items,
        &q,
        &["name", "domain_id", "enabled"],
    )
}

async fn group_member_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, Some(true)).await?;
    Ok(no_content())
}

async fn group_member_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, None).await?;
    Ok(no_content())
}

async fn group_member_remove(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, Some(false)).await?;
    Ok(no_content())
}
