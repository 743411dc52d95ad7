//! Authentication (`POST /v3/auth/tokens`) and token validation and revocation.

use std::sync::Arc;

use chrono::Utc;
use rusqlite::Connection;
use serde::Deserialize;

use super::model::*;
use super::oauth1::signature::SignedRequest;
use super::store_oauth1::AccessToken;
use super::token::{ScopePayload, TokenPayload, new_audit_id};
use super::{Identity, found, oauth1, password, store, store_ext};
use crate::http::context::{AccessRuleRef, AppCredRef, NamedRef, RequestContext, Scope, TrustRef};
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

// --- request body -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthRequest {
    pub identity: AuthIdentity,
    #[serde(default)]
    pub scope: Option<ScopeRequest>,
    /// The request's OAuth signature (its Authorization header), for the `oauth1`
    /// method; set by the handler, never read from the body.
    #[serde(skip)]
    pub signed: Option<SignedRequest>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuthIdentity {
    pub methods: Vec<String>,
    pub password: Option<PasswordMethod>,
    pub token: Option<TokenMethod>,
    pub application_credential: Option<AppCredMethod>,
    /// `"oauth1": {}`: the proof is the request's OAuth signature.
    pub oauth1: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordMethod {
    pub user: UserRef,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<DomainRef>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub(crate) struct DomainRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenMethod {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppCredMethod {
    pub id: Option<String>,
    pub name: Option<String>,
    pub secret: String,
    pub user: Option<UserRef>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ScopeRequest {
    Named(String),
    Target(ScopeTarget),
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScopeTarget {
    pub project: Option<ProjectRef>,
    pub domain: Option<DomainRef>,
    pub system: Option<serde_json::Value>,
    #[serde(rename = "OS-TRUST:trust")]
    pub trust: Option<TrustScopeRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrustScopeRef {
    pub id: String,
}

/// The trust a scope request names, if any.
fn requested_trust(req: Option<&ScopeRequest>) -> Option<&str> {
    match req {
        Some(ScopeRequest::Target(t)) => t.trust.as_ref().map(|t| t.id.as_str()),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProjectRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<DomainRef>,
}

/// A token just issued: the secret string (sent as `X-Subject-Token`) and who it is for.
pub(crate) struct IssuedToken {
    pub token: String,
    pub context: Arc<RequestContext>,
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_owned())
}

const AUTH_FAILED: &str = "The request you have made requires authentication.";

/// Where an authentication request leads, once its identity is proven.
enum Proven {
    User {
        user_id: String,
        methods: Vec<String>,
        expires_at: Option<i64>,
        parent_audit: Option<String>,
    },
    AppCred(AppCredential),
    /// An OAuth1 consumer acting under an access token.
    OAuth1(AccessToken),
}

/// A token's issue time and the expiry it gets by default (microseconds).
#[derive(Clone, Copy)]
struct Times {
    now: i64,
    default_exp: i64,
}

/// A new unscoped token for a user by one method, expiring by default.
fn new_payload(user_id: String, method: &str, times: Times) -> TokenPayload {
    TokenPayload {
        user_id,
        methods: vec![method.into()],
        scope: ScopePayload::Unscoped,
        issued_at: times.now,
        expires_at: times.default_exp,
        audit_ids: vec![new_audit_id()],
        app_cred_id: None,
        trust_id: None,
        oauth_access_token_id: None,
    }
}

/// Every method named is one Keystone knows and has its section.
fn check_methods(id: &AuthIdentity) -> ApiResult<()> {
    if id.methods.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input for field 'identity/methods': [] is too short",
        ));
    }
    for m in &id.methods {
        let present = match m.as_str() {
            "password" => id.password.is_some(),
            "token" => id.token.is_some(),
            "application_credential" => id.application_credential.is_some(),
            "oauth1" => id.oauth1.is_some(),
            _ => {
                return Err(unauthorized(
                    "Attempted to authenticate with an unsupported method.",
                ));
            }
        };
        if !present {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'identity': '{m}' is a required property"
            )));
        }
    }
    Ok(())
}

