//! Volumes (api-ref: block storage v3 "Volumes (volumes)", "Volume actions
//! (volumes, action)", "Volume metadata"): routes and request parsing.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::view::{volume_detail, volume_summary};
use super::{
    Mv, UrlProject, envelope, json_bool, next_link, opt_string, parse_bool, query, string_map,
    v3_root,
};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::pagination::{Dialect, PageQuery};
use crate::volume::VolumeService;
use crate::volume::model::{Volume, VolumeStatus};
use crate::volume::volumes::{Filter, ListOptions, SortKey, VolumeCreate, VolumeUpdate};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/volumes", get(volume_list).post(volume_create))
        .route("/volumes/detail", get(volume_list_detail))
        .route("/volumes/summary", get(volume_summary_counts))
        .route(
            "/volumes/{id}",
            get(volume_show).put(volume_update).delete(volume_delete),
        )
        .route("/volumes/{id}/action", post(volume_action))
        .route(
            "/volumes/{id}/metadata",
            get(metadata_show)
                .post(metadata_merge)
                .put(metadata_replace),
        )
        .route(
            "/volumes/{id}/metadata/{key}",
            get(metadata_key_show)
                .put(metadata_key_set)
                .delete(metadata_key_delete),
        )
}

type Proj = Option<axum::Extension<UrlProject>>;

fn root(h: &HeaderMap, p: &Proj) -> String {
    v3_root(h, &p.as_ref().map(|e| e.0.clone()))
}

/// A volume size: a positive integer, or a string of digits (Cinder's schema).
fn parse_size(field: &str, v: Option<&Value>) -> ApiResult<Option<i64>> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not a valid integer greater than 0"
        ))
    };
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(v.unwrap_or(&Value::Null)))?,
        Some(s @ Value::String(text)) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(s));
            }
            text.parse().map_err(|_| bad(s))?
        }
        Some(other) => return Err(bad(other)),
    };
    if n < 1 {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {n}. {n} is less than the minimum of 1"
        )));
    }
    if n > i64::from(i32::MAX) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {n}. {n} is greater than the maximum of {}",
            i32::MAX
        )));
    }
    Ok(Some(n))
}

/// Sources of a new volume that this build cannot use yet: an honest 400.
const NOT_YET: &[&str] = &["backup_id", "consistencygroup_id"];

async fn volume_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let req = volume_create_request(envelope(&body, "volume")?, mv)?;
    let v = cloud.volume.volume_create(&ctx, req).await?;
    let body = json!({"volume": super::view::volume_written(volume_detail(
        &root(&h, &p),
        &v,
        mv,
        &ctx,
        &cloud.volume.volume_host()
    ))});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// The body of `POST /volumes`, field by field in Cinder's order of checks.
fn volume_create_request(vol: &Map<String, Value>, mv: Mv) -> ApiResult<VolumeCreate> {
    for key in NOT_YET {
        if vol.get(*key).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: creating a volume from {key} is not supported by this cloud yet."
            )));
        }
    }
    let snapshot_id = opt_string("snapshot_id", vol.get("snapshot_id"))?;
    let source_volid = opt_string("source_volid", vol.get("source_volid"))?;
    // Without a size, a copy takes its source's.
    let size = match parse_size("size", vol.get("size"))? {
        Some(s) => s,
        None if snapshot_id.is_some() || source_volid.is_some() => 0,
        None => {
            return Err(ApiError::bad_request(
                "Invalid input received: size is required.",
            ));
        }
    };
    let name = string_or_legacy(vol, "name", "display_name")?;
    let description = string_or_legacy(vol, "description", "display_description")?;
    let multiattach = match vol.get("multiattach") {
        None | Some(Value::Null) => false,
        Some(v) => json_bool("multiattach", v)?,
    };
    Ok(VolumeCreate {
        size,
        name,
        description,
        volume_type: opt_string("volume_type", vol.get("volume_type"))?,
        availability_zone: opt_string("availability_zone", vol.get("availability_zone"))?,
        metadata: string_map("metadata", vol.get("metadata"))?,
        multiattach,
        snapshot_id,
        source_volid,
        image_ref: string_or_legacy(vol, "imageRef", "image_id")?,
        // Generic groups arrived with 3.13; before it the key is ignored, as by Cinder.
        group_id: if mv.at_least(13) {
            opt_string("group_id", vol.get("group_id"))?
        } else {
            None
        },
    })
}

