//! What other parts of onestack may ask of the identity service directly. Everything
//! else goes through `Identity`'s methods with a request context.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::store;
use crate::http::error::ApiResult;

/// Whether a project exists, inside the caller's transaction (Nova checks a project id
/// given for flavor access or quotas in the same write that records it).
pub(crate) fn project_exists_tx(c: &Connection, project_id: &str) -> ApiResult<bool> {
    Ok(store::project_get(c, project_id)?.is_some())
}

/// Forgets revocation events older than `horizon` (no token issued before it is still
/// valid), returning how many went.
pub(crate) fn revocations_prune_tx(c: &Connection, horizon: DateTime<Utc>) -> ApiResult<usize> {
    store::revocation_prune(c, horizon)
}

/// Object counts for `onestack status`.
pub(crate) fn counts(c: &Connection) -> ApiResult<Vec<(&'static str, i64)>> {
    store::counts(c)
}

/// An EC2 key pair as the S3 front-end needs it to check a request's signature.
#[derive(Debug, Clone)]
pub(crate) struct Ec2Key {
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
    /// The names of the roles the user holds on the project (implied ones
    /// included), for the policy checks of what the key signs.
    pub roles: Vec<String>,
}

impl super::Identity {
    /// The secret and project of an EC2 access key, when the key exists and its user,
    /// project and domain are enabled and the user still holds a role on the project:
    /// the checks Keystone's `/v3/ec2tokens` makes before it vouches for a signature.
    /// `None` for anything else, so the caller answers one "invalid key" for all.
    pub(crate) async fn ec2_key(&self, access: &str) -> ApiResult<Option<Ec2Key>> {
        let id = super::credentials::ec2_id(access);
        let row = self
            .read(move |c| {
                let Some(row) = store::credential_get(c, &id)? else {
                    return Ok(None);
                };
                if row.cred_type != super::credentials::EC2 {
                    return Ok(None);
                }
                let Some(pid) = row.project_id.as_deref() else {
                    return Ok(None);
                };
                let (Some(user), Some(project)) = (
                    store::user_get(c, &row.user_id)?,
                    store::project_get(c, pid)?,
                ) else {
                    return Ok(None);
                };
                let domain_on =
                    store::domain_get(c, &project.domain_id)?.is_some_and(|d| d.enabled);
                if !user.enabled || !project.enabled || !domain_on {
                    return Ok(None);
                }
                let targets = super::assignment::project_targets(c, &project)?;
                let roles = store::effective_roles(c, &user.id, &targets)?;
                if roles.is_empty() {
                    return Ok(None);
                }
                Ok(Some((row, roles.into_iter().map(|r| r.name).collect())))
            })
            .await?;
        let Some((row, roles)) = row else {
            return Ok(None);
        };
        let cred = self.unseal(row)?;
        let blob: serde_json::Value = serde_json::from_str(&cred.blob).unwrap_or_default();
        let Some(secret) = blob.get("secret").and_then(serde_json::Value::as_str) else {
            return Ok(None);
        };
        Ok(Some(Ec2Key {
            secret: secret.to_owned(),
            user_id: cred.user_id,
            project_id: cred.project_id.unwrap_or_default(),
            roles,
        }))
    }
}

impl super::Identity {
    /// A credential that can make one call only: an application credential of
    /// the caller (its roles on its project) with one access rule (`service`,
    /// `method`, `path`), and a token of it for Keystone's default lifetime.
    /// What Heat's wait condition handle hands a guest to signal with (Heat
    /// makes a stack domain user for it); deleting the credential
    /// ([`Self::call_credential_revoke`]) makes its tokens invalid. Returns the
    /// credential's id and the token.
    pub(crate) async fn call_credential(
        &self,
        ctx: &crate::http::context::RequestContext,
        name: &str,
        service: &str,
        method: &str,
        path: &str,
    ) -> ApiResult<(String, String)> {
        let input = super::resources::AppCredInput {
            name: name.to_owned(),
            description: Some(format!("May only {method} {path} ({service})")),
            secret: None,
            expires_at: None,
            roles: None,
            unrestricted: false,
            access_rules: Some(vec![super::extensions::AccessRuleInput {
                id: None,
                service: Some(service.to_owned()),
                path: Some(path.to_owned()),
                method: Some(method.to_owned()),
            }]),
        };
        let (ac, _secret) = self
            .app_cred_create(ctx, ctx.user.id.clone(), input)
            .await?;
        let token = self
            .call_credential_token(&ac.user_id, &ac.project_id, &ac.id)
            .await?;
        Ok((ac.id, token))
    }

    /// A new token of a credential [`Self::call_credential`] made.
    pub(crate) async fn call_credential_token(
        &self,
        user_id: &str,
        project_id: &str,
        credential_id: &str,
    ) -> ApiResult<String> {
        use super::token::{ScopePayload, TokenPayload, new_audit_id};
        let now = Utc::now();
        let payload = TokenPayload {
            user_id: user_id.to_owned(),
            methods: vec!["application_credential".into()],
            scope: ScopePayload::Project(project_id.to_owned()),
            issued_at: now.timestamp_micros(),
            expires_at: (now + self.inner.config.token_expiration).timestamp_micros(),
            audit_ids: vec![new_audit_id()],
            app_cred_id: Some(credential_id.to_owned()),
            trust_id: None,
            oauth_access_token_id: None,
        };
        // Refuse now what the token would be refused for later.
        self.resolve(payload.clone()).await?;
        Ok(self.inner.tokens.encode(&payload)?)
    }

    /// The id of the caller's credential of this name, if any (what a create
    /// interrupted before recording the id made).
    pub(crate) async fn call_credential_find(
        &self,
        ctx: &crate::http::context::RequestContext,
        name: &str,
    ) -> ApiResult<Option<String>> {
        Ok(self
            .app_cred_list(ctx, ctx.user.id.clone(), Some(name.to_owned()))
            .await?
            .into_iter()
            .next()
            .map(|a| a.id))
    }

    /// Deletes a credential [`Self::call_credential`] made; one already gone
    /// is fine.
    pub(crate) async fn call_credential_revoke(
        &self,
        ctx: &crate::http::context::RequestContext,
        id: &str,
    ) -> ApiResult<()> {
        match self
            .app_cred_delete(ctx, ctx.user.id.clone(), id.to_owned())
            .await
        {
            Err(crate::http::error::ApiError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}