impl Identity {
    /// `POST /v3/auth/tokens`.
    pub(crate) async fn authenticate(&self, req: AuthRequest) -> ApiResult<IssuedToken> {
        let proven = self.prove_identity(&req).await?;
        let scope_req = req.scope;
        let now = Utc::now();
        let times = Times {
            now: now.timestamp_micros(),
            default_exp: (now + self.inner.config.token_expiration).timestamp_micros(),
        };
        let payload = match proven {
            Proven::AppCred(ac) => self.app_cred_payload(ac, scope_req, times).await?,
            // The access token decides user, project and roles; a scope in the
            // request is not consulted, as in Keystone.
            Proven::OAuth1(a) => {
                let mut p = new_payload(a.authorizing_user_id.clone(), "oauth1", times);
                p.scope = ScopePayload::Project(a.project_id.clone());
                p.expires_at = a.expires_at.map_or(times.default_exp, |e| {
                    e.timestamp_micros().min(times.default_exp)
                });
                p.oauth_access_token_id = Some(a.id.clone());
                p
            }
            Proven::User {
                user_id,
                methods,
                expires_at,
                parent_audit,
            } => {
                let mut audit_ids = vec![new_audit_id()];
                audit_ids.extend(parent_audit);
                let p = TokenPayload {
                    user_id,
                    methods,
                    scope: ScopePayload::Unscoped,
                    issued_at: times.now,
                    expires_at: expires_at.unwrap_or(times.default_exp),
                    audit_ids,
                    app_cred_id: None,
                    trust_id: None,
                    oauth_access_token_id: None,
                };
                self.user_payload(p, scope_req).await?
            }
        };
        let context = self.resolve(payload.clone()).await.map_err(|e| match e {
            ApiError::Unauthorized(m) | ApiError::Missing(m) => ApiError::Unauthorized(m),
            other => other,
        })?;
        let token = self.inner.tokens.encode(&payload)?;
        Ok(IssuedToken { token, context })
    }

    /// An application credential's token: scoped to its project only, no later
    /// than the credential expires.
    async fn app_cred_payload(
        &self,
        ac: AppCredential,
        scope_req: Option<ScopeRequest>,
        times: Times,
    ) -> ApiResult<TokenPayload> {
        if requested_trust(scope_req.as_ref()).is_some() {
            return Err(ApiError::Forbidden(
                "Application credentials cannot request a trust scope.".into(),
            ));
        }
        if scope_req.is_some() {
            let wanted = self
                .read(move |c| resolve_scope(c, scope_req.as_ref()))
                .await?;
            if wanted != ScopePayload::Project(ac.project_id.clone()) {
                return Err(unauthorized(
                    "Application credentials cannot request a scope other than their project.",
                ));
            }
        }
        let mut p = new_payload(ac.user_id.clone(), "application_credential", times);
        p.scope = ScopePayload::Project(ac.project_id.clone());
        p.expires_at = ac
            .expires_at
            .map(|e| e.timestamp_micros().min(times.default_exp))
            .unwrap_or(times.default_exp);
        p.app_cred_id = Some(ac.id.clone());
        Ok(p)
    }

    /// A proven user's token (`p`, unscoped so far): trust-scoped as the
    /// trust's acting user, no later than the trust expires (a use of it
    /// consumed); else the scope asked for, or the user's default project.
    async fn user_payload(
        &self,
        mut p: TokenPayload,
        scope_req: Option<ScopeRequest>,
    ) -> ApiResult<TokenPayload> {
        if let Some(trust_id) = requested_trust(scope_req.as_ref()).map(str::to_owned) {
            let (tid, uid) = (trust_id.clone(), p.user_id.clone());
            let (acting_user, scope, trust_expiry) =
                self.write(move |c| consume_trust(c, &tid, &uid)).await?;
            p.user_id = acting_user;
            p.scope = scope;
            p.expires_at =
                trust_expiry.map_or(p.expires_at, |t| t.timestamp_micros().min(p.expires_at));
            p.trust_id = Some(trust_id);
            return Ok(p);
        }
        let uid = p.user_id.clone();
        p.scope = self
            .read(move |c| {
                let explicit = resolve_scope(c, scope_req.as_ref())?;
                Ok(match explicit {
                    ScopePayload::Unscoped if scope_req.is_none() => default_scope(c, &uid)?,
                    other => other,
                })
            })
            .await?;
        Ok(p)
    }

