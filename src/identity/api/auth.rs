//! `/v3/auth/*`: issue, validate, check and revoke tokens; what a token may scope to.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{domains, projects, v3_url};
use crate::cloud::Cloud;
use crate::http::SUBJECT_TOKEN_HEADER;
use crate::http::context::{Ctx, RequestContext, Scope};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::identity::AuthRequest;
use crate::identity::catalog::CatalogEntry;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v3/auth/tokens",
            get(token_validate)
                .head(token_check)
                .post(token_issue)
                .delete(token_revoke),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/auth/system", get(auth_system))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthBody {
    auth: AuthRequest,
}

fn wants_catalog(q: &HashMap<String, String>) -> bool {
    !q.contains_key("nocatalog")
}

fn subject_token(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get(SUBJECT_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("The X-Subject-Token header is required."))
}

/// `POST /v3/auth/tokens` (Identity API v3: Password / Token / Application
/// credential authentication).
async fn token_issue(
    State(cloud): State<Cloud>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    sent: Option<axum::Extension<crate::http::SentHost>>,
    uri: axum::extract::OriginalUri,
    Json(body): Json<AuthBody>,
) -> ApiResult<Response> {
    let mut auth = body.auth;
    auth.signed = super::oauth1::signed_request("POST", &headers, sent.as_deref(), &uri);
    let issued = cloud.identity.authenticate(auth).await?;
    let view = token_view(&cloud, &issued.token, &issued.context, wants_catalog(&q)).await?;
    let mut resp = (StatusCode::CREATED, axum::Json(view)).into_response();
    let value = HeaderValue::from_str(&issued.token).map_err(|e| ApiError::Internal(e.into()))?;
    resp.headers_mut().insert(SUBJECT_TOKEN_HEADER, value);
    Ok(resp)
}

/// `GET /v3/auth/tokens`: validate the X-Subject-Token and show it.
async fn token_validate(
    State(cloud): State<Cloud>,
    caller: Ctx,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let token = subject_token(&headers)?;
    let ctx = cloud.identity.validate_subject_for(&caller, &token).await?;
    let view = token_view(&cloud, &token, &ctx, wants_catalog(&q)).await?;
    let mut resp = axum::Json(view).into_response();
    if let Ok(v) = HeaderValue::from_str(&token) {
        resp.headers_mut().insert(SUBJECT_TOKEN_HEADER, v);
    }
    Ok(resp)
}

