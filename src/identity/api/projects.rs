//! `/v3/projects` (Identity API v3: Projects): envelope, view and filters; the
//! handlers are the generic ones of `crud.rs`.

use axum::Router;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, show, update};
use super::self_link;
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::identity::model::Project;
use crate::identity::resources::ProjectInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/projects", get(project_list).post(create::<Project>))
        .route(
            "/v3/projects/{project_id}",
            get(show::<Project>)
                .patch(update::<Project>)
                .delete(delete::<Project>),
        )
        .route(
            "/v3/projects/{project_id}/tags",
            get(tags_list).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/v3/projects/{project_id}/tags/{tag}",
            get(tag_check).put(tag_add).delete(tag_remove),
        )
}

/// Keystone's tag rules: at most 80 per project, 1-255 characters, no `/` or `,`.
fn check_tags(tags: &[String]) -> ApiResult<()> {
    if tags.len() > 80 {
        return Err(ApiError::bad_request(
            "Invalid input for field 'tags': a project has at most 80 tags.",
        ));
    }
    for t in tags {
        if t.is_empty() || t.chars().count() > 255 || t.contains('/') || t.contains(',') {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'tags': '{t}' must be 1 to 255 characters \
                 without '/' or ','."
            )));
        }
    }
    Ok(())
}

fn tags_body(h: &HeaderMap, p: &Project) -> Value {
    json!({"tags": p.tags, "links": self_link(h, &format!("projects/{}/tags", p.id))})
}

async fn set_tags(cloud: &Cloud, ctx: &Ctx, id: String, tags: Vec<String>) -> ApiResult<Project> {
    check_tags(&tags)?;
    let input = ProjectInput {
        tags: Some(tags),
        ..Default::default()
    };
    cloud.identity.project_update(ctx, id, input).await
}

/// `GET /v3/projects/{id}/tags`.
async fn tags_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud.identity.project_get(&ctx, id).await?;
    Ok(axum::Json(tags_body(&h, &p)))
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Vec<String>,
}

/// `PUT /v3/projects/{id}/tags`: replaces every tag.
async fn tags_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<TagsBody>,
) -> ApiResult<axum::Json<Value>> {
    let mut tags: Vec<String> = Vec::new();
    for t in b.tags {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let p = set_tags(&cloud, &ctx, id, tags).await?;
    Ok(axum::Json(tags_body(&h, &p)))
}

/// `DELETE /v3/projects/{id}/tags` -> 204.
async fn tags_clear(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    set_tags(&cloud, &ctx, id, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD /v3/projects/{id}/tags/{tag}` -> 204, or 404 without that tag.
async fn tag_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = cloud.identity.project_get(&ctx, id).await?;
    if p.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Missing(format!("Tag {tag} not found.")))
    }
}

/// `PUT /v3/projects/{id}/tags/{tag}` -> 201, an empty body and the tag's URL in
/// `Location` (the API working group's tags guideline, as Keystone answers).
async fn tag_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = cloud.identity.project_get(&ctx, id.clone()).await?;
    let mut tags = p.tags;
    if !tags.contains(&tag) {
        tags.push(tag.clone());
    }
    set_tags(&cloud, &ctx, id.clone(), tags).await?;
    let location = format!("{}/projects/{id}/tags/{tag}", super::v3_url(&h));
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /v3/projects/{id}/tags/{tag}` -> 204, or 404 without that tag.
async fn tag_remove(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = cloud.identity.project_get(&ctx, id.clone()).await?;
    if !p.tags.contains(&tag) {
        return Err(ApiError::Missing(format!("Tag {tag} not found.")));
    }
    let tags = p.tags.into_iter().filter(|t| *t != tag).collect();
    set_tags(&cloud, &ctx, id, tags).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct Body {
    project: ProjectInput,
}

/// Top-level projects report their domain as parent, as Keystone does; a project
/// acting as a domain has neither domain nor parent.
pub(super) fn view(h: &HeaderMap, p: &Project) -> Value {
    let (domain_id, parent_id) = if p.is_domain {
        (Value::Null, Value::Null)
    } else {
        (
            json!(p.domain_id),
            json!(p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone())),
        )
    };
    json!({
        "id": p.id, "name": p.name, "domain_id": domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": parent_id,
        "is_domain": p.is_domain, "tags": p.tags, "options": {},
        "links": self_link(h, &format!("projects/{}", p.id)),
    })
}

/// `GET /v3/projects`: projects, or with `is_domain=true` the projects acting as
/// domains (Keystone lists only one kind at a time, projects by default).
async fn project_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let domains = q
        .get("is_domain")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    let list = if domains {
        cloud.identity.project_list_domains(&ctx).await?
    } else {
        cloud.identity.project_list(&ctx).await?
    };
    let items = list.iter().map(|p| view(&h, p)).collect();
    super::list_response(
        &h,
        "projects",
        "projects",
        items,
        &q,
        <Project as crate::http::crud::Collection>::FILTERS,
    )
}

collection! {
    Project, "project", "projects", Body { project }, identity: crate::identity::Identity,
    view: view, filters: ["name", "domain_id", "enabled", "parent_id", "is_domain", "id"],
    [project_list, project_create, project_get, project_delete], update: project_update
}
