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

/// A trust request, checked before the database is asked.
struct TrustRequest {
    trustor: String,
    trustee: String,
    project_id: Option<String>,
    impersonation: bool,
    expires_at: Option<DateTime<Utc>>,
    remaining_uses: Option<i64>,
    roles: Vec<TrustRoleRef>,
    allow_redelegation: bool,
    redelegation_count: Option<i64>,
}

impl TrustRequest {
    /// Keystone's checks of a trust's body against the caller: the caller is
    /// the trustor, the trustee someone else, the expiry in the future, and
    /// roles given exactly when a project is.
    fn parse(ctx: &RequestContext, input: TrustInput) -> ApiResult<TrustRequest> {
        let trustor = input
            .trustor_user_id
            .ok_or_else(|| required("trustor_user_id"))?;
        let trustee = input
            .trustee_user_id
            .ok_or_else(|| required("trustee_user_id"))?;
        let impersonation = trust_impersonation(input.impersonation)?;
        let remaining_uses = trust_remaining_uses(input.remaining_uses)?;
        let expires_at = trust_expires_at(input.expires_at.as_deref())?;
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
        let roles = input.roles.unwrap_or_default();
        if input.project_id.is_some() && roles.is_empty() {
            return Err(ApiError::bad_request(
                "At least one role should be specified",
            ));
        }
        if input.project_id.is_none() && !roles.is_empty() {
            return Err(ApiError::Forbidden(
                "A trust with roles needs a project_id".into(),
            ));
        }
        Ok(TrustRequest {
            trustor,
            trustee,
            project_id: input.project_id,
            impersonation,
            expires_at,
            remaining_uses,
            roles,
            allow_redelegation: input.allow_redelegation.unwrap_or(false),
            redelegation_count: input.redelegation_count,
        })
    }
}

/// `impersonation`: required, a boolean.
fn trust_impersonation(v: Option<Value>) -> ApiResult<bool> {
    match v {
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field 'impersonation': {other} is not of type 'boolean'"
        ))),
        None => Err(required("impersonation")),
    }
}

/// `remaining_uses`: unlimited (null or absent), or a positive integer.
fn trust_remaining_uses(v: Option<Value>) -> ApiResult<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n > 0) => Ok(n.as_i64()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field 'remaining_uses': {other} is not a positive integer"
        ))),
    }
}

/// `expires_at`: a date-time, if given.
fn trust_expires_at(s: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    s.map(|s| {
        crate::http::time::parse(s).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for field 'expires_at': '{s}' is not a valid date-time"
            ))
        })
    })
    .transpose()
}

/// The roles a trust delegates, by id or name, each one the trustor holds on
/// the project (duplicates once).
fn trust_roles_tx(c: &Connection, req: &TrustRequest) -> ApiResult<Vec<Role>> {
    let held = match &req.project_id {
        None => Vec::new(),
        Some(pid) => {
            let project = found(store::project_get(c, pid)?, "project", pid)?;
            let targets = super::assignment::project_targets(c, &project)?;
            store::effective_roles(c, &req.trustor, &targets)?
        }
    };
    let mut roles: Vec<Role> = Vec::new();
    for r in &req.roles {
        let role = match (&r.id, &r.name) {
            (Some(id), _) => found(store::role_get(c, id)?, "role", id)?,
            (None, Some(name)) => store::role_by_name(c, name)?
                .ok_or_else(|| ApiError::not_found("role", name.clone()))?,
            _ => return Err(ApiError::bad_request("A role needs an id or a name")),
        };
        if !held.iter().any(|h| h.id == role.id) {
            return Err(ApiError::Forbidden(format!(
                "User {} does not have role {} in project {}",
                req.trustor,
                role.id,
                req.project_id.as_deref().unwrap_or_default()
            )));
        }
        if !roles.iter().any(|x| x.id == role.id) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// A trust's redelegation depth and parent. A trust made with a trust-scoped
/// token is a redelegation: it may not widen the parent's roles, time or
/// project, and counts down the chain.
fn redelegation_tx(
    c: &Connection,
    req: &TrustRequest,
    roles: &[Role],
    via_trust: Option<&str>,
) -> ApiResult<(i64, Option<String>)> {
    let (count, parent) = match via_trust {
        None if req.allow_redelegation => (
            req.redelegation_count.unwrap_or(MAX_REDELEGATION_COUNT),
            None,
        ),
        None => (0, None),
        Some(parent_id) => {
            let parent = sx::trust_get(c, parent_id)?
                .filter(Trust::usable)
                .ok_or_else(|| trust_not_found(parent_id))?;
            redelegation_checks(
                &parent,
                roles,
                req.project_id.as_deref(),
                req.expires_at,
                req.impersonation,
            )?;
            let count = parent.redelegation_count - 1;
            let count = req.redelegation_count.map_or(count, |r| r.min(count));
            (count, Some(parent.id))
        }
    };
    if count > MAX_REDELEGATION_COUNT {
        return Err(ApiError::Forbidden(format!(
            "Remaining redelegation depth of {count} out of allowed range of [0..{MAX_REDELEGATION_COUNT}]"
        )));
    }
    Ok((count, parent))
}

impl Identity {
    /// `POST /v3/OS-TRUST/trusts`.
    pub(crate) async fn trust_create(
        &self,
        ctx: &RequestContext,
        input: TrustInput,
        via_trust: Option<String>,
    ) -> ApiResult<(Trust, Vec<Role>)> {
        let req = TrustRequest::parse(ctx, input)?;
        self.write(move |c| {
            found(store::user_get(c, &req.trustee)?, "user", &req.trustee)?;
            let roles = trust_roles_tx(c, &req)?;
            let (redelegation_count, redelegated_trust_id) =
                redelegation_tx(c, &req, &roles, via_trust.as_deref())?;
            let t = Trust {
                id: new_id(),
                trustor_user_id: req.trustor,
                trustee_user_id: req.trustee,
                project_id: req.project_id,
                impersonation: req.impersonation,
                expires_at: req.expires_at,
                remaining_uses: req.remaining_uses,
                allow_redelegation: req.allow_redelegation && redelegation_count > 0,
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
