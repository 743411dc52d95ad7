//! `/v2/images`: images, their data, import, actions and tags (Image API v2: Images,
//! Image data, Interoperable image import, Image tags).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cloud::Cloud;
use crate::http::RequestId;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Json, parse};
use crate::image::model::Image;
use crate::image::patch::{PATCH_TYPES, parse_patch};
use crate::image::{ImageCreate, ListQuery};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v2/images", get(image_list).post(image_create))
        .route(
            "/v2/images/{image_id}",
            get(image_show).patch(image_update).delete(image_delete),
        )
        .route(
            "/v2/images/{image_id}/file",
            put(image_upload).get(image_download),
        )
        .route("/v2/images/{image_id}/stage", put(image_stage))
        .route("/v2/images/{image_id}/import", post(image_import))
        .route(
            "/v2/images/{image_id}/actions/deactivate",
            post(image_deactivate),
        )
        .route(
            "/v2/images/{image_id}/actions/reactivate",
            post(image_reactivate),
        )
        .route(
            "/v2/images/{image_id}/tags/{tag}",
            put(image_tag_add).delete(image_tag_delete),
        )
}

/// The image as Glance shows it: every core field (null when unset), custom
/// properties flattened beside them, relative links.
pub(super) fn view(i: &Image) -> Value {
    let mut v = json!({
        "id": i.id, "name": i.name, "status": i.status.as_str(), "visibility": i.visibility,
        "protected": i.protected, "os_hidden": i.os_hidden, "owner": i.owner,
        "disk_format": i.disk_format, "container_format": i.container_format,
        "min_disk": i.min_disk, "min_ram": i.min_ram, "size": i.size, "virtual_size": i.virtual_size,
        "checksum": i.checksum, "os_hash_algo": i.os_hash_algo, "os_hash_value": i.os_hash_value,
        "tags": i.tags, "created_at": i.created_at, "updated_at": i.updated_at,
        "self": format!("/v2/images/{}", i.id), "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image",
    });
    if let Some(obj) = v.as_object_mut() {
        for (k, val) in &i.properties {
            obj.entry(k.clone()).or_insert_with(|| val.clone());
        }
        if i.status == crate::image::model::ImageStatus::Active {
            obj.insert("stores".into(), json!("local"));
        }
    }
    v
}

fn query_pairs(raw: Option<String>) -> ApiResult<ListQuery> {
    let raw = raw.unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(&raw)
        .map(ListQuery)
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
}

/// `GET /v2/images`.
async fn image_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query_pairs(raw)?;
    let page = cloud.image.image_list(&ctx, q.clone()).await?;
    let mut body = json!({
        "images": page.images.iter().map(view).collect::<Vec<_>>(),
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    });
    if let Some(marker) = page.next_marker {
        let mut params: Vec<(String, String)> =
            q.0.into_iter()
                .filter(|(k, _)| k != "marker" && k != "limit")
                .collect();
        params.push(("limit".into(), page.limit.to_string()));
        params.push(("marker".into(), marker));
        let qs = serde_urlencoded::to_string(&params).map_err(|e| ApiError::Internal(e.into()))?;
        body["next"] = json!(format!("/v2/images?{qs}"));
    }
    Ok(axum::Json(body))
}

/// `POST /v2/images`.
async fn image_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let req = ImageCreate::from_body(body);
    let image = cloud.image.image_create(&ctx, req).await?;
    let mut resp = (StatusCode::CREATED, axum::Json(view(&image))).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/images/{}", image.id)) {
        h.insert(header::LOCATION, v);
    }
    // openstacksdk learns the import methods from this header (use_import=True).
    if let Ok(v) = HeaderValue::from_str(&crate::image::import_methods().join(",")) {
        h.insert("openstack-image-import-methods", v);
    }
    h.insert(
        "openstack-image-store-ids",
        HeaderValue::from_static("local"),
    );
    Ok(resp)
}