    async fn prove_identity(&self, req: &AuthRequest) -> ApiResult<Proven> {
        let id = &req.identity;
        check_methods(id)?;
        if id.methods.iter().any(|m| m == "application_credential") {
            let ac = id
                .application_credential
                .as_ref()
                .ok_or_else(|| unauthorized(AUTH_FAILED))?;
            return self.prove_app_cred(ac).await.map(Proven::AppCred);
        }
        if id.methods.iter().any(|m| m == "oauth1") {
            let signed = req.signed.as_ref().ok_or_else(|| {
                unauthorized(
                    "No Authorization headers found, cannot proceed with OAuth related calls.",
                )
            })?;
            return self.prove_oauth1(signed).await.map(Proven::OAuth1);
        }
        if id.methods.iter().any(|m| m == "password") {
            let user = &id
                .password
                .as_ref()
                .ok_or_else(|| unauthorized(AUTH_FAILED))?
                .user;
            let user_id = self.prove_password(user).await?;
            return Ok(Proven::User {
                user_id,
                methods: vec!["password".into()],
                expires_at: None,
                parent_audit: None,
            });
        }
        let tok = id.token.as_ref().ok_or_else(|| unauthorized(AUTH_FAILED))?;
        self.prove_rescope(tok).await
    }

    /// The `token` method: a token rescoped (not one of an application
    /// credential, a trust or OAuth1), keeping its methods, expiry and audit
    /// chain.
    async fn prove_rescope(&self, tok: &TokenMethod) -> ApiResult<Proven> {
        let payload = self
            .inner
            .tokens
            .decode(&tok.id)
            .ok_or_else(|| unauthorized(AUTH_FAILED))?;
        let ctx = self
            .resolve(payload.clone())
            .await
            .map_err(|_| unauthorized(AUTH_FAILED))?;
        if ctx.application_credential.is_some() {
            return Err(ApiError::Forbidden(
                "Rescoping an application credential token is not allowed.".into(),
            ));
        }
        if ctx.trust.is_some() {
            return Err(ApiError::Forbidden(
                "Trust-scoped tokens cannot be rescoped.".into(),
            ));
        }
        if payload.oauth_access_token_id.is_some() {
            return Err(ApiError::Forbidden(
                "Cannot rescope a token issued via OAuth1 delegation.".into(),
            ));
        }
        let mut methods = vec!["token".to_owned()];
        methods.extend(payload.methods.iter().filter(|m| *m != "token").cloned());
        Ok(Proven::User {
            user_id: payload.user_id,
            methods,
            expires_at: Some(payload.expires_at),
            parent_audit: payload.audit_ids.first().cloned(),
        })
    }

