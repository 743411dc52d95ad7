//! Glance v2 HTTP routes under `/image`, with version discovery, schemas and info.

mod images;
mod members;
mod metadef_requests;
mod metadefs;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;

/// Image API minor versions served; the newest is CURRENT.
const MAX_MINOR: u32 = 16;

pub(crate) fn router() -> Router<Cloud> {
    Router::new()
        .route("/", get(versions_choice))
        .route("/versions", get(versions_list))
        .route("/v2", get(versions_choice))
        .route("/v2/", get(versions_choice))
        .route("/v2/info/import", get(info_import))
        .route("/v2/info/stores", get(info_stores))
        .route("/v2/info/usage", get(info_usage))
        .route("/v2/schemas/{name}", get(schema))
        .merge(images::routes())
        .merge(members::routes())
        .merge(metadefs::routes())
}

fn versions(headers: &HeaderMap) -> Value {
    let base = format!("{}/image/v2/", crate::http::base_url(headers));
    let list: Vec<Value> = (0..=MAX_MINOR)
        .rev()
        .map(|minor| {
            json!({
                "id": format!("v2.{minor}"),
                "status": if minor == MAX_MINOR { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": base}],
            })
        })
        .collect();
    json!({"versions": list})
}

/// `GET /image`: 300 Multiple Choices, as glance-api answers an unversioned URL.
pub(crate) async fn versions_choice(headers: HeaderMap) -> Response {
    (StatusCode::MULTIPLE_CHOICES, axum::Json(versions(&headers))).into_response()
}

async fn versions_list(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(versions(&headers))
}

async fn info_import(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"import-methods": {
        "description": "Import methods available.",
        "type": "array",
        "value": crate::image::import_methods(),
    }}))
}

async fn info_stores(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(
        json!({"stores": [{"id": "local", "description": "Files in the onestack state directory", "default": true}]}),
    )
}

/// `GET /v2/info/usage`: the caller's quota usage.
async fn info_usage(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let (count, count_limit, bytes, bytes_limit) = cloud.image.usage(&ctx).await?;
    Ok(axum::Json(json!({"usage": {
        "image_count_total": {"limit": count_limit, "usage": count},
        "image_size_total": {"limit": bytes_limit, "usage": bytes},
        "image_stage_total": {"limit": bytes_limit, "usage": 0},
        "image_count_uploading": {"limit": count_limit, "usage": 0},
    }})))
}

fn image_properties() -> Value {
    let s = |d: &str| json!({"type": ["null", "string"], "description": d});
    json!({
        "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "An identifier for the image"},
        "name": {"type": ["null", "string"], "maxLength": 255, "description": "Descriptive name for the image"},
        "status": {"type": "string", "readOnly": true, "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
        "visibility": {"type": "string", "enum": crate::image::model::VISIBILITIES},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "checksum": {"type": ["null", "string"], "readOnly": true, "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "maxLength": 64},
        "os_hash_value": {"type": ["null", "string"], "readOnly": true, "maxLength": 128},
        "owner": s("Owner of the image"),
        "size": {"type": ["null", "integer"], "readOnly": true},
        "virtual_size": {"type": ["null", "integer"], "readOnly": true},
        "container_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]},
        "disk_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]},
        "created_at": {"type": "string", "readOnly": true},
        "updated_at": {"type": "string", "readOnly": true},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": true},
        "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"},
        "self": {"type": "string", "readOnly": true},
        "file": {"type": "string", "readOnly": true},
        "stores": {"type": "string", "readOnly": true},
        "schema": {"type": "string", "readOnly": true},
        "locations": {"type": "array", "items": {"type": "object"}},
    })
}

/// `GET /v2/schemas/{image,images,member,members,task,tasks}` (JSON Schema draft 4).
async fn schema(
    _ctx: Ctx,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let image = json!({
        "name": "image",
        "properties": image_properties(),
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    });
    let member = json!({
        "name": "member",
        "properties": {
            "image_id": {"type": "string"}, "member_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "schema": {"type": "string", "readOnly": true},
        },
    });
    let task = json!({
        "name": "task",
        "properties": {
            "id": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "processing", "success", "failure"]},
            "input": {"type": "object"}, "result": {"type": ["null", "object"]}, "owner": {"type": "string"}, "message": {"type": "string"},
            "image_id": {"type": "string"}, "expires_at": {"type": ["null", "string"]}, "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "self": {"type": "string"}, "schema": {"type": "string"},
        },
    });
    let plural = |name: &str, item: Value| {
        json!({
            "name": format!("{name}s"),
            "properties": {format!("{name}s"): {"type": "array", "items": item}, "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}, {"rel": "describedby", "href": "{schema}"}],
        })
    };
    let body = match name.as_str() {
        "image" => image,
        "images" => plural("image", image),
        "member" => member,
        "members" => plural("member", member),
        "task" => task,
        "tasks" => plural("task", task),
        other => {
            return Err(crate::http::error::ApiError::Missing(format!(
                "No schema named {other}."
            )));
        }
    };
    Ok(axum::Json(body))
}
