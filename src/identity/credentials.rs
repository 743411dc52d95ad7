//! Credentials (`/v3/credentials`, and the EC2 view of them under
//! `/v3/users/{id}/credentials/OS-EC2`) and stored policies (`/v3/policies`), with
//! Keystone's default policies. Credential blobs are sealed at rest with the
//! credential keys.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::*;
use super::store::{self, CredentialRow};
use super::token::CredentialKeys;
use super::{Identity, found};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

pub(super) const EC2: &str = "ec2";

#[derive(Debug, Deserialize, Default)]
pub(crate) struct CredentialInput {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    #[serde(rename = "type")]
    pub cred_type: Option<String>,
    pub blob: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct PolicyInput {
    #[serde(rename = "type")]
    pub policy_type: Option<String>,
    pub blob: Option<String>,
}

/// Keystone's id of an EC2 credential: the SHA-256 of its access key, in hex.
pub(super) fn ec2_id(access: &str) -> String {
    hex::encode(Sha256::digest(access.as_bytes()))
}

/// The access key of an EC2 blob; Keystone requires one.
fn ec2_access(blob: &str) -> ApiResult<String> {
    let v: Value = serde_json::from_str(blob).map_err(|_| {
        ApiError::bad_request("Invalid blob in credential: the blob of an ec2 credential is JSON.")
    })?;
    v.get("access")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("Credential of type ec2 must have an access key."))
}

/// Admin, or a system reader for reads; the credential's owner otherwise
/// (Keystone's `ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER`).
fn may_read(ctx: &RequestContext, owner: &str) -> bool {
    policy::IDENTITY_READER_OR_OWNER.allows_target(ctx, Target::user(owner))
}

fn may_write(ctx: &RequestContext, owner: &str) -> bool {
    policy::IDENTITY_OWNER.allows_target(ctx, Target::user(owner))
}

fn check_text(field: &str, v: &str) -> ApiResult<()> {
    if v.is_empty() || (field != "blob" && v.chars().count() > 255) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '{field}'."
        )));
    }
    Ok(())
}

impl Identity {
    pub(super) fn credential_keys(&self) -> ApiResult<&CredentialKeys> {
        self.inner
            .credential_keys
            .get_or_init(|| {
                CredentialKeys::open(&self.inner.tokens.credential_keys_dir())
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("credential keys: {e}")))
    }