    async fn prove_password(&self, user: &UserRef) -> ApiResult<String> {
        let secret = user.password.clone().ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field 'password/user': 'password' is a required property",
            )
        })?;
        let (id, name, domain) = (user.id.clone(), user.name.clone(), user.domain.clone());
        if id.is_none() && name.is_none() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'password/user': 'id' or 'name' is required",
            ));
        }
        if id.is_none() && domain.is_none() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'password/user': 'domain' is required with 'name'",
            ));
        }
        let found = self
            .read(move |c| {
                let user = match (&id, &name) {
                    (Some(id), _) => store::user_get(c, id)?,
                    (None, Some(name)) => match lookup_domain(c, domain.as_ref())? {
                        Some(d) => store::user_by_name(c, &d.id, name)?,
                        None => None,
                    },
                    _ => None,
                };
                Ok(user)
            })
            .await?;
        let Some(user) = found else {
            tracing::info!("authentication failed: unknown user");
            return Err(unauthorized(AUTH_FAILED));
        };
        let hash = user.password_hash.clone().unwrap_or_default();
        let ok = tokio::task::spawn_blocking(move || password::verify(&secret, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            tracing::info!(user_id = %user.id, "authentication failed: wrong password");
            return Err(unauthorized(AUTH_FAILED));
        }
        if !user.enabled {
            return Err(unauthorized(AUTH_FAILED));
        }
        Ok(user.id)
    }

    async fn prove_app_cred(&self, m: &AppCredMethod) -> ApiResult<AppCredential> {
        let (id, name, user) = (
            m.id.clone(),
            m.name.clone(),
            m.user
                .as_ref()
                .map(|u| (u.id.clone(), u.name.clone(), u.domain.clone())),
        );
        let secret = m.secret.clone();
        let ac = self
            .read(move |c| {
                if let Some(id) = &id {
                    return store::app_cred_get(c, id);
                }
                let Some(name) = &name else {
                    return Err(ApiError::bad_request(
                        "Invalid input for field 'application_credential': 'id' or 'name' is required",
                    ));
                };
                let user_id = match user {
                    Some((Some(uid), _, _)) => Some(uid),
                    Some((None, Some(uname), domain)) => match lookup_domain(c, domain.as_ref())? {
                        Some(d) => store::user_by_name(c, &d.id, &uname)?.map(|u| u.id),
                        None => None,
                    },
                    _ => {
                        return Err(ApiError::bad_request(
                            "Invalid input for field 'application_credential': 'user' is required with 'name'",
                        ));
                    }
                };
                match user_id {
                    Some(uid) => store::app_cred_by_name(c, &uid, name),
                    None => Ok(None),
                }
            })
            .await?
            .ok_or_else(|| unauthorized(AUTH_FAILED))?;
        let hash = ac.secret_hash.clone();
        let ok = tokio::task::spawn_blocking(move || password::verify(&secret, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(unauthorized(AUTH_FAILED));
        }
        if ac.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(unauthorized("The application credential has expired."));
        }
        Ok(ac)
    }

    /// Validates an `X-Auth-Token`; any failure is a 401.
    pub(crate) async fn validate_token(&self, token: &str) -> ApiResult<Arc<RequestContext>> {
        if let Some(ctx) = self.cache_get(token) {
            return Ok(ctx);
        }
        let generation = self.generation();
        let payload = self
            .inner
            .tokens
            .decode(token)
            .ok_or_else(ApiError::unauthorized)?;
        let ctx = self.resolve(payload).await?;
        self.cache_put(token, generation, ctx.clone());
        Ok(ctx)
    }

    /// Validates an `X-Subject-Token`; failures are 404 as Keystone answers.
    pub(crate) async fn validate_subject(&self, token: &str) -> ApiResult<Arc<RequestContext>> {
        self.validate_token(token).await.map_err(|e| match e {
            ApiError::Unauthorized(_) | ApiError::Missing(_) => {
                ApiError::Missing("Could not find token.".into())
            }
            other => other,
        })
    }

    /// `GET`/`HEAD /v3/auth/tokens` for `caller`: Keystone's `identity:validate_token`
    /// and `identity:check_token` default, `rule:admin_required or (role:reader and
    /// system_scope:all) or rule:service_role or rule:token_subject`. Anyone else gets
    /// 403. Keystone validates the subject before the policy (to build its target), so
    /// an invalid or revoked subject is 404 for every caller.
    pub(crate) async fn validate_subject_for(
        &self,
        caller: &RequestContext,
        token: &str,
    ) -> ApiResult<Arc<RequestContext>> {
        let subject = self.validate_subject(token).await?;
        if policy::TOKEN_VALIDATE.allows_target(caller, Target::user(&subject.user.id)) {
            Ok(subject)
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// `DELETE /v3/auth/tokens`: durably revokes the token (and its rescoped children).
    pub(crate) async fn revoke_token(&self, caller: &RequestContext, token: &str) -> ApiResult<()> {
        let subject = self.validate_subject(token).await?;
        policy::TOKEN_REVOKE.enforce_target(caller, Target::user(&subject.user.id))?;
        let audit_id = subject.audit_ids.first().cloned();
        let issued = subject.issued_at;
        self.write(move |c| {
            store::revocation_add(
                c,
                &RevocationEvent {
                    audit_id,
                    issued_before: issued,
                    ..Default::default()
                },
            )
        })
        .await
    }

    /// Checks a decoded token against the database and computes its roles.
    pub(super) async fn resolve(&self, p: TokenPayload) -> ApiResult<Arc<RequestContext>> {
        if p.expires_at() <= Utc::now() {
            return Err(unauthorized("The token has expired."));
        }
        self.read(move |c| resolve_payload(c, &p))
            .await
            .map(Arc::new)
    }
}

fn lookup_domain(c: &Connection, d: Option<&DomainRef>) -> ApiResult<Option<Domain>> {
    match d {
        Some(DomainRef { id: Some(id), .. }) => store::domain_get(c, id),
        Some(DomainRef {
            name: Some(name), ..
        }) => store::domain_by_name(c, name),
        _ => Ok(None),
    }
}

/// Turns the requested scope into a payload scope, checking only that the target
/// exists; access is checked when the payload is resolved.
fn resolve_scope(c: &Connection, req: Option<&ScopeRequest>) -> ApiResult<ScopePayload> {
    let target = match req {
        None => return Ok(ScopePayload::Unscoped),
        Some(ScopeRequest::Named(s)) if s == "unscoped" => return Ok(ScopePayload::Unscoped),
        Some(ScopeRequest::Named(s)) => {
            return Err(ApiError::bad_request(format!("Invalid scope '{s}'.")));
        }
        Some(ScopeRequest::Target(t)) => t,
    };
    let given = [
        target.project.is_some(),
        target.domain.is_some(),
        target.system.is_some(),
        target.trust.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "Specify only one of project, domain, system or OS-TRUST:trust as scope.",
        ));
    }
    if let Some(p) = &target.project {
        let project = match (&p.id, &p.name) {
            (Some(id), _) => store::project_get(c, id)?,
            (None, Some(name)) => {
                let domain = lookup_domain(c, p.domain.as_ref())?.ok_or_else(|| {
                    unauthorized("Could not find the domain of the requested project scope.")
                })?;
                store::project_by_name(c, &domain.id, name)?
            }
            _ => {
                return Err(ApiError::bad_request(
                    "A project scope needs an id or a name and domain.",
                ));
            }
        };
        let project =
            project.ok_or_else(|| unauthorized("Could not find the project to scope to."))?;
        return Ok(ScopePayload::Project(project.id));
    }
    if let Some(d) = &target.domain {
        let domain = lookup_domain(c, Some(d))?
            .ok_or_else(|| unauthorized("Could not find the domain to scope to."))?;
        return Ok(ScopePayload::Domain(domain.id));
    }
    if let Some(sys) = &target.system {
        if sys.get("all").and_then(|v| v.as_bool()) == Some(true) {
            return Ok(ScopePayload::System);
        }
        return Err(ApiError::bad_request(
            "The system scope must be {\"all\": true}.",
        ));
    }
    Ok(ScopePayload::Unscoped)
}