/// A string field, or when it is absent its older name (`display_name`).
fn string_or_legacy(
    vol: &Map<String, Value>,
    key: &str,
    legacy: &str,
) -> ApiResult<Option<String>> {
    match opt_string(key, vol.get(key))? {
        Some(v) => Ok(Some(v)),
        None => opt_string(legacy, vol.get(legacy)),
    }
}

/// The list's filters and sort from the query (unknown keys are ignored, as Cinder
/// does for keys outside its filter list before 3.52).
fn list_options(q: &HashMap<String, String>, mv: Mv) -> ApiResult<ListOptions> {
    let mut o = ListOptions {
        all_projects: q
            .get("all_tenants")
            .map(|v| parse_bool("all_tenants", v))
            .transpose()?
            .unwrap_or(false),
        project_id: q.get("project_id").cloned(),
        status: q.get("status").cloned(),
        availability_zone: q.get("availability_zone").cloned(),
        ..Default::default()
    };
    if let Some(n) = q.get("name").or_else(|| q.get("display_name")) {
        o.name = Some(Filter::Exact(n.clone()));
    }
    if mv.at_least(34)
        && let Some(n) = q.get("name~")
    {
        o.name = Some(Filter::Like(n.clone()));
    }
    if mv.at_least(10) {
        o.group_id = q.get("group_id").cloned();
    }
    if let Some(b) = q.get("bootable") {
        o.bootable = Some(parse_bool("bootable", b)?);
    }
    if let Some(s) = q.get("size") {
        o.size = Some(s.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input received: size={s} is not an integer."
            ))
        })?);
    }
    if let Some(m) = q.get("metadata") {
        // Cinder takes a Python-literal dict here: {'k': 'v'}; JSON is accepted too.
        let text = m.replace('\'', "\"");
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input received: metadata={m} is not a dict."
            ))
        })?;
        o.metadata = string_map("metadata", Some(&v))?;
    }
    o.sort = sort_keys(q)?;
    Ok(o)
}

/// `sort=k1:dir,k2` or `sort_key`/`sort_dir` (not both).
fn sort_keys(q: &HashMap<String, String>) -> ApiResult<Vec<(SortKey, bool)>> {
    let dir = |d: &str| match d {
        "asc" => Ok(true),
        "desc" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'. ({other})"
        ))),
    };
    let key = |k: &str| {
        SortKey::parse(k).ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input received: Invalid sort key {k}"))
        })
    };
    if let Some(s) = q.get("sort") {
        if q.contains_key("sort_key") || q.contains_key("sort_dir") {
            return Err(ApiError::bad_request(
                "Invalid input received: The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
            ));
        }
        return s
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|part| {
                let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
                Ok((key(k.trim())?, dir(d.trim())?))
            })
            .collect();
    }
    match (q.get("sort_key"), q.get("sort_dir")) {
        (None, None) => Ok(Vec::new()),
        (k, d) => Ok(vec![(
            key(k.map(String::as_str).unwrap_or("created_at"))?,
            dir(d.map(String::as_str).unwrap_or("desc"))?,
        )]),
    }
}

/// Marker, offset and limit; a marker naming no listed volume is a 400.
fn paginate(q: &HashMap<String, String>, vols: Vec<Volume>) -> ApiResult<(Vec<Volume>, bool)> {
    let offset = match q.get("offset") {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input received: offset {o} is not a non-negative integer."
            ))
        })?,
    };
    let page = PageQuery {
        limit: q.get("limit").cloned(),
        marker: q.get("marker").cloned(),
    };
    let vols: Vec<Volume> = vols.into_iter().skip(offset).collect();
    let limit = page.limit_as(Dialect::Cinder)?;
    let p = page.apply_as(Dialect::Cinder, vols, |v| &v.id)?;
    // Cinder links the next page whenever a page is full, even when it is the last.
    let full = limit.is_some_and(|l| l > 0 && p.items.len() == l);
    Ok((p.items, full))
}

