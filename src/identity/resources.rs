//! Domains, projects, users, groups, roles and application credentials: the
//! create/read/update/delete logic and who may do it.

use chrono::Utc;
use rusqlite::Connection;
use serde::Deserialize;

use super::model::*;
use super::{Identity, found, password, store};
use crate::http::context::{RequestContext, Scope};
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

fn check_name(kind: &str, name: &str) -> ApiResult<()> {
    check_name_len(kind, name, 255)
}

/// Keystone's schemas: a project's or a domain's name is 1 to 64 characters, other
/// names 1 to 255.
fn check_name_len(kind: &str, name: &str, max: usize) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '{kind}/name': the name must be 1 to {max} characters."
        )));
    }
    Ok(())
}

/// The domain of a new project: its parent's (which a requested domain must
/// match), else the requested one or the caller's.
fn project_domain(
    c: &Connection,
    parent: Option<&Project>,
    requested: Option<&str>,
    ctx: &RequestContext,
) -> ApiResult<String> {
    match (parent, requested) {
        (Some(p), None) => Ok(p.domain_id.clone()),
        (Some(p), Some(d)) if p.domain_id != d => Err(ApiError::bad_request(
            "The parent project is in another domain.",
        )),
        (_, requested) => domain_id_of(c, requested, ctx),
    }
}

fn domain_id_of(
    c: &Connection,
    requested: Option<&str>,
    ctx: &RequestContext,
) -> ApiResult<String> {
    let id = match requested {
        Some(id) => id.to_owned(),
        None => match &ctx.scope {
            Scope::Domain(d) => d.id.clone(),
            _ => DEFAULT_DOMAIN_ID.to_owned(),
        },
    };
    found(store::domain_get(c, &id)?, "domain", &id).map(|d| d.id)
}

fn revoke_user_tokens(c: &Connection, user_id: &str) -> ApiResult<()> {
    store::revocation_add(
        c,
        &RevocationEvent {
            user_id: Some(user_id.to_owned()),
            issued_before: Utc::now(),
            ..Default::default()
        },
    )
}

fn revoke_project_tokens(c: &Connection, project_id: &str) -> ApiResult<()> {
    store::revocation_add(
        c,
        &RevocationEvent {
            project_id: Some(project_id.to_owned()),
            issued_before: Utc::now(),
            ..Default::default()
        },
    )
}

// --- inputs ---------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
pub(crate) struct DomainInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ProjectInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub is_domain: Option<bool>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct UserInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    pub password: Option<String>,
    pub default_project_id: Option<String>,
    /// Any other attribute (email, description...) is kept as given.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct GroupInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct RoleInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordChange {
    pub password: String,
    pub original_password: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppCredInput {
    pub name: String,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub expires_at: Option<String>,
    pub roles: Option<Vec<RoleSelector>>,
    #[serde(default)]
    pub unrestricted: bool,
    pub access_rules: Option<Vec<super::extensions::AccessRuleInput>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoleSelector {
    pub id: Option<String>,
    pub name: Option<String>,
}

fn require<T>(v: Option<T>, field: &str) -> ApiResult<T> {
    v.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field '{field}': '{field}' is a required property."
        ))
    })
}

/// The project a new application credential is for: the caller's own
/// project-scoped token, not one of a restricted application credential.
fn app_cred_creator_project(ctx: &RequestContext, user_id: &str) -> ApiResult<String> {
    if ctx.user.id != user_id {
        return Err(ApiError::forbidden());
    }
    if ctx
        .application_credential
        .as_ref()
        .is_some_and(|a| !a.unrestricted)
    {
        return Err(ApiError::Forbidden(
            "A restricted application credential cannot create another application credential."
                .into(),
        ));
    }
    Ok(ctx
        .project_id()
        .ok_or_else(|| {
            ApiError::bad_request("Application credentials need a project-scoped token.")
        })?
        .to_owned())
}