/// Keystone scopes a scopeless request to the user's default project when it can.
fn default_scope(c: &Connection, user_id: &str) -> ApiResult<ScopePayload> {
    let user = store::user_get(c, user_id)?;
    let Some(pid) = user.and_then(|u| u.default_project_id) else {
        return Ok(ScopePayload::Unscoped);
    };
    let Some(project) = store::project_get(c, &pid)? else {
        return Ok(ScopePayload::Unscoped);
    };
    let roles = store::effective_roles(
        c,
        user_id,
        &super::assignment::project_targets(c, &project)?,
    )?;
    Ok(if project.enabled && !roles.is_empty() {
        ScopePayload::Project(pid)
    } else {
        ScopePayload::Unscoped
    })
}

fn named(id: &str, name: &str) -> NamedRef {
    NamedRef {
        id: id.to_owned(),
        name: name.to_owned(),
    }
}

/// The heart of validation: revocation, user and scope still valid, current roles.
fn resolve_payload(c: &Connection, p: &TokenPayload) -> ApiResult<RequestContext> {
    let project_id = match &p.scope {
        ScopePayload::Project(id) => Some(id.as_str()),
        _ => None,
    };
    if store::is_revoked(c, &p.audit_ids, &p.user_id, project_id, p.issued_at())? {
        return Err(unauthorized("The token has been revoked."));
    }
    let user = store::user_get(c, &p.user_id)?.ok_or_else(|| unauthorized(AUTH_FAILED))?;
    let user_domain =
        store::domain_get(c, &user.domain_id)?.ok_or_else(|| unauthorized(AUTH_FAILED))?;
    if !user.enabled || !user_domain.enabled {
        return Err(unauthorized("The user or its domain is disabled."));
    }
    let trust = match &p.trust_id {
        None => None,
        Some(id) => Some(check_trust_token(c, id, &user.id)?),
    };
    let oauth_roles = match &p.oauth_access_token_id {
        None => None,
        Some(id) => Some(oauth1::check_access_token(c, id, &user.id)?),
    };
    let (scope, mut roles) = token_scope_roles(c, &p.scope, &user.id, trust.as_ref())?;
    // An OAuth1 token carries the delegated roles the user still holds.
    if let Some(delegated) = &oauth_roles {
        roles.retain(|r| delegated.contains(&r.id));
    }
    let application_credential = match &p.app_cred_id {
        None => None,
        Some(id) => Some(token_app_cred(c, id, &mut roles)?),
    };
    if scope != Scope::Unscoped && roles.is_empty() {
        return Err(unauthorized(&format!(
            "User {} has no access to the requested scope.",
            user.id
        )));
    }
    Ok(RequestContext {
        user: named(&user.id, &user.name),
        user_domain: named(&user_domain.id, &user_domain.name),
        scope,
        roles: roles.iter().map(|r| named(&r.id, &r.name)).collect(),
        methods: p.methods.clone(),
        audit_ids: p.audit_ids.clone(),
        issued_at: p.issued_at(),
        expires_at: p.expires_at(),
        application_credential,
        trust: trust.map(|t| TrustRef {
            id: t.id,
            impersonation: t.impersonation,
            trustor_user_id: t.trustor_user_id,
            trustee_user_id: t.trustee_user_id,
        }),
    })
}