async fn list(
    cloud: &Cloud,
    ctx: &Ctx,
    mv: Mv,
    h: &HeaderMap,
    p: &Proj,
    raw: Option<String>,
    detail: bool,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let vols = cloud.volume.volume_list(ctx, list_options(&q, mv)?).await?;
    let total = vols.len();
    let (page, more) = paginate(&q, vols)?;
    let root = root(h, p);
    let host = cloud.volume.volume_host();
    let items: Vec<Value> = page
        .iter()
        .map(|v| {
            if detail {
                volume_detail(&root, v, mv, ctx, &host)
            } else {
                volume_summary(&root, v)
            }
        })
        .collect();
    let mut body = json!({"volumes": items});
    if let (true, Some(last)) = (more, page.last()) {
        let path = if detail { "volumes/detail" } else { "volumes" };
        body["volumes_links"] = next_link(&root, path, &q, &last.id);
    }
    if mv.at_least(45)
        && let Some(c) = q.get("with_count")
        && parse_bool("with_count", c)?
    {
        body["count"] = json!(total);
    }
    Ok(axum::Json(body))
}

async fn volume_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, mv, &h, &p, raw, false).await
}

async fn volume_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    list(&cloud, &ctx, mv, &h, &p, raw, true).await
}

/// `GET /volumes/summary` (3.12): count and total size of the listed volumes.
async fn volume_summary_counts(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    if !mv.at_least(12) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    let q = query(raw)?;
    let vols = cloud
        .volume
        .volume_list(&ctx, list_options(&q, mv)?)
        .await?;
    let mut summary = json!({
        "total_size": vols.iter().map(|v| v.size).sum::<i64>(),
        "total_count": vols.len(),
    });
    if mv.at_least(36) {
        let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vols {
            for (k, val) in &v.metadata {
                let e = meta.entry(k.clone()).or_default();
                if !e.contains(val) {
                    e.push(val.clone());
                }
            }
        }
        summary["metadata"] = json!(meta);
    }
    Ok(axum::Json(json!({"volume-summary": summary})))
}

async fn volume_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let v = cloud.volume.volume_get(&ctx, id).await?;
    Ok(axum::Json(
        json!({"volume": volume_detail(&root(&h, &p), &v, mv, &ctx, &cloud.volume.volume_host())}),
    ))
}

async fn volume_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let vol = envelope(&body, "volume")?;
    let allowed = [
        "name",
        "description",
        "display_name",
        "display_description",
        "metadata",
    ];
    if let Some(k) = vol.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let field = |a: &str, b: &str| -> ApiResult<Option<Option<String>>> {
        match (vol.get(a), vol.get(b)) {
            (Some(v), _) | (None, Some(v)) => Ok(Some(opt_string(a, Some(v))?)),
            (None, None) => Ok(None),
        }
    };
    let req = VolumeUpdate {
        name: field("name", "display_name")?,
        description: field("description", "display_description")?,
        metadata: match vol.get("metadata") {
            None => None,
            Some(m) => Some(string_map("metadata", Some(m))?),
        },
    };
    let v = cloud.volume.volume_update(&ctx, id, req).await?;
    Ok(axum::Json(
        json!({"volume": super::view::volume_written(volume_detail(
            &root(&h, &p),
            &v,
            mv,
            &ctx,
            &cloud.volume.volume_host()
        ))}),
    ))
}

