//! Generic volume groups (api-ref: block storage v3 "Group types (group_types)",
//! "Group type specs", "Generic volume groups (groups)", "Group snapshots
//! (group_snapshots)"): routes, request parsing and views, each route from the
//! microversion Cinder introduced it at (404 below it, as Cinder answers).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::types::{one_spec, public_filter, required_name, specs_body};
use super::{Mv, envelope, json_bool, opt_string, parse_bool, query, string_map};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::group_settle::GroupKind;
use crate::volume::groups::{GroupCreate, GroupSource, GroupUpdate};
use crate::volume::model::{Group, GroupSnapshot, GroupType};
use crate::volume::type_kinds::{TypeCreate, TypeUpdate, spec_not_found};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/group_types", get(group_type_list).post(group_type_create))
        .route("/group_types/default", get(group_type_default))
        .route(
            "/group_types/{id}",
            get(group_type_show)
                .put(group_type_update)
                .delete(group_type_delete),
        )
        .route(
            "/group_types/{id}/group_specs",
            get(group_specs_list).post(group_specs_create),
        )
        .route(
            "/group_types/{id}/group_specs/{key}",
            get(group_spec_show)
                .put(group_spec_update)
                .delete(group_spec_delete),
        )
        .route("/groups", get(group_list).post(group_create))
        .route("/groups/detail", get(group_list_detail))
        .route("/groups/action", post(group_create_from_src))
        .route("/groups/{id}", get(group_show).put(group_update))
        .route("/groups/{id}/action", post(group_action))
        .route(
            "/group_snapshots",
            get(group_snapshot_list).post(group_snapshot_create),
        )
        .route("/group_snapshots/detail", get(group_snapshot_list_detail))
        .route(
            "/group_snapshots/{id}",
            get(group_snapshot_show).delete(group_snapshot_delete),
        )
        .route("/group_snapshots/{id}/action", post(group_snapshot_action))
}

/// Cinder's answer to a route older microversions do not have.
fn since(mv: Mv, minor: u32) -> ApiResult<()> {
    if mv.at_least(minor) {
        Ok(())
    } else {
        Err(ApiError::Missing(format!(
            "API version {} is not supported on this method.",
            mv.0
        )))
    }
}

// ---- views ----------------------------------------------------------------------

/// A group type; its specs only for admins (`group:access_group_types_specs`).
fn group_type_view(t: &GroupType, admin: bool) -> Value {
    let mut v = json!({
        "id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public,
    });
    if admin {
        v["group_specs"] = json!(t.group_specs);
    }
    v
}

fn group_view(g: &Group, volumes: &[String], mv: Mv) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "status": g.status,
        "availability_zone": g.availability_zone,
        "created_at": g.created_at,
        "group_type": g.group_type_id,
        "volume_types": g.volume_types,
    });
    if mv.at_least(14) {
        v["group_snapshot_id"] = json!(g.group_snapshot_id);
        v["source_group_id"] = json!(g.source_group_id);
    }
    if mv.at_least(25) {
        v["volumes"] = json!(volumes);
    }
    if mv.at_least(38) {
        v["replication_status"] = json!("disabled");
    }
    v
}

/// A group snapshot (Cinder shows its group type from 3.14 on, as the summary
/// a create answers does).
fn group_snapshot_view(s: &GroupSnapshot) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "status": s.status,
        "created_at": s.created_at,
        "group_id": s.group_id,
        "group_type_id": s.group_type_id,
    })
}

// ---- group types ----------------------------------------------------------------

