//! `/v3/OS-OAUTH1/*` (Identity API v3 OS-OAUTH1 extension): consumers, request and
//! access tokens, the authorization of a request token, and a user's access tokens
//! under `/v3/users/{user_id}/OS-OAUTH1/access_tokens`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{created, list_response, no_content, roles, v3_url};
use crate::cloud::Cloud;
use crate::http::SentHost;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::time::iso_micros;
use crate::identity::oauth1::signature::{self, SignedRequest};
use crate::identity::oauth1::{ConsumerView, IssuedPair, RoleRef};
use crate::identity::store_oauth1::AccessToken;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v3/OS-OAUTH1/consumers",
            get(consumer_list).post(consumer_create),
        )
        .route(
            "/v3/OS-OAUTH1/consumers/{consumer_id}",
            get(consumer_show)
                .patch(consumer_update)
                .delete(consumer_delete),
        )
        .route("/v3/OS-OAUTH1/request_token", post(request_token_create))
        .route("/v3/OS-OAUTH1/access_token", post(access_token_create))
        .route(
            "/v3/OS-OAUTH1/authorize/{request_token_id}",
            put(request_token_authorize),
        )
        .route(
            "/v3/users/{user_id}/OS-OAUTH1/access_tokens",
            get(access_token_list),
        )
        .route(
            "/v3/users/{user_id}/OS-OAUTH1/access_tokens/{access_token_id}",
            get(access_token_show).delete(access_token_delete),
        )
        .route(
            "/v3/users/{user_id}/OS-OAUTH1/access_tokens/{access_token_id}/roles",
            get(access_token_roles),
        )
        .route(
            "/v3/users/{user_id}/OS-OAUTH1/access_tokens/{access_token_id}/roles/{role_id}",
            get(access_token_role),
        )
}

/// The OAuth-signed request as the client made it: the method, the URL it
/// addressed (scheme, the Host it sent, the full path), its query and the
/// parameters of its `Authorization: OAuth` header. None without such a header.
pub(super) fn signed_request(
    method: &str,
    headers: &HeaderMap,
    sent: Option<&SentHost>,
    uri: &OriginalUri,
) -> Option<SignedRequest> {
    let oauth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(signature::parse_authorization)?;
    let host = sent
        .and_then(|s| s.0.clone())
        .unwrap_or_else(|| "localhost".into());
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    let query = uri
        .query()
        .map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default())
        .unwrap_or_default();
    Some(SignedRequest {
        method: method.to_owned(),
        base_url: signature::base_url(scheme, &host, uri.path()),
        query,
        oauth,
    })
}

fn no_oauth_header() -> ApiError {
    ApiError::Unauthorized(
        "No Authorization headers found, cannot proceed with OAuth related calls.".into(),
    )
}

fn consumer_view(h: &HeaderMap, c: &ConsumerView) -> Value {
    let mut v = Value::Object(c.extra.clone());
    v["id"] = json!(c.id);
    v["description"] = json!(c.description);
    v["links"] = json!({"self": format!("{}/OS-OAUTH1/consumers/{}", v3_url(h), c.id)});
    if let Some(s) = &c.secret {
        v["secret"] = json!(s);
    }
    v
}

fn access_token_view(h: &HeaderMap, a: &AccessToken) -> Value {
    let base = format!(
        "{}/users/{}/OS-OAUTH1/access_tokens/{}",
        v3_url(h),
        a.authorizing_user_id,
        a.id
    );
    json!({
        "id": a.id,
        "consumer_id": a.consumer_id,
        "project_id": a.project_id,
        "authorizing_user_id": a.authorizing_user_id,
        "expires_at": a.expires_at.map(iso_micros),
        "links": {"self": base, "roles": format!("{base}/roles")},
    })
}

/// The form-encoded answer a consumer reads (`oauth_token`, `oauth_token_secret`,
/// `oauth_expires_at`), 201.
fn pair_response(p: &IssuedPair) -> ApiResult<Response> {
    let mut fields = vec![
        ("oauth_token", p.key.clone()),
        ("oauth_token_secret", p.secret.clone()),
    ];
    if let Some(e) = p.expires_at {
        fields.push(("oauth_expires_at", iso_micros(e)));
    }
    let body = serde_urlencoded::to_string(&fields).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ConsumerBody {
    #[serde(default)]
    consumer: Map<String, Value>,
}

async fn consumer_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<ConsumerBody>,
) -> ApiResult<Response> {
    let c = cloud.identity.consumer_create(&ctx, b.consumer).await?;
    Ok(created(json!({"consumer": consumer_view(&h, &c)})))
}