async fn volume_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q = query(raw)?;
    let force = q
        .get("force")
        .map(|v| parse_bool("force", v))
        .transpose()?
        .unwrap_or(false);
    let cascade = q
        .get("cascade")
        .map(|v| parse_bool("cascade", v))
        .transpose()?
        .unwrap_or(false);
    cloud.volume.volume_delete(&ctx, id, force, cascade).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /volumes/{id}/action`: one action per body, each parsed by its own
/// function (api-ref "Volume actions").
async fn volume_action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::bad_request("Malformed request body: one action is expected."))?;
    let (action, args) = obj
        .iter()
        .next()
        .ok_or_else(|| ApiError::bad_request("Malformed request body"))?;
    let s = &cloud.volume;
    let a = || envelope(&body, action);
    match action.as_str() {
        "os-extend" => volume_action_extend(s, &ctx, id, a()?, mv).await,
        "os-set_bootable" => volume_action_set_bootable(s, &ctx, id, a()?).await,
        "os-update_readonly_flag" => volume_action_update_readonly(s, &ctx, id, a()?).await,
        "os-reset_status" => volume_action_reset_status(s, &ctx, id, a()?).await,
        "os-reserve"
        | "os-unreserve"
        | "os-attach"
        | "os-detach"
        | "os-begin_detaching"
        | "os-roll_detaching"
        | "os-initialize_connection"
        | "os-terminate_connection" => volume_action_attach(s, &ctx, id, action, args).await,
        "os-force_detach" => volume_action_force_detach(s, &ctx, id, args).await,
        "os-retype" => volume_action_retype(s, &ctx, id, a()?).await,
        "os-set_image_metadata" => volume_action_set_image_metadata(s, &ctx, id, a()?).await,
        "os-unset_image_metadata" => volume_action_unset_image_metadata(s, &ctx, id, a()?).await,
        "os-show_image_metadata" => {
            let v = s.volume_get(&ctx, id).await?;
            Ok(axum::Json(json!({"metadata": v.image_metadata})).into_response())
        }
        "os-volume_upload_image" => volume_action_upload_image(s, &ctx, id, a()?).await,
        "os-unmanage" => {
            s.volume_unmanage(&ctx, id).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        // 3.68: the volume's data replaced by an image's.
        "os-reimage" if mv.at_least(68) => volume_action_reimage(s, &ctx, id, a()?).await,
        "os-force_delete" => {
            action_args_object(args)?;
            s.volume_delete(&ctx, id, true, false).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

type Args = serde_json::Map<String, Value>;

/// An action whose arguments are optional: they are an object or null.
fn action_args_object(args: &Value) -> ApiResult<()> {
    if !args.is_null() && !args.is_object() {
        return Err(ApiError::bad_request("Malformed request body"));
    }
    Ok(())
}

/// `os-extend`: 3.42+ extends an in-use volume too, the guest told by the
/// compute service.
async fn volume_action_extend(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
    mv: Mv,
) -> ApiResult<Response> {
    let size = parse_size("new_size", a.get("new_size"))?
        .ok_or_else(|| ApiError::bad_request("Invalid input received: new_size is required."))?;
    s.volume_extend(ctx, id, size, mv.at_least(42)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-set_bootable`.
