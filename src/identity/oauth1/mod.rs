//! OAuth 1.0a delegation (OS-OAUTH1): an administrator registers a consumer; the
//! consumer obtains a request token for a project (signed with its secret); a user
//! authorizes it with some of its roles on that project and hands the verifier to
//! the consumer out of band; the consumer exchanges token and verifier for an access
//! token, and then gets Keystone tokens with the `oauth1` method, acting as the user
//! with the delegated roles, until the access token or consumer is deleted.

pub(crate) mod signature;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{Map, Value};

use super::model::{Role, new_id};
use super::store_oauth1::{self as so, AccessToken, Consumer, RequestToken};
use super::{Identity, found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};
use signature::{Refusal, SignedRequest};

/// Keystone's `[oauth1] request_token_duration` and `access_token_duration`.
const REQUEST_TOKEN_DURATION: Duration = Duration::seconds(28_800);
const ACCESS_TOKEN_DURATION: Duration = Duration::seconds(86_400);

/// A consumer as shown: its secret only in the answer to its creation.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerView {
    pub id: String,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
    pub secret: Option<String>,
}

/// A token pair handed to a consumer (`oauth_token`, `oauth_token_secret`).
#[derive(Debug, Clone)]
pub(crate) struct IssuedPair {
    pub key: String,
    pub secret: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A role a user delegates when authorizing: by id or by name.
#[derive(Debug, Clone)]
pub(crate) enum RoleRef {
    Id(String),
    Name(String),
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_owned())
}

fn missing(what: &str) -> ApiError {
    ApiError::bad_request(format!("Expecting to find {what} in request."))
}

/// An `oauth_*` parameter the request must carry (Keystone's 400 without it).
fn required(req: &SignedRequest, name: &str) -> ApiResult<String> {
    req.param(name)
        .map(str::to_owned)
        .ok_or_else(|| missing(name))
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Missing(p) => missing(p),
        Refusal::UnsupportedMethod => {
            unauthorized("Invalid signature method: only HMAC-SHA1 is supported")
        }
        Refusal::BadTimestamp => unauthorized("Invalid timestamp"),
        Refusal::BadSignature => unauthorized("Invalid signature"),
    }
}

