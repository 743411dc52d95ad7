//! Role grants on projects, domains and the system, OS-INHERIT grants, and
//! `/v3/role_assignments` (Identity API v3: Roles, OS-INHERIT).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::handler::Handler;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodRouter, get, put};
use serde_json::{Value, json};

use super::{list_response, no_content, roles, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::identity::assignment::{AssignmentEntry, AssignmentFilter, Names};
use crate::identity::model::{ActorType, Assignment, SYSTEM_ALL, TargetType};

/// Which grant collection a route serves.
#[derive(Clone, Copy)]
struct GrantKind {
    target: TargetType,
    actor: ActorType,
    inherited: bool,
}

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/role_assignments", get(role_assignment_list))
        .merge(grant_routes())
        .merge(inherited_grant_routes())
        .merge(system_grant_routes())
}

/// The grants of `actor` on `target`; `inherited`: OS-INHERIT's, which reach the
/// projects below the target.
fn grant(target: TargetType, actor: ActorType, inherited: bool) -> GrantKind {
    GrantKind {
        target,
        actor,
        inherited,
    }
}

// The paths below are written out, not built, so that the route-coverage test,
// which reads the routers' source, sees each of them.

/// A user's or group's grants on a project or domain.
fn grant_routes() -> Router<Cloud> {
    use ActorType::{Group, User};
    use TargetType::{Domain, Project};
    let (pu, pg) = (grant(Project, User, false), grant(Project, Group, false));
    let (du, dg) = (grant(Domain, User, false), grant(Domain, Group, false));
    Router::new()
        .route(
            "/v3/projects/{target_id}/users/{actor_id}/roles",
            grant_list_methods(pu),
        )
        .route(
            "/v3/projects/{target_id}/users/{actor_id}/roles/{role_id}",
            grant_methods(pu),
        )
        .route(
            "/v3/projects/{target_id}/groups/{actor_id}/roles",
            grant_list_methods(pg),
        )
        .route(
            "/v3/projects/{target_id}/groups/{actor_id}/roles/{role_id}",
            grant_methods(pg),
        )
        .route(
            "/v3/domains/{target_id}/users/{actor_id}/roles",
            grant_list_methods(du),
        )
        .route(
            "/v3/domains/{target_id}/users/{actor_id}/roles/{role_id}",
            grant_methods(du),
        )
        .route(
            "/v3/domains/{target_id}/groups/{actor_id}/roles",
            grant_list_methods(dg),
        )
        .route(
            "/v3/domains/{target_id}/groups/{actor_id}/roles/{role_id}",
            grant_methods(dg),
        )
}

/// A user's or group's OS-INHERIT grants on a project or domain.
fn inherited_grant_routes() -> Router<Cloud> {
    use ActorType::{Group, User};
    use TargetType::{Domain, Project};
    let (pu, pg) = (grant(Project, User, true), grant(Project, Group, true));
    let (du, dg) = (grant(Domain, User, true), grant(Domain, Group, true));
    Router::new()
        .route(
            "/v3/OS-INHERIT/projects/{target_id}/users/{actor_id}/roles/inherited_to_projects",
            grant_list_methods(pu),
        )
        .route(
            "/v3/OS-INHERIT/projects/{target_id}/users/{actor_id}/roles/{role_id}/inherited_to_projects",
            grant_methods(pu),
        )
        .route(
            "/v3/OS-INHERIT/projects/{target_id}/groups/{actor_id}/roles/inherited_to_projects",
            grant_list_methods(pg),
        )
        .route(
            "/v3/OS-INHERIT/projects/{target_id}/groups/{actor_id}/roles/{role_id}/inherited_to_projects",
            grant_methods(pg),
        )
        .route(
            "/v3/OS-INHERIT/domains/{target_id}/users/{actor_id}/roles/inherited_to_projects",
            grant_list_methods(du),
        )
        .route(
            "/v3/OS-INHERIT/domains/{target_id}/users/{actor_id}/roles/{role_id}/inherited_to_projects",
            grant_methods(du),
        )
        .route(
            "/v3/OS-INHERIT/domains/{target_id}/groups/{actor_id}/roles/inherited_to_projects",
            grant_list_methods(dg),
        )
        .route(
            "/v3/OS-INHERIT/domains/{target_id}/groups/{actor_id}/roles/{role_id}/inherited_to_projects",
            grant_methods(dg),
        )
}

