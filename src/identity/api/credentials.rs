//! `/v3/credentials`, `/v3/policies` (generic handlers of `crud.rs`) and the EC2
//! credentials of a user, `/v3/users/{user_id}/credentials/OS-EC2`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::{created, no_content, self_link, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::credentials::{CredentialInput, PolicyInput};
use crate::identity::model::{Credential, Policy};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v3/credentials",
            get(list::<Credential>).post(create::<Credential>),
        )
        .route(
            "/v3/credentials/{credential_id}",
            get(show::<Credential>)
                .patch(update::<Credential>)
                .delete(delete::<Credential>),
        )
        .route("/v3/policies", get(list::<Policy>).post(create::<Policy>))
        .route(
            "/v3/policies/{policy_id}",
            get(show::<Policy>)
                .patch(update::<Policy>)
                .delete(delete::<Policy>),
        )
        .route(
            "/v3/users/{user_id}/credentials/OS-EC2",
            get(ec2_list).post(ec2_create),
        )
        .route(
            "/v3/users/{user_id}/credentials/OS-EC2/{access}",
            get(ec2_show).delete(ec2_delete),
        )
}

#[derive(Deserialize)]
pub(crate) struct CredentialBody {
    credential: CredentialInput,
}

#[derive(Deserialize)]
pub(crate) struct PolicyBody {
    policy: PolicyInput,
}

fn credential_view(h: &HeaderMap, c: &Credential) -> Value {
    json!({"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.cred_type,
           "blob": c.blob, "links": self_link(h, &format!("credentials/{}", c.id))})
}

fn policy_view(h: &HeaderMap, p: &Policy) -> Value {
    json!({"id": p.id, "type": p.policy_type, "blob": p.blob,
           "links": self_link(h, &format!("policies/{}", p.id))})
}

collection! {
    Credential, "credential", "credentials", CredentialBody { credential }, identity: crate::identity::Identity,
    view: credential_view, filters: ["user_id", "type", "project_id", "id"],
    [credential_list, credential_create, credential_get, credential_delete], update: credential_update
}
collection! {
    Policy, "policy", "policies", PolicyBody { policy }, identity: crate::identity::Identity,
    view: policy_view, filters: ["type", "id"],
    [policy_list, policy_create, policy_get, policy_delete], update: policy_update
}

/// Keystone's EC2 view: the blob's access and secret beside the owner and project.
fn ec2_view(h: &HeaderMap, c: &Credential) -> Value {
    let blob: Value = serde_json::from_str(&c.blob).unwrap_or(Value::Null);
    let access = blob.get("access").cloned().unwrap_or(Value::Null);
    let link = format!(
        "{}/users/{}/credentials/OS-EC2/{}",
        v3_url(h),
        c.user_id,
        access.as_str().unwrap_or_default()
    );
    json!({"user_id": c.user_id, "tenant_id": c.project_id, "access": access,
           "secret": blob.get("secret").cloned().unwrap_or(Value::Null),
           "trust_id": blob.get("trust_id").cloned().unwrap_or(Value::Null),
           "links": {"self": link}})
}

#[derive(Deserialize)]
struct Ec2Body {
    tenant_id: String,
}

/// `POST /v3/users/{user_id}/credentials/OS-EC2` -> 201.
async fn ec2_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
    Json(b): Json<Ec2Body>,
) -> ApiResult<Response> {
    let c = cloud
        .identity
        .ec2_create(&ctx, user_id, b.tenant_id)
        .await?;
    Ok(created(json!({"credential": ec2_view(&h, &c)})))
}

/// `GET /v3/users/{user_id}/credentials/OS-EC2`.
async fn ec2_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(user_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let base = format!("{}/users/{user_id}/credentials/OS-EC2", v3_url(&h));
    let items: Vec<Value> = cloud
        .identity
        .ec2_list(&ctx, user_id)
        .await?
        .iter()
        .map(|c| ec2_view(&h, c))
        .collect();
    Ok(axum::Json(json!({"credentials": items,
        "links": {"self": base, "previous": null, "next": null}})))
}

/// `GET /v3/users/{user_id}/credentials/OS-EC2/{access}`.
async fn ec2_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((user_id, access)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let c = cloud.identity.ec2_get(&ctx, user_id, access).await?;
    Ok(axum::Json(json!({"credential": ec2_view(&h, &c)})))
}

/// `DELETE /v3/users/{user_id}/credentials/OS-EC2/{access}` -> 204.
async fn ec2_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((user_id, access)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.ec2_delete(&ctx, user_id, access).await?;
    Ok(no_content())
}
