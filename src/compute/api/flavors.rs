//! Flavors (api-ref: compute "Flavors", "Flavors extra-specs", "Flavors access"):
//! routes and Nova's views.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::Microversion;
use super::params::{links, next_link, query};
use crate::cloud::Cloud;
use crate::compute::flavors::{self, FlavorQuery};
use crate::compute::model::Flavor;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/flavors", get(flavor_list).post(flavor_create))
        .route("/flavors/detail", get(flavor_list_detail))
        .route(
            "/flavors/{id}",
            get(flavor_show).put(flavor_update).delete(flavor_delete),
        )
        .route(
            "/flavors/{id}/os-extra_specs",
            get(extra_specs_list).post(extra_specs_create),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(extra_spec_show)
                .put(extra_spec_update)
                .delete(extra_spec_delete),
        )
        .route("/flavors/{id}/os-flavor-access", get(flavor_access_list))
        .route("/flavors/{id}/action", post(flavor_action))
}

/// The brief view of `GET /flavors`.
fn brief(h: &HeaderMap, mv: Microversion, f: &Flavor) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": links(h, "flavors", &f.id)});
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    v
}

/// The full view of show, create and `/flavors/detail`.
pub(super) fn view(h: &HeaderMap, mv: Microversion, f: &Flavor) -> Value {
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram,
        "disk": f.disk,
        "vcpus": f.vcpus,
        // Nova shows no swap as "" until 2.75, as 0 after.
        "swap": if f.swap == 0 && !mv.at_least(75) { json!("") } else { json!(f.swap) },
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "os-flavor-access:is_public": f.is_public,
        "rxtx_factor": f.rxtx_factor,
        "links": links(h, "flavors", &f.id),
    });
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    if mv.at_least(61) {
        v["extra_specs"] = json!(f.extra_specs);
    }
    // 2.102 dropped the two fields Nova no longer acts on.
    if mv.at_least(102)
        && let Some(o) = v.as_object_mut()
    {
        o.remove("rxtx_factor");
        o.remove("OS-FLV-DISABLED:disabled");
    }
    v
}

async fn list(
    cloud: &Cloud,
    ctx: &Ctx,
    h: &HeaderMap,
    raw: Option<String>,
    mv: Microversion,
    detail: bool,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let mut fq = FlavorQuery::parse(&q, ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT))?;
    if mv.at_least(102) {
        // 2.102: `rxtx_factor` is gone (no sorting by it) and `name` filters by
        // a regular expression, as Nova's database filter does.
        if q.get("sort_key").map(String::as_str) == Some("rxtx_factor") {
            return Err(ApiError::bad_request(
                "Invalid input for query parameters sort_key. Value: rxtx_factor.",
            ));
        }
        if let Some(n) = q.get("name") {
            fq.name = Some(regex::Regex::new(n).map_err(|_| {
                ApiError::bad_request(format!("Invalid regular expression for name: {n}"))
            })?);
        }
    }
    let limit = fq.page.limit_as(crate::http::pagination::Dialect::Nova)?;
    let page = cloud.compute.flavor_list(ctx, fq).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|f| {
            if detail {
                view(h, mv, f)
            } else {
                brief(h, mv, f)
            }
        })
        .collect();
    let mut body = json!({"flavors": items});
    // Nova adds a next link whenever a page is full.
    if let (Some(l), Some(last)) = (limit, page.items.last())
        && l == page.items.len()
    {
        let path = if detail { "flavors/detail" } else { "flavors" };
        body["flavors_links"] = next_link(h, path, &q, &last.id);
    }
    Ok(axum::Json(body))
}

/// List Flavors: `GET /flavors`.
async fn flavor_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, &h, raw, mv, false).await
}

/// List Flavors With Details: `GET /flavors/detail`.
async fn flavor_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, &h, raw, mv, true).await
}

/// Show Flavor Details: `GET /flavors/{flavor_id}`.
async fn flavor_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let f = cloud.compute.flavor_show(&ctx, id).await?;
    Ok(axum::Json(json!({"flavor": view(&h, mv, &f)})))
}

/// Create Flavor: `POST /flavors` (admin) -> 200.
async fn flavor_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    if mv.at_least(102) && body["flavor"].get("rxtx_factor").is_some() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute flavor. Additional properties are not allowed ('rxtx_factor' was unexpected)",
        ));
    }
    let f = flavors::parse_create(&body, mv.at_least(55))?;
    let f = cloud.compute.flavor_create(&ctx, f).await?;
    Ok(axum::Json(json!({"flavor": view(&h, mv, &f)})))
}