/// The roles a new application credential carries: those asked for, each one
/// the token holds; none asked (or an empty list, what the CLI sends without
/// --role) means all of the token's roles.
fn app_cred_roles(ctx: &RequestContext, wanted: Option<&[RoleSelector]>) -> ApiResult<Vec<Role>> {
    let role = |r: &crate::http::context::NamedRef| Role {
        id: r.id.clone(),
        name: r.name.clone(),
        domain_id: None,
        description: String::new(),
    };
    let Some(wanted) = wanted.filter(|r| !r.is_empty()) else {
        return Ok(ctx.roles.iter().map(role).collect());
    };
    wanted
        .iter()
        .map(|w| {
            ctx.roles
                .iter()
                .find(|r| Some(&r.id) == w.id.as_ref() || Some(&r.name) == w.name.as_ref())
                .map(role)
                .ok_or_else(|| {
                    ApiError::Forbidden(
                        "An application credential can only carry roles its user holds on the project."
                            .into(),
                    )
                })
        })
        .collect()
}

impl Identity {
    // --- domains ----------------------------------------------------------------

    pub(crate) async fn domain_create(
        &self,
        ctx: &RequestContext,
        input: DomainInput,
    ) -> ApiResult<Domain> {
        ctx.require_admin()?;
        let name = require(input.name, "name")?;
        check_name_len("domain", &name, 64)?;
        let d = Domain {
            id: new_id(),
            name,
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            tags: input.tags.unwrap_or_default(),
        };
        let out = d.clone();
        self.write(move |c| store::domain_insert(c, &d)).await?;
        Ok(out)
    }

    pub(crate) async fn domain_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Domain>> {
        ctx.require_admin()?;
        self.read(store::domain_list).await
    }

    pub(crate) async fn domain_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Domain> {
        policy::DOMAIN_READ.enforce_target(ctx, Target::domain(&id))?;
        self.read(move |c| found(store::domain_get(c, &id)?, "domain", &id))
            .await
    }

