//! Role assignments: grants on projects, domains and the system, and the
//! `/v3/role_assignments` report with group, inheritance and implied-role expansion.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use super::model::*;
use super::{Identity, found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

/// The assignment keys (`type:id:inherited`) that give roles on a project: direct,
/// inherited from its domain, and inherited from every ancestor project.
pub(super) fn project_targets(c: &Connection, project: &Project) -> ApiResult<Vec<String>> {
    let mut keys = vec![
        format!("project:{}:0", project.id),
        format!("domain:{}:1", project.domain_id),
    ];
    let mut parent = project.parent_id.clone();
    let mut seen = HashSet::new();
    while let Some(pid) = parent {
        if !seen.insert(pid.clone()) {
            break;
        }
        keys.push(format!("project:{pid}:1"));
        parent = store::project_get(c, &pid)?.and_then(|p| p.parent_id);
    }
    Ok(keys)
}

/// Checks that the actor, target and role of a grant exist, so a PUT on a missing
/// one is a 404 naming what is missing.
fn check_grant_parts(c: &Connection, a: &Assignment) -> ApiResult<()> {
    match a.actor_type {
        ActorType::User => {
            found(store::user_get(c, &a.actor_id)?, "user", &a.actor_id).map(drop)?
        }
        ActorType::Group => {
            found(store::group_get(c, &a.actor_id)?, "group", &a.actor_id).map(drop)?
        }
    }
    match a.target_type {
        TargetType::Project => found(
            store::project_get(c, &a.target_id)?,
            "project",
            &a.target_id,
        )
        .map(drop)?,
        TargetType::Domain => {
            found(store::domain_get(c, &a.target_id)?, "domain", &a.target_id).map(drop)?
        }
        TargetType::System => {}
    }
    found(store::role_get(c, &a.role_id)?, "role", &a.role_id).map(drop)
}

/// Filters of `GET /v3/role_assignments`.
#[derive(Debug, Default, Clone)]
pub(crate) struct AssignmentFilter {
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    pub role_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub system: bool,
    pub inherited: Option<bool>,
    pub effective: bool,
}

/// One row of the role assignment report.
#[derive(Debug, Clone)]
pub(crate) struct AssignmentEntry {
    pub assignment: Assignment,
    /// Set when an effective user assignment comes from this group.
    pub via_group: Option<String>,
    /// Set when the role is implied by this prior role.
    pub prior_role: Option<String>,
}

/// Names for `include_names`.
#[derive(Default)]
pub(crate) struct Names {
    pub users: HashMap<String, User>,
    pub groups: HashMap<String, Group>,
    pub projects: HashMap<String, Project>,
    pub domains: HashMap<String, Domain>,
    pub roles: HashMap<String, Role>,
}

impl Identity {
    pub(crate) async fn grant_put(&self, ctx: &RequestContext, a: Assignment) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            check_grant_parts(c, &a)?;
            store::assignment_add(c, &a)
        })
        .await
    }

    pub(crate) async fn grant_check(&self, ctx: &RequestContext, a: Assignment) -> ApiResult<()> {
        may_read_grants(ctx, a.actor_type, &a.actor_id)?;
        self.read(move |c| {
            check_grant_parts(c, &a)?;
            if store::assignment_exists(c, &a)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!(
                    "Could not find role assignment with role: {}, {}: {}, {}: {}.",
                    a.role_id,
                    a.actor_type.as_str(),
                    a.actor_id,
                    a.target_type.as_str(),
                    a.target_id
                )))
            }
        })
        .await
    }

    pub(crate) async fn grant_delete(&self, ctx: &RequestContext, a: Assignment) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            check_grant_parts(c, &a)?;
            if store::assignment_remove(c, &a)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!(
                    "Could not find role assignment with role: {}.",
                    a.role_id
                )))
            }
        })
        .await
    }

    /// Roles granted directly to an actor on a target (`GET .../roles`).
    pub(crate) async fn grant_list(
        &self,
        ctx: &RequestContext,
        actor_type: ActorType,
        actor_id: String,
        target_type: TargetType,
        target_id: String,
        inherited: bool,
    ) -> ApiResult<Vec<Role>> {
        may_read_grants(ctx, actor_type, &actor_id)?;
        self.read(move |c| {
            match actor_type {
                ActorType::User => {
                    found(store::user_get(c, &actor_id)?, "user", &actor_id).map(drop)?
                }
                ActorType::Group => {
                    found(store::group_get(c, &actor_id)?, "group", &actor_id).map(drop)?
                }
            }
            let mut roles = Vec::new();
            for a in store::assignment_list(c)? {
                let same_grant = a.actor_type == actor_type
                    && a.actor_id == actor_id
                    && a.target_type == target_type
                    && a.target_id == target_id
                    && a.inherited == inherited;
                if let Some(r) = same_grant
                    .then(|| store::role_get(c, &a.role_id))
                    .transpose()?
                    .flatten()
                {
                    roles.push(r);
                }
            }
            Ok(roles)
        })
        .await
    }

    /// `GET /v3/role_assignments`.
    pub(crate) async fn role_assignments(
        &self,
        ctx: &RequestContext,
        filter: AssignmentFilter,
    ) -> ApiResult<(Vec<AssignmentEntry>, Names)> {
        // Keystone's `identity:list_role_assignments`: a system reader; a user's
        // own assignments; a project reader's view of its project.
        let target = Target {
            user: filter.user_id.as_deref(),
            project: filter.project_id.as_deref(),
            ..Target::default()
        };
        if !(policy::IDENTITY_READER_OR_OWNER.allows_target(ctx, target)
            || (target.project.is_some()
                && policy::PROJECT_READER_OR_ADMIN.allows_target(ctx, target)))
        {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| list_assignments(c, &filter)).await
    }

    /// Projects a user may scope to (`/v3/users/{id}/projects`, `/v3/auth/projects`).
    pub(crate) async fn user_projects(
        &self,
        ctx: &RequestContext,
        user_id: String,
    ) -> ApiResult<Vec<Project>> {
        policy::IDENTITY_READER_OR_OWNER.enforce_target(ctx, Target::user(&user_id))?;
        self.read(move |c| {
            found(store::user_get(c, &user_id)?, "user", &user_id)?;
            store::projects_with_roles(c, &user_id)
        })
        .await
    }

    pub(crate) async fn user_domains(&self, ctx: &RequestContext) -> ApiResult<Vec<Domain>> {
        let uid = ctx.user.id.clone();
        self.read(move |c| store::domains_with_roles(c, &uid)).await
    }

    /// Whether the caller holds any role on the system (`/v3/auth/system`).
    pub(crate) async fn user_has_system_roles(&self, ctx: &RequestContext) -> ApiResult<bool> {
        let uid = ctx.user.id.clone();
        self.read(move |c| {
            Ok(!store::effective_roles(c, &uid, &[format!("system:{SYSTEM_ALL}:0")])?.is_empty())
        })
        .await
    }
}

