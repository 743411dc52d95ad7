//! `/v3/OS-TRUST/trusts` (Identity API v3 OS-TRUST extension): create, list, show
//! and delete trusts, and the roles they delegate.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{created, list_response, no_content, roles, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::http::time::iso_micros;
use crate::identity::model::Role;
use crate::identity::store_ext::Trust;
use crate::identity::trusts::{TrustFilter, TrustInput};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/OS-TRUST/trusts", get(trust_list).post(trust_create))
        // tempest's client lists with a trailing slash, which Keystone accepts.
        .route("/v3/OS-TRUST/trusts/", get(trust_list))
        .route(
            "/v3/OS-TRUST/trusts/{trust_id}",
            get(trust_show).delete(trust_delete),
        )
        .route("/v3/OS-TRUST/trusts/{trust_id}/roles", get(trust_roles))
        .route(
            "/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}",
            get(trust_role),
        )
}

#[derive(Deserialize)]
struct Body {
    trust: TrustInput,
}

fn trust_view(h: &HeaderMap, t: &Trust, roles_list: &[Role]) -> Value {
    let base = format!("{}/OS-TRUST/trusts/{}", v3_url(h), t.id);
    json!({
        "id": t.id,
        "trustor_user_id": t.trustor_user_id,
        "trustee_user_id": t.trustee_user_id,
        "project_id": t.project_id,
        "impersonation": t.impersonation,
        "expires_at": t.expires_at.map(iso_micros),
        "remaining_uses": t.remaining_uses,
        "allow_redelegation": t.allow_redelegation,
        "redelegation_count": t.redelegation_count,
        "redelegated_trust_id": t.redelegated_trust_id,
        "roles": roles_list.iter().map(|r| roles::view(h, r)).collect::<Vec<_>>(),
        "roles_links": {"self": format!("{base}/roles"), "previous": null, "next": null},
        "links": {"self": base},
    })
}

/// `POST /v3/OS-TRUST/trusts` -> 201.
async fn trust_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let via = ctx.trust.as_ref().map(|t| t.id.clone());
    let (t, r) = cloud.identity.trust_create(&ctx, b.trust, via).await?;
    Ok(created(json!({"trust": trust_view(&h, &t, &r)})))
}

/// `GET /v3/OS-TRUST/trusts[?trustor_user_id=&trustee_user_id=]`.
async fn trust_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let filter = TrustFilter {
        trustor_user_id: q.get("trustor_user_id").cloned(),
        trustee_user_id: q.get("trustee_user_id").cloned(),
    };
    let items = cloud
        .identity
        .trust_list(&ctx, filter)
        .await?
        .iter()
        .map(|(t, r)| trust_view(&h, t, r))
        .collect();
    list_response(&h, "trusts", "OS-TRUST/trusts", items, &q, &[])
}

async fn trust_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (t, r) = cloud.identity.trust_get(&ctx, id).await?;
    Ok(axum::Json(json!({"trust": trust_view(&h, &t, &r)})))
}

async fn trust_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.trust_delete(&ctx, id).await?;
    Ok(no_content())
}

async fn trust_roles(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (_, r) = cloud.identity.trust_get(&ctx, id.clone()).await?;
    let items: Vec<Value> = r.iter().map(|r| roles::view(&h, r)).collect();
    let base = format!("{}/OS-TRUST/trusts/{id}/roles", v3_url(&h));
    Ok(axum::Json(
        json!({"roles": items, "links": {"self": base, "previous": null, "next": null}}),
    ))
}

/// `GET`/`HEAD /v3/OS-TRUST/trusts/{id}/roles/{role_id}`.
async fn trust_role(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud.identity.trust_role(&ctx, id, role_id).await?;
    Ok(axum::Json(json!({"role": roles::view(&h, &r)})))
}