/// A random secret or verifier of `len` letters and digits.
fn random_text(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

fn expired(at: Option<DateTime<Utc>>) -> bool {
    at.is_some_and(|e| e <= Utc::now())
}

/// Tokens obtained by delegation (a trust, an application credential, OAuth1)
/// may not delegate further, as Keystone's `is_delegated_auth` says.
fn delegated(ctx: &RequestContext) -> bool {
    ctx.trust.is_some()
        || ctx.application_credential.is_some()
        || ctx.methods.iter().any(|m| m == "oauth1")
}

/// The consumer exchanging `token`: the token must be unexpired and the consumer
/// exist and be the one the token was issued to.
fn exchanging_consumer(token: &RequestToken, consumer: Option<Consumer>) -> ApiResult<Consumer> {
    if expired(token.expires_at) {
        return Err(unauthorized("Request token is expired"));
    }
    let consumer = consumer.ok_or_else(|| unauthorized("Provided consumer does not exist."))?;
    if token.consumer_id != consumer.id {
        return Err(unauthorized(
            "Provided consumer key does not match stored consumer key.",
        ));
    }
    Ok(consumer)
}

/// The user who authorized `token`, once `verifier` matches the one it was given;
/// a token nobody authorized has no verifier yet, and Keystone says so.
fn verified_user(token: &RequestToken, verifier: &str) -> ApiResult<String> {
    if token.verifier.as_deref() != Some(verifier) {
        return Err(unauthorized(if token.authorizing_user_id.is_none() {
            "Request Token does not have an authorizing user id."
        } else {
            "Provided verifier does not match stored verifier"
        }));
    }
    token
        .authorizing_user_id
        .clone()
        .ok_or_else(|| unauthorized("Request Token does not have an authorizing user id."))
}

impl Identity {
    fn seal_secret(&self, clear: &str) -> ApiResult<String> {
        Ok(self.credential_keys()?.seal(clear))
    }

    fn unseal_secret(&self, sealed: &str, what: &str) -> ApiResult<String> {
        self.credential_keys()?.unseal(sealed).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "the secret of {what} cannot be decrypted with the credential keys"
            ))
        })
    }

    fn consumer_view(c: Consumer, secret: Option<String>) -> ConsumerView {
        ConsumerView {
            id: c.id,
            description: c.description,
            extra: c.extra,
            secret,
        }
    }

    // --- consumers (administrators) --------------------------------------------------

    /// `POST /v3/OS-OAUTH1/consumers`: `description` (a string or null) and any other
    /// attributes, kept as they are.
    pub(crate) async fn consumer_create(
        &self,
        ctx: &RequestContext,
        mut input: Map<String, Value>,
    ) -> ApiResult<ConsumerView> {
        policy::IDENTITY_ADMIN.enforce(ctx, None)?;
        let description = take_description(&mut input)?;
        input.remove("id");
        input.remove("secret");
        let secret = random_text(32);
        let consumer = Consumer {
            id: new_id(),
            description,
            extra: input,
            sealed_secret: self.seal_secret(&secret)?,
        };
        let row = consumer.clone();
        self.write(move |c| so::consumer_insert(c, &row)).await?;
        Ok(Self::consumer_view(consumer, Some(secret)))
    }

    pub(crate) async fn consumer_list(&self, ctx: &RequestContext) -> ApiResult<Vec<ConsumerView>> {
        policy::IDENTITY_ADMIN.enforce(ctx, None)?;
        let rows = self.read(so::consumer_list).await?;
        Ok(rows
            .into_iter()
            .map(|c| Self::consumer_view(c, None))
            .collect())
    }

    pub(crate) async fn consumer_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<ConsumerView> {
        policy::IDENTITY_ADMIN.enforce(ctx, None)?;
        let c = self
            .read(move |c| found(so::consumer_get(c, &id)?, "consumer", &id))
            .await?;
        Ok(Self::consumer_view(c, None))
    }

    /// `PATCH /v3/OS-OAUTH1/consumers/{id}`: the secret cannot be changed, nor the id.
    pub(crate) async fn consumer_update(
        &self,
        ctx: &RequestContext,
        id: String,
        mut input: Map<String, Value>,
    ) -> ApiResult<ConsumerView> {
        policy::IDENTITY_ADMIN.enforce(ctx, None)?;
        if input.is_empty() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'consumer': {} does not have enough properties",
            ));
        }
        if input.contains_key("secret") {
            return Err(ApiError::bad_request(
                "Invalid input for field 'consumer': the secret of a consumer cannot be updated",
            ));
        }
        if input
            .get("id")
            .is_some_and(|v| v.as_str() != Some(id.as_str()))
        {
            return Err(ApiError::bad_request("Cannot change consumer ID"));
        }
        input.remove("id");
        let description = if input.contains_key("description") {
            Some(take_description(&mut input)?)
        } else {
            None
        };
        let c = self
            .write(move |c| {
                let mut x = found(so::consumer_get(c, &id)?, "consumer", &id)?;
                if let Some(d) = description {
                    x.description = d;
                }
                x.extra.extend(input);
                so::consumer_update(c, &x)?;
                Ok(x)
            })
            .await?;
        Ok(Self::consumer_view(c, None))
    }

    /// `DELETE /v3/OS-OAUTH1/consumers/{id}`: its request and access tokens go too,
    /// and with them every Keystone token issued through them.
    pub(crate) async fn consumer_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        policy::IDENTITY_ADMIN.enforce(ctx, None)?;
        self.write(move |c| {
            if so::consumer_delete(c, &id)? {
                Ok(())
            } else {
                Err(ApiError::not_found("consumer", id))
            }
        })
        .await
    }

    // --- the delegation flow -----------------------------------------------------------

    /// `POST /v3/OS-OAUTH1/request_token`, signed with the consumer's secret, for
    /// the project in `Requested-Project-Id`.
    pub(crate) async fn request_token_create(
        &self,
        req: SignedRequest,
        requested_project_id: Option<String>,
    ) -> ApiResult<IssuedPair> {
        let consumer_id = required(&req, "oauth_consumer_key")?;
        let project_id = requested_project_id.ok_or_else(|| missing("Requested-Project-Id"))?;
        let (pid, cid) = (project_id.clone(), consumer_id.clone());
        let consumer = self
            .read(move |c| {
                found(store::project_get(c, &pid)?, "project", &pid)?;
                found(so::consumer_get(c, &cid)?, "consumer", &cid)
            })
            .await?;
        let consumer_secret = self.unseal_secret(&consumer.sealed_secret, "a consumer")?;
        signature::verify(&req, &consumer_secret, "", Utc::now().timestamp()).map_err(refused)?;
        let secret = random_text(32);
        let token = RequestToken {
            id: new_id(),
            consumer_id,
            sealed_secret: self.seal_secret(&secret)?,
            requested_project_id: project_id,
            authorizing_user_id: None,
            role_ids: Vec::new(),
            verifier: None,
            expires_at: Some(Utc::now() + REQUEST_TOKEN_DURATION),
        };
        let row = token.clone();
        self.write(move |c| so::request_token_insert(c, &row))
            .await?;
        Ok(IssuedPair {
            key: token.id,
            secret,
            expires_at: token.expires_at,
        })
    }

    /// `PUT /v3/OS-OAUTH1/authorize/{request_token_id}`: the caller delegates `roles`
    /// it holds on the requested project; answers the verifier.
    pub(crate) async fn request_token_authorize(
        &self,
        ctx: &RequestContext,
        request_token_id: String,
        roles: Vec<RoleRef>,
    ) -> ApiResult<String> {
        if delegated(ctx) {
            return Err(ApiError::Forbidden(
                "Cannot authorize a request token with a token issued via delegation.".into(),
            ));
        }
        let user_id = ctx.user.id.clone();
        let verifier = random_text(8);
        let v = verifier.clone();
        self.write(move |c| {
            let t = found(
                so::request_token_get(c, &request_token_id)?,
                "request token",
                &request_token_id,
            )?;
            if expired(t.expires_at) {
                return Err(unauthorized("Request token is expired"));
            }
            let project = found(
                store::project_get(c, &t.requested_project_id)?,
                "project",
                &t.requested_project_id,
            )?;
            let targets = super::assignment::project_targets(c, &project)?;
            let held = store::effective_roles(c, &user_id, &targets)?;
            let mut role_ids: Vec<String> = Vec::new();
            for r in &roles {
                let role: Role = match r {
                    RoleRef::Id(id) => found(store::role_get(c, id)?, "role", id)?,
                    RoleRef::Name(name) => store::role_by_name(c, name)?
                        .ok_or_else(|| ApiError::not_found("role", name.clone()))?,
                };
                if !held.iter().any(|h| h.id == role.id) {
                    return Err(unauthorized("authorizing user does not have role required"));
                }
                if !role_ids.contains(&role.id) {
                    role_ids.push(role.id);
                }
            }
            so::request_token_authorize(c, &t.id, &user_id, &role_ids, &v)?;
            Ok(())
        })
        .await?;
        Ok(verifier)
    }

    /// `POST /v3/OS-OAUTH1/access_token`, signed with the consumer's and the request
    /// token's secrets and carrying the verifier; the request token is spent.
    pub(crate) async fn access_token_create(&self, req: SignedRequest) -> ApiResult<IssuedPair> {
        let consumer_id = required(&req, "oauth_consumer_key")?;
        let request_token_id = required(&req, "oauth_token")?;
        let verifier = required(&req, "oauth_verifier")?;
        let (token, consumer) = self
            .request_token_and_consumer(request_token_id.clone(), consumer_id)
            .await?;
        let consumer = exchanging_consumer(&token, consumer)?;
        self.verify_signature(&req, &consumer, &token.sealed_secret, "a request token")?;
        let user_id = verified_user(&token, &verifier)?;
        let secret = random_text(32);
        let access = AccessToken {
            id: new_id(),
            consumer_id: consumer.id,
            sealed_secret: self.seal_secret(&secret)?,
            authorizing_user_id: user_id,
            project_id: token.requested_project_id.clone(),
            role_ids: token.role_ids.clone(),
            expires_at: Some(Utc::now() + ACCESS_TOKEN_DURATION),
        };
        self.request_token_spend(request_token_id, access.clone())
            .await?;
        Ok(IssuedPair {
            key: access.id,
            secret,
            expires_at: access.expires_at,
        })
    }

    /// The request token being exchanged (404 when there is none) and the consumer
    /// the request names, if it exists: judged by `exchanging_consumer`.
    async fn request_token_and_consumer(
        &self,
        request_token_id: String,
        consumer_id: String,
    ) -> ApiResult<(RequestToken, Option<Consumer>)> {
        self.read(move |c| {
            let t = found(
                so::request_token_get(c, &request_token_id)?,
                "request token",
                &request_token_id,
            )?;
            let consumer = so::consumer_get(c, &consumer_id)?;
            Ok((t, consumer))
        })
        .await
    }

    /// Checks the request's signature with the consumer's secret and the secret of
    /// the token it is signed with (`what` names that token in a decryption error).
    fn verify_signature(
        &self,
        req: &SignedRequest,
        consumer: &Consumer,
        token_sealed_secret: &str,
        what: &str,
    ) -> ApiResult<()> {
        let consumer_secret = self.unseal_secret(&consumer.sealed_secret, "a consumer")?;
        let token_secret = self.unseal_secret(token_sealed_secret, what)?;
        signature::verify(req, &consumer_secret, &token_secret, Utc::now().timestamp())
            .map_err(refused)
    }

    /// Stores the access token in place of the request token it was exchanged for.
    async fn request_token_spend(
        &self,
        request_token_id: String,
        access: AccessToken,
    ) -> ApiResult<()> {
        self.write(move |c| {
            // Spent once: a second exchange of the same request token finds nothing.
            if !so::request_token_delete(c, &request_token_id)? {
                return Err(ApiError::not_found("request token", request_token_id));
            }
            so::access_token_insert(c, &access)
        })
        .await
    }

    /// The `oauth1` authentication method: a request signed with the consumer's and
    /// the access token's secrets. Answers the access token it acts under.
    pub(super) async fn prove_oauth1(&self, req: &SignedRequest) -> ApiResult<AccessToken> {
        let access_id = required(req, "oauth_token")?;
        let consumer_id = required(req, "oauth_consumer_key")?;
        let aid = access_id.clone();
        let (access, consumer) = self
            .read(move |c| {
                Ok((
                    so::access_token_get(c, &aid)?,
                    so::consumer_get(c, &consumer_id)?,
                ))
            })
            .await?;
        let access = access
            .filter(|a| !expired(a.expires_at))
            .ok_or_else(|| unauthorized("Access token is expired"))?;
        let consumer = consumer
            .filter(|c| c.id == access.consumer_id)
            .ok_or_else(|| {
                unauthorized("Provided consumer key does not match stored consumer key.")
            })?;
        self.verify_signature(req, &consumer, &access.sealed_secret, "an access token")?;
        Ok(access)
    }

    /// The access token and consumer behind an OAuth1-derived Keystone token, for
    /// the token's `OS-OAUTH1` attribute.
    pub(crate) async fn oauth1_of_token(&self, token: &str) -> ApiResult<Option<(String, String)>> {
        let Some(access_id) = self
            .inner
            .tokens
            .decode(token)
            .and_then(|p| p.oauth_access_token_id)
        else {
            return Ok(None);
        };
        let a = self
            .read(move |c| so::access_token_get(c, &access_id))
            .await?;
        Ok(a.map(|a| (a.id, a.consumer_id)))
    }

    // --- a user's access tokens -----------------------------------------------------------

    fn may_see_access_tokens(ctx: &RequestContext, user_id: &str) -> ApiResult<()> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(user_id))
    }

    pub(crate) async fn access_token_list(
        &self,
        ctx: &RequestContext,
        user_id: String,
    ) -> ApiResult<Vec<AccessToken>> {
        Self::may_see_access_tokens(ctx, &user_id)?;
        if delegated(ctx) {
            return Err(ApiError::Forbidden(
                "Cannot list request tokens with a token issued via delegation.".into(),
            ));
        }
        self.read(move |c| {
            Ok(so::access_tokens_of_user(c, &user_id)?
                .into_iter()
                .filter(|a| !expired(a.expires_at))
                .collect())
        })
        .await
    }

    pub(crate) async fn access_token_get(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<AccessToken> {
        Self::may_see_access_tokens(ctx, &user_id)?;
        self.read(move |c| {
            so::access_token_get(c, &id)?
                .filter(|a| a.authorizing_user_id == user_id && !expired(a.expires_at))
                .ok_or_else(|| ApiError::not_found("access token", id))
        })
        .await
    }

    /// `DELETE /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}`: the consumer loses
    /// access, and the Keystone tokens obtained with it stop validating.
    pub(crate) async fn access_token_delete(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<()> {
        Self::may_see_access_tokens(ctx, &user_id)?;
        self.write(move |c| {
            let a = so::access_token_get(c, &id)?
                .filter(|a| a.authorizing_user_id == user_id)
                .ok_or_else(|| ApiError::not_found("access token", id.clone()))?;
            so::access_token_delete(c, &a.id)?;
            Ok(())
        })
        .await
    }

    /// The roles an access token delegates (roles deleted since are left out).
    pub(crate) async fn access_token_roles(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<Vec<Role>> {
        let a = self.access_token_get(ctx, user_id, id).await?;
        self.read(move |c| {
            let mut out = Vec::new();
            for r in &a.role_ids {
                out.extend(store::role_get(c, r)?);
            }
            Ok(out)
        })
        .await
    }
}

/// Takes `description` out of a consumer body: a string (at most 255 characters)
/// or null.
fn take_description(input: &mut Map<String, Value>) -> ApiResult<Option<String>> {
    match input.remove("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field 'description': {other} is not of type 'string', 'null'"
        ))),
    }
}

/// Validation of an OAuth1-derived token: its access token must still exist and be
/// current, and be the token user's. Answers the role ids it delegates.
pub(super) fn check_access_token(
    c: &rusqlite::Connection,
    access_token_id: &str,
    user_id: &str,
) -> ApiResult<Vec<String>> {
    let a = so::access_token_get(c, access_token_id)?
        .ok_or_else(|| unauthorized("The access token of the token was deleted."))?;
    if expired(a.expires_at) {
        return Err(unauthorized("The access token of the token has expired."));
    }
    if a.authorizing_user_id != user_id {
        return Err(unauthorized(
            "The token's user is not the access token's authorizing user.",
        ));
    }
    Ok(a.role_ids)
}