async fn volume_action_set_bootable(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let b = a
        .get("bootable")
        .ok_or_else(|| ApiError::bad_request("Must specify bootable in request."))?;
    s.volume_set_bootable(ctx, id, json_bool("bootable", b)?)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `os-update_readonly_flag`.
async fn volume_action_update_readonly(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let r = a
        .get("readonly")
        .ok_or_else(|| ApiError::bad_request("Must specify readonly in request."))?;
    s.volume_set_readonly(ctx, id, json_bool("readonly", r)?)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-reset_status`: a status, an attach status or a migration status.
async fn volume_action_reset_status(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let status = match opt_string("status", a.get("status"))? {
        None => None,
        Some(st) => Some(
            VolumeStatus::parse(&st.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::bad_request(format!("Invalid input received: Invalid status {st}."))
            })?,
        ),
    };
    let attach = opt_string("attach_status", a.get("attach_status"))?;
    if let Some(at) = &attach
        && !matches!(at.as_str(), "attached" | "detached")
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Must specify a valid attach status {at}."
        )));
    }
    if status.is_none() && attach.is_none() && a.get("migration_status").is_none() {
        return Err(ApiError::bad_request(
            "Must specify 'status', 'attach_status' or 'migration_status' for update.",
        ));
    }
    s.volume_reset_status(ctx, id, status, attach).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The attach protocol's actions (`os-reserve` ... `os-terminate_connection`);
/// a connection's info is the answer when there is one.
async fn volume_action_attach(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    action: &str,
    args: &Value,
) -> ApiResult<Response> {
    action_args_object(args)?;
    match s.attach_action(ctx, id, action, args.clone()).await? {
        Some(out) => Ok(axum::Json(out).into_response()),
        None => Ok(StatusCode::ACCEPTED.into_response()),
    }
}

/// `os-force_detach` (admin): an `os-detach` whatever the volume's state.
async fn volume_action_force_detach(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    args: &Value,
) -> ApiResult<Response> {
    ctx.require_admin()?;
    action_args_object(args)?;
    let a = if args.is_null() {
        json!({})
    } else {
        args.clone()
    };
    s.attach_action(ctx, id, "os-detach", a).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-retype`; only the `never` and `on-demand` migration policies exist.
async fn volume_action_retype(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let new_type = opt_string("new_type", a.get("new_type"))?
        .ok_or_else(|| ApiError::bad_request("New volume type must be specified."))?;
    let policy = opt_string("migration_policy", a.get("migration_policy"))?
        .unwrap_or_else(|| "never".into());
    if !matches!(policy.as_str(), "never" | "on-demand") {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Invalid migration policy {policy}."
        )));
    }
    s.volume_retype(ctx, id, new_type).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-set_image_metadata`: answers with the whole image metadata.
async fn volume_action_set_image_metadata(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let set = string_map("metadata", a.get("metadata"))?;
    if a.get("metadata").is_none() {
        return Err(ApiError::bad_request("Malformed request body."));
    }
    let out = s.image_metadata_change(ctx, id, set, None).await?;
    Ok(axum::Json(json!({"metadata": out})).into_response())
}

/// `os-unset_image_metadata`: one key.
async fn volume_action_unset_image_metadata(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let key = opt_string("key", a.get("key"))?
        .ok_or_else(|| ApiError::bad_request("Malformed request body."))?;
    s.image_metadata_change(ctx, id, Default::default(), Some(key))
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `os-volume_upload_image`: the volume's data as a new image.
async fn volume_action_upload_image(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    let image_name = opt_string("image_name", a.get("image_name"))?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("No image_name was specified in request."))?;
    let flag = |k: &str| match a.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => json_bool(k, v),
    };
    let force = flag("force")?;
    let disk_format =
        opt_string("disk_format", a.get("disk_format"))?.unwrap_or_else(|| "raw".into());
    let container_format =
        opt_string("container_format", a.get("container_format"))?.unwrap_or_else(|| "bare".into());
    let visibility = opt_string("visibility", a.get("visibility"))?;
    let protected = flag("protected")?;
    let req = crate::volume::upload::UploadRequest {
        image_name,
        force,
        disk_format,
        container_format,
        visibility,
        protected,
    };
    let out = s.volume_upload_image(ctx, id, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"os-volume_upload_image": out})),
    )
        .into_response())
}

/// `os-reimage` (3.68): the volume's data replaced by an image's.
async fn volume_action_reimage(
    s: &VolumeService,
    ctx: &Ctx,
    id: String,
    a: &Args,
) -> ApiResult<Response> {
    if let Some(k) = a
        .keys()
        .find(|k| !matches!(k.as_str(), "image_id" | "reimage_reserved"))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute os-reimage. Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let image_id = opt_string("image_id", a.get("image_id"))?
        .filter(|i| uuid::Uuid::parse_str(i).is_ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute image_id. 'image_id' is a required property and must be a UUID.",
            )
        })?;
    let reserved = match a.get("reimage_reserved") {
        None => false,
        Some(v) => json_bool("reimage_reserved", v)?,
    };
    s.volume_reimage(ctx, id, image_id, reserved).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn metadata_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let v = cloud.volume.volume_get(&ctx, id).await?;
    Ok(axum::Json(json!({"metadata": v.metadata})))
}

async fn metadata_change(
    cloud: &Cloud,
    ctx: &Ctx,
    id: String,
    body: &Value,
    replace: bool,
) -> ApiResult<axum::Json<Value>> {
    let m = body
        .get("metadata")
        .ok_or_else(|| ApiError::bad_request("Malformed request body"))?;
    let set = string_map("metadata", Some(m))?;
    let out = cloud
        .volume
        .metadata_change(ctx, id, set, replace, None)
        .await?;
    Ok(axum::Json(json!({"metadata": out})))
}

async fn metadata_merge(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    metadata_change(&cloud, &ctx, id, &body, false).await
}

async fn metadata_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    metadata_change(&cloud, &ctx, id, &body, true).await
}

async fn metadata_key_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let v = cloud.volume.volume_get(&ctx, id.clone()).await?;
    let value = v
        .metadata
        .get(&key)
        .ok_or_else(|| ApiError::Missing(format!("Volume {id} has no metadata with key {key}.")))?;
    Ok(axum::Json(json!({"meta": {key: value}})))
}

async fn metadata_key_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let meta = envelope(&body, "meta")?;
    if meta.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let set = string_map("meta", body.get("meta"))?;
    cloud
        .volume
        .metadata_change(&ctx, id, set.clone(), false, None)
        .await?;
    Ok(axum::Json(json!({"meta": set})))
}

async fn metadata_key_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .volume
        .metadata_change(&ctx, id, BTreeMap::new(), false, Some(key))
        .await?;
    Ok(StatusCode::OK)
}
