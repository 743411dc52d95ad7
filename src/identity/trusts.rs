//! Trusts (OS-TRUST): a trustor delegates some of its roles on a project to a
//! trustee, optionally letting the trustee act as the trustor (impersonation), for a
//! limited time or number of uses, and optionally allowing redelegation.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::model::{Role, new_id};
use super::store_ext::{self as sx, Trust};
use super::{Identity, found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

/// Keystone's default `[trust] max_redelegation_count`.
const MAX_REDELEGATION_COUNT: i64 = 3;

#[derive(Debug, Deserialize)]
pub(crate) struct TrustInput {
    pub trustor_user_id: Option<String>,
    pub trustee_user_id: Option<String>,
    pub project_id: Option<String>,
    pub impersonation: Option<Value>,
    pub expires_at: Option<String>,
    pub remaining_uses: Option<Value>,
    pub allow_redelegation: Option<bool>,
    pub redelegation_count: Option<i64>,
    pub roles: Option<Vec<TrustRoleRef>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrustRoleRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A list query: `trustor_user_id` and `trustee_user_id` filters.
#[derive(Debug, Default)]
pub(crate) struct TrustFilter {
    pub trustor_user_id: Option<String>,
    pub trustee_user_id: Option<String>,
}

fn required(field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field '{field}': '{field}' is a required property"
    ))
}

fn trust_not_found(id: &str) -> ApiError {
    ApiError::not_found("trust", id)
}

/// The trust a caller may see: its trustor, its trustee, or an administrator.
fn visible(ctx: &RequestContext, t: &Trust) -> bool {
    [&t.trustor_user_id, &t.trustee_user_id]
        .iter()
        .any(|u| policy::IDENTITY_READER_OR_OWNER.allows_target(ctx, Target::user(u)))
}

