//! Volume types (api-ref: block storage v3 "Volume types (types)", "Volume type
//! access (types, action)"): routes and request parsing.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::view::volume_type;
use super::{envelope, json_bool, opt_string, query, string_map};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::model::VolumeType;
use crate::volume::type_kinds::{PublicFilter, TypeCreate, TypeUpdate, spec_not_found};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/types", get(type_list).post(type_create))
        .route("/types/default", get(type_default))
        .route(
            "/types/{id}",
            get(type_show).put(type_update).delete(type_delete),
        )
        .route("/types/{id}/extra_specs", get(specs_show).post(specs_set))
        .route(
            "/types/{id}/extra_specs/{key}",
            get(spec_show).put(spec_set).delete(spec_delete),
        )
        .route("/types/{id}/action", post(type_action))
        .route("/types/{id}/os-volume-type-access", get(access_list))
}

async fn type_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let types = cloud
        .volume
        .type_list::<VolumeType>(&ctx, public_filter(&q)?)
        .await?;
    Ok(axum::Json(
        json!({"volume_types": types.iter().map(volume_type).collect::<Vec<_>>()}),
    ))
}

async fn type_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let t = cloud.volume.type_get::<VolumeType>(&ctx, id).await?;
    Ok(axum::Json(json!({"volume_type": volume_type(&t)})))
}

async fn type_default(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let t = cloud.volume.type_default(&ctx).await?;
    Ok(axum::Json(json!({"volume_type": volume_type(&t)})))
}

/// The list's `is_public` query: true, false or `none` (every type, for admins).
pub(super) fn public_filter(q: &HashMap<String, String>) -> ApiResult<PublicFilter> {
    Ok(match q.get("is_public").map(|s| s.to_ascii_lowercase()) {
        None => PublicFilter::Public,
        Some(s) if s == "none" => PublicFilter::All,
        Some(s) if super::parse_bool("is_public", &s)? => PublicFilter::Public,
        Some(_) => PublicFilter::Private,
    })
}

/// A create's `name`, which Cinder's schema requires.
pub(super) fn required_name(t: &serde_json::Map<String, Value>) -> ApiResult<String> {
    opt_string("name", t.get("name"))?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute name. 'name' is a required property",
        )
    })
}

/// The specs a set request carries in its `field` envelope.
pub(super) fn specs_body(field: &str, body: &Value) -> ApiResult<BTreeMap<String, String>> {
    envelope(body, field)?;
    string_map(field, body.get(field))
}

/// The body of a one-key spec update: exactly the key the path names.
pub(super) fn one_spec(
    field: &str,
    body: &Value,
    key: &str,
) -> ApiResult<BTreeMap<String, String>> {
    let specs = string_map(field, Some(body))?;
    if specs.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items.",
        ));
    }
    if !specs.contains_key(key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    Ok(specs)
}

fn public_flag(t: &serde_json::Map<String, Value>) -> ApiResult<Option<bool>> {
    match t
        .get("os-volume-type-access:is_public")
        .or_else(|| t.get("is_public"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(v) => json_bool("is_public", v).map(Some),
    }
}

async fn type_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let t = envelope(&body, "volume_type")?;
    let req = TypeCreate {
        name: required_name(t)?,
        description: opt_string("description", t.get("description"))?,
        is_public: public_flag(t)?.unwrap_or(true),
        specs: string_map("extra_specs", t.get("extra_specs"))?,
    };
    let t = cloud.volume.type_create::<VolumeType>(&ctx, req).await?;
    Ok(axum::Json(
        json!({"volume_type": super::view::volume_type_written(&t, true)}),
    ))
}

async fn type_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let t = envelope(&body, "volume_type")?;
    let req = TypeUpdate {
        name: opt_string("name", t.get("name"))?,
        description: opt_string("description", t.get("description"))?,
        is_public: public_flag(t)?,
    };
    let t = cloud
        .volume
        .type_update::<VolumeType>(&ctx, id, req)
        .await?;
    Ok(axum::Json(
        json!({"volume_type": super::view::volume_type_written(&t, false)}),
    ))
}

async fn type_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.volume.type_delete::<VolumeType>(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn specs_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let t = cloud.volume.type_get::<VolumeType>(&ctx, id).await?;
    Ok(axum::Json(json!({"extra_specs": t.extra_specs})))
}

async fn specs_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let specs = specs_body("extra_specs", &body)?;
    let out = cloud
        .volume
        .type_specs_set::<VolumeType>(&ctx, id, specs)
        .await?;
    Ok(axum::Json(json!({"extra_specs": out})))
}

async fn spec_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let t = cloud.volume.type_get::<VolumeType>(&ctx, id).await?;
    let v = t
        .extra_specs
        .get(&key)
        .ok_or_else(|| spec_not_found::<VolumeType>(&t.id, &key))?;
    Ok(axum::Json(json!({key: v})))
}

async fn spec_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let specs = one_spec("extra_specs", &body, &key)?;
    let out = cloud
        .volume
        .type_specs_set::<VolumeType>(&ctx, id, specs)
        .await?;
    Ok(axum::Json(json!(out)))
}

async fn spec_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .volume
        .type_spec_delete::<VolumeType>(&ctx, id, key)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `addProjectAccess` / `removeProjectAccess`.
async fn type_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    let (add, key) = if body.get("addProjectAccess").is_some() {
        (true, "addProjectAccess")
    } else if body.get("removeProjectAccess").is_some() {
        (false, "removeProjectAccess")
    } else {
        return Err(ApiError::bad_request("There is no such action."));
    };
    let a = envelope(&body, key)?;
    let project = opt_string("project", a.get("project"))?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Missing required element 'project' in request body.")
        })?;
    cloud
        .volume
        .type_access_change(&ctx, id, project, add)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

async fn access_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (tid, projects) = cloud.volume.type_access_list(&ctx, id).await?;
    let list: Vec<Value> = projects
        .iter()
        .map(|p| json!({"volume_type_id": tid, "project_id": p}))
        .collect();
    Ok(axum::Json(json!({"volume_type_access": list})))
}