    pub(crate) async fn domain_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: DomainInput,
    ) -> ApiResult<Domain> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut d = found(store::domain_get(c, &id)?, "domain", &id)?;
            if let Some(name) = input.name {
                check_name_len("domain", &name, 64)?;
                d.name = name;
            }
            if let Some(v) = input.description {
                d.description = v;
            }
            if let Some(v) = input.enabled {
                d.enabled = v;
            }
            if let Some(v) = input.tags {
                d.tags = v;
            }
            store::domain_update(c, &d)?;
            Ok(d)
        })
        .await
    }

    pub(crate) async fn domain_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let d = found(store::domain_get(c, &id)?, "domain", &id)?;
            if d.enabled {
                return Err(ApiError::Forbidden(
                    "Cannot delete a domain that is enabled, please disable it first.".into(),
                ));
            }
            store::domain_delete(c, &id)
        })
        .await
    }

    // --- projects ---------------------------------------------------------------

    /// A project acting as a domain is a domain: Keystone stores both alike. It
    /// has neither a parent nor a domain of its own.
    async fn project_as_domain_create(
        &self,
        ctx: &RequestContext,
        input: ProjectInput,
    ) -> ApiResult<Project> {
        if input.parent_id.is_some() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'parent_id': a project acting as a domain has no parent.",
            ));
        }
        if input.domain_id.is_some() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'domain_id': a project acting as a domain has no domain.",
            ));
        }
        let d = self
            .domain_create(
                ctx,
                DomainInput {
                    name: input.name,
                    description: input.description,
                    enabled: input.enabled,
                    tags: input.tags,
                },
            )
            .await?;
        Ok(Project::from_domain(d))
    }

    pub(crate) async fn project_create(
        &self,
        ctx: &RequestContext,
        input: ProjectInput,
    ) -> ApiResult<Project> {
        ctx.require_admin()?;
        if input.is_domain == Some(true) {
            return self.project_as_domain_create(ctx, input).await;
        }
        let name = require(input.name, "name")?;
        check_name_len("project", &name, 64)?;
        let ctx2 = ctx.clone();
        self.write(move |c| {
            let parent = match input.parent_id.as_deref() {
                Some(pid) => Some(found(store::project_get(c, pid)?, "project", pid)?),
                None => None,
            };
            let domain_id = project_domain(c, parent.as_ref(), input.domain_id.as_deref(), &ctx2)?;
            let p = Project {
                id: new_id(),
                name,
                domain_id,
                parent_id: parent.map(|p| p.id),
                description: input.description.unwrap_or_default(),
                enabled: input.enabled.unwrap_or(true),
                tags: input.tags.unwrap_or_default(),
                is_domain: false,
            };
            store::project_insert(c, &p)?;
            Ok(p)
        })
        .await
    }

    pub(crate) async fn project_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Project>> {
        ctx.require_admin()?;
        self.read(store::project_list).await
    }

    /// `GET /v3/projects?is_domain=true`: the domains, as projects.
    pub(crate) async fn project_list_domains(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<Project>> {
        ctx.require_admin()?;
        let list = self.read(store::domain_list).await?;
        Ok(list.into_iter().map(Project::from_domain).collect())
    }

    pub(crate) async fn project_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Project> {
        policy::PROJECT_GET.enforce_target(ctx, Target::project(&id))?;
        self.read(move |c| match store::project_get(c, &id)? {
            Some(p) => Ok(p),
            None => found(store::domain_get(c, &id)?, "project", &id).map(Project::from_domain),
        })
        .await
    }

    /// Whether `id` names a domain rather than a project.
    async fn is_domain_id(&self, id: &str) -> ApiResult<bool> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(store::project_get(c, &id)?.is_none() && store::domain_get(c, &id)?.is_some())
        })
        .await
    }

    pub(crate) async fn project_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: ProjectInput,
    ) -> ApiResult<Project> {
        ctx.require_admin()?;
        if self.is_domain_id(&id).await? {
            if input.domain_id.is_some() || input.parent_id.is_some() {
                return Err(ApiError::bad_request(
                    "Update of `domain_id` or `parent_id` is not allowed.",
                ));
            }
            let d = DomainInput {
                name: input.name,
                description: input.description,
                enabled: input.enabled,
                tags: input.tags,
            };
            return Ok(Project::from_domain(self.domain_update(ctx, id, d).await?));
        }
        self.write(move |c| {
            let mut p = found(store::project_get(c, &id)?, "project", &id)?;
            if input.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
                return Err(ApiError::bad_request(
                    "Update of `domain_id` is not allowed.",
                ));
            }
            if let Some(name) = input.name {
                check_name_len("project", &name, 64)?;
                p.name = name;
            }
            if let Some(v) = input.description {
                p.description = v;
            }
            if let Some(v) = input.tags {
                p.tags = v;
            }
            if let Some(v) = input.enabled {
                if p.enabled && !v {
                    revoke_project_tokens(c, &p.id)?;
                }
                p.enabled = v;
            }
            store::project_update(c, &p)?;
            Ok(p)
        })
        .await
    }

    pub(crate) async fn project_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        if self.is_domain_id(&id).await? {
            return self.domain_delete(ctx, id).await;
        }
        self.write(move |c| {
            found(store::project_get(c, &id)?, "project", &id)?;
            if store::project_has_children(c, &id)? {
                return Err(ApiError::Forbidden(
                    "Cannot delete the project since it is not a leaf in the hierarchy.".into(),
                ));
            }
            revoke_project_tokens(c, &id)?;
            store::project_delete(c, &id)
        })
        .await
    }

    // --- users ------------------------------------------------------------------

    pub(crate) async fn user_create(
        &self,
        ctx: &RequestContext,
        input: UserInput,
    ) -> ApiResult<User> {
        ctx.require_admin()?;
        crate::http::validate::nullable_string("description", input.extra.get("description"))?;
        let name = require(input.name, "name")?;
        check_name("user", &name)?;
        let hash = match input.password {
            Some(pw) => Some(hash_password(pw).await?),
            None => None,
        };
        let ctx2 = ctx.clone();
        self.write(move |c| {
            let domain_id = domain_id_of(c, input.domain_id.as_deref(), &ctx2)?;
            if let Some(pid) = input.default_project_id.as_deref() {
                found(store::project_get(c, pid)?, "project", pid)?;
            }
            let u = User {
                id: new_id(),
                name,
                domain_id,
                enabled: input.enabled.unwrap_or(true),
                password_hash: hash,
                default_project_id: input.default_project_id,
                extra: input
                    .extra
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            };
            store::user_insert(c, &u)?;
            Ok(u)
        })
        .await
    }

    pub(crate) async fn user_list(&self, ctx: &RequestContext) -> ApiResult<Vec<User>> {
        ctx.require_admin()?;
        self.read(store::user_list).await
    }

    pub(crate) async fn user_get(&self, ctx: &RequestContext, id: String) -> ApiResult<User> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&id))?;
        self.read(move |c| found(store::user_get(c, &id)?, "user", &id))
            .await
    }

    pub(crate) async fn user_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: UserInput,
    ) -> ApiResult<User> {
        ctx.require_admin()?;
        crate::http::validate::nullable_string("description", input.extra.get("description"))?;
        let hash = match input.password {
            Some(pw) => Some(hash_password(pw).await?),
            None => None,
        };
        self.write(move |c| {
            let mut u = found(store::user_get(c, &id)?, "user", &id)?;
            if input.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
                return Err(ApiError::bad_request(
                    "Update of `domain_id` is not allowed.",
                ));
            }
            if let Some(name) = input.name {
                check_name("user", &name)?;
                u.name = name;
            }
            if let Some(pid) = input.default_project_id {
                found(store::project_get(c, &pid)?, "project", &pid)?;
                u.default_project_id = Some(pid);
            }
            let mut revoke = false;
            if let Some(v) = input.enabled {
                revoke |= u.enabled && !v;
                u.enabled = v;
            }
            if hash.is_some() {
                u.password_hash = hash;
                revoke = true;
            }
            for (k, v) in input.extra {
                if v.is_null() {
                    u.extra.remove(&k);
                } else {
                    u.extra.insert(k, v);
                }
            }
            if revoke {
                revoke_user_tokens(c, &u.id)?;
            }
            store::user_update(c, &u)?;
            Ok(u)
        })
        .await
    }

    pub(crate) async fn user_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::user_get(c, &id)?, "user", &id)?;
            revoke_user_tokens(c, &id)?;
            store::credentials_delete_for_user(c, &id)?;
            store::user_delete(c, &id)
        })
        .await
    }

    /// `POST /v3/users/{id}/password`: the user proves the old password; their
    /// existing tokens are revoked.
    pub(crate) async fn user_password_change(
        &self,
        ctx: &RequestContext,
        id: String,
        change: PasswordChange,
    ) -> ApiResult<()> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&id))?;
        let uid = id.clone();
        let user = self
            .read(move |c| found(store::user_get(c, &uid)?, "user", &uid))
            .await?;
        let old_hash = user.password_hash.unwrap_or_default();
        let original = change.original_password;
        let ok = tokio::task::spawn_blocking(move || password::verify(&original, &old_hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(ApiError::Unauthorized(
                "The original password is not correct.".into(),
            ));
        }
        if change.password.is_empty() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'user/password': the password must not be empty.",
            ));
        }
        let hash = hash_password(change.password).await?;
        self.write(move |c| {
            let mut u = found(store::user_get(c, &id)?, "user", &id)?;
            u.password_hash = Some(hash);
            store::user_update(c, &u)?;
            revoke_user_tokens(c, &id)
        })
        .await
    }

    pub(crate) async fn user_groups(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<Group>> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&id))?;
        self.read(move |c| {
            found(store::user_get(c, &id)?, "user", &id)?;
            store::user_groups(c, &id)
        })
        .await
    }

    // --- groups -----------------------------------------------------------------

    pub(crate) async fn group_create(
        &self,
        ctx: &RequestContext,
        input: GroupInput,
    ) -> ApiResult<Group> {
        ctx.require_admin()?;
        let name = require(input.name, "name")?;
        check_name("group", &name)?;
        let ctx2 = ctx.clone();
        self.write(move |c| {
            let g = Group {
                id: new_id(),
                name,
                domain_id: domain_id_of(c, input.domain_id.as_deref(), &ctx2)?,
                description: input.description.unwrap_or_default(),
            };
            store::group_insert(c, &g)?;
            Ok(g)
        })
        .await
    }

    pub(crate) async fn group_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Group>> {
        ctx.require_admin()?;
        self.read(store::group_list).await
    }

    pub(crate) async fn group_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Group> {
        ctx.require_admin()?;
        self.read(move |c| found(store::group_get(c, &id)?, "group", &id))
            .await
    }

    pub(crate) async fn group_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: GroupInput,
    ) -> ApiResult<Group> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut g = found(store::group_get(c, &id)?, "group", &id)?;
            if let Some(name) = input.name {
                check_name("group", &name)?;
                g.name = name;
            }
            if let Some(v) = input.description {
                g.description = v;
            }
            store::group_update(c, &g)?;
            Ok(g)
        })
        .await
    }

    pub(crate) async fn group_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::group_get(c, &id)?, "group", &id)?;
            store::group_delete(c, &id)
        })
        .await
    }

    pub(crate) async fn group_users(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<User>> {
        ctx.require_admin()?;
        self.read(move |c| {
            found(store::group_get(c, &id)?, "group", &id)?;
            store::group_users(c, &id)
        })
        .await
    }

    /// PUT (`Some(true)`), DELETE (`Some(false)`) or HEAD (`None`) of a membership.
    pub(crate) async fn group_member(
        &self,
        ctx: &RequestContext,
        group_id: String,
        user_id: String,
        op: Option<bool>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let body = move |c: &Connection| -> ApiResult<()> {
            found(store::group_get(c, &group_id)?, "group", &group_id)?;
            found(store::user_get(c, &user_id)?, "user", &user_id)?;
            let present = match op {
                Some(true) => {
                    store::group_member_add(c, &group_id, &user_id)?;
                    true
                }
                Some(false) => store::group_member_remove(c, &group_id, &user_id)?,
                None => store::group_member_exists(c, &group_id, &user_id)?,
            };
            if present {
                Ok(())
            } else {
                Err(ApiError::Missing(format!(
                    "User '{user_id}' not found in group '{group_id}'."
                )))
            }
        };
        match op {
            None => self.read(move |c| body(c)).await,
            Some(_) => self.write(move |c| body(c)).await,
        }
    }

    // --- roles ------------------------------------------------------------------

    pub(crate) async fn role_create(
        &self,
        ctx: &RequestContext,
        input: RoleInput,
    ) -> ApiResult<Role> {
        ctx.require_admin()?;
        let name = require(input.name, "name")?;
        check_name("role", &name)?;
        self.write(move |c| {
            if let Some(d) = input.domain_id.as_deref() {
                found(store::domain_get(c, d)?, "domain", d)?;
            }
            let r = Role {
                id: new_id(),
                name,
                domain_id: input.domain_id,
                description: input.description.unwrap_or_default(),
            };
            store::role_insert(c, &r)?;
            Ok(r)
        })
        .await
    }

    pub(crate) async fn role_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Role>> {
        ctx.require_admin()?;
        self.read(store::role_list).await
    }

    pub(crate) async fn role_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Role> {
        ctx.require_admin()?;
        self.read(move |c| found(store::role_get(c, &id)?, "role", &id))
            .await
    }

    pub(crate) async fn role_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: RoleInput,
    ) -> ApiResult<Role> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut r = found(store::role_get(c, &id)?, "role", &id)?;
            if let Some(name) = input.name {
                check_name("role", &name)?;
                r.name = name;
            }
            if let Some(v) = input.description {
                r.description = v;
            }
            store::role_update(c, &r)?;
            Ok(r)
        })
        .await
    }

    pub(crate) async fn role_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::role_get(c, &id)?, "role", &id)?;
            store::role_delete(c, &id)
        })
        .await
    }

    /// PUT (`Some(true)`), DELETE (`Some(false)`) or GET/HEAD (`None`) of an implied role.
    pub(crate) async fn implied_role(
        &self,
        ctx: &RequestContext,
        prior: String,
        implied: String,
        op: Option<bool>,
    ) -> ApiResult<(Role, Role)> {
        ctx.require_admin()?;
        let body = move |c: &Connection| -> ApiResult<(Role, Role)> {
            let p = found(store::role_get(c, &prior)?, "role", &prior)?;
            let i = found(store::role_get(c, &implied)?, "role", &implied)?;
            let present = match op {
                Some(true) => {
                    // Keystone's InvalidImpliedRole (403): `admin` is never implied
                    // ([assignment] prohibited_implied_role), nor a domain-specific
                    // role by a global one.
                    if i.name == "admin" {
                        return Err(ApiError::Forbidden(format!(
                            "{} is not an allowed implied role.",
                            i.id
                        )));
                    }
                    if p.domain_id.is_none() && i.domain_id.is_some() {
                        return Err(ApiError::Forbidden(
                            "Global role cannot imply a domain-specific role.".into(),
                        ));
                    }
                    if p.id == i.id || implies(c, &i.id, &p.id)? {
                        return Err(ApiError::bad_request(
                            "An implied role may not create a cycle.",
                        ));
                    }
                    store::implied_role_add(c, &p.id, &i.id)?;
                    true
                }
                Some(false) => store::implied_role_remove(c, &p.id, &i.id)?,
                None => store::implied_role_list(c)?.contains(&(p.id.clone(), i.id.clone())),
            };
            if present {
                Ok((p, i))
            } else {
                Err(ApiError::Missing(format!(
                    "{prior} does not imply {implied}."
                )))
            }
        };
        match op {
            None => self.read(move |c| body(c)).await,
            Some(_) => self.write(move |c| body(c)).await,
        }
    }

    /// Every inference rule, as (prior role, implied roles).
    pub(crate) async fn role_inferences(
        &self,
        ctx: &RequestContext,
        prior: Option<String>,
    ) -> ApiResult<Vec<(Role, Vec<Role>)>> {
        ctx.require_admin()?;
        self.read(move |c| {
            if let Some(p) = &prior {
                found(store::role_get(c, p)?, "role", p)?;
            }
            let mut out: Vec<(Role, Vec<Role>)> = Vec::new();
            for (p, i) in store::implied_role_list(c)? {
                if prior.as_ref().is_some_and(|want| *want != p) {
                    continue;
                }
                let (Some(pr), Some(ir)) = (store::role_get(c, &p)?, store::role_get(c, &i)?)
                else {
                    continue;
                };
                match out.iter_mut().find(|(r, _)| r.id == pr.id) {
                    Some((_, list)) => list.push(ir),
                    None => out.push((pr, vec![ir])),
                }
            }
            Ok(out)
        })
        .await
    }

    // --- application credentials --------------------------------------------------

    pub(crate) async fn app_cred_create(
        &self,
        ctx: &RequestContext,
        user_id: String,
        input: AppCredInput,
    ) -> ApiResult<(AppCredential, String)> {
        let project_id = app_cred_creator_project(ctx, &user_id)?;
        check_name("application_credential", &input.name)?;
        let expires_at = match input.expires_at.as_deref() {
            None => None,
            Some(s) => Some(crate::http::time::parse(s)?),
        };
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(ApiError::bad_request(
                "The expiration time must be in the future.",
            ));
        }
        let roles = app_cred_roles(ctx, input.roles.as_deref())?;
        let secret = input
            .secret
            .clone()
            .unwrap_or_else(|| password::generate(64));
        let secret_hash = hash_password(secret.clone()).await?;
        let mut ac = AppCredential {
            id: new_id(),
            name: input.name,
            user_id,
            project_id,
            secret_hash,
            description: input.description.unwrap_or_default(),
            expires_at,
            unrestricted: input.unrestricted,
            roles,
            access_rules: Vec::new(),
        };
        let rules_in = input.access_rules.unwrap_or_default();
        let out = self
            .write(move |c| {
                ac.access_rules =
                    super::extensions::resolve_access_rules(c, &ac.user_id, rules_in)?;
                store::app_cred_insert(c, &ac)?;
                Ok(ac)
            })
            .await?;
        Ok((out, secret))
    }

    pub(crate) async fn app_cred_list(
        &self,
        ctx: &RequestContext,
        user_id: String,
        name: Option<String>,
    ) -> ApiResult<Vec<AppCredential>> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&user_id))?;
        self.read(move |c| {
            found(store::user_get(c, &user_id)?, "user", &user_id)?;
            let mut list = store::app_cred_list(c, &user_id)?;
            if let Some(n) = name {
                list.retain(|a| a.name == n);
            }
            Ok(list)
        })
        .await
    }

    pub(crate) async fn app_cred_get(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<AppCredential> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&user_id))?;
        self.read(move |c| {
            let ac = store::app_cred_get(c, &id)?.filter(|a| a.user_id == user_id);
            found(ac, "application credential", &id)
        })
        .await
    }

    pub(crate) async fn app_cred_delete(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<()> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(&user_id))?;
        if ctx
            .application_credential
            .as_ref()
            .is_some_and(|a| !a.unrestricted)
        {
            return Err(ApiError::forbidden());
        }
        self.write(move |c| {
            let ac = store::app_cred_get(c, &id)?.filter(|a| a.user_id == user_id);
            found(ac, "application credential", &id)?;
            store::app_cred_delete(c, &id)
        })
        .await
    }
}

fn implies(c: &Connection, from: &str, to: &str) -> ApiResult<bool> {
    let pairs = store::implied_role_list(c)?;
    let mut stack = vec![from.to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(r) = stack.pop() {
        if r == to {
            return Ok(true);
        }
        if seen.insert(r.clone()) {
            stack.extend(
                pairs
                    .iter()
                    .filter(|(p, _)| *p == r)
                    .map(|(_, i)| i.clone()),
            );
        }
    }
    Ok(false)
}

async fn hash_password(pw: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)
}
