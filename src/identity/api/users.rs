//! `/v3/users` (Identity API v3: Users) through the generic handlers of `crud.rs`;
//! password change, a user's groups and projects, and application credentials
//! (Identity API v3: Application credentials), which differ from that shape, written out.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::{created, groups, list_response, no_content, projects, self_link};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::model::{AppCredential, User};
use crate::identity::resources::{AppCredInput, PasswordChange, UserInput};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/users", get(list::<User>).post(create::<User>))
        .route(
            "/v3/users/{user_id}",
            get(show::<User>)
                .patch(update::<User>)
                .delete(delete::<User>),
        )
        .route("/v3/users/{user_id}/password", post(user_password_change))
        .route("/v3/users/{user_id}/groups", get(user_groups))
        .route("/v3/users/{user_id}/projects", get(user_projects))
        .route(
            "/v3/users/{user_id}/application_credentials",
            get(app_cred_list).post(app_cred_create),
        )
        .route(
            "/v3/users/{user_id}/application_credentials/{app_cred_id}",
            get(app_cred_show).delete(app_cred_delete),
        )
}

#[derive(Deserialize)]
pub(crate) struct Body {
    user: UserInput,
}

#[derive(Deserialize)]
struct PasswordBody {
    user: PasswordChange,
}

#[derive(Deserialize)]
struct AppCredBody {
    application_credential: AppCredInput,
}

pub(super) fn view(h: &HeaderMap, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": null, "options": {},
        "links": self_link(h, &format!("users/{}", u.id)),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if let Some(obj) = v.as_object_mut() {
        for (k, val) in &u.extra {
            obj.entry(k.clone()).or_insert_with(|| val.clone());
        }
    }
    v
}

fn app_cred_view(h: &HeaderMap, a: &AppCredential, secret: Option<&str>) -> Value {
    let mut v = json!({
        "id": a.id, "name": a.name, "description": a.description, "user_id": a.user_id,
        "project_id": a.project_id,
        "expires_at": a.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        "unrestricted": a.unrestricted,
        "access_rules": a.access_rules.iter().map(super::extensions::access_rule_view).collect::<Vec<_>>(),
        "roles": a.roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": null})).collect::<Vec<_>>(),
        "links": self_link(h, &format!("users/{}/application_credentials/{}", a.user_id, a.id)),
    });
    if let Some(s) = secret {
        v["secret"] = json!(s);
    }
    v
}

collection! {
    User, "user", "users", Body { user }, identity: crate::identity::Identity,
    view: view, filters: ["name", "domain_id", "enabled", "id"],
    [user_list, user_create, user_get, user_delete], update: user_update
}

async fn user_password_change(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<Response> {
    cloud
        .identity
        .user_password_change(&ctx, id, b.user)
        .await?;
    Ok(no_content())
}

async fn user_groups(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .user_groups(&ctx, id.clone())
        .await?
        .iter()
        .map(|g| groups::view(&h, g))
        .collect();
    list_response(
        &h,
        "groups",
        &format!("users/{id}/groups"),
        items,
        &q,
        &["name", "domain_id"],
    )
}

async fn user_projects(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .user_projects(&ctx, id.clone())
        .await?
        .iter()
        .map(|p| projects::view(&h, p))
        .collect();
    list_response(
        &h,
        "projects",
        &format!("users/{id}/projects"),
        items,
        &q,
        &["name", "domain_id", "enabled"],
    )
}

async fn app_cred_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let list = cloud
        .identity
        .app_cred_list(&ctx, user_id.clone(), q.get("name").cloned())
        .await?;
    let items = list.iter().map(|a| app_cred_view(&h, a, None)).collect();
    list_response(
        &h,
        "application_credentials",
        &format!("users/{user_id}/application_credentials"),
        items,
        &q,
        &[],
    )
}

async fn app_cred_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
    Json(b): Json<AppCredBody>,
) -> ApiResult<Response> {
    let (ac, secret) = cloud
        .identity
        .app_cred_create(&ctx, user_id, b.application_credential)
        .await?;
    Ok(created(
        json!({"application_credential": app_cred_view(&h, &ac, Some(&secret))}),
    ))
}

async fn app_cred_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let ac = cloud.identity.app_cred_get(&ctx, user_id, id).await?;
    Ok(axum::Json(
        json!({"application_credential": app_cred_view(&h, &ac, None)}),
    ))
}

async fn app_cred_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.app_cred_delete(&ctx, user_id, id).await?;
    Ok(no_content())
}