/// A token's scope as it stands now (its project or domain still there and
/// enabled) and the roles the user holds on it.
fn token_scope_roles(
    c: &Connection,
    scope: &ScopePayload,
    user_id: &str,
    trust: Option<&store_ext::Trust>,
) -> ApiResult<(Scope, Vec<Role>)> {
    match scope {
        ScopePayload::Unscoped => Ok((Scope::Unscoped, Vec::new())),
        ScopePayload::Project(id) => token_project_roles(c, id, user_id, trust),
        ScopePayload::Domain(id) => {
            let domain = store::domain_get(c, id)?
                .ok_or_else(|| unauthorized("The domain of the token no longer exists."))?;
            if !domain.enabled {
                return Err(unauthorized("The domain of the token is disabled."));
            }
            let roles = store::effective_roles(c, user_id, &[format!("domain:{id}:0")])?;
            Ok((Scope::Domain(named(&domain.id, &domain.name)), roles))
        }
        ScopePayload::System => {
            let roles = store::effective_roles(c, user_id, &[format!("system:{SYSTEM_ALL}:0")])?;
            Ok((Scope::System, roles))
        }
    }
}

/// A project-scoped token's project and roles; a trust's token carries the
/// delegated roles the trustor still holds.
fn token_project_roles(
    c: &Connection,
    id: &str,
    user_id: &str,
    trust: Option<&store_ext::Trust>,
) -> ApiResult<(Scope, Vec<Role>)> {
    let project = found(store::project_get(c, id)?, "project", id)
        .map_err(|_| unauthorized("The project of the token no longer exists."))?;
    let domain = found(
        store::domain_get(c, &project.domain_id)?,
        "domain",
        &project.domain_id,
    )?;
    if !project.enabled || !domain.enabled {
        return Err(unauthorized("The project of the token is disabled."));
    }
    let targets = super::assignment::project_targets(c, &project)?;
    let roles = match trust {
        Some(t) => trust_token_roles(c, t, &targets)?,
        None => store::effective_roles(c, user_id, &targets)?,
    };
    let scope = Scope::Project {
        project: named(&project.id, &project.name),
        domain: named(&domain.id, &domain.name),
    };
    Ok((scope, roles))
}