async fn consumer_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .consumer_list(&ctx)
        .await?
        .iter()
        .map(|c| consumer_view(&h, c))
        .collect();
    list_response(&h, "consumers", "OS-OAUTH1/consumers", items, &q, &[])
}

async fn consumer_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = cloud.identity.consumer_get(&ctx, id).await?;
    Ok(axum::Json(json!({"consumer": consumer_view(&h, &c)})).into_response())
}

async fn consumer_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ConsumerBody>,
) -> ApiResult<Response> {
    let c = cloud.identity.consumer_update(&ctx, id, b.consumer).await?;
    Ok(axum::Json(json!({"consumer": consumer_view(&h, &c)})).into_response())
}

async fn consumer_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.consumer_delete(&ctx, id).await?;
    Ok(no_content())
}

/// `POST /v3/OS-OAUTH1/request_token`: no Keystone token; the OAuth signature is
/// the proof.
async fn request_token_create(
    State(cloud): State<Cloud>,
    h: HeaderMap,
    sent: Option<axum::Extension<SentHost>>,
    uri: OriginalUri,
) -> ApiResult<Response> {
    let req = signed_request("POST", &h, sent.as_deref(), &uri).ok_or_else(no_oauth_header)?;
    let project = h
        .get("requested-project-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let pair = cloud.identity.request_token_create(req, project).await?;
    pair_response(&pair)
}

/// `POST /v3/OS-OAUTH1/access_token`.
async fn access_token_create(
    State(cloud): State<Cloud>,
    h: HeaderMap,
    sent: Option<axum::Extension<SentHost>>,
    uri: OriginalUri,
) -> ApiResult<Response> {
    let req = signed_request("POST", &h, sent.as_deref(), &uri).ok_or_else(no_oauth_header)?;
    let pair = cloud.identity.access_token_create(req).await?;
    pair_response(&pair)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleItem {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct AuthorizeBody {
    #[serde(default)]
    roles: Vec<RoleItem>,
}

/// `PUT /v3/OS-OAUTH1/authorize/{request_token_id}` -> `{"token": {"oauth_verifier"}}`.
async fn request_token_authorize(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<AuthorizeBody>,
) -> ApiResult<Response> {
    let mut roles = Vec::new();
    for r in b.roles {
        roles.push(match (r.id, r.name) {
            (Some(id), None) => RoleRef::Id(id),
            (None, Some(name)) => RoleRef::Name(name),
            _ => {
                return Err(ApiError::bad_request(
                    "Invalid input for field 'roles': a role has exactly one of 'id' or 'name'",
                ));
            }
        });
    }
    let verifier = cloud
        .identity
        .request_token_authorize(&ctx, id, roles)
        .await?;
    Ok(axum::Json(json!({"token": {"oauth_verifier": verifier}})).into_response())
}

async fn access_token_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let path = format!("users/{user_id}/OS-OAUTH1/access_tokens");
    let items = cloud
        .identity
        .access_token_list(&ctx, user_id)
        .await?
        .iter()
        .map(|a| access_token_view(&h, a))
        .collect();
    list_response(&h, "access_tokens", &path, items, &q, &[])
}

async fn access_token_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let a = cloud.identity.access_token_get(&ctx, user_id, id).await?;
    Ok(axum::Json(json!({"access_token": access_token_view(&h, &a)})).into_response())
}

async fn access_token_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud
        .identity
        .access_token_delete(&ctx, user_id, id)
        .await?;
    Ok(no_content())
}

async fn access_token_roles(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let path = format!("users/{user_id}/OS-OAUTH1/access_tokens/{id}/roles");
    let items = cloud
        .identity
        .access_token_roles(&ctx, user_id, id)
        .await?
        .iter()
        .map(|r| roles::view(&h, r))
        .collect();
    list_response(&h, "roles", &path, items, &q, &[])
}

async fn access_token_role(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, id, role_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let role = cloud
        .identity
        .access_token_roles(&ctx, user_id, id)
        .await?
        .into_iter()
        .find(|r| r.id == role_id)
        .ok_or_else(|| ApiError::not_found("role", role_id))?;
    Ok(axum::Json(json!({"role": roles::view(&h, &role)})).into_response())
}
