//! Stacks, resources, events, outputs and templates (api-ref: orchestration v1
//! "Stacks", "Resources", "Events", "Templates", "Build info"). Both the
//! `/stacks/{name}/{id}/...` form and the `/stacks/{name_or_id}/...` one are
//! served; `GET /stacks/{name}` answers with Heat's 302 to the full form.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::view;
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::orchestration::model::Stack;
use crate::orchestration::software::SignalInput;
use crate::orchestration::stacks::{MarkUnhealthy, StackCreate, given_parameters, template_of};

pub(super) fn routes() -> Router<Cloud> {
    stack_routes()
        .merge(stack_part_routes())
        .merge(template_routes())
        .route("/build_info", get(build_info))
}

/// Stacks and their actions, by name alone or by name and id.
fn stack_routes() -> Router<Cloud> {
    Router::new()
        .route("/stacks", get(stack_list).post(stack_create))
        .route("/stacks/preview", post(stack_preview))
        .route(
            "/stacks/{stack_name}",
            get(stack_lookup)
                .put(stack_update)
                .patch(stack_patch)
                // Heat answers a delete by name with the redirect to the
                // stack's URL, which the client follows with the same method.
                .delete(stack_lookup),
        )
        .route(
            "/stacks/{stack_name}/{stack_id}",
            get(stack_show)
                .put(stack_update)
                .patch(stack_patch)
                .delete(stack_delete),
        )
        .route("/stacks/{stack_name}/actions", post(stack_action))
        .route(
            "/stacks/{stack_name}/{stack_id}/actions",
            post(stack_action),
        )
}

/// A stack's resources, events, outputs and template.
fn stack_part_routes() -> Router<Cloud> {
    Router::new()
        .route("/stacks/{stack_name}/resources", get(resource_list))
        .route(
            "/stacks/{stack_name}/{stack_id}/resources",
            get(resource_list),
        )
        .route(
            "/stacks/{stack_name}/{stack_id}/resources/{resource_name}",
            get(resource_show).patch(resource_mark_unhealthy),
        )
        .route(
            "/stacks/{stack_name}/{stack_id}/resources/{resource_name}/signal",
            post(resource_signal),
        )
        .route("/stacks/{stack_name}/events", get(event_list))
        .route("/stacks/{stack_name}/{stack_id}/events", get(event_list))
        .route(
            "/stacks/{stack_name}/{stack_id}/resources/{resource_name}/events",
            get(event_list),
        )
        .route("/stacks/{stack_name}/outputs", get(output_list))
        .route("/stacks/{stack_name}/{stack_id}/outputs", get(output_list))
        .route(
            "/stacks/{stack_name}/{stack_id}/outputs/{output_key}",
            get(output_show),
        )
        .route("/stacks/{stack_name}/template", get(template_show))
        .route(
            "/stacks/{stack_name}/{stack_id}/template",
            get(template_show),
        )
}

/// Templates apart from any stack: validation, resource types and template
/// versions with their functions.
fn template_routes() -> Router<Cloud> {
    Router::new()
        .route("/validate", post(template_validate))
        .route("/resource_types", get(resource_type_list))
        .route("/resource_types/{type_name}", get(resource_type_show))
        .route(
            "/resource_types/{type_name}/template",
            get(resource_type_template),
        )
        .route("/template_versions", get(template_version_list))
        .route(
            "/template_versions/{template_version}/functions",
            get(template_function_list),
        )
}

type Params = Path<HashMap<String, String>>;

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> &'a str {
    p.get(k).map(String::as_str).unwrap_or_default()
}

fn root_of(h: &HeaderMap, p: &HashMap<String, String>) -> String {
    view::root(&crate::http::base_url(h), param(p, "tenant_id"))
}

/// The stack a path names: by id when the path has one (the name must match),
/// else by name or id.
async fn stack_of(cloud: &Cloud, ctx: &Ctx, p: &HashMap<String, String>) -> ApiResult<Stack> {
    let name = param(p, "stack_name");
    match p.get("stack_id") {
        Some(id) => {
            let s = cloud.orchestration.stack_find(ctx, id).await?;
            if s.name != name && s.id != name {
                return Err(crate::orchestration::stack_not_found(name));
            }
            Ok(s)
        }
        None => cloud.orchestration.stack_find(ctx, name).await,
    }
}

/// `POST /stacks` (201 with the id and link).
async fn stack_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    headers: HeaderMap,
    Json(body): Json<StackCreate>,
) -> ApiResult<Response> {
    let stack = cloud.orchestration.stack_create(&cloud, &ctx, body).await?;
    let url = view::stack_url(&root_of(&headers, &p), &stack);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, url.clone())],
        axum::Json(json!({"stack": {"id": stack.id, "links": [{"href": url, "rel": "self"}]}})),
    )
        .into_response())
}