/// Update Flavor Description: `PUT /flavors/{flavor_id}` (2.55, admin).
async fn flavor_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    if !mv.at_least(55) {
        // Nova has no such method below 2.55: VersionNotFoundForAPIMethod, a 404.
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    ctx.require_admin()?;
    let update = flavors::parse_update(&body)?;
    let f = cloud.compute.flavor_update(&ctx, id, update).await?;
    Ok(axum::Json(json!({"flavor": view(&h, mv, &f)})))
}

/// Delete Flavor: `DELETE /flavors/{flavor_id}` (admin) -> 202.
async fn flavor_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.compute.flavor_delete(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// List Extra Specs For A Flavor: `GET /flavors/{flavor_id}/os-extra_specs`.
async fn extra_specs_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let f = cloud.compute.flavor_show(&ctx, id).await?;
    Ok(axum::Json(json!({"extra_specs": f.extra_specs})))
}

/// From 2.86 the specs of namespaces Nova knows are validated (400 for an unknown
/// key or a bad value there); others pass as given.
fn check_known_specs(
    specs: &std::collections::BTreeMap<String, String>,
    mv: Microversion,
) -> ApiResult<()> {
    if !mv.at_least(86) {
        return Ok(());
    }
    for (k, v) in specs {
        crate::compute::extra_specs::validate(k, v).map_err(ApiError::bad_request)?;
    }
    Ok(())
}

/// Create Extra Specs For A Flavor: `POST /flavors/{flavor_id}/os-extra_specs`.
async fn extra_specs_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let obj = body
        .get("extra_specs")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'extra_specs' is a required property"))?;
    let specs = flavors::parse_extra_specs(obj)?;
    check_known_specs(&specs, mv)?;
    let specs = cloud
        .compute
        .flavor_extra_specs_set(&ctx, id, specs)
        .await?;
    Ok(axum::Json(json!({"extra_specs": specs})))
}

/// Show An Extra Spec For A Flavor: `GET /flavors/{flavor_id}/os-extra_specs/{key}`.
async fn extra_spec_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let f = cloud.compute.flavor_show(&ctx, id.clone()).await?;
    let value = f.extra_specs.get(&key).ok_or_else(|| {
        ApiError::Missing(format!("Flavor {id} has no extra specs with key {key}."))
    })?;
    Ok(axum::Json(json!({ key: value })))
}

/// Update An Extra Spec For A Flavor: `PUT /flavors/{flavor_id}/os-extra_specs/{key}`.
async fn extra_spec_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let obj: &Map<String, Value> = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be an object."))?;
    if obj.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !obj.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let specs = flavors::parse_extra_specs(obj)?;
    check_known_specs(&specs, mv)?;
    let specs = cloud
        .compute
        .flavor_extra_specs_set(&ctx, id, specs)
        .await?;
    Ok(axum::Json(json!(specs)))
}

/// Delete An Extra Spec For A Flavor -> 202.
async fn extra_spec_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .compute
        .flavor_extra_spec_delete(&ctx, id, key)
        .await?;
    Ok(StatusCode::OK)
}

fn access_body(id: &str, projects: Vec<String>) -> Value {
    let list: Vec<Value> = projects
        .into_iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect();
    json!({"flavor_access": list})
}

/// List Flavor Access Information For Given Flavor (admin).
async fn flavor_access_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let projects = cloud.compute.flavor_access_list(&ctx, id.clone()).await?;
    Ok(axum::Json(access_body(&id, projects)))
}

/// Add / Remove Flavor Access To Tenant: `POST /flavors/{flavor_id}/action`.
async fn flavor_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let (action, args) = match body.as_object().map(|o| o.iter().next()) {
        Some(Some((k, v))) if body.as_object().is_some_and(|o| o.len() == 1) => (k.clone(), v),
        _ => {
            return Err(ApiError::bad_request(
                "There is no such action in the request body.",
            ));
        }
    };
    let add = match action.as_str() {
        "addTenantAccess" => true,
        "removeTenantAccess" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )));
        }
    };
    let tenant = match args.get("tenant") {
        Some(Value::String(t)) if (1..=255).contains(&t.len()) => t.clone(),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute tenant. Value: {v}."
            )));
        }
        None => return Err(ApiError::bad_request("'tenant' is a required property")),
    };
    let projects = cloud
        .compute
        .flavor_access_change(&ctx, id.clone(), tenant, add)
        .await?;
    Ok(axum::Json(access_body(&id, projects)))
}