async fn image_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(view(&cloud.image.image_get(&ctx, id).await?)))
}

/// `PATCH /v2/images/{id}` with `application/openstack-images-v2.1-json-patch` or
/// the older `application/openstack-images-v2.0-json-patch`.
async fn image_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Value>> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ctype.split(';').next().unwrap_or("").trim();
    let Some(&(_, draft4)) = PATCH_TYPES.iter().find(|(t, _)| *t == media) else {
        let allowed: Vec<&str> = PATCH_TYPES.iter().map(|(t, _)| *t).collect();
        return Err(ApiError::UnsupportedMediaType(format!(
            "Image PATCH expects Content-Type one of: {}",
            allowed.join(", ")
        )));
    };
    let ops = parse_patch(parse(&body)?, draft4)?;
    Ok(axum::Json(view(
        &cloud.image.image_update(&ctx, id, ops).await?,
    )))
}

async fn image_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.image.image_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Image data must be sent as `application/octet-stream` (415 otherwise, as Glance).
fn require_octet_stream(headers: &HeaderMap) -> ApiResult<()> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if ctype.starts_with("application/octet-stream") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Unsupported Content-Type '{ctype}': image data must be application/octet-stream."
        )))
    }
}

/// `PUT /v2/images/{id}/file`: the body streams to disk.
async fn image_upload(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<StatusCode, ClosingError> {
    require_octet_stream(&headers).map_err(ClosingError)?;
    cloud
        .image
        .image_upload(&ctx, id, crate::bytestream::from_body(body))
        .await
        .map_err(ClosingError)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An error answered before the request body was read: the connection cannot be
/// reused (the unread bytes would be taken for the next request), so say so.
struct ClosingError(ApiError);

impl IntoResponse for ClosingError {
    fn into_response(self) -> Response {
        let mut r = self.0.into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    }
}

/// `GET /v2/images/{id}/file`, with `Range` support and `Content-MD5`.
async fn image_download(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let Some((image, path)) = cloud.image.image_download(&ctx, id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let size = image.size.unwrap_or(0).max(0) as u64;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, size.saturating_sub(1)),
        Some(r) => match crate::image::data_range(r, size) {
            Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
            None => {
                return Err(ApiError::RangeNotSatisfiable(format!(
                    "Range {r} cannot be satisfied for {size} bytes."
                )));
            }
        },
    };
    let body = if size == 0 {
        Body::empty()
    } else {
        let bytes = crate::image::data_stream(&path, start, end)
            .await
            .map_err(ApiError::Internal)?;
        Body::from_stream(bytes)
    };
    let len = if size == 0 { 0 } else { end + 1 - start };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(md5) = image
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-md5", md5);
    }
    let content_range = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"));
    if let (StatusCode::PARTIAL_CONTENT, Ok(v)) = (status, content_range) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// `PUT /v2/images/{id}/stage`.
async fn image_stage(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<StatusCode, ClosingError> {
    require_octet_stream(&headers).map_err(ClosingError)?;
    cloud
        .image
        .image_stage(&ctx, id, crate::bytestream::from_body(body))
        .await
        .map_err(ClosingError)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ImportBody {
    method: ImportMethod,
}

#[derive(Deserialize)]
struct ImportMethod {
    name: String,
    /// web-download's source URL.
    #[serde(default)]
    uri: Option<String>,
}

/// `POST /v2/images/{id}/import`: 202, the import continues as a task.
async fn image_import(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
    Json(b): Json<ImportBody>,
) -> ApiResult<StatusCode> {
    cloud
        .image
        .image_import(&ctx, id, b.method.name, b.method.uri, request_id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

async fn image_deactivate(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.image.image_set_active(&ctx, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn image_reactivate(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.image.image_set_active(&ctx, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn image_tag_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.image.image_tag(&ctx, id, tag, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn image_tag_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.image.image_tag(&ctx, id, tag, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
