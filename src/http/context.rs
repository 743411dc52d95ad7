//! The authenticated caller of a request, validated once by the auth middleware and
//! handed to every service's handlers.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Unscoped,
    Project { project: NamedRef, domain: NamedRef },
    Domain(NamedRef),
    System,
}

/// The caller: user, scope and effective roles of a validated token.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub user: NamedRef,
    pub user_domain: NamedRef,
    pub scope: Scope,
    pub roles: Vec<NamedRef>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the token came from an application credential.
    pub application_credential: Option<AppCredRef>,
}

#[derive(Debug, Clone)]
pub struct AppCredRef {
    pub id: String,
    pub name: String,
    pub unrestricted: bool,
}

impl RequestContext {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// Cloud administrator: the admin role on any scope (the legacy Keystone/DevStack rule).
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// May change resources of its own project (member implies reader; admin implies both).
    pub fn can_write(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    pub fn can_read(&self) -> bool {
        self.can_write() || self.has_role("reader")
    }

    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { project, .. } => Some(&project.id),
            _ => None,
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Project-owned resources: admin anywhere, or a reader+ scoped to that project.
    pub fn require_project_read(&self, project_id: &str) -> Result<(), ApiError> {
        if self.is_admin() || (self.can_read() && self.project_id() == Some(project_id)) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn require_project_write(&self, project_id: &str) -> Result<(), ApiError> {
        if self.is_admin() || (self.can_write() && self.project_id() == Some(project_id)) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// What the auth middleware found on the request.
#[derive(Debug, Clone)]
pub enum Auth {
    Valid(Arc<RequestContext>),
    Invalid,
}

/// Extractor for handlers that need an authenticated caller; 401 otherwise.
pub struct Ctx(pub Arc<RequestContext>);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Auth>() {
            Some(Auth::Valid(ctx)) => Ok(Ctx(ctx.clone())),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

impl std::ops::Deref for Ctx {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        &self.0
    }
}