/// `HEAD /v3/auth/tokens`.
async fn token_check(
    State(cloud): State<Cloud>,
    caller: Ctx,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = subject_token(&headers)?;
    cloud.identity.validate_subject_for(&caller, &token).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /v3/auth/tokens`.
async fn token_revoke(
    State(cloud): State<Cloud>,
    caller: Ctx,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = subject_token(&headers)?;
    cloud.identity.revoke_token(&caller, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn auth_catalog(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let catalog = cloud.identity.catalog().await?;
    let filter = cloud.identity.catalog_filter(ctx.project_id()).await?;
    let body = json!({"catalog": catalog_view(&catalog, ctx.project_id(), filter.as_ref()), "links": {"self": format!("{}/auth/catalog", v3_url(&headers))}});
    Ok(axum::Json(body).into_response())
}

async fn auth_projects(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let list = cloud
        .identity
        .user_projects(&ctx, ctx.user.id.clone())
        .await?;
    let items: Vec<Value> = list
        .iter()
        .filter(|p| p.enabled)
        .map(|p| projects::view(&headers, p))
        .collect();
    super::list_response(
        &headers,
        "projects",
        "auth/projects",
        items,
        &HashMap::new(),
        &[],
    )
}

async fn auth_domains(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let list = cloud.identity.user_domains(&ctx).await?;
    let items: Vec<Value> = list
        .iter()
        .filter(|d| d.enabled)
        .map(|d| domains::view(&headers, d))
        .collect();
    super::list_response(
        &headers,
        "domains",
        "auth/domains",
        items,
        &HashMap::new(),
        &[],
    )
}

async fn auth_system(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let system = if cloud.identity.user_has_system_roles(&ctx).await? {
        vec![json!({"all": true})]
    } else {
        vec![]
    };
    let body =
        json!({"system": system, "links": {"self": format!("{}/auth/system", v3_url(&headers))}});
    Ok(axum::Json(body).into_response())
}

use crate::http::time::iso_micros as fmt_time;

/// The `{"token": ...}` body shared by issue and validate.
async fn token_view(
    cloud: &Cloud,
    token_id: &str,
    ctx: &RequestContext,
    with_catalog: bool,
) -> ApiResult<Value> {
    let mut token = json!({
        "methods": ctx.methods,
        "user": {
            "id": ctx.user.id,
            "name": ctx.user.name,
            "domain": domain_ref(&ctx.user_domain.id, &ctx.user_domain.name),
            "password_expires_at": null,
        },
        "audit_ids": ctx.audit_ids,
        "expires_at": fmt_time(ctx.expires_at),
        "issued_at": fmt_time(ctx.issued_at),
    });
    token_scope(&mut token, ctx);
    token_delegation(&mut token, ctx);
    if ctx.methods.iter().any(|m| m == "oauth1")
        && let Some((access_token_id, consumer_id)) =
            cloud.identity.oauth1_of_token(token_id).await?
    {
        token["OS-OAUTH1"] =
            json!({"access_token_id": access_token_id, "consumer_id": consumer_id});
    }
    if with_catalog && ctx.scope != Scope::Unscoped {
        let catalog = cloud.identity.catalog().await?;
        let filter = cloud.identity.catalog_filter(ctx.project_id()).await?;
        token["catalog"] = json!(catalog_view(&catalog, ctx.project_id(), filter.as_ref()));
    }
    Ok(json!({"token": token}))
}

/// A domain as a token names it: the user's, the project's or the scope's own.
fn domain_ref(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name})
}

/// The token's scope (project, domain or system) and, when it has one, its roles.
fn token_scope(token: &mut Value, ctx: &RequestContext) {
    match &ctx.scope {
        Scope::Unscoped => {}
        Scope::Project { project, domain } => {
            token["project"] = json!({"id": project.id, "name": project.name, "domain": domain_ref(&domain.id, &domain.name)});
            token["is_domain"] = json!(false);
        }
        Scope::Domain(d) => token["domain"] = domain_ref(&d.id, &d.name),
        Scope::System => token["system"] = json!({"all": true}),
    }
    if ctx.scope != Scope::Unscoped {
        token["roles"] = json!(
            ctx.roles
                .iter()
                .map(|r| json!({"id": r.id, "name": r.name}))
                .collect::<Vec<_>>()
        );
    }
}

/// The application credential or trust the token was issued through, if any.
fn token_delegation(token: &mut Value, ctx: &RequestContext) {
    if let Some(ac) = &ctx.application_credential {
        token["application_credential"] =
            json!({"id": ac.id, "name": ac.name, "restricted": !ac.unrestricted});
    }
    if let Some(t) = &ctx.trust {
        token["OS-TRUST:trust"] = json!({
            "id": t.id, "impersonation": t.impersonation,
            "trustor_user": {"id": t.trustor_user_id},
            "trustee_user": {"id": t.trustee_user_id},
        });
    }
}

/// Catalog entries with `$(project_id)s` filled in; endpoints that need a project
/// are left out of tokens without one, as Keystone does. A project with an endpoint
/// filter (OS-EP-FILTER) sees only its endpoints, and no service left without any.
fn catalog_view(
    catalog: &[CatalogEntry],
    project_id: Option<&str>,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Vec<Value> {
    catalog
        .iter()
        .filter(|entry| only.is_none_or(|ids| entry.endpoints.iter().any(|e| ids.contains(&e.id))))
        .map(|entry| {
            let endpoints: Vec<Value> = entry
                .endpoints
                .iter()
                .filter(|e| only.is_none_or(|ids| ids.contains(&e.id)))
                .filter_map(|e| {
                    let needs_project =
                        e.url.contains("$(project_id)s") || e.url.contains("$(tenant_id)s");
                    let url = match (needs_project, project_id) {
                        (false, _) => e.url.clone(),
                        (true, Some(p)) => e
                            .url
                            .replace("$(project_id)s", p)
                            .replace("$(tenant_id)s", p),
                        (true, None) => return None,
                    };
                    Some(json!({
                        "id": e.id,
                        "interface": e.interface,
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": url,
                    }))
                })
                .collect();
            json!({
                "id": entry.service.id,
                "type": entry.service.service_type,
                "name": entry.service.name,
                "endpoints": endpoints,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::{Endpoint, Service};

    #[test]
    fn catalog_fills_project_id_and_hides_project_urls_without_one() {
        let entry = CatalogEntry {
            service: Service {
                id: "s".into(),
                service_type: "block-storage".into(),
                name: "cinder".into(),
                description: String::new(),
                enabled: true,
            },
            endpoints: vec![Endpoint {
                id: "e".into(),
                service_id: "s".into(),
                interface: "public".into(),
                region_id: Some("RegionOne".into()),
                url: "http://h/volume/v3/$(project_id)s".into(),
                enabled: true,
            }],
        };
        let v = catalog_view(std::slice::from_ref(&entry), Some("p1"), None);
        assert_eq!(v[0]["endpoints"][0]["url"], "http://h/volume/v3/p1");
        assert_eq!(v[0]["endpoints"][0]["region"], "RegionOne");
        let only: std::collections::BTreeSet<String> = ["other".to_owned()].into();
        let v = catalog_view(std::slice::from_ref(&entry), Some("p1"), Some(&only));
        assert!(v.is_empty(), "an endpoint filter hides the rest");
        let v = catalog_view(&[entry], None, None);
        assert_eq!(v[0]["endpoints"].as_array().map(Vec::len), Some(0));
    }
}