/// The application credential a token was issued for, still there and
/// current; the token's roles are cut to the credential's.
fn token_app_cred(c: &Connection, id: &str, roles: &mut Vec<Role>) -> ApiResult<AppCredRef> {
    let ac = store::app_cred_get(c, id)?
        .ok_or_else(|| unauthorized("The application credential was deleted."))?;
    if ac.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(unauthorized("The application credential has expired."));
    }
    roles.retain(|r| ac.roles.iter().any(|a| a.id == r.id));
    Ok(AppCredRef {
        id: ac.id,
        name: ac.name,
        unrestricted: ac.unrestricted,
        access_rules: ac
            .access_rules
            .into_iter()
            .map(|r| AccessRuleRef {
                service: r.service,
                method: r.method,
                path: r.path,
            })
            .collect(),
    })
}

/// Issues a token under a trust: the authenticated user must be the trustee, both
/// users enabled, the trust current with a use left (one is spent). Answers the user
/// the token acts as (the trustor when impersonating), its scope and the trust's expiry.
fn consume_trust(
    c: &Connection,
    trust_id: &str,
    user_id: &str,
) -> ApiResult<(String, ScopePayload, Option<chrono::DateTime<Utc>>)> {
    let t = store_ext::trust_get(c, trust_id)?
        .filter(store_ext::Trust::usable)
        .ok_or_else(|| ApiError::not_found("trust", trust_id))?;
    if t.trustee_user_id != user_id {
        return Err(ApiError::Forbidden(
            "The user is not the trustee of the trust.".into(),
        ));
    }
    let trustor = store::user_get(c, &t.trustor_user_id)?;
    if !trustor.is_some_and(|u| u.enabled) {
        return Err(ApiError::Forbidden("The trustor is disabled.".into()));
    }
    if !store_ext::trust_consume(c, &t.id)? {
        return Err(ApiError::not_found("trust", trust_id));
    }
    let acting = if t.impersonation {
        t.trustor_user_id.clone()
    } else {
        t.trustee_user_id.clone()
    };
    let scope = match &t.project_id {
        Some(p) => ScopePayload::Project(p.clone()),
        None => ScopePayload::Unscoped,
    };
    Ok((acting, scope, t.expires_at))
}

/// Validation of a trust-scoped token: the trust must still exist, not be expired,
/// and the token's user be its trustee (or trustor, when impersonating).
fn check_trust_token(c: &Connection, trust_id: &str, user_id: &str) -> ApiResult<store_ext::Trust> {
    let t = store_ext::trust_get(c, trust_id)?
        .ok_or_else(|| unauthorized("The trust of the token was deleted."))?;
    if t.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(unauthorized("The trust of the token has expired."));
    }
    let acting = if t.impersonation {
        &t.trustor_user_id
    } else {
        &t.trustee_user_id
    };
    if acting != user_id {
        return Err(unauthorized(AUTH_FAILED));
    }
    for u in [&t.trustor_user_id, &t.trustee_user_id] {
        if !store::user_get(c, u)?.is_some_and(|u| u.enabled) {
            return Err(unauthorized("A user of the trust is disabled."));
        }
    }
    Ok(t)
}

/// The trustor's current roles on the project that the trust delegates (directly or
/// as roles implied by a delegated one).
fn trust_token_roles(
    c: &Connection,
    t: &store_ext::Trust,
    targets: &[String],
) -> ApiResult<Vec<Role>> {
    let held = store::effective_roles(c, &t.trustor_user_id, targets)?;
    let implied = store::implied_role_list(c)?;
    let mut delegated: Vec<String> = t.role_ids.clone();
    let mut i = 0;
    while i < delegated.len() {
        let prior = delegated[i].clone();
        for (p, imp) in &implied {
            if *p == prior && !delegated.contains(imp) {
                delegated.push(imp.clone());
            }
        }
        i += 1;
    }
    Ok(held
        .into_iter()
        .filter(|r| delegated.contains(&r.id))
        .collect())
}