/// A user's or group's grants on the system: the paths name no target, since
/// there is only the one (`SYSTEM_ALL`).
fn system_grant_routes() -> Router<Cloud> {
    let (u, g) = (
        grant(TargetType::System, ActorType::User, false),
        grant(TargetType::System, ActorType::Group, false),
    );
    Router::new()
        .route(
            "/v3/system/users/{actor_id}/roles",
            system_grant_list_methods(u),
        )
        .route(
            "/v3/system/users/{actor_id}/roles/{role_id}",
            system_grant_methods(u),
        )
        .route(
            "/v3/system/groups/{actor_id}/roles",
            system_grant_list_methods(g),
        )
        .route(
            "/v3/system/groups/{actor_id}/roles/{role_id}",
            system_grant_methods(g),
        )
}

fn system_grant_list_methods(k: GrantKind) -> MethodRouter<Cloud> {
    get(
        move |s: State<Cloud>, c: Ctx, h: HeaderMap, Path(a): Path<String>| {
            grant_list(k, s, c, h, Path((SYSTEM_ALL.to_owned(), a)))
        },
    )
}

fn grant_list_methods(k: GrantKind) -> MethodRouter<Cloud> {
    get(move |s: State<Cloud>, c: Ctx, h: HeaderMap, p: GrantPath| grant_list(k, s, c, h, p))
}

fn grant_methods(k: GrantKind) -> MethodRouter<Cloud> {
    grant_op_methods(move |op: Op| {
        move |s: State<Cloud>, c: Ctx, p: RolePath| grant_op(k, s, c, p, op)
    })
}

fn system_grant_methods(k: GrantKind) -> MethodRouter<Cloud> {
    grant_op_methods(move |op: Op| {
        move |s: State<Cloud>, c: Ctx, Path((a, role)): Path<(String, String)>| {
            grant_op(k, s, c, Path((SYSTEM_ALL.to_owned(), a, role)), op)
        }
    })
}

/// PUT, HEAD, GET and DELETE on one grant, each answered by the handler `on`
/// makes for its operation.
fn grant_op_methods<H, T>(on: impl Fn(Op) -> H) -> MethodRouter<Cloud>
where
    H: Handler<T, Cloud>,
    T: 'static,
{
    put(on(Op::Put))
        .head(on(Op::Check))
        .get(on(Op::Check))
        .delete(on(Op::Delete))
}

type GrantPath = Path<(String, String)>;
type RolePath = Path<(String, String, String)>;

#[derive(Clone, Copy)]
enum Op {
    Put,
    Check,
    Delete,
}

/// `PUT|HEAD|DELETE .../{actor}/{actor_id}/roles/{role_id}`: 204, or 404 naming what is missing.
async fn grant_op(
    k: GrantKind,
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((target_id, actor_id, role_id)): Path<(String, String, String)>,
    op: Op,
) -> ApiResult<Response> {
    let a = Assignment {
        actor_type: k.actor,
        actor_id,
        target_type: k.target,
        target_id,
        role_id,
        inherited: k.inherited,
    };
    match op {
        Op::Put => cloud.identity.grant_put(&ctx, a).await?,
        Op::Check => cloud.identity.grant_check(&ctx, a).await?,
        Op::Delete => cloud.identity.grant_delete(&ctx, a).await?,
    }
    Ok(no_content())
}