/// `sort=name:asc,id:desc` (or `sort_key`/`sort_dir`) over a group type's fields.
fn sort_group_types(
    types: &mut [GroupType],
    q: &std::collections::HashMap<String, String>,
) -> ApiResult<()> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    if let Some(s) = q.get("sort") {
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, dir) = part.split_once(':').unwrap_or((part, "desc"));
            keys.push((k.trim().to_owned(), dir.trim() == "asc"));
        }
    } else if let Some(k) = q.get("sort_key") {
        let asc = q.get("sort_dir").is_some_and(|d| d == "asc");
        keys.push((k.clone(), asc));
    }
    for (k, _) in &keys {
        if !matches!(
            k.as_str(),
            "name" | "id" | "description" | "is_public" | "created_at"
        ) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Invalid sort key {k}."
            )));
        }
    }
    types.sort_by(|a, b| {
        for (k, asc) in &keys {
            let ord = match k.as_str() {
                "name" => a.name.cmp(&b.name),
                "id" => a.id.cmp(&b.id),
                "description" => a.description.cmp(&b.description),
                "is_public" => a.is_public.cmp(&b.is_public),
                _ => a.created_at.cmp(&b.created_at),
            };
            if ord != std::cmp::Ordering::Equal {
                return if *asc { ord } else { ord.reverse() };
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

async fn group_type_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let q = query(raw)?;
    let mut types = cloud
        .volume
        .type_list::<GroupType>(&ctx, public_filter(&q)?)
        .await?;
    sort_group_types(&mut types, &q)?;
    let admin = ctx.allowed(crate::http::policy::GROUP_ADMIN_CONTEXT);
    Ok(axum::Json(json!({
        "group_types": types.iter().map(|t| group_type_view(t, admin)).collect::<Vec<_>>()
    })))
}

/// Cinder answers the configured `default_group_type`; this cloud configures none.
async fn group_type_default(_ctx: Ctx, mv: Mv) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    Err(ApiError::Missing(
        "Group Type default_group_type could not be found.".into(),
    ))
}

async fn group_type_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let t = cloud.volume.type_get::<GroupType>(&ctx, id).await?;
    Ok(axum::Json(
        json!({"group_type": group_type_view(&t, ctx.allowed(crate::http::policy::GROUP_ADMIN_CONTEXT))}),
    ))
}

fn public_flag(t: &Map<String, Value>) -> ApiResult<Option<bool>> {
    match t.get("is_public") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => json_bool("is_public", v).map(Some),
    }
}

async fn group_type_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    since(mv, 11)?;
    let t = envelope(&body, "group_type")?;
    let req = TypeCreate {
        name: required_name(t)?,
        description: opt_string("description", t.get("description"))?,
        is_public: public_flag(t)?.unwrap_or(true),
        specs: string_map("group_specs", t.get("group_specs"))?,
    };
    let t = cloud.volume.type_create::<GroupType>(&ctx, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"group_type": group_type_view(&t, true)})),
    ))
}

async fn group_type_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let t = envelope(&body, "group_type")?;
    let req = TypeUpdate {
        name: opt_string("name", t.get("name"))?,
        description: opt_string("description", t.get("description"))?,
        is_public: public_flag(t)?,
    };
    let t = cloud.volume.type_update::<GroupType>(&ctx, id, req).await?;
    Ok(axum::Json(json!({"group_type": group_type_view(&t, true)})))
}

async fn group_type_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    since(mv, 11)?;
    cloud.volume.type_delete::<GroupType>(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn group_specs_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let specs = cloud.volume.group_specs_get(&ctx, id).await?;
    Ok(axum::Json(json!({"group_specs": specs})))
}

async fn group_specs_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    since(mv, 11)?;
    let specs = specs_body("group_specs", &body)?;
    let out = cloud
        .volume
        .type_specs_set::<GroupType>(&ctx, id, specs)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"group_specs": out})),
    ))
}

async fn group_spec_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let specs = cloud.volume.group_specs_get(&ctx, id.clone()).await?;
    let v = specs
        .get(&key)
        .ok_or_else(|| spec_not_found::<GroupType>(&id, &key))?;
    Ok(axum::Json(json!({key: v})))
}

async fn group_spec_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 11)?;
    let specs = one_spec("group_specs", &body, &key)?;
    let out = cloud
        .volume
        .type_specs_set::<GroupType>(&ctx, id, specs)
        .await?;
    Ok(axum::Json(json!(out)))
}

async fn group_spec_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    since(mv, 11)?;
    cloud
        .volume
        .type_spec_delete::<GroupType>(&ctx, id, key)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

// ---- groups -----------------------------------------------------------------------

/// A list of volume ids given as a list or as Cinder's comma-separated string.
fn id_list(field: &str, v: Option<&Value>) -> ApiResult<Vec<String>> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}: a comma-separated string of volume ids is expected."
        ))
    };
    let items: Vec<String> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_owned()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_owned()).ok_or_else(bad))
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(bad()),
    };
    Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
}