/// `POST /stacks/preview` (200): the stack and resources a create would make.
async fn stack_preview(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    headers: HeaderMap,
    Json(body): Json<StackCreate>,
) -> ApiResult<axum::Json<Value>> {
    let (stack, resources) = cloud
        .orchestration
        .stack_preview(&cloud, &ctx, body)
        .await?;
    let root = root_of(&headers, &p);
    let required = required_by(&stack);
    let items: Vec<Value> = resources
        .iter()
        .map(|(r, props)| {
            let req = required.get(&r.name).cloned().unwrap_or_default();
            view::resource_preview(&root, &stack, r, props, req)
        })
        .collect();
    let mut v = view::stack_detail(&root, &stack, None);
    if let Value::Object(m) = &mut v {
        m.insert("resources".into(), Value::Array(items));
    }
    Ok(axum::Json(json!({"stack": v})))
}

/// `GET /stacks`.
async fn stack_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let global = q
        .get("global_tenant")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    let stacks = cloud.orchestration.stack_list(&ctx, global).await?;
    let root = root_of(&headers, &p);
    let want = |k: &str, v: &str| q.get(k).is_none_or(|x| x == v);
    // Nested stacks (a group's, a template resource's) only when asked.
    let nested = q
        .get("show_nested")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    let items: Vec<Value> = stacks
        .iter()
        .filter(|s| nested || s.parent.is_empty())
        .filter(|s| want("stack_name", &s.name) && want("name", &s.name))
        .filter(|s| {
            want("stack_status", &s.full_status())
                && want("status", &s.status)
                && want("action", &s.action)
        })
        .map(|s| view::stack_summary(&root, s))
        .collect();
    Ok(axum::Json(json!({"stacks": items})))
}

/// `GET /stacks/{name}`: 302 to `/stacks/{name}/{id}`, as heat-api answers.
async fn stack_lookup(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> ApiResult<Response> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let mut url = view::stack_url(&root_of(&headers, &p), &stack);
    if let Some(q) = q {
        url = format!("{url}?{q}");
    }
    let body = json!({"explanation": "The resource was found at", "code": 302, "title": "Found"});
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, url)],
        axum::Json(body),
    )
        .into_response())
}

/// `GET /stacks/{name}/{id}`; `resolve_outputs=false` skips the outputs.
async fn stack_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let resolve = q
        .get("resolve_outputs")
        .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no"));
    let outputs = if resolve {
        let outs = cloud.orchestration.stack_outputs(&cloud, &stack).await?;
        Some(
            outs.iter()
                .map(|(k, d, v)| view::output(k, d, v, true))
                .collect(),
        )
    } else {
        None
    };
    Ok(axum::Json(
        json!({"stack": view::stack_detail(&root_of(&headers, &p), &stack, outputs)}),
    ))
}

/// `PUT /stacks/{name}/{id}` (202; the update runs in the background).
async fn stack_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Json(body): Json<StackCreate>,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    cloud
        .orchestration
        .stack_update(&cloud, &ctx, &stack.id, body, false)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `PATCH /stacks/{name}/{id}`: an update that keeps what it does not give.
async fn stack_patch(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Json(body): Json<StackCreate>,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    cloud
        .orchestration
        .stack_update(&cloud, &ctx, &stack.id, body, true)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /stacks/{name}/{id}` (204; the delete runs in the background).
async fn stack_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    cloud
        .orchestration
        .stack_delete(&cloud, &ctx, &stack.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /stacks/{name}/{id}/actions` (200): one action by its key;
/// `cancel_update` and `cancel_without_rollback` are served, Heat's other
/// actions (suspend, resume, check) are refused with a 400.
async fn stack_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Json(body): Json<serde_json::Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let mut keys = body.keys();
    let (Some(action), None) = (keys.next(), keys.next()) else {
        return Err(ApiError::bad_request(if body.is_empty() {
            "No action specified"
        } else {
            "Multiple actions specified"
        }));
    };
    let rollback = match action.as_str() {
        "cancel_update" => true,
        "cancel_without_rollback" => false,
        "suspend" | "resume" | "check" => {
            return Err(ApiError::bad_request(format!(
                "Stack action {action} is not supported by this cloud."
            )));
        }
        other => return Err(ApiError::bad_request(format!("Invalid action {other}"))),
    };
    cloud
        .orchestration
        .stack_cancel(&ctx, &stack, rollback)
        .await?;
    Ok(StatusCode::OK)
}

