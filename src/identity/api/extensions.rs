//! Domain-specific configuration (`/v3/domains/{id}/config`, Identity API v3:
//! Domain configuration), endpoint groups and project endpoints (OS-EP-FILTER), and
//! a user's access rules (`/v3/users/{id}/access_rules`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{catalog, created, list_response, no_content, projects, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::extensions::{Association, DomainConfigChange, EndpointGroupInput};
use crate::identity::store_ext::{AccessRule, EndpointGroup};

pub(super) fn routes() -> Router<Cloud> {
    domain_config_routes()
        .merge(endpoint_filter_routes())
        .route("/v3/users/{user_id}/access_rules", get(access_rule_list))
        .route(
            "/v3/users/{user_id}/access_rules/{access_rule_id}",
            get(access_rule_show).delete(access_rule_delete),
        )
}

/// Domain configuration: the defaults, and a domain's whole config, one group of
/// it or one option.
fn domain_config_routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/domains/config/default", get(config_default))
        .route(
            "/v3/domains/config/{group}/default",
            get(config_group_default),
        )
        .route(
            "/v3/domains/config/{group}/{option}/default",
            get(config_option_default),
        )
        .route(
            "/v3/domains/{domain_id}/config",
            get(config_show)
                .put(config_create)
                .patch(config_update)
                .delete(config_delete),
        )
        .route(
            "/v3/domains/{domain_id}/config/{group}",
            get(config_group_show)
                .patch(config_group_update)
                .delete(config_group_delete),
        )
        .route(
            "/v3/domains/{domain_id}/config/{group}/{option}",
            get(config_option_show)
                .patch(config_option_update)
                .delete(config_option_delete),
        )
}

/// OS-EP-FILTER: endpoint groups, and the endpoints and groups a project is
/// associated with.
fn endpoint_filter_routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups",
            get(group_list).post(group_create),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{group_id}",
            get(group_show).patch(group_update).delete(group_delete),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{group_id}/endpoints",
            get(group_endpoints),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{group_id}/projects",
            get(group_projects),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{group_id}/projects/{project_id}",
            get(group_project).put(group_project).delete(group_project),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{project_id}/endpoint_groups",
            get(project_groups),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{project_id}/endpoints",
            get(project_endpoints),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}",
            get(project_endpoint)
                .put(project_endpoint)
                .delete(project_endpoint),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoints/{endpoint_id}/projects",
            get(endpoint_projects),
        )
}

// --- domain configuration -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    config: Map<String, Value>,
}

fn config(m: Map<String, Value>) -> axum::Json<Value> {
    axum::Json(json!({"config": m}))
}

async fn config_default(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_default(&ctx, None, None)
            .await?,
    ))
}

async fn config_group_default(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(group): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_default(&ctx, Some(group), None)
            .await?,
    ))
}

async fn config_option_default(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((group, option)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_default(&ctx, Some(group), Some(option))
            .await?,
    ))
}

/// `PUT /v3/domains/{id}/config`: 201 when new, 200 when it replaced one.
async fn config_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(domain_id): Path<String>,
    Json(b): Json<ConfigBody>,
) -> ApiResult<Response> {
    let (new, m) = cloud
        .identity
        .domain_config_create(
            &ctx,
            domain_id,
            DomainConfigChange::from_body(None, None, &b.config),
        )
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, config(m)).into_response())
}

async fn config_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(domain_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_get(&ctx, domain_id, None, None)
            .await?,
    ))
}

async fn config_group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_get(&ctx, domain_id, Some(group), None)
            .await?,
    ))
}

async fn config_option_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group, option)): Path<(String, String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_get(&ctx, domain_id, Some(group), Some(option))
            .await?,
    ))
}

async fn config_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(domain_id): Path<String>,
    Json(b): Json<ConfigBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_update(
                &ctx,
                domain_id,
                DomainConfigChange::from_body(None, None, &b.config),
            )
            .await?,
    ))
}

async fn config_group_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group)): Path<(String, String)>,
    Json(b): Json<ConfigBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_update(
                &ctx,
                domain_id,
                DomainConfigChange::from_body(Some(group), None, &b.config),
            )
            .await?,
    ))
}

async fn config_option_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group, option)): Path<(String, String, String)>,
    Json(b): Json<ConfigBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(config(
        cloud
            .identity
            .domain_config_update(
                &ctx,
                domain_id,
                DomainConfigChange::from_body(Some(group), Some(option), &b.config),
            )
            .await?,
    ))
}

async fn config_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(domain_id): Path<String>,
) -> ApiResult<Response> {
    cloud
        .identity
        .domain_config_delete(&ctx, domain_id, None, None)
        .await?;
    Ok(no_content())
}

async fn config_group_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud
        .identity
        .domain_config_delete(&ctx, domain_id, Some(group), None)
        .await?;
    Ok(no_content())
}

async fn config_option_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((domain_id, group, option)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    cloud
        .identity
        .domain_config_delete(&ctx, domain_id, Some(group), Some(option))
        .await?;
    Ok(no_content())
}

// --- endpoint groups ------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    endpoint_group: EndpointGroupInput,
}

fn group_view(h: &HeaderMap, g: &EndpointGroup) -> Value {
    json!({
        "id": g.id, "name": g.name, "description": g.description, "filters": g.filters,
        "links": {"self": format!("{}/OS-EP-FILTER/endpoint_groups/{}", v3_url(h), g.id)},
    })
}