fn all_tenants(q: &std::collections::HashMap<String, String>) -> ApiResult<bool> {
    q.get("all_tenants")
        .map(|v| parse_bool("all_tenants", v))
        .transpose()
        .map(|b| b.unwrap_or(false))
}

async fn group_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    since(mv, 13)?;
    let g = envelope(&body, "group")?;
    let group_type = opt_string("group_type", g.get("group_type"))?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input received: group_type must be provided to create group.",
        )
    })?;
    let volume_types = id_list("volume_types", g.get("volume_types"))?;
    if volume_types.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input received: volume_types must be provided to create group.",
        ));
    }
    let req = GroupCreate {
        name: opt_string("name", g.get("name"))?,
        description: opt_string("description", g.get("description"))?,
        group_type,
        volume_types,
        availability_zone: opt_string("availability_zone", g.get("availability_zone"))?,
    };
    let g = cloud.volume.group_create(&ctx, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"group": {"id": g.id, "name": g.name}})),
    ))
}

async fn group_create_from_src(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    since(mv, 14)?;
    let g = envelope(&body, "create-from-src")?;
    let snapshot = opt_string("group_snapshot_id", g.get("group_snapshot_id"))?;
    let group = opt_string("source_group_id", g.get("source_group_id"))?;
    let name = opt_string("name", g.get("name"))?;
    let source = match (snapshot, group) {
        (Some(s), None) => GroupSource::GroupSnapshot(s),
        (None, Some(g)) => GroupSource::Group(g),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "Invalid input received: Cannot create group from both group_snapshot_id and source_group_id.",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "Invalid input received: Either 'group_snapshot_id' or 'source_group_id' must be provided to create group from source.",
            ));
        }
    };
    let description = opt_string("description", g.get("description"))?;
    let g = cloud
        .volume
        .group_create_from_src(&ctx, name, description, source)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"group": {"id": g.id, "name": g.name}})),
    ))
}

async fn group_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    groups_shown(
        &cloud,
        &ctx,
        mv,
        raw,
        |g, _| json!({"id": g.id, "name": g.name}),
    )
    .await
}

async fn group_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    groups_shown(&cloud, &ctx, mv, raw, |g, vols| group_view(g, vols, mv)).await
}

/// The groups a list or detail list shows (3.13+), each as `view` renders it.
async fn groups_shown(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Mv,
    raw: Option<String>,
    view: impl Fn(&Group, &[String]) -> Value,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 13)?;
    let q = query(raw)?;
    let groups = cloud.volume.group_list(ctx, all_tenants(&q)?).await?;
    Ok(axum::Json(json!({
        "groups": groups.iter().map(|(g, vols)| view(g, vols)).collect::<Vec<_>>()
    })))
}

async fn group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 13)?;
    let g = cloud.volume.group_get(&ctx, id).await?;
    let vols = cloud.volume.group_volumes(g.id.clone()).await?;
    Ok(axum::Json(json!({"group": group_view(&g, &vols, mv)})))
}

async fn group_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    since(mv, 13)?;
    let g = envelope(&body, "group")?;
    let req = GroupUpdate {
        name: opt_string("name", g.get("name"))?,
        description: opt_string("description", g.get("description"))?,
        add_volumes: id_list("add_volumes", g.get("add_volumes"))?,
        remove_volumes: id_list("remove_volumes", g.get("remove_volumes"))?,
    };
    cloud.volume.group_update(&ctx, id, req).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The reset status body: `{"reset_status": {"status": ...}}`.
fn reset_status(body: &Value) -> ApiResult<String> {
    let r = envelope(body, "reset_status")?;
    opt_string("status", r.get("status"))?
        .map(|s| s.to_ascii_lowercase())
        .ok_or_else(|| ApiError::bad_request("Must specify 'status'"))
}

/// `delete` (3.13) and `reset_status` (3.20).
async fn group_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    since(mv, 13)?;
    if let Some(d) = body.get("delete") {
        let delete_volumes = match d.get("delete-volumes") {
            None | Some(Value::Null) => false,
            Some(v) => json_bool("delete-volumes", v)?,
        };
        cloud.volume.group_delete(&ctx, id, delete_volumes).await?;
        return Ok(StatusCode::ACCEPTED);
    }
    if body.get("reset_status").is_some() {
        since(mv, 20)?;
        let status = reset_status(&body)?;
        cloud
            .volume
            .group_record_reset_status(&ctx, GroupKind::Group, id, status)
            .await?;
        return Ok(StatusCode::ACCEPTED);
    }
    Err(ApiError::bad_request(
        "Invalid request: the action must be one of delete, reset_status.",
    ))
}