async fn grant_list(
    k: GrantKind,
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((target_id, actor_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let list = cloud
        .identity
        .grant_list(&ctx, k.actor, actor_id, k.target, target_id, k.inherited)
        .await?;
    let items = list.iter().map(|r| roles::view(&h, r)).collect();
    list_response(&h, "roles", "roles", items, &HashMap::new(), &[])
}

fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no"))
}

/// `GET /v3/role_assignments`.
async fn role_assignment_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<axum::Json<Value>> {
    let filter = AssignmentFilter {
        user_id: q.get("user.id").cloned(),
        group_id: q.get("group.id").cloned(),
        role_id: q.get("role.id").cloned(),
        project_id: q.get("scope.project.id").cloned(),
        domain_id: q.get("scope.domain.id").cloned(),
        system: q.contains_key("scope.system"),
        inherited: q.get("scope.OS-INHERIT:inherited_to").map(|_| true),
        effective: flag(&q, "effective"),
    };
    if filter.effective && filter.group_id.is_some() {
        return Err(ApiError::bad_request(
            "Specifying group.id with effective is not allowed.",
        ));
    }
    let names = flag(&q, "include_names");
    let (entries, table) = cloud.identity.role_assignments(&ctx, filter).await?;
    let list: Vec<Value> = entries
        .iter()
        .map(|e| assignment_view(&h, e, names.then_some(&table)))
        .collect();
    Ok(axum::Json(json!({
        "role_assignments": list,
        "links": {"self": format!("{}/role_assignments", v3_url(&h)), "previous": null, "next": null},
    })))
}

fn domain_brief(table: &Names, id: &str) -> Value {
    let name = table
        .domains
        .get(id)
        .map(|d| d.name.clone())
        .unwrap_or_default();
    json!({"id": id, "name": name})
}

fn assignment_view(h: &HeaderMap, e: &AssignmentEntry, names: Option<&Names>) -> Value {
    let a = &e.assignment;
    let mut role = json!({"id": a.role_id});
    let mut actor = json!({"id": a.actor_id});
    let mut scope_target = json!({"id": a.target_id});
    if let Some(t) = names {
        if let Some(r) = t.roles.get(&a.role_id) {
            role["name"] = json!(r.name);
        }
        name_actor(&mut actor, a, t);
        name_scope_target(&mut scope_target, a, t);
    }
    let mut scope = match a.target_type {
        TargetType::Project => json!({"project": scope_target}),
        TargetType::Domain => json!({"domain": scope_target}),
        TargetType::System => json!({"system": {"all": true}}),
    };
    if a.inherited {
        scope["OS-INHERIT:inherited_to"] = json!("projects");
    }
    let (actor_key, links) = assignment_links(h, e);
    json!({"role": role, actor_key: actor, "scope": scope, "links": links})
}

/// `include_names`: the user's or group's name and its domain.
fn name_actor(actor: &mut Value, a: &Assignment, t: &Names) {
    let actor_domain = match a.actor_type {
        ActorType::User => t
            .users
            .get(&a.actor_id)
            .map(|u| (u.name.clone(), u.domain_id.clone())),
        ActorType::Group => t
            .groups
            .get(&a.actor_id)
            .map(|g| (g.name.clone(), g.domain_id.clone())),
    };
    if let Some((name, domain_id)) = actor_domain {
        actor["name"] = json!(name);
        actor["domain"] = domain_brief(t, &domain_id);
    }
}

/// `include_names`: the project's name and domain, or the domain's name.
fn name_scope_target(scope_target: &mut Value, a: &Assignment, t: &Names) {
    match a.target_type {
        TargetType::Project => {
            if let Some(p) = t.projects.get(&a.target_id) {
                scope_target["name"] = json!(p.name);
                scope_target["domain"] = domain_brief(t, &p.domain_id);
            }
        }
        TargetType::Domain => *scope_target = domain_brief(t, &a.target_id),
        TargetType::System => {}
    }
}

/// The assignment's links, and the key its actor is shown under: a grant that
/// reaches a user through a group (`effective`) is shown as the user's, linking
/// the group's grant and the membership, and an implied role links its prior role.
fn assignment_links(h: &HeaderMap, e: &AssignmentEntry) -> (&'static str, Value) {
    let a = &e.assignment;
    let base = v3_url(h);
    let target_seg = match a.target_type {
        TargetType::Project => format!("projects/{}", a.target_id),
        TargetType::Domain => format!("domains/{}", a.target_id),
        TargetType::System => "system".to_owned(),
    };
    let (actor_key, actor_seg) = match (a.actor_type, &e.via_group) {
        (_, Some(g)) => ("user", format!("groups/{g}")),
        (ActorType::User, None) => ("user", format!("users/{}", a.actor_id)),
        (ActorType::Group, None) => ("group", format!("groups/{}", a.actor_id)),
    };
    let mut links = json!({"assignment": format!("{base}/{target_seg}/{actor_seg}/roles/{}", e.prior_role.as_deref().unwrap_or(&a.role_id))});
    if let Some(g) = &e.via_group {
        links["membership"] = json!(format!("{base}/groups/{g}/users/{}", a.actor_id));
    }
    if let Some(p) = &e.prior_role {
        links["prior_role"] = json!(format!("{base}/roles/{p}"));
    }
    (actor_key, links)
}