async fn group_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<GroupBody>,
) -> ApiResult<Response> {
    let g = cloud
        .identity
        .endpoint_group_create(&ctx, b.endpoint_group)
        .await?;
    Ok(created(json!({"endpoint_group": group_view(&h, &g)})))
}

async fn group_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .endpoint_group_list(&ctx)
        .await?
        .iter()
        .map(|g| group_view(&h, g))
        .collect();
    list_response(
        &h,
        "endpoint_groups",
        "OS-EP-FILTER/endpoint_groups",
        items,
        &q,
        &["name"],
    )
}

/// `GET`/`HEAD /v3/OS-EP-FILTER/endpoint_groups/{id}`.
async fn group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let g = cloud.identity.endpoint_group_get(&ctx, id).await?;
    Ok(axum::Json(json!({"endpoint_group": group_view(&h, &g)})))
}

async fn group_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<GroupBody>,
) -> ApiResult<axum::Json<Value>> {
    let g = cloud
        .identity
        .endpoint_group_update(&ctx, id, b.endpoint_group)
        .await?;
    Ok(axum::Json(json!({"endpoint_group": group_view(&h, &g)})))
}

async fn group_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.endpoint_group_delete(&ctx, id).await?;
    Ok(no_content())
}

async fn group_endpoints(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .endpoint_group_endpoints(&ctx, id.clone())
        .await?
        .iter()
        .map(|e| catalog::endpoint_view(&h, e))
        .collect();
    list_response(
        &h,
        "endpoints",
        &format!("OS-EP-FILTER/endpoint_groups/{id}/endpoints"),
        items,
        &q,
        &[],
    )
}

async fn group_projects(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .endpoint_group_projects(&ctx, id.clone())
        .await?
        .iter()
        .map(|p| projects::view(&h, p))
        .collect();
    list_response(
        &h,
        "projects",
        &format!("OS-EP-FILTER/endpoint_groups/{id}/projects"),
        items,
        &q,
        &[],
    )
}

/// `GET`/`HEAD` (check), `PUT` (add), `DELETE` (remove) of a project's association
/// with an endpoint group; a check answers 200 with the project (Keystone shows it).
async fn group_project(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    method: Method,
    Path((group, project)): Path<(String, String)>,
) -> ApiResult<Response> {
    let op = Association::from_method(&method);
    cloud
        .identity
        .endpoint_group_project(&ctx, group, project.clone(), op)
        .await?;
    if op != Association::Check {
        return Ok(no_content());
    }
    let p = cloud.identity.project_get(&ctx, project).await?;
    Ok(axum::Json(json!({"project": projects::view(&h, &p)})).into_response())
}

async fn project_groups(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .project_endpoint_groups(&ctx, project.clone())
        .await?
        .iter()
        .map(|g| group_view(&h, g))
        .collect();
    list_response(
        &h,
        "endpoint_groups",
        &format!("OS-EP-FILTER/projects/{project}/endpoint_groups"),
        items,
        &q,
        &[],
    )
}

async fn project_endpoints(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .project_endpoints(&ctx, project.clone())
        .await?
        .iter()
        .map(|e| catalog::endpoint_view(&h, e))
        .collect();
    list_response(
        &h,
        "endpoints",
        &format!("OS-EP-FILTER/projects/{project}/endpoints"),
        items,
        &q,
        &[],
    )
}

/// `GET`/`HEAD` (check), `PUT` (add), `DELETE` (remove) of a project's association
/// with an endpoint: 204 each.
async fn project_endpoint(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    method: Method,
    Path((project, endpoint)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud
        .identity
        .project_endpoint(&ctx, project, endpoint, Association::from_method(&method))
        .await?;
    Ok(no_content())
}

async fn endpoint_projects(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(endpoint): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .endpoint_projects(&ctx, endpoint.clone())
        .await?
        .iter()
        .map(|p| projects::view(&h, p))
        .collect();
    list_response(
        &h,
        "projects",
        &format!("OS-EP-FILTER/endpoints/{endpoint}/projects"),
        items,
        &q,
        &[],
    )
}

// --- access rules ---------------------------------------------------------------

/// An access rule as application credentials and `/access_rules` show it.
pub(super) fn access_rule_view(r: &AccessRule) -> Value {
    json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method})
}

fn access_rule_full(h: &HeaderMap, user_id: &str, r: &AccessRule) -> Value {
    let mut v = access_rule_view(r);
    v["links"] = json!({"self": format!("{}/users/{user_id}/access_rules/{}", v3_url(h), r.id)});
    v
}

async fn access_rule_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .access_rule_list(&ctx, user_id.clone())
        .await?
        .iter()
        .map(|r| access_rule_full(&h, &user_id, r))
        .collect();
    list_response(
        &h,
        "access_rules",
        &format!("users/{user_id}/access_rules"),
        items,
        &q,
        &["service", "path", "method"],
    )
}

async fn access_rule_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud
        .identity
        .access_rule_get(&ctx, user_id.clone(), id)
        .await?;
    Ok(axum::Json(
        json!({"access_rule": access_rule_full(&h, &user_id, &r)}),
    ))
}

async fn access_rule_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.access_rule_delete(&ctx, user_id, id).await?;
    Ok(no_content())
}