// ---- group snapshots --------------------------------------------------------------

async fn group_snapshot_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    since(mv, 14)?;
    let s = envelope(&body, "group_snapshot")?;
    let group_id = opt_string("group_id", s.get("group_id"))?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'group_id' must be specified")
    })?;
    let gs = cloud
        .volume
        .group_snapshot_create(
            &ctx,
            group_id,
            opt_string("name", s.get("name"))?,
            opt_string("description", s.get("description"))?,
        )
        .await?;
    let v = json!({"id": gs.id, "name": gs.name, "group_type_id": gs.group_type_id});
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"group_snapshot": v})),
    ))
}

async fn group_snapshot_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    group_snapshots_shown(
        &cloud,
        &ctx,
        mv,
        raw,
        |s| json!({"id": s.id, "name": s.name}),
    )
    .await
}

async fn group_snapshot_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    group_snapshots_shown(&cloud, &ctx, mv, raw, group_snapshot_view).await
}

/// The group snapshots a list or detail list shows (3.14+), each as `view`
/// renders it.
async fn group_snapshots_shown(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Mv,
    raw: Option<String>,
    view: impl Fn(&GroupSnapshot) -> Value,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 14)?;
    let q = query(raw)?;
    let list = cloud
        .volume
        .group_snapshot_list(ctx, all_tenants(&q)?)
        .await?;
    Ok(axum::Json(json!({
        "group_snapshots": list.iter().map(view).collect::<Vec<_>>()
    })))
}

async fn group_snapshot_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    since(mv, 14)?;
    let s = cloud.volume.group_snapshot_get(&ctx, id).await?;
    Ok(axum::Json(
        json!({"group_snapshot": group_snapshot_view(&s)}),
    ))
}

async fn group_snapshot_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    since(mv, 14)?;
    cloud.volume.group_snapshot_delete(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `reset_status` (3.19).
async fn group_snapshot_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    since(mv, 19)?;
    if body.get("reset_status").is_none() {
        return Err(ApiError::bad_request(
            "Invalid request: the action must be reset_status.",
        ));
    }
    let status = reset_status(&body)?;
    cloud
        .volume
        .group_record_reset_status(&ctx, GroupKind::GroupSnapshot, id, status)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_come_as_a_comma_separated_string_or_a_list() {
        assert_eq!(
            id_list("add_volumes", Some(&json!("a, b,,c"))).expect("ok"),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            id_list("add_volumes", Some(&json!(["a", "b"]))).expect("ok"),
            vec!["a", "b"]
        );
        assert!(id_list("add_volumes", None).expect("ok").is_empty());
        assert!(id_list("add_volumes", Some(&json!(5))).is_err());
        assert!(id_list("add_volumes", Some(&json!([1]))).is_err());
    }

    fn gt(name: &str, created: &str) -> GroupType {
        GroupType {
            id: name.into(),
            name: name.into(),
            description: None,
            is_public: true,
            group_specs: Default::default(),
            created_at: created.into(),
        }
    }

    /// The names in the order a `sort` query puts them.
    fn sorted(types: &mut [GroupType], sort: &str) -> ApiResult<Vec<String>> {
        let q = [("sort".to_string(), sort.to_string())]
            .into_iter()
            .collect();
        sort_group_types(types, &q)?;
        Ok(types.iter().map(|t| t.name.clone()).collect())
    }

    #[test]
    fn group_types_sort_by_the_keys_given() {
        let mut types = vec![gt("b", "1"), gt("a", "2"), gt("c", "0")];
        assert_eq!(
            sorted(&mut types, "name:asc").expect("sorted"),
            ["a", "b", "c"]
        );
        assert_eq!(
            sorted(&mut types, "name:desc").expect("sorted"),
            ["c", "b", "a"]
        );
        assert!(sorted(&mut types, "bogus:asc").is_err());
    }
}