impl Identity {
    /// `POST /v3/OS-TRUST/trusts`.
    pub(crate) async fn trust_create(
        &self,
        ctx: &RequestContext,
        input: TrustInput,
        via_trust: Option<String>,
    ) -> ApiResult<(Trust, Vec<Role>)> {
        let trustor = input
            .trustor_user_id
            .clone()
            .ok_or_else(|| required("trustor_user_id"))?;
        let trustee = input
            .trustee_user_id
            .clone()
            .ok_or_else(|| required("trustee_user_id"))?;
        let impersonation = match input.impersonation {
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field 'impersonation': {other} is not of type 'boolean'"
                )));
            }
            None => return Err(required("impersonation")),
        };
        let remaining_uses = match input.remaining_uses {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n > 0) => n.as_i64(),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field 'remaining_uses': {other} is not a positive integer"
                )));
            }
        };
        let expires_at: Option<DateTime<Utc>> = match input.expires_at.as_deref() {
            None => None,
            Some(s) => Some(crate::http::time::parse(s).map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for field 'expires_at': '{s}' is not a valid date-time"
                ))
            })?),
        };
        if ctx.user.id != trustor {
            return Err(ApiError::Forbidden(
                "The authenticated user should match the trustor".into(),
            ));
        }
        if trustor == trustee {
            return Err(ApiError::Forbidden(
                "The trustor and the trustee must be different users".into(),
            ));
        }
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(ApiError::bad_request(
                "Invalid input for field 'expires_at': the expiration time is in the past",
            ));
        }
        let roles_in = input.roles.unwrap_or_default();
        if input.project_id.is_some() && roles_in.is_empty() {
            return Err(ApiError::bad_request(
                "At least one role should be specified",
            ));
        }
        if input.project_id.is_none() && !roles_in.is_empty() {
            return Err(ApiError::Forbidden(
                "A trust with roles needs a project_id".into(),
            ));
        }
        let allow_redelegation = input.allow_redelegation.unwrap_or(false);
        let requested_count = input.redelegation_count;
        self.write(move |c| {
            found(store::user_get(c, &trustee)?, "user", &trustee)?;
            let held = match &input.project_id {
                None => Vec::new(),
                Some(pid) => {
                    let project = found(store::project_get(c, pid)?, "project", pid)?;
                    let targets = super::assignment::project_targets(c, &project)?;
                    store::effective_roles(c, &trustor, &targets)?
                }
            };
            let mut roles: Vec<Role> = Vec::new();
            for r in &roles_in {
                let role = match (&r.id, &r.name) {
                    (Some(id), _) => found(store::role_get(c, id)?, "role", id)?,
                    (None, Some(name)) => store::role_by_name(c, name)?
                        .ok_or_else(|| ApiError::not_found("role", name.clone()))?,
                    _ => return Err(ApiError::bad_request("A role needs an id or a name")),
                };
                if !held.iter().any(|h| h.id == role.id) {
                    return Err(ApiError::Forbidden(format!(
                        "User {trustor} does not have role {} in project {}",
                        role.id,
                        input.project_id.as_deref().unwrap_or_default()
                    )));
                }
                if !roles.iter().any(|x| x.id == role.id) {
                    roles.push(role);
                }
            }
            // A trust made with a trust-scoped token is a redelegation: it may not
            // widen the parent's roles, time or project, and counts down the chain.
            let (redelegation_count, redelegated_trust_id) = match &via_trust {
                None => (
                    if allow_redelegation {
                        requested_count.unwrap_or(MAX_REDELEGATION_COUNT)
                    } else {
                        0
                    },
                    None,
                ),
                Some(parent_id) => {
                    let parent = sx::trust_get(c, parent_id)?
                        .filter(Trust::usable)
                        .ok_or_else(|| trust_not_found(parent_id))?;
                    redelegation_checks(&parent, &roles, input.project_id.as_deref(), expires_at, impersonation)?;
                    let count = parent.redelegation_count - 1;
                    (requested_count.map_or(count, |r| r.min(count)), Some(parent.id))
                }
            };
            if redelegation_count > MAX_REDELEGATION_COUNT {
                return Err(ApiError::Forbidden(format!(
                    "Remaining redelegation depth of {redelegation_count} out of allowed range of [0..{MAX_REDELEGATION_COUNT}]"
                )));
            }
            let t = Trust {
                id: new_id(),
                trustor_user_id: trustor,
                trustee_user_id: trustee,
                project_id: input.project_id,
                impersonation,
                expires_at,
                remaining_uses,
                allow_redelegation: allow_redelegation && redelegation_count > 0,
                redelegation_count,
                redelegated_trust_id,
                role_ids: roles.iter().map(|r| r.id.clone()).collect(),
            };
            sx::trust_insert(c, &t)?;
            Ok((t, roles))
        })
        .await
    }

    /// `GET /v3/OS-TRUST/trusts`: without a filter, administrators only; a filter
    /// naming another user is refused.
    pub(crate) async fn trust_list(
        &self,
        ctx: &RequestContext,
        filter: TrustFilter,
    ) -> ApiResult<Vec<(Trust, Vec<Role>)>> {
        let own = |u: &Option<String>| u.as_ref().is_some_and(|u| *u == ctx.user.id);
        let filtered = filter.trustor_user_id.is_some() || filter.trustee_user_id.is_some();
        let allowed = policy::IDENTITY_SYSTEM_READER.allows(ctx, None)
            || (filtered
                && (filter.trustor_user_id.is_none() || own(&filter.trustor_user_id))
                && (filter.trustee_user_id.is_none() || own(&filter.trustee_user_id)));
        if !allowed {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| {
            let mut out = Vec::new();
            for t in sx::trust_list(c)? {
                if !t.usable()
                    || filter
                        .trustor_user_id
                        .as_ref()
                        .is_some_and(|u| *u != t.trustor_user_id)
                    || filter
                        .trustee_user_id
                        .as_ref()
                        .is_some_and(|u| *u != t.trustee_user_id)
                {
                    continue;
                }
                let roles = trust_roles(c, &t)?;
                out.push((t, roles));
            }
            Ok(out)
        })
        .await
    }

    /// `GET /v3/OS-TRUST/trusts/{id}`.
    pub(crate) async fn trust_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<(Trust, Vec<Role>)> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let t = sx::trust_get(c, &id)?
                .filter(Trust::usable)
                .ok_or_else(|| trust_not_found(&id))?;
            if !visible(&ctx, &t) {
                return Err(ApiError::forbidden());
            }
            let roles = trust_roles(c, &t)?;
            Ok((t, roles))
        })
        .await
    }

    /// `DELETE /v3/OS-TRUST/trusts/{id}`: the trustor (or an administrator) ends it,
    /// with the trusts redelegated from it; tokens scoped to them stop validating.
    pub(crate) async fn trust_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let t = sx::trust_get(c, &id)?.ok_or_else(|| trust_not_found(&id))?;
            policy::IDENTITY_OWNER.enforce_target(&ctx, Target::user(&t.trustor_user_id))?;
            let mut doomed = vec![t.id];
            while let Some(tid) = doomed.pop() {
                sx::trust_delete(c, &tid)?;
                doomed.extend(
                    sx::trust_list(c)?
                        .into_iter()
                        .filter(|x| x.redelegated_trust_id.as_deref() == Some(tid.as_str()))
                        .map(|x| x.id),
                );
            }
            Ok(())
        })
        .await
    }

    /// `GET`/`HEAD /v3/OS-TRUST/trusts/{id}/roles/{role_id}`.
    pub(crate) async fn trust_role(
        &self,
        ctx: &RequestContext,
        id: String,
        role_id: String,
    ) -> ApiResult<Role> {
        let (_, roles) = self.trust_get(ctx, id).await?;
        roles
            .into_iter()
            .find(|r| r.id == role_id)
            .ok_or_else(|| ApiError::not_found("role", role_id))
    }
}

/// The roles of a trust, in its order; roles deleted since are left out.
pub(crate) fn trust_roles(c: &Connection, t: &Trust) -> ApiResult<Vec<Role>> {
    let mut out = Vec::new();
    for id in &t.role_ids {
        out.extend(store::role_get(c, id)?);
    }
    Ok(out)
}

/// Keystone's redelegation rules: the parent must allow it and have depth left, and
/// the new trust may not ask for more roles, a later expiry, another project or
/// impersonation the parent does not grant.
fn redelegation_checks(
    parent: &Trust,
    roles: &[Role],
    project_id: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
    impersonation: bool,
) -> ApiResult<()> {
    let forbid = |m: &str| Err(ApiError::Forbidden(m.to_owned()));
    if !parent.allow_redelegation || parent.redelegation_count <= 0 {
        return forbid("Requested redelegation depth of 0 is greater than allowed 0");
    }
    if roles.iter().any(|r| !parent.role_ids.contains(&r.id)) {
        return forbid("Some of requested roles are not in redelegated trust");
    }
    if project_id != parent.project_id.as_deref() {
        return forbid("Redelegated trust must be for the same project");
    }
    if let Some(pe) = parent.expires_at
        && expires_at.is_none_or(|e| e > pe)
    {
        return forbid("Requested expiration time is more than redelegated trust can provide");
    }
    if impersonation && !parent.impersonation {
        return forbid(
            "Impersonation is not allowed because redelegated trust does not specify impersonation.",
        );
    }
    Ok(())
}
