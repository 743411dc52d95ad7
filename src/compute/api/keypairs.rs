//! Keypairs (api-ref: compute "Keypairs (keypairs)"): routes and views.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::params::{next_link, query};
use crate::cloud::Cloud;
use crate::compute::keypairs::KeypairCreate;
use crate::compute::model::Keypair;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::pagination::{Dialect, PageQuery};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-keypairs", get(keypair_list).post(keypair_create))
        .route(
            "/os-keypairs/{name}",
            get(keypair_show).delete(keypair_delete),
        )
}

/// `user_id` in the query, honoured from 2.10.
fn user_param(q: &HashMap<String, String>, mv: Microversion) -> Option<String> {
    q.get("user_id").filter(|_| mv.at_least(10)).cloned()
}

/// List Keypairs: `GET /os-keypairs` (paging from 2.35).
async fn keypair_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let all = cloud.compute.keypair_list(&ctx, user_param(&q, mv)).await?;
    let page = if mv.at_least(35) {
        PageQuery {
            limit: q.get("limit").cloned(),
            marker: q.get("marker").cloned(),
        }
    } else {
        PageQuery::default()
    };
    let limit = page.limit_as(Dialect::Nova)?;
    let items = page.apply_as(Dialect::Nova, all, |(_, k)| &k.name)?.items;
    let list: Vec<Value> = items
        .iter()
        .map(|(_, k)| {
            let mut v =
                json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
            if mv.at_least(2) {
                v["type"] = json!(k.key_type);
            }
            json!({"keypair": v})
        })
        .collect();
    let mut body = json!({"keypairs": list});
    if let (Some(l), Some((_, last))) = (limit, items.last())
        && l == items.len()
    {
        body["keypairs_links"] = next_link(&h, "os-keypairs", &q, &last.name);
    }
    Ok(axum::Json(body))
}

/// The create body as Nova's schema for `mv` takes it: `type` from 2.2,
/// `user_id` from 2.10, and from 2.92 an imported public key only.
fn parse_keypair_create(body: &Value, mv: Microversion) -> ApiResult<KeypairCreate> {
    let kp = body
        .get("keypair")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'keypair' is a required property"))?;
    let mut known = vec!["name", "public_key"];
    if mv.at_least(2) {
        known.push("type");
    }
    if mv.at_least(10) {
        known.push("user_id");
    }
    if let Some(k) = kp.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let string = |field: &str| -> ApiResult<Option<String>> {
        match kp.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'string'"
            ))),
        }
    };
    let name =
        string("name")?.ok_or_else(|| ApiError::bad_request("'name' is a required property"))?;
    let key_type = string("type")?.unwrap_or_else(|| "ssh".into());
    if key_type != "ssh" && key_type != "x509" {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute type. Value: {key_type}. '{key_type}' is not one of ['ssh', 'x509']"
        )));
    }
    let public_key = string("public_key")?;
    // 2.92: Nova no longer generates key pairs; the public key must be imported.
    if mv.at_least(92) && public_key.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute keypair. 'public_key' is a required property",
        ));
    }
    Ok(KeypairCreate {
        name,
        public_key,
        key_type,
        user_id: string("user_id")?,
        with_at_dot: mv.at_least(92),
    })
}

/// Create Or Import Keypair: `POST /os-keypairs` -> 200 (201 from 2.2).
async fn keypair_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let req = parse_keypair_create(&body, mv)?;
    let (k, private_key) = cloud.compute.keypair_create(&ctx, req).await?;
    let mut v = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
        "user_id": k.user_id,
    });
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    let status = if mv.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!({"keypair": v}))).into_response())
}

fn show_view(id: i64, k: &Keypair, mv: Microversion) -> Value {
    let mut v = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
        "user_id": k.user_id,
        "created_at": k.created_at,
        "deleted": false,
        "deleted_at": null,
        "updated_at": null,
        "id": id,
    });
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    v
}

/// Show Keypair Details: `GET /os-keypairs/{keypair_name}`.
async fn keypair_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let (id, k) = cloud
        .compute
        .keypair_show(&ctx, name, user_param(&q, mv))
        .await?;
    Ok(axum::Json(json!({"keypair": show_view(id, &k, mv)})))
}

/// Delete Keypair -> 202 (204 from 2.2).
async fn keypair_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q = query(raw)?;
    cloud
        .compute
        .keypair_delete(&ctx, name, user_param(&q, mv))
        .await?;
    Ok(if mv.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}