/// `GET /stacks/{name}/{id}/resources`.
async fn resource_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let resources = cloud.orchestration.stack_resources(&stack).await?;
    let required = required_by(&stack);
    let root = root_of(&headers, &p);
    let want = |k: &str, v: &str| q.get(k).is_none_or(|x| x == v);
    let items: Vec<Value> = resources
        .iter()
        .filter(|r| {
            want("type", &r.kind)
                && want("name", &r.name)
                && want("status", &r.status)
                && want("action", &r.action)
                && want("physical_resource_id", &r.physical_id)
        })
        .map(|r| {
            view::resource(
                &root,
                &stack,
                r,
                required.get(&r.name).cloned().unwrap_or_default(),
            )
        })
        .collect();
    Ok(axum::Json(json!({"resources": items})))
}

/// Which resources depend on each resource.
fn required_by(stack: &Stack) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if let Ok(t) = stack.definition() {
        for (name, deps) in t.dependencies() {
            for d in deps {
                out.entry(d).or_default().push(name.clone());
            }
        }
    }
    out
}

/// `GET /stacks/{name}/{id}/resources/{resource}`, with its attributes.
async fn resource_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let name = param(&p, "resource_name");
    let r = cloud
        .orchestration
        .stack_resources(&stack)
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError::Missing(format!("The Resource ({name}) could not be found.")))?;
    let attributes = cloud
        .orchestration
        .resource_attributes(&cloud, &stack, &r)
        .await;
    let mut v = view::resource(
        &root_of(&headers, &p),
        &stack,
        &r,
        required_by(&stack).get(name).cloned().unwrap_or_default(),
    );
    if let Value::Object(m) = &mut v {
        m.insert("attributes".into(), attributes);
    }
    Ok(axum::Json(json!({"resource": v})))
}

