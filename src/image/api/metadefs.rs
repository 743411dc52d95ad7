//! `/v2/metadefs` (Image API v2: Metadata definitions) and their schemas under
//! `/v2/schemas/metadefs/{name}`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::metadef_requests;
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::image::metadefs::{DefKind, NamespaceQuery};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v2/schemas/metadefs/{name}", get(schema))
        .route("/v2/metadefs/resource_types", get(resource_types))
        .route(
            "/v2/metadefs/namespaces",
            get(namespace_list).post(namespace_create),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}",
            get(namespace_show)
                .put(namespace_update)
                .delete(namespace_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/resource_types",
            get(association_list).post(association_create),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/resource_types/{name}",
            axum::routing::delete(association_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/objects",
            get(object_list)
                .post(object_create)
                .delete(definition_delete_all::<Objects>),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/objects/{name}",
            get(definition_show::<Objects>)
                .put(definition_update::<Objects>)
                .delete(definition_delete::<Objects>),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/properties",
            get(property_list)
                .post(property_create)
                .delete(definition_delete_all::<Properties>),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/properties/{name}",
            get(definition_show::<Properties>)
                .put(definition_update::<Properties>)
                .delete(definition_delete::<Properties>),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/tags",
            get(tag_list).post(tags_create).delete(tags_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/tags/{tag}",
            get(tag_show)
                .post(tag_create)
                .put(tag_update)
                .delete(tag_delete),
        )
}

fn created(body: Value, location: Option<String>) -> Response {
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn resource_types(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let list = cloud.image.metadef_resource_types(&ctx).await?;
    Ok(axum::Json(json!({"resource_types": list})))
}

async fn namespace_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))?;
    let mut q = NamespaceQuery::default();
    for (k, v) in pairs {
        match k.as_str() {
            "visibility" => q.visibility = Some(v),
            "resource_types" => q
                .resource_types
                .extend(v.split(',').map(|s| s.trim().to_owned())),
            "limit" => {
                q.limit = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad_request("limit param must be an integer"))?,
                )
            }
            "marker" => q.marker = Some(v),
            _ => {}
        }
    }
    let limit = q.limit;
    let (list, next) = cloud.image.metadef_namespace_list(&ctx, q).await?;
    let mut body = json!({
        "namespaces": list,
        "first": "/v2/metadefs/namespaces",
        "schema": "/v2/schemas/metadefs/namespaces",
    });
    if let (Some(marker), Some(limit)) = (next, limit) {
        let qs = serde_urlencoded::to_string([("marker", marker), ("limit", limit.to_string())])
            .map_err(|e| ApiError::Internal(e.into()))?;
        body["next"] = json!(format!("/v2/metadefs/namespaces?{qs}"));
    }
    Ok(axum::Json(body))
}

async fn namespace_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let req = metadef_requests::namespace_create(&body);
    let v = cloud.image.metadef_namespace_create(&ctx, req).await?;
    let location = v["self"].as_str().map(str::to_owned);
    Ok(created(v, location))
}

async fn namespace_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        cloud.image.metadef_namespace_get(&ctx, ns).await?,
    ))
}

async fn namespace_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<axum::Json<Value>> {
    metadef_requests::namespace_keys(&body)?;
    let fields = metadef_requests::namespace_fields(&body);
    Ok(axum::Json(
        cloud
            .image
            .metadef_namespace_update(&ctx, ns, fields)
            .await?,
    ))
}

async fn namespace_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.image.metadef_namespace_delete(&ctx, ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn association_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud.image.metadef_association_list(&ctx, ns).await?;
    Ok(axum::Json(json!({"resource_type_associations": list})))
}

async fn association_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let v = cloud
        .image
        .metadef_association_create(&ctx, ns, metadef_requests::association(&body))
        .await?;
    Ok(created(v, None))
}

