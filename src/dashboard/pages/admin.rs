//! Admin pages: hypervisors, all instances, flavors (with extra specs), images,
//! networks, projects, users, groups, roles and assignments and system
//! information; the forms and edit pages that change them, and the routers page,
//! are in `admin_edit`, the quotas in `quotas`. The services' policy refuses a non-admin token; the pages also
//! answer 403 before asking when the session's token carries no admin role.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::super::backend::ApiFailure;
use super::super::session::Session;
use super::super::view::{Action, Cell, Form as UiForm, Table, link, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::admin_edit;
use super::panel;

pub(super) async fn admin_session(d: &Dash, headers: &HeaderMap) -> Result<Session, PageError> {
    let sess = d.session(headers).await?;
    if !sess.is_admin {
        return Err(PageError::Api(ApiFailure {
            status: StatusCode::FORBIDDEN,
            message: "This page is for cloud administrators (the admin role).".into(),
        }));
    }
    Ok(sess)
}

/// `GET /dashboard/admin/hypervisors`: the compute node and its usage.
pub(super) async fn hypervisors(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d
        .backend
        .get(&sess.token, "/compute/v2.1/os-hypervisors/detail")
        .await?;
    let mut t = Table::new(
        "hypervisors",
        "Hypervisors",
        vec![
            "Host",
            "Type",
            "State",
            "Status",
            "vCPUs (used/total)",
            "RAM MB (used/total)",
            "Disk GB (used/total)",
            "Instances",
        ],
    );
    for h in list(&v, "hypervisors") {
        let pair = |u: &str, tot: &str| format!("{} / {}", text(h, u), text(h, tot));
        t.row(
            &text(h, "id"),
            vec![
                Cell::from(s(h, "hypervisor_hostname")),
                Cell::from(s(h, "hypervisor_type")),
                status(s(h, "state")),
                status(s(h, "status")),
                Cell::from(pair("vcpus_used", "vcpus")),
                Cell::from(pair("memory_mb_used", "memory_mb")),
                Cell::from(pair("local_gb_used", "local_gb")),
                Cell::from(text(h, "running_vms")),
            ],
            vec![],
        );
    }
    panel(
        &d,
        &sess,
        "admin-hypervisors",
        "Hypervisors",
        vec![],
        vec![t],
        None,
    )
    .await
}

/// `GET /dashboard/admin/instances`: every project's servers.
pub(super) async fn instances(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d
        .backend
        .get(&sess.token, "/compute/v2.1/servers/detail?all_tenants=1")
        .await?;
    let projects = d
        .backend
        .get(&sess.token, "/identity/v3/projects")
        .await
        .unwrap_or_default();
    let pname = |id: &str| {
        list(&projects, "projects")
            .iter()
            .find(|p| s(p, "id") == id)
            .map_or(id.to_owned(), |p| s(p, "name").to_owned())
    };
    let mut t = Table::new(
        "all-instances",
        "All Instances",
        vec!["Project", "Host", "Name", "Status", "Task"],
    );
    for sv in list(&v, "servers") {
        t.row(
            s(sv, "id"),
            vec![
                Cell::from(pname(s(sv, "tenant_id"))),
                Cell::from(s(sv, "OS-EXT-SRV-ATTR:host")),
                Cell::from(s(sv, "name")),
                status(s(sv, "status")),
                Cell::from(text(sv, "OS-EXT-STS:task_state")),
            ],
            vec![],
        );
    }
    panel(
        &d,
        &sess,
        "admin-instances",
        "All Instances",
        vec![],
        vec![t],
        None,
    )
    .await
}

/// `GET /dashboard/admin/flavors`: public and private flavors.
pub(super) async fn flavors(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d
        .backend
        .get(&sess.token, "/compute/v2.1/flavors/detail?is_public=None")
        .await?;
    let mut t = Table::new(
        "flavors",
        "Flavors",
        vec![
            "Name",
            "ID",
            "vCPUs",
            "RAM (MB)",
            "Disk (GB)",
            "Public",
            "Extra specs",
        ],
    );
    let flavors = list(&v, "flavors");
    let ids: Vec<String> = flavors.iter().map(|f| s(f, "id").to_owned()).collect();
    let specs = extra_specs(&d, &sess.token, &ids).await;
    for (f, spec) in flavors.iter().zip(specs) {
        let here = edit_href("flavors", s(f, "id"));
        t.row(
            s(f, "id"),
            vec![
                link(s(f, "name"), here.clone()),
                Cell::from(s(f, "id")),
                Cell::from(text(f, "vcpus")),
                Cell::from(text(f, "ram")),
                Cell::from(text(f, "disk")),
                Cell::from(text(f, "os-flavor-access:is_public")),
                Cell::from(spec),
            ],
            vec![delete(&here)],
        );
    }
    panel(
        &d,
        &sess,
        "admin-flavors",
        "Flavors",
        vec![admin_edit::flavor_form()],
        vec![t],
        None,
    )
    .await
}

/// `GET /dashboard/admin/projects`.
pub(super) async fn projects(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d.backend.get(&sess.token, "/identity/v3/projects").await?;
    let mut t = Table::new(
        "projects",
        "Projects",
        vec!["Name", "ID", "Domain", "Enabled", "Description", "Quotas"],
    );
    for p in list(&v, "projects") {
        let here = edit_href("projects", s(p, "id"));
        let mut cells = identity_cells(p, "name");
        cells[0] = link(s(p, "name"), here.clone());
        cells.push(link("Quotas", format!("{here}/quotas")));
        t.row(s(p, "id"), cells, vec![delete(&here)]);
    }
    panel(
        &d,
        &sess,
        "admin-projects",
        "Projects",
        vec![admin_edit::project_form()],
        vec![t],
        None,
    )
    .await
}

/// `GET /dashboard/admin/users`.
pub(super) async fn users(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d.backend.get(&sess.token, "/identity/v3/users").await?;
    let mut t = Table::new(
        "users",
        "Users",
        vec!["Name", "ID", "Domain", "Enabled", "Email"],
    );
    for u in list(&v, "users") {
        let here = edit_href("users", s(u, "id"));
        let mut cells = identity_cells(u, "name");
        cells[0] = link(s(u, "name"), here.clone());
        cells.pop();
        cells.push(Cell::from(s(u, "email")));
        t.row(s(u, "id"), cells, vec![delete(&here)]);
    }
    let create = admin_edit::user_form(&d, &sess.token).await;
    panel(
        &d,
        &sess,
        "admin-users",
        "Users",
        vec![create],
        vec![t],
        None,
    )
    .await
}

/// The edit page of an admin list's item (an id that cannot be a path segment gets
/// none: such an item has no page).
fn edit_href(kind: &str, id: &str) -> String {
    match super::segment(id) {
        Ok(seg) => format!("/dashboard/admin/{kind}/{seg}"),
        Err(_) => format!("/dashboard/admin/{kind}"),
    }
}

/// A row's Delete button, posting to `{here}/delete`.
fn delete(here: &str) -> Action {
    Action::new("Delete", format!("{here}/delete")).danger()
}

fn identity_cells(v: &Value, name: &str) -> Vec<Cell> {
    vec![
        Cell::from(s(v, name)),
        Cell::from(s(v, "id")),
        Cell::from(s(v, "domain_id")),
        Cell::from(text(v, "enabled")),
        Cell::from(s(v, "description")),
    ]
}

/// An admin page that is one table of one API list: `path`'s `key` array, a row
/// of `cells` per item; with `create`, that form above it and a Delete button
/// (`/dashboard/admin/{kind}/{id}/delete`) on each row.
async fn listing(
    d: &Dash,
    headers: &HeaderMap,
    (active, title): (&str, &str),
    (path, key): (&str, &str),
    columns: Vec<&'static str>,
    cells: impl Fn(&Value) -> Vec<Cell>,
    create: Option<(&str, UiForm)>,
) -> PageResult {
    let sess = admin_session(d, headers).await?;
    let v = d.backend.get(&sess.token, path).await?;
    let mut t = Table::new(active.trim_start_matches("admin-"), title, columns);
    for item in list(&v, key) {
        let id = text(item, "id");
        let actions = match &create {
            Some((kind, _)) => vec![delete(&edit_href(kind, &id))],
            None => vec![],
        };
        t.row(&id, cells(item), actions);
    }
    let forms = create.map(|(_, f)| f).into_iter().collect();
    panel(d, &sess, active, title, forms, vec![t], None).await
}

/// `GET /dashboard/admin/groups`.
pub(super) async fn groups(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    listing(
        &d,
        &headers,
        ("admin-groups", "Groups"),
        ("/identity/v3/groups", "groups"),
        vec!["Name", "ID", "Domain", "Description"],
        |g| {
            vec![
                Cell::from(s(g, "name")),
                Cell::from(s(g, "id")),
                Cell::from(s(g, "domain_id")),
                Cell::from(s(g, "description")),
            ]
        },
        Some(("groups", admin_edit::group_form())),
    )
    .await
}

/// `GET /dashboard/admin/roles`: the roles, and who holds which where (the role
/// assignments, with names).
pub(super) async fn roles(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let t = &sess.token;
    let (roles, assignments) = tokio::join!(
        d.backend.get(t, "/identity/v3/roles"),
        d.backend
            .get(t, "/identity/v3/role_assignments?include_names=true"),
    );
    let (roles, assignments) = (roles?, assignments?);
    let mut rt = Table::new("roles", "Roles", vec!["Name", "ID", "Domain"]);
    for r in list(&roles, "roles") {
        rt.row(
            s(r, "id"),
            vec![
                Cell::from(s(r, "name")),
                Cell::from(s(r, "id")),
                Cell::from(s(r, "domain_id")),
            ],
            vec![delete(&edit_href("roles", s(r, "id")))],
        );
    }
    let at = role_assignments_table(&assignments);
    panel(
        &d,
        &sess,
        "admin-roles",
        "Roles",
        vec![admin_edit::role_form()],
        vec![rt, at],
        None,
    )
    .await
}

/// Every role assignment: the role, who holds it, where, and whether inherited.
fn role_assignments_table(assignments: &Value) -> Table {
    let mut at = Table::new(
        "role-assignments",
        "Role Assignments",
        vec!["Role", "User or group", "On", "Inherited"],
    );
    let name = |v: &Value| match s(v, "name") {
        "" => s(v, "id").to_owned(),
        n => n.to_owned(),
    };
    for (i, a) in list(assignments, "role_assignments").iter().enumerate() {
        let who = if a.get("user").is_some() {
            format!("user {}", name(&a["user"]))
        } else {
            format!("group {}", name(&a["group"]))
        };
        let scope = &a["scope"];
        let on = if let Some(p) = scope.get("project") {
            format!("project {}", name(p))
        } else if let Some(dm) = scope.get("domain") {
            format!("domain {}", name(dm))
        } else if scope.get("system").is_some() {
            "system".to_owned()
        } else {
            String::new()
        };
        let inherited = if scope.get("OS-INHERIT:inherited_to").is_some() {
            "yes"
        } else {
            "no"
        };
        at.row(
            &i.to_string(),
            vec![
                Cell::from(name(&a["role"])),
                Cell::from(who),
                Cell::from(on),
                Cell::from(inherited),
            ],
            vec![],
        );
    }
    at
}

/// `GET /dashboard/admin/images`: every project's images, each with its edit page.
pub(super) async fn images(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d
        .backend
        .get(&sess.token, "/image/v2/images?limit=1000")
        .await?;
    let mut t = Table::new(
        "images",
        "Images",
        vec![
            "Project",
            "Name",
            "Status",
            "Visibility",
            "Disk format",
            "Protected",
        ],
    );
    for i in list(&v, "images") {
        let here = edit_href("images", s(i, "id"));
        t.row(
            s(i, "id"),
            vec![
                Cell::from(s(i, "owner")),
                link(s(i, "name"), here.clone()),
                status(s(i, "status")),
                Cell::from(s(i, "visibility")),
                Cell::from(s(i, "disk_format")),
                Cell::from(text(i, "protected")),
            ],
            vec![delete(&here)],
        );
    }
    panel(&d, &sess, "admin-images", "Images", vec![], vec![t], None).await
}

/// `GET /dashboard/admin/networks`: every project's networks, a create form for
/// any project (shared, external) and each network's edit page.
pub(super) async fn networks(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let (v, create) = tokio::join!(
        d.backend.get(&sess.token, "/networking/v2.0/networks"),
        admin_edit::network_form(&d, &sess.token),
    );
    let v = v?;
    let mut t = Table::new(
        "networks",
        "Networks",
        vec!["Project", "Name", "Shared", "External", "Status"],
    );
    for n in list(&v, "networks") {
        let here = edit_href("networks", s(n, "id"));
        t.row(
            s(n, "id"),
            vec![
                Cell::from(s(n, "project_id")),
                link(s(n, "name"), here.clone()),
                Cell::from(text(n, "shared")),
                Cell::from(text(n, "router:external")),
                status(s(n, "status")),
            ],
            vec![delete(&here)],
        );
    }
    panel(
        &d,
        &sess,
        "admin-networks",
        "Networks",
        vec![create],
        vec![t],
        None,
    )
    .await
}

/// Each flavor's extra specs as `key=value, ...` (one call per flavor, all at
/// once: the flavor list at this microversion does not carry them).
async fn extra_specs(d: &Dash, token: &str, ids: &[String]) -> Vec<String> {
    futures_util::future::join_all(ids.iter().map(|id| async move {
        let Ok(id) = super::segment(id) else {
            return String::new();
        };
        match d
            .backend
            .get(token, format!("/compute/v2.1/flavors/{id}/os-extra_specs"))
            .await
        {
            Ok(v) => v["extra_specs"].as_object().map_or(String::new(), |m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            Err(_) => String::new(),
        }
    }))
    .await
}

/// `GET /dashboard/admin/info`: system information — the catalog's services and
/// endpoints, the compute and volume services and the network agents, with state.
pub(super) async fn info(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let t = &sess.token;
    let (catalog, compute, volume, agents) = tokio::join!(
        d.backend.get(t, "/identity/v3/auth/catalog"),
        d.backend.get(t, "/compute/v2.1/os-services"),
        d.backend.get(t, "/volume/v3/os-services"),
        d.backend.get(t, "/networking/v2.0/agents"),
    );
    let tables = vec![
        catalog_table(&catalog.unwrap_or_default()),
        service_states_table(compute.unwrap_or_default(), volume.unwrap_or_default()),
        agents_table(&agents.unwrap_or_default()),
    ];
    panel(
        &d,
        &sess,
        "admin-info",
        "System Information",
        vec![],
        tables,
        None,
    )
    .await
}

/// The catalog's services with their public endpoints.
fn catalog_table(catalog: &Value) -> Table {
    let mut cat = Table::new(
        "services",
        "Services",
        vec!["Name", "Type", "Region", "Public endpoint"],
    );
    for sv in list(catalog, "catalog") {
        let ep = list(sv, "endpoints")
            .iter()
            .find(|e| s(e, "interface") == "public");
        cat.row(
            s(sv, "id"),
            vec![
                Cell::from(s(sv, "name")),
                Cell::from(s(sv, "type")),
                Cell::from(ep.map_or("", |e| s(e, "region"))),
                Cell::from(ep.map_or("", |e| s(e, "url"))),
            ],
            vec![],
        );
    }
    cat
}

/// The compute and volume services with their status and state.
fn service_states_table(compute: Value, volume: Value) -> Table {
    let mut svc = Table::new(
        "service-states",
        "Compute and Block Storage Services",
        vec!["Name", "Host", "Zone", "Status", "State", "Updated"],
    );
    for (kind, v) in [("compute", compute), ("volume", volume)] {
        for x in list(&v, "services") {
            svc.row(
                &format!("{kind}-{}", text(x, "id")),
                vec![
                    Cell::from(s(x, "binary")),
                    Cell::from(s(x, "host")),
                    Cell::from(s(x, "zone")),
                    status(s(x, "status")),
                    status(s(x, "state")),
                    Cell::from(s(x, "updated_at")),
                ],
                vec![],
            );
        }
    }
    svc
}

/// The network agents, alive and administratively up or down.
fn agents_table(agents: &Value) -> Table {
    let mut ag = Table::new(
        "agents",
        "Network Agents",
        vec!["Type", "Binary", "Host", "Alive", "State"],
    );
    for a in list(agents, "agents") {
        ag.row(
            s(a, "id"),
            vec![
                Cell::from(s(a, "agent_type")),
                Cell::from(s(a, "binary")),
                Cell::from(s(a, "host")),
                Cell::from(text(a, "alive")),
                Cell::from(if a["admin_state_up"] == Value::Bool(false) {
                    "down"
                } else {
                    "up"
                }),
            ],
            vec![],
        );
    }
    ag
}