/// `PATCH /stacks/{name}/{id}/resources/{resource}`: mark unhealthy (200).
async fn resource_mark_unhealthy(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Json(body): Json<MarkUnhealthy>,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    cloud
        .orchestration
        .resource_mark_unhealthy(&ctx, &stack, param(&p, "resource_name"), body)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /stacks/{name}/{id}/resources/{resource}/signal` (200); the body is
/// optional, as a guest's `curl -X POST` may send none.
async fn resource_signal(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("The signal is not valid JSON: {e}")))?
    };
    let input: SignalInput = match value {
        Value::Null => SignalInput::default(),
        v @ Value::Object(_) => serde_json::from_value(v)
            .map_err(|e| ApiError::bad_request(format!("Metadata format invalid: {e}")))?,
        _ => return Err(ApiError::bad_request("Metadata format invalid")),
    };
    cloud
        .orchestration
        .resource_signal(&ctx, &stack, param(&p, "resource_name"), input)
        .await?;
    Ok(StatusCode::OK)
}

/// `GET /stacks/{name}/{id}/events` (and a resource's): filters, `sort_dir`,
/// `marker` and `limit`, as `--wait` polls them.
async fn event_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let mut events = cloud.orchestration.stack_events(&stack).await?;
    if let Some(r) = p.get("resource_name") {
        events.retain(|e| &e.resource_name == r);
    }
    let want = |k: &str, v: &str| q.get(k).is_none_or(|x| x == v);
    events.retain(|e| {
        want("resource_name", &e.resource_name)
            && want("resource_action", &e.action)
            && want("resource_status", &e.status)
            && want("resource_type", &e.resource_type)
    });
    if q.get("sort_dir")
        .is_some_and(|d| d.eq_ignore_ascii_case("desc"))
    {
        events.reverse();
    }
    if let Some(m) = q.get("marker") {
        let at = events
            .iter()
            .position(|e| &e.id == m)
            .ok_or_else(|| ApiError::Missing(format!("The Event ({m}) could not be found.")))?;
        events.drain(..=at);
    }
    if let Some(l) = q.get("limit") {
        let l: usize = l.parse().map_err(|_| {
            ApiError::bad_request(format!("Only integer is acceptable by 'limit'. ({l})"))
        })?;
        events.truncate(l);
    }
    let root = root_of(&headers, &p);
    let items: Vec<Value> = events
        .iter()
        .map(|e| view::event(&root, &stack, e))
        .collect();
    Ok(axum::Json(json!({"events": items})))
}

/// `GET /stacks/{name}/{id}/outputs`.
async fn output_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let t = stack.definition()?;
    let items: Vec<Value> = t
        .outputs
        .iter()
        .map(|(k, o)| view::output(k, &o.description, &Ok(Value::Null), false))
        .collect();
    Ok(axum::Json(json!({"outputs": items})))
}

/// `GET /stacks/{name}/{id}/outputs/{key}`, evaluated now.
async fn output_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    let key = param(&p, "output_key");
    let outs = cloud.orchestration.stack_outputs(&cloud, &stack).await?;
    let (k, d, v) = outs
        .iter()
        .find(|(k, _, _)| k == key)
        .ok_or_else(|| ApiError::Missing(format!("Specified output key {key} not found.")))?;
    Ok(axum::Json(json!({"output": view::output(k, d, v, true)})))
}

/// `GET /stacks/{name}/{id}/template`: the template as it was given.
async fn template_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let stack = stack_of(&cloud, &ctx, &p).await?;
    Ok(axum::Json(stack.template))
}

/// `POST /validate`: the template's description and parameters, or the 400 a
/// stack create would get.
async fn template_validate(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(mut body): Json<StackCreate>,
) -> ApiResult<axum::Json<Value>> {
    if !ctx.can_read() {
        return Err(ApiError::forbidden());
    }
    crate::orchestration::stacks::resolve_remote(&cloud, &ctx, &mut body).await?;
    let t = template_of(&body)?;
    let given = given_parameters(&body)?;
    let mut params = serde_json::Map::new();
    for (name, d) in &t.parameters {
        let mut m = serde_json::Map::new();
        m.insert("Type".into(), json!(d.kind.label()));
        m.insert("Description".into(), json!(d.description));
        m.insert(
            "Label".into(),
            json!(d.label.clone().unwrap_or_else(|| name.clone())),
        );
        m.insert(
            "NoEcho".into(),
            json!(if d.hidden { "true" } else { "false" }),
        );
        if let Some(v) = &d.default {
            m.insert("Default".into(), v.clone());
        }
        if let Some(v) = given.get(name) {
            m.insert("Value".into(), v.clone());
        }
        params.insert(name.clone(), Value::Object(m));
    }
    Ok(axum::Json(
        json!({"Description": t.description, "Parameters": params}),
    ))
}

/// `GET /resource_types`.
async fn resource_type_list(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"resource_types": crate::orchestration::facade::resource_types()}))
}

/// `GET /resource_types/{type}`: the type's schema.
async fn resource_type_show(_ctx: Ctx, Path(p): Params) -> ApiResult<axum::Json<Value>> {
    let kind = p.get("type_name").cloned().unwrap_or_default();
    crate::orchestration::facade::resource_type_schema(&kind)
        .map(axum::Json)
        .ok_or_else(|| ApiError::Missing(format!("The Resource Type ({kind}) could not be found.")))
}

/// `GET /resource_types/{type}/template`: a template making one of the type.
async fn resource_type_template(_ctx: Ctx, Path(p): Params) -> ApiResult<axum::Json<Value>> {
    let kind = p.get("type_name").cloned().unwrap_or_default();
    crate::orchestration::facade::resource_type_template(&kind)
        .map(axum::Json)
        .ok_or_else(|| ApiError::Missing(format!("The Resource Type ({kind}) could not be found.")))
}

/// `GET /template_versions/{version}/functions`.
async fn template_function_list(_ctx: Ctx, Path(p): Params) -> ApiResult<axum::Json<Value>> {
    let v = p.get("template_version").cloned().unwrap_or_default();
    let known = v
        .strip_prefix("heat_template_version.")
        .is_some_and(|d| crate::orchestration::facade::template_versions().contains(&d));
    if !known {
        return Err(ApiError::Missing(format!(
            "Template with version {v} not found"
        )));
    }
    let items: Vec<Value> = crate::orchestration::facade::template_functions()
        .iter()
        .map(|(f, d)| json!({"functions": f, "description": d}))
        .collect();
    Ok(axum::Json(json!({"template_functions": items})))
}

/// `GET /template_versions`.
async fn template_version_list(_ctx: Ctx) -> axum::Json<Value> {
    let items: Vec<Value> = crate::orchestration::facade::template_versions()
        .iter()
        .map(|v| json!({"version": format!("heat_template_version.{v}"), "type": "hot", "aliases": []}))
        .collect();
    axum::Json(json!({"template_versions": items}))
}

/// `GET /build_info`.
async fn build_info(_ctx: Ctx) -> axum::Json<Value> {
    let v = env!("CARGO_PKG_VERSION");
    axum::Json(json!({"api": {"revision": v}, "engine": {"revision": v}}))
}
