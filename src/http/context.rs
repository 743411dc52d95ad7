//! The authenticated caller of a request, validated once by the auth middleware and
//! handed to every service's handlers.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NamedRef {
    pub id: String,
    pub name: String,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Scope {
    #[default]
    Unscoped,
    Project {
        project: NamedRef,
        domain: NamedRef,
    },
    Domain(NamedRef),
    System,
}

/// The caller: user, scope and effective roles of a validated token.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestContext {
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
    /// Set when the token is scoped to a trust (OS-TRUST).
    pub trust: Option<TrustRef>,
}

impl RequestContext {
    /// The cloud acting on its own behalf inside a project, where no caller's token
    /// is at hand: the network defaults made at first start, an image upload the
    /// volume service finishes (also after a restart). The `onestack` user with
    /// admin, member and reader there; `valid_for` bounds the work done under it.
    pub(crate) fn internal(
        project_id: &str,
        project_name: &str,
        valid_for: chrono::Duration,
    ) -> RequestContext {
        let named = |id: &str, name: &str| NamedRef {
            id: id.to_owned(),
            name: name.to_owned(),
        };
        let now = chrono::Utc::now();
        RequestContext {
            user: named("onestack", "onestack"),
            user_domain: named("default", "Default"),
            scope: Scope::Project {
                project: named(project_id, project_name),
                domain: named("default", "Default"),
            },
            roles: ["admin", "member", "reader"]
                .iter()
                .map(|r| named(r, r))
                .collect(),
            issued_at: now,
            expires_at: now + valid_for,
            ..RequestContext::default()
        }
    }
}

#[cfg(test)]
impl RequestContext {
    /// For unit tests: `user` scoped to `project` (domain `default`) with `roles`.
    pub(crate) fn scoped(user: &str, project: &str, roles: &[&str]) -> RequestContext {
        let named = |id: &str| NamedRef {
            id: id.to_owned(),
            name: id.to_owned(),
        };
        RequestContext {
            user: named(user),
            user_domain: named("default"),
            scope: Scope::Project {
                project: named(project),
                domain: named("default"),
            },
            roles: roles.iter().map(|r| named(r)).collect(),
            issued_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
            ..RequestContext::default()
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AppCredRef {
    pub id: String,
    pub name: String,
    pub unrestricted: bool,
    /// The calls a token of this credential may make; empty means any.
    pub access_rules: Vec<AccessRuleRef>,
}

impl AppCredRef {
    /// Whether a token of this credential may make a request to a service of one of
    /// `service_types`, with `method`, on `path` (below the service's URL prefix), as
    /// keystonemiddleware checks access rules: service type and method equal, path
    /// matching the template, where `*` is one segment and `**` any number.
    pub(crate) fn permits(&self, service_types: &[&str], method: &str, path: &str) -> bool {
        self.access_rules.is_empty()
            || self.access_rules.iter().any(|r| {
                service_types.contains(&r.service.as_str())
                    && r.method.eq_ignore_ascii_case(method)
                    && path_matches(&r.path, path)
            })
    }
}

fn path_matches(template: &str, path: &str) -> bool {
    fn go(t: &[&str], p: &[&str]) -> bool {
        match (t.first(), p.first()) {
            (None, None) => true,
            (Some(&"**"), _) => (0..=p.len()).any(|i| go(&t[1..], &p[i..])),
            (Some(_), None) | (None, Some(_)) => false,
            (Some(&"*"), Some(_)) => go(&t[1..], &p[1..]),
            (Some(a), Some(b)) => a == b && go(&t[1..], &p[1..]),
        }
    }
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    go(&t, &p)
}

/// One access rule of an application credential: service type, method, path template.
#[derive(Debug, Clone)]
pub(crate) struct AccessRuleRef {
    pub service: String,
    pub method: String,
    pub path: String,
}

/// The trust a token acts under.
#[derive(Debug, Clone)]
pub(crate) struct TrustRef {
    pub id: String,
    pub impersonation: bool,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
}

impl RequestContext {
    pub(crate) fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// Cloud administrator: the admin role on any scope (the legacy Keystone/DevStack rule).
    pub(crate) fn is_admin(&self) -> bool {
        super::policy::ADMIN.allows(self, None)
    }

    /// Whether the caller passes a rule of the policy table that names no owner
    /// (the admin-only rules: `all_tenants`, admin-only fields, `context_is_admin`).
    pub(crate) fn allowed(&self, rule: super::policy::Rule) -> bool {
        rule.allows(self, None)
    }

    /// May change resources of its own project (member implies reader; admin implies both).
    pub(crate) fn can_write(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    pub(crate) fn can_read(&self) -> bool {
        self.can_write() || self.has_role("reader")
    }

    pub(crate) fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { project, .. } => Some(&project.id),
            _ => None,
        }
    }

    /// `context_is_admin` of the policy table, or 403.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        super::policy::ADMIN.enforce(self, None)
    }

    /// Project-owned resources: admin anywhere, or a reader+ scoped to that project
    /// (`project_reader_or_admin` of the policy table).
    pub(crate) fn require_project_read(&self, project_id: &str) -> Result<(), ApiError> {
        super::policy::PROJECT_READER_OR_ADMIN.enforce(self, Some(project_id))
    }

    /// `project_member_or_admin` of the policy table.
    pub(crate) fn require_project_write(&self, project_id: &str) -> Result<(), ApiError> {
        super::policy::PROJECT_MEMBER_OR_ADMIN.enforce(self, Some(project_id))
    }
}

/// What the auth middleware found on the request.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    Valid(Arc<RequestContext>),
    Invalid,
}

/// Extractor for handlers that need an authenticated caller; 401 otherwise.
pub(crate) struct Ctx(pub Arc<RequestContext>);

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

#[cfg(test)]
mod access_rule_tests {
    use super::*;

    #[test]
    fn access_rule_paths() {
        assert!(path_matches("/v2.1/servers/*/ips", "/v2.1/servers/abc/ips"));
        assert!(!path_matches(
            "/v2.1/servers/*/ips",
            "/v2.1/servers/abc/def/ips"
        ));
        assert!(!path_matches("/v2.1/servers/*/ips", "/v2.1/servers"));
        assert!(path_matches("/v2.1/servers/**", "/v2.1/servers/a/b/c"));
        assert!(path_matches("/v2.1/servers/**", "/v2.1/servers"));
        assert!(path_matches("/v3/users", "/v3/users/"));
        assert!(!path_matches("/v3/users", "/v3/projects"));
    }

    #[test]
    fn rules_match_service_method_and_path() {
        let ac = AppCredRef {
            id: "a".into(),
            name: "a".into(),
            unrestricted: false,
            access_rules: vec![AccessRuleRef {
                service: "compute".into(),
                method: "GET".into(),
                path: "/v2.1/servers/*/ips".into(),
            }],
        };
        assert!(ac.permits(&["compute"], "GET", "/v2.1/servers/x/ips"));
        assert!(!ac.permits(&["compute"], "DELETE", "/v2.1/servers/x/ips"));
        assert!(!ac.permits(&["image"], "GET", "/v2.1/servers/x/ips"));
        assert!(!ac.permits(&["compute"], "GET", "/v2.1/servers"));
    }
}
