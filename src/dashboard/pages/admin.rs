//! Admin pages: hypervisors, all instances, flavors, projects, users. The services'
//! policy refuses a non-admin token; the pages also answer 403 before asking when
//! the session's token carries no admin role.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::super::backend::ApiFailure;
use super::super::session::Session;
use super::super::view::{Cell, Table, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::panel;

async fn admin_session(d: &Dash, headers: &HeaderMap) -> Result<Session, PageError> {
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
pub async fn hypervisors(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
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
pub async fn instances(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
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
pub async fn flavors(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d
        .backend
        .get(&sess.token, "/compute/v2.1/flavors/detail?is_public=None")
        .await?;
    let mut t = Table::new(
        "flavors",
        "Flavors",
        vec!["Name", "ID", "vCPUs", "RAM (MB)", "Disk (GB)", "Public"],
    );
    for f in list(&v, "flavors") {
        t.row(
            s(f, "id"),
            vec![
                Cell::from(s(f, "name")),
                Cell::from(s(f, "id")),
                Cell::from(text(f, "vcpus")),
                Cell::from(text(f, "ram")),
                Cell::from(text(f, "disk")),
                Cell::from(text(f, "os-flavor-access:is_public")),
            ],
            vec![],
        );
    }
    panel(&d, &sess, "admin-flavors", "Flavors", vec![], vec![t], None).await
}

/// `GET /dashboard/admin/projects`.
pub async fn projects(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d.backend.get(&sess.token, "/identity/v3/projects").await?;
    let mut t = Table::new(
        "projects",
        "Projects",
        vec!["Name", "ID", "Domain", "Enabled", "Description"],
    );
    for p in list(&v, "projects") {
        t.row(s(p, "id"), identity_cells(p, "name"), vec![]);
    }
    panel(
        &d,
        &sess,
        "admin-projects",
        "Projects",
        vec![],
        vec![t],
        None,
    )
    .await
}

/// `GET /dashboard/admin/users`.
pub async fn users(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let v = d.backend.get(&sess.token, "/identity/v3/users").await?;
    let mut t = Table::new(
        "users",
        "Users",
        vec!["Name", "ID", "Domain", "Enabled", "Email"],
    );
    for u in list(&v, "users") {
        let mut cells = identity_cells(u, "name");
        cells.pop();
        cells.push(Cell::from(s(u, "email")));
        t.row(s(u, "id"), cells, vec![]);
    }
    panel(&d, &sess, "admin-users", "Users", vec![], vec![t], None).await
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