fn list_assignments(
    c: &Connection,
    f: &AssignmentFilter,
) -> ApiResult<(Vec<AssignmentEntry>, Names)> {
    let names = Names {
        users: store::user_list(c)?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect(),
        groups: store::group_list(c)?
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect(),
        projects: store::project_list(c)?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect(),
        domains: store::domain_list(c)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect(),
        roles: store::role_list(c)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect(),
    };
    let mut entries: Vec<AssignmentEntry> = store::assignment_list(c)?
        .into_iter()
        .map(|assignment| AssignmentEntry {
            assignment,
            via_group: None,
            prior_role: None,
        })
        .collect();
    if f.effective {
        entries = expand_groups(c, entries)?;
        entries = expand_inheritance(entries, &names.projects);
        entries = expand_implied(entries, &store::implied_role_list(c)?);
        // Domain-specific roles only stand for the global roles they imply: they are
        // never effective themselves (as in tokens).
        entries.retain(|e| {
            names
                .roles
                .get(&e.assignment.role_id)
                .is_none_or(|r| r.domain_id.is_none())
        });
    }
    entries.retain(|e| matches(e, f));
    let mut seen = HashSet::new();
    entries.retain(|e| {
        seen.insert((
            e.assignment.clone(),
            e.via_group.clone(),
            e.prior_role.clone(),
        ))
    });
    Ok((entries, names))
}