    pub(super) fn unseal(&self, r: CredentialRow) -> ApiResult<Credential> {
        let blob = self
            .credential_keys()?
            .unseal(&r.sealed_blob)
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "credential {} cannot be decrypted with the credential keys",
                    r.id
                ))
            })?;
        Ok(Credential {
            id: r.id,
            user_id: r.user_id,
            project_id: r.project_id,
            cred_type: r.cred_type,
            blob,
        })
    }

    fn seal(&self, c: &Credential) -> ApiResult<CredentialRow> {
        Ok(CredentialRow {
            id: c.id.clone(),
            user_id: c.user_id.clone(),
            project_id: c.project_id.clone(),
            cred_type: c.cred_type.clone(),
            sealed_blob: self.credential_keys()?.seal(&c.blob),
        })
    }

    // --- /v3/credentials ------------------------------------------------------

    pub(crate) async fn credential_create(
        &self,
        ctx: &RequestContext,
        input: CredentialInput,
    ) -> ApiResult<Credential> {
        let user_id = input
            .user_id
            .ok_or_else(|| ApiError::bad_request("'user_id' is a required property"))?;
        let cred_type = input
            .cred_type
            .ok_or_else(|| ApiError::bad_request("'type' is a required property"))?;
        let blob = input
            .blob
            .ok_or_else(|| ApiError::bad_request("'blob' is a required property"))?;
        check_text("type", &cred_type)?;
        check_text("blob", &blob)?;
        if !may_write(ctx, &user_id) {
            return Err(ApiError::forbidden());
        }
        let id = if cred_type == EC2 {
            if input.project_id.is_none() {
                return Err(ApiError::bad_request(
                    "Credential of type ec2 must have a project_id.",
                ));
            }
            ec2_id(&ec2_access(&blob)?)
        } else {
            new_id()
        };
        let cred = Credential {
            id,
            user_id,
            project_id: input.project_id,
            cred_type,
            blob,
        };
        let row = self.seal(&cred)?;
        self.write(move |c| {
            found(store::user_get(c, &row.user_id)?, "user", &row.user_id)?;
            if let Some(p) = row.project_id.as_deref() {
                found(store::project_get(c, p)?, "project", p)?;
            }
            store::credential_insert(c, &row)
        })
        .await?;
        Ok(cred)
    }

    pub(crate) async fn credential_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Credential>> {
        let rows = self.read(store::credential_list).await?;
        rows.into_iter()
            .filter(|r| may_read(ctx, &r.user_id))
            .map(|r| self.unseal(r))
            .collect()
    }

    pub(crate) async fn credential_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Credential> {
        let row = self
            .read(move |c| found(store::credential_get(c, &id)?, "credential", &id))
            .await?;
        if !may_read(ctx, &row.user_id) {
            return Err(ApiError::forbidden());
        }
        self.unseal(row)
    }

    pub(crate) async fn credential_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: CredentialInput,
    ) -> ApiResult<Credential> {
        let mut cred = self.credential_get(ctx, id).await?;
        if !may_write(ctx, &cred.user_id) {
            return Err(ApiError::forbidden());
        }
        if let Some(u) = input.user_id {
            if !may_write(ctx, &u) {
                return Err(ApiError::forbidden());
            }
            cred.user_id = u;
        }
        if let Some(p) = input.project_id {
            cred.project_id = Some(p);
        }
        if let Some(t) = input.cred_type {
            check_text("type", &t)?;
            cred.cred_type = t;
        }
        if let Some(b) = input.blob {
            check_text("blob", &b)?;
            cred.blob = b;
        }
        if cred.cred_type == EC2 {
            if cred.project_id.is_none() {
                return Err(ApiError::bad_request(
                    "Credential of type ec2 must have a project_id.",
                ));
            }
            // Its blob still names an access key (the id stays, as in Keystone).
            ec2_access(&cred.blob)?;
        }
        let row = self.seal(&cred)?;
        self.write(move |c| {
            found(store::user_get(c, &row.user_id)?, "user", &row.user_id)?;
            found(store::credential_get(c, &row.id)?, "credential", &row.id)?;
            store::credential_update(c, &row)
        })
        .await?;
        Ok(cred)
    }

    pub(crate) async fn credential_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let cred = self.credential_get(ctx, id).await?;
        if !may_write(ctx, &cred.user_id) {
            return Err(ApiError::forbidden());
        }
        self.write(move |c| store::credential_delete(c, &cred.id))
            .await
    }

    // --- /v3/users/{id}/credentials/OS-EC2 --------------------------------------

    pub(crate) async fn ec2_create(
        &self,
        ctx: &RequestContext,
        user_id: String,
        project_id: String,
    ) -> ApiResult<Credential> {
        if !may_write(ctx, &user_id) {
            return Err(ApiError::forbidden());
        }
        let access = new_id();
        let blob = json!({"access": access, "secret": new_id(), "trust_id": null}).to_string();
        self.credential_create(
            ctx,
            CredentialInput {
                user_id: Some(user_id),
                project_id: Some(project_id),
                cred_type: Some(EC2.into()),
                blob: Some(blob),
            },
        )
        .await
    }

    pub(crate) async fn ec2_list(
        &self,
        ctx: &RequestContext,
        user_id: String,
    ) -> ApiResult<Vec<Credential>> {
        if !may_read(ctx, &user_id) {
            return Err(ApiError::forbidden());
        }
        let uid = user_id.clone();
        self.read(move |c| found(store::user_get(c, &uid)?, "user", &uid))
            .await?;
        Ok(self
            .credential_list(ctx)
            .await?
            .into_iter()
            .filter(|c| c.cred_type == EC2 && c.user_id == user_id)
            .collect())
    }

    /// One EC2 credential of `user_id` by access key; 404 when it is not theirs.
    pub(crate) async fn ec2_get(
        &self,
        ctx: &RequestContext,
        user_id: String,
        access: String,
    ) -> ApiResult<Credential> {
        if !may_read(ctx, &user_id) {
            return Err(ApiError::forbidden());
        }
        let id = ec2_id(&access);
        let row = self
            .read(move |c| store::credential_get(c, &id))
            .await?
            .filter(|r| r.user_id == user_id && r.cred_type == EC2)
            .ok_or_else(|| ApiError::Missing("Could not find credential.".into()))?;
        self.unseal(row)
    }

    pub(crate) async fn ec2_delete(
        &self,
        ctx: &RequestContext,
        user_id: String,
        access: String,
    ) -> ApiResult<()> {
        if !may_write(ctx, &user_id) {
            return Err(ApiError::forbidden());
        }
        let cred = self.ec2_get(ctx, user_id, access).await?;
        self.write(move |c| store::credential_delete(c, &cred.id))
            .await
    }

    // --- /v3/policies -------------------------------------------------------------

    fn require_policy_reader(ctx: &RequestContext) -> ApiResult<()> {
        if policy::IDENTITY_SYSTEM_READER.allows(ctx, None) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub(crate) async fn policy_create(
        &self,
        ctx: &RequestContext,
        input: PolicyInput,
    ) -> ApiResult<Policy> {
        ctx.require_admin()?;
        let p = Policy {
            id: new_id(),
            policy_type: input
                .policy_type
                .ok_or_else(|| ApiError::bad_request("'type' is a required property"))?,
            blob: input
                .blob
                .ok_or_else(|| ApiError::bad_request("'blob' is a required property"))?,
        };
        check_text("type", &p.policy_type)?;
        let row = p.clone();
        self.write(move |c| store::policy_insert(c, &row)).await?;
        Ok(p)
    }

    pub(crate) async fn policy_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Policy>> {
        Self::require_policy_reader(ctx)?;
        self.read(store::policy_list).await
    }

    pub(crate) async fn policy_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Policy> {
        Self::require_policy_reader(ctx)?;
        self.read(move |c| found(store::policy_get(c, &id)?, "policy", &id))
            .await
    }

    pub(crate) async fn policy_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: PolicyInput,
    ) -> ApiResult<Policy> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut p = found(store::policy_get(c, &id)?, "policy", &id)?;
            if let Some(t) = input.policy_type {
                check_text("type", &t)?;
                p.policy_type = t;
            }
            if let Some(b) = input.blob {
                p.blob = b;
            }
            store::policy_update(c, &p)?;
            Ok(p)
        })
        .await
    }

    pub(crate) async fn policy_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::policy_get(c, &id)?, "policy", &id)?;
            store::policy_delete(c, &id)
        })
        .await
    }
}