async fn association_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .image
        .metadef_association_delete(&ctx, ns, name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which definitions a route serves: objects and properties share their
/// show, update and delete handlers.
trait Definitions {
    const KIND: DefKind;
}

struct Objects;

impl Definitions for Objects {
    const KIND: DefKind = DefKind::Object;
}

struct Properties;

impl Definitions for Properties {
    const KIND: DefKind = DefKind::Property;
}

/// `GET .../{objects|properties}/{name}`.
async fn definition_show<K: Definitions>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, name)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        cloud
            .image
            .metadef_definition_get(&ctx, K::KIND, ns, name)
            .await?,
    ))
}

/// `PUT .../{objects|properties}/{name}`.
async fn definition_update<K: Definitions>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, name)): Path<(String, String)>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<axum::Json<Value>> {
    let replacement = metadef_requests::definition(K::KIND, &body);
    Ok(axum::Json(
        cloud
            .image
            .metadef_definition_update(&ctx, K::KIND, ns, name, replacement)
            .await?,
    ))
}

/// `DELETE .../{objects|properties}/{name}`.
async fn definition_delete<K: Definitions>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .image
        .metadef_definition_delete(&ctx, K::KIND, ns, Some(name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE .../{objects|properties}`: all of them.
async fn definition_delete_all<K: Definitions>(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    cloud
        .image
        .metadef_definition_delete(&ctx, K::KIND, ns, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn object_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud
        .image
        .metadef_definition_list(&ctx, DefKind::Object, ns)
        .await?;
    Ok(axum::Json(json!({
        "objects": list.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "schema": "/v2/schemas/metadefs/objects",
    })))
}

async fn object_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let v = cloud
        .image
        .metadef_definition_create(
            &ctx,
            DefKind::Object,
            ns,
            metadef_requests::definition(DefKind::Object, &body),
        )
        .await?;
    let location = v["self"].as_str().map(str::to_owned);
    Ok(created(v, location))
}

/// Properties are listed as a map from name to definition, as Glance does.
async fn property_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud
        .image
        .metadef_definition_list(&ctx, DefKind::Property, ns)
        .await?;
    let map: Map<String, Value> = list
        .into_iter()
        .map(|(name, mut v)| {
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            (name, v)
        })
        .collect();
    Ok(axum::Json(json!({"properties": map})))
}

async fn property_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let v = cloud
        .image
        .metadef_definition_create(
            &ctx,
            DefKind::Property,
            ns,
            metadef_requests::definition(DefKind::Property, &body),
        )
        .await?;
    Ok(created(v, None))
}

async fn tag_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud.image.metadef_tag_list(&ctx, ns).await?;
    Ok(axum::Json(json!({"tags": list})))
}

/// `POST .../tags`: replaces the namespace's tags unless `X-Openstack-Append: true`.
async fn tags_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(ns): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let append = headers
        .get("x-openstack-append")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let names = metadef_requests::tags(&body)?;
    let names = cloud
        .image
        .metadef_tags_create(&ctx, ns, names, append)
        .await?;
    let tags: Vec<Value> = names.into_iter().map(|n| json!({"name": n})).collect();
    Ok(created(json!({"tags": tags}), None))
}

async fn tags_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.image.metadef_tag_delete(&ctx, ns, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, tag)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        cloud.image.metadef_tag_get(&ctx, ns, tag).await?,
    ))
}

async fn tag_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = cloud.image.metadef_tag_create(&ctx, ns, tag).await?;
    Ok(created(v, None))
}

async fn tag_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, tag)): Path<(String, String)>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<axum::Json<Value>> {
    let new_name = metadef_requests::tag_rename(&body)?;
    Ok(axum::Json(
        cloud
            .image
            .metadef_tag_update(&ctx, ns, tag, new_name)
            .await?,
    ))
}

async fn tag_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((ns, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.image.metadef_tag_delete(&ctx, ns, Some(tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON-schema property definition as Glance describes one.
fn property_schema() -> Value {
    json!({
        "type": "object",
        "required": ["title", "type"],
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "operators": {"type": "array", "items": {"type": "string"}},
            "type": {"type": "string", "enum": ["array", "boolean", "integer", "number", "object", "string", null]},
            "required": {"type": "array", "items": {"type": "string"}},
            "minimum": {"type": "number"}, "maximum": {"type": "number"},
            "maxLength": {"type": "integer", "minimum": 0}, "minLength": {"type": "integer", "minimum": 0},
            "pattern": {"type": "string", "format": "regex"},
            "enum": {"type": "array"}, "readonly": {"type": "boolean"}, "default": {},
            "items": {"type": "object"}, "maxItems": {"type": "integer", "minimum": 0},
            "minItems": {"type": "integer", "minimum": 0}, "uniqueItems": {"type": "boolean", "default": false},
            "additionalItems": {"type": "boolean"},
        },
    })
}

fn timestamps(props: &mut Value) {
    props["created_at"] = json!({"type": "string", "readOnly": true, "format": "date-time"});
    props["updated_at"] = json!({"type": "string", "readOnly": true, "format": "date-time"});
}

/// `GET /v2/schemas/metadefs/{name}`.
async fn schema(_ctx: Ctx, Path(name): Path<String>) -> ApiResult<axum::Json<Value>> {
    let plural = |name: &str, key: &str, item: Value| {
        json!({
            "name": name,
            "properties": {
                key: {"type": "array", "items": item},
                "first": {"type": "string"}, "next": {"type": "string"}, "schema": {"type": "string"},
            },
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}],
        })
    };
    let mut association_props = json!({
        "name": {"type": "string", "maxLength": 80},
        "prefix": {"type": "string", "maxLength": 80},
        "properties_target": {"type": "string", "maxLength": 80},
    });
    timestamps(&mut association_props);
    let association = json!({
        "name": "resource_type_association",
        "properties": association_props,
        "required": ["name"],
        "additionalProperties": false,
    });
    let mut tag_props = json!({"name": {"type": "string", "maxLength": 80}});
    timestamps(&mut tag_props);
    let tag = json!({"name": "tag", "properties": tag_props, "required": ["name"], "additionalProperties": false});
    let mut object_props = json!({
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object", "additionalProperties": property_schema()},
        "schema": {"type": "string", "readOnly": true},
        "self": {"type": "string", "readOnly": true},
    });
    timestamps(&mut object_props);
    let object = json!({"name": "object", "properties": object_props, "required": ["name"], "additionalProperties": false});
    let mut property = property_schema();
    property["name"] = json!("property");
    property["required"] = json!(["name", "title", "type"]);
    property["additionalProperties"] = json!(false);
    let mut namespace_props = json!({
        "namespace": {"type": "string", "maxLength": 80, "description": "The unique namespace text."},
        "display_name": {"type": "string", "maxLength": 80},
        "description": {"type": "string", "maxLength": 500},
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": {"type": "string", "maxLength": 255},
        "schema": {"type": "string", "readOnly": true},
        "self": {"type": "string", "readOnly": true},
        "resource_type_associations": {"type": "array", "items": association["properties"].clone()},
        "properties": {"type": "object", "additionalProperties": property_schema()},
        "objects": {"type": "array", "items": object_props.clone()},
        "tags": {"type": "array", "items": tag_props.clone()},
    });
    timestamps(&mut namespace_props);
    let namespace = json!({
        "name": "namespace",
        "properties": namespace_props,
        "required": ["namespace"],
        "additionalProperties": false,
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
    });
    let body = match name.as_str() {
        "namespace" => namespace,
        "namespaces" => plural("namespaces", "namespaces", namespace),
        "resource_type" => association,
        "resource_types" => plural(
            "resource_type_associations",
            "resource_type_associations",
            association,
        ),
        "object" => object,
        "objects" => plural("objects", "objects", object),
        "property" => property,
        "properties" => json!({
            "name": "properties",
            "properties": {"properties": {"type": "object", "additionalProperties": property_schema()},
                           "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}],
        }),
        "tag" => tag,
        "tags" => plural("tags", "tags", tag),
        other => {
            return Err(ApiError::Missing(format!(
                "No schema named metadefs/{other}."
            )));
        }
    };
    Ok(axum::Json(body))
}