fn matches(e: &AssignmentEntry, f: &AssignmentFilter) -> bool {
    let a = &e.assignment;
    let actor_ok = |t: ActorType, want: &Option<String>| {
        want.as_ref()
            .is_none_or(|id| a.actor_type == t && &a.actor_id == id)
    };
    let target_ok = |t: TargetType, want: &Option<String>| {
        want.as_ref()
            .is_none_or(|id| a.target_type == t && &a.target_id == id)
    };
    actor_ok(ActorType::User, &f.user_id)
        && actor_ok(ActorType::Group, &f.group_id)
        && f.role_id.as_ref().is_none_or(|r| &a.role_id == r)
        && target_ok(TargetType::Project, &f.project_id)
        && target_ok(TargetType::Domain, &f.domain_id)
        && (!f.system || a.target_type == TargetType::System)
        && f.inherited.is_none_or(|i| a.inherited == i)
}

fn expand_groups(c: &Connection, entries: Vec<AssignmentEntry>) -> ApiResult<Vec<AssignmentEntry>> {
    let mut out = Vec::new();
    for e in entries {
        if e.assignment.actor_type == ActorType::Group {
            for user in store::group_users(c, &e.assignment.actor_id)? {
                out.push(AssignmentEntry {
                    assignment: Assignment {
                        actor_type: ActorType::User,
                        actor_id: user.id,
                        ..e.assignment.clone()
                    },
                    via_group: Some(e.assignment.actor_id.clone()),
                    prior_role: None,
                });
            }
        } else {
            out.push(e);
        }
    }
    Ok(out)
}

/// Replaces inherited assignments by their effect on each project below the target.
fn expand_inheritance(
    entries: Vec<AssignmentEntry>,
    projects: &HashMap<String, Project>,
) -> Vec<AssignmentEntry> {
    let below = |e: &Assignment| -> Vec<String> {
        projects
            .values()
            .filter(|p| match e.target_type {
                TargetType::Domain => p.domain_id == e.target_id,
                TargetType::Project => is_descendant(p, &e.target_id, projects),
                TargetType::System => false,
            })
            .map(|p| p.id.clone())
            .collect()
    };
    let mut out = Vec::new();
    for e in entries {
        if !e.assignment.inherited {
            out.push(e);
            continue;
        }
        let mut ids = below(&e.assignment);
        ids.sort();
        for pid in ids {
            out.push(AssignmentEntry {
                assignment: Assignment {
                    target_type: TargetType::Project,
                    target_id: pid,
                    inherited: false,
                    ..e.assignment.clone()
                },
                ..e.clone()
            });
        }
    }
    out
}

fn is_descendant(p: &Project, ancestor: &str, projects: &HashMap<String, Project>) -> bool {
    let mut cur = p.parent_id.as_deref();
    let mut hops = 0;
    while let Some(id) = cur {
        if id == ancestor {
            return true;
        }
        hops += 1;
        if hops > 64 {
            return false;
        }
        cur = projects.get(id).and_then(|q| q.parent_id.as_deref());
    }
    false
}

fn expand_implied(
    entries: Vec<AssignmentEntry>,
    implied: &[(String, String)],
) -> Vec<AssignmentEntry> {
    let mut out = Vec::new();
    for e in entries {
        let mut frontier = vec![e.assignment.role_id.clone()];
        let mut seen: HashSet<String> = frontier.iter().cloned().collect();
        out.push(e.clone());
        while let Some(prior) = frontier.pop() {
            for (_, child) in implied.iter().filter(|(p, _)| *p == prior) {
                if seen.insert(child.clone()) {
                    frontier.push(child.clone());
                    out.push(AssignmentEntry {
                        assignment: Assignment {
                            role_id: child.clone(),
                            ..e.assignment.clone()
                        },
                        via_group: e.via_group.clone(),
                        prior_role: Some(prior.clone()),
                    });
                }
            }
        }
    }
    out
}

/// Keystone's `identity:check_grant` / `list_grants`: a system reader, or the user
/// the grants are of.
fn may_read_grants(ctx: &RequestContext, actor_type: ActorType, actor_id: &str) -> ApiResult<()> {
    let user = (actor_type == ActorType::User).then_some(actor_id);
    policy::IDENTITY_READER_OR_OWNER.enforce_target(
        ctx,
        Target {
            user,
            ..Target::default()
        },
    )
}
