//! What other parts of onestack may ask of the identity service directly. Everything
//! else goes through `Identity`'s methods with a request context.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::store;
use crate::http::error::ApiResult;

/// Whether a project exists, inside the caller's transaction (Nova checks a project id
/// given for flavor access or quotas in the same write that records it).
pub fn project_exists_tx(c: &Connection, project_id: &str) -> ApiResult<bool> {
    Ok(store::project_get(c, project_id)?.is_some())
}

/// Forgets revocation events older than `horizon` (no token issued before it is still
/// valid), returning how many went.
pub fn revocations_prune_tx(c: &Connection, horizon: DateTime<Utc>) -> ApiResult<usize> {
    store::revocation_prune(c, horizon)
}

/// Object counts for `onestack status`.
pub fn counts(c: &Connection) -> ApiResult<Vec<(&'static str, i64)>> {
    store::counts(c)
}

/// An EC2 key pair as the S3 front-end needs it to check a request's signature.
#[derive(Debug, Clone)]
pub struct Ec2Key {
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
    pub async fn ec2_key(&self, access: &str) -> ApiResult<Option<Ec2Key>> {
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
    /// A project-scoped token for a user, issued without a password, for Keystone's
    /// default lifetime: what Heat's wait condition handles hand a guest to signal
    /// with (Heat obtains it for a stack domain user it creates; onestack issues it
    /// for the stack's owner). It is checked like any token: the user must still
    /// hold a role on the project when it is used.
    pub async fn token_for(&self, user_id: &str, project_id: &str) -> ApiResult<String> {
        use super::token::{ScopePayload, TokenPayload, new_audit_id};
        let now = Utc::now();
        let payload = TokenPayload {
            user_id: user_id.to_owned(),
            methods: vec!["token".into()],
            scope: ScopePayload::Project(project_id.to_owned()),
            issued_at: now.timestamp_micros(),
            expires_at: (now + self.inner.config.token_expiration).timestamp_micros(),
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
            trust_id: None,
            oauth_access_token_id: None,
        };
        // Refuse now what the token would be refused for later.
        self.resolve(payload.clone()).await?;
        Ok(self.inner.tokens.encode(&payload)?)
    }
}
