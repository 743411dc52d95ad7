//! The dashboard's routes and what every page shares: the session check, the
//! header's project switcher and the panel list.

mod access;
mod admin;
mod admin_edit;
mod auth;
mod compute;
mod network;
mod object;
mod orchestration;
mod quotas;
mod storage;

use axum::Router;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use serde_json::{Value, json};

use super::session::Session;
use super::session::csrf_matches;
use super::view::{Form, FormData, Table, list, s};
use super::{Dash, PageError, PageResult, render};
use crate::profile::ServiceName;

/// The dashboard's routes, one group per panel.
pub(super) fn routes() -> Router<Dash> {
    Router::new()
        .route("/", get(home))
        .route("/static/{file}", get(asset))
        .merge(auth_routes())
        .merge(instance_routes())
        .merge(image_routes())
        .merge(volume_routes())
        .merge(network_routes())
        .merge(security_group_routes())
        .merge(floating_ip_routes())
        .merge(container_routes())
        .merge(stack_routes())
        .merge(admin_compute_routes())
        .merge(admin_identity_routes())
        .merge(admin_network_routes())
        .merge(admin_info_routes())
}

/// The login, logout and project-switch forms.
fn auth_routes() -> Router<Dash> {
    Router::new()
        .route("/auth/login", get(auth::login_page).post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/switch", post(auth::switch_project))
}

/// The Overview and the Compute panels: instances and key pairs.
fn instance_routes() -> Router<Dash> {
    Router::new()
        .route("/project/overview", get(compute::overview))
        .route(
            "/project/instances",
            get(compute::instances).post(compute::instance_launch),
        )
        .route("/project/instances/launch", get(compute::launch_page))
        .route("/project/instances/{id}", get(compute::instance_detail))
        .route(
            "/project/instances/{id}/action",
            post(compute::instance_action),
        )
        .route(
            "/project/instances/{id}/console",
            post(compute::instance_console),
        )
        .route(
            "/project/key-pairs",
            get(compute::keypairs).post(compute::keypair_create),
        )
        .route(
            "/project/key-pairs/{name}/delete",
            post(compute::keypair_delete),
        )
}

/// The project Images panel.
fn image_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/images",
            get(storage::images).post(storage::image_create),
        )
        .route("/project/images/{id}/data", put(storage::image_upload))
        .route(
            "/project/images/{id}/download",
            get(storage::image_download),
        )
        .route("/project/images/{id}/delete", post(storage::image_delete))
}

/// The Volumes panel and its snapshots.
fn volume_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/volumes",
            get(storage::volumes).post(storage::volume_create),
        )
        .route("/project/volumes/{id}/delete", post(storage::volume_delete))
        .route("/project/volumes/{id}/attach", post(storage::volume_attach))
        .route("/project/volumes/{id}/detach", post(storage::volume_detach))
        .route(
            "/project/volumes/{id}/snapshot",
            post(storage::volume_snapshot_create),
        )
        .route(
            "/project/snapshots/{id}/delete",
            post(storage::snapshot_delete),
        )
        .route(
            "/project/snapshots/{id}/volume",
            post(storage::snapshot_volume_create),
        )
}

/// The Networks, Topology and Routers panels.
fn network_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/networks",
            get(network::networks).post(network::network_create),
        )
        .route(
            "/project/networks/{id}/delete",
            post(network::network_delete),
        )
        .route("/project/topology", get(network::topology))
        .route(
            "/project/routers",
            get(network::routers).post(network::router_create),
        )
        .route(
            "/project/routers/{id}/interface",
            post(network::router_interface_add),
        )
        .route("/project/routers/{id}/delete", post(network::router_delete))
}

/// The Security Groups panel.
fn security_group_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/security-groups",
            get(network::security_groups).post(network::security_group_create),
        )
        .route(
            "/project/security-groups/{id}",
            get(network::security_group_detail),
        )
        .route(
            "/project/security-groups/{id}/rules",
            post(network::security_group_rule_create),
        )
        .route(
            "/project/security-groups/{id}/delete",
            post(network::security_group_delete),
        )
        .route(
            "/project/security-groups/{id}/rules/{rule}/delete",
            post(network::security_group_rule_delete),
        )
}

/// The Floating IPs panel.
fn floating_ip_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/floating-ips",
            get(network::floating_ips).post(network::floating_ip_allocate),
        )
        .route(
            "/project/floating-ips/{id}/associate",
            post(network::floating_ip_associate),
        )
        .route(
            "/project/floating-ips/{id}/disassociate",
            post(network::floating_ip_disassociate),
        )
        .route(
            "/project/floating-ips/{id}/delete",
            post(network::floating_ip_release),
        )
}

/// The Containers panel (object storage).
fn container_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/containers",
            get(object::containers).post(object::container_create),
        )
        .route(
            "/project/containers/{container}/",
            get(object::container_objects),
        )
        .route(
            "/project/containers/{container}/delete",
            post(object::container_delete),
        )
        .route(
            "/project/containers/{container}/access",
            post(object::container_access),
        )
        .route(
            "/project/containers/{container}/upload",
            put(object::object_upload),
        )
        .route(
            "/project/containers/{container}/download",
            get(object::object_download),
        )
        .route(
            "/project/containers/{container}/objects/delete",
            post(object::object_delete),
        )
        .route(
            "/project/containers/{container}/folder",
            post(object::folder_create),
        )
}

/// The Stacks panel and the API Access page.
fn stack_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/project/stacks",
            get(orchestration::stacks).post(orchestration::stack_create),
        )
        .route(
            "/project/stacks/{name}/{id}",
            get(orchestration::stack_detail),
        )
        .route(
            "/project/stacks/{name}/{id}/delete",
            post(orchestration::stack_delete),
        )
        .route(
            "/project/stacks/{name}/{id}/update",
            post(orchestration::stack_update),
        )
        .route("/project/api-access", get(access::api_access))
        .route("/project/api-access/{file}", get(access::api_access_file))
}

/// The admin Hypervisors, All Instances and Flavors panels.
fn admin_compute_routes() -> Router<Dash> {
    Router::new()
        .route("/admin/hypervisors", get(admin::hypervisors))
        .route("/admin/instances", get(admin::instances))
        .route(
            "/admin/flavors",
            get(admin::flavors).post(admin_edit::flavor_create),
        )
        .route(
            "/admin/flavors/{id}",
            get(admin_edit::flavor_edit).post(admin_edit::flavor_update),
        )
        .route(
            "/admin/flavors/{id}/access",
            post(admin_edit::flavor_access_add),
        )
        .route(
            "/admin/flavors/{id}/access/remove",
            post(admin_edit::flavor_access_remove),
        )
        .route(
            "/admin/flavors/{id}/extra-specs",
            post(admin_edit::flavor_spec_set),
        )
        .route(
            "/admin/flavors/{id}/extra-specs/delete",
            post(admin_edit::flavor_spec_delete),
        )
        .route(
            "/admin/flavors/{id}/delete",
            post(admin_edit::flavor_delete),
        )
}

/// The admin Projects (with quotas), Users, Groups and Roles panels.
fn admin_identity_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/admin/projects",
            get(admin::projects).post(admin_edit::project_create),
        )
        .route(
            "/admin/projects/{id}",
            get(admin_edit::project_edit).post(admin_edit::project_update),
        )
        .route(
            "/admin/projects/{id}/delete",
            post(admin_edit::project_delete),
        )
        .route(
            "/admin/projects/{id}/members",
            post(admin_edit::project_member_add),
        )
        .route(
            "/admin/projects/{id}/members/remove",
            post(admin_edit::project_member_remove),
        )
        .route(
            "/admin/users",
            get(admin::users).post(admin_edit::user_create),
        )
        .route(
            "/admin/users/{id}",
            get(admin_edit::user_edit).post(admin_edit::user_update),
        )
        .route("/admin/users/{id}/delete", post(admin_edit::user_delete))
        .route(
            "/admin/projects/{id}/quotas",
            get(quotas::project_quotas).post(quotas::project_quotas_update),
        )
        .route(
            "/admin/groups",
            get(admin::groups).post(admin_edit::group_create),
        )
        .route("/admin/groups/{id}/delete", post(admin_edit::group_delete))
        .route(
            "/admin/roles",
            get(admin::roles).post(admin_edit::role_create),
        )
        .route("/admin/roles/{id}/delete", post(admin_edit::role_delete))
}

/// The admin Images, Networks and Routers panels.
fn admin_network_routes() -> Router<Dash> {
    Router::new()
        .route("/admin/images", get(admin::images))
        .route(
            "/admin/images/{id}",
            get(admin_edit::image_edit).post(admin_edit::image_update),
        )
        .route("/admin/images/{id}/delete", post(admin_edit::image_delete))
        .route(
            "/admin/networks",
            get(admin::networks).post(admin_edit::network_create),
        )
        .route(
            "/admin/networks/{id}",
            get(admin_edit::network_edit).post(admin_edit::network_update),
        )
        .route(
            "/admin/networks/{id}/delete",
            post(admin_edit::network_delete),
        )
        .route("/admin/routers", get(admin_edit::routers))
        .route(
            "/admin/routers/{id}/gateway",
            post(admin_edit::router_gateway_set),
        )
        .route(
            "/admin/routers/{id}/gateway/clear",
            post(admin_edit::router_gateway_clear),
        )
        .route(
            "/admin/routers/{id}/delete",
            post(admin_edit::router_delete),
        )
}

/// The admin Defaults and System Information panels.
fn admin_info_routes() -> Router<Dash> {
    Router::new()
        .route(
            "/admin/defaults",
            get(quotas::defaults).post(quotas::defaults_update),
        )
        .route("/admin/info", get(admin::info))
}

/// `/dashboard`: the overview when logged in, else the login page.
async fn home(State(d): State<Dash>, headers: HeaderMap) -> Response {
    match d.session(&headers).await {
        Ok(_) => Redirect::to("/dashboard/project/overview").into_response(),
        Err(_) => Redirect::to("/dashboard/auth/login").into_response(),
    }
}

/// The embedded style sheet and script.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (
            include_str!("../assets/style.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[derive(Serialize)]
struct Panel {
    href: &'static str,
    label: &'static str,
    key: &'static str,
}

/// The panels of the services this cloud serves (as Horizon reads its catalog).
fn panels(d: &Dash, admin: bool) -> (Vec<Panel>, Vec<Panel>) {
    let adm = if admin {
        shown_panels(d, ADMIN_PANELS)
    } else {
        vec![]
    };
    (shown_panels(d, PROJECT_PANELS), adm)
}

/// One row of a panel table: link, label, key and the service it needs (none: always).
type PanelRow = (
    &'static str,
    &'static str,
    &'static str,
    Option<ServiceName>,
);

/// The Project dashboard's panels, in Horizon's order.
const PROJECT_PANELS: &[PanelRow] = {
    use ServiceName::{Compute, Image, Network, ObjectStore, Orchestration, Volume};
    &[
        ("/dashboard/project/overview", "Overview", "overview", None),
        (
            "/dashboard/project/instances",
            "Instances",
            "instances",
            Some(Compute),
        ),
        ("/dashboard/project/images", "Images", "images", Some(Image)),
        (
            "/dashboard/project/volumes",
            "Volumes",
            "volumes",
            Some(Volume),
        ),
        (
            "/dashboard/project/topology",
            "Network Topology",
            "topology",
            Some(Network),
        ),
        (
            "/dashboard/project/networks",
            "Networks",
            "networks",
            Some(Network),
        ),
        (
            "/dashboard/project/routers",
            "Routers",
            "routers",
            Some(Network),
        ),
        (
            "/dashboard/project/security-groups",
            "Security Groups",
            "security-groups",
            Some(Network),
        ),
        (
            "/dashboard/project/floating-ips",
            "Floating IPs",
            "floating-ips",
            Some(Network),
        ),
        (
            "/dashboard/project/key-pairs",
            "Key Pairs",
            "key-pairs",
            Some(Compute),
        ),
        (
            "/dashboard/project/containers",
            "Containers",
            "containers",
            Some(ObjectStore),
        ),
        (
            "/dashboard/project/stacks",
            "Stacks",
            "stacks",
            Some(Orchestration),
        ),
        (
            "/dashboard/project/api-access",
            "API Access",
            "api-access",
            None,
        ),
    ]
};

/// The Admin dashboard's panels, shown to cloud admins only.
const ADMIN_PANELS: &[PanelRow] = {
    use ServiceName::{Compute, Image, Network};
    &[
        (
            "/dashboard/admin/hypervisors",
            "Hypervisors",
            "admin-hypervisors",
            Some(Compute),
        ),
        (
            "/dashboard/admin/instances",
            "All Instances",
            "admin-instances",
            Some(Compute),
        ),
        (
            "/dashboard/admin/flavors",
            "Flavors",
            "admin-flavors",
            Some(Compute),
        ),
        (
            "/dashboard/admin/images",
            "Images",
            "admin-images",
            Some(Image),
        ),
        (
            "/dashboard/admin/networks",
            "Networks",
            "admin-networks",
            Some(Network),
        ),
        (
            "/dashboard/admin/routers",
            "Routers",
            "admin-routers",
            Some(Network),
        ),
        (
            "/dashboard/admin/defaults",
            "Defaults",
            "admin-defaults",
            None,
        ),
        (
            "/dashboard/admin/info",
            "System Information",
            "admin-info",
            None,
        ),
        (
            "/dashboard/admin/projects",
            "Projects",
            "admin-projects",
            None,
        ),
        ("/dashboard/admin/users", "Users", "admin-users", None),
        ("/dashboard/admin/groups", "Groups", "admin-groups", None),
        ("/dashboard/admin/roles", "Roles", "admin-roles", None),
    ]
};

/// The rows of a panel table whose service this cloud serves, in table order.
fn shown_panels(d: &Dash, rows: &[PanelRow]) -> Vec<Panel> {
    rows.iter()
        .filter(|(_, _, _, service)| service.is_none_or(|s| d.serves(s)))
        .map(|&(href, label, key, _)| Panel { href, label, key })
        .collect()
}

/// What the frame of every page shows: who is logged in, the project switcher, the
/// panels and the CSRF token the page's forms carry.
async fn frame(d: &Dash, sess: &Session, active: &str, title: &str) -> Value {
    let projects: Vec<Value> = match d
        .backend
        .get(&sess.token, "/identity/v3/auth/projects")
        .await
    {
        Ok(v) => list(&v, "projects")
            .iter()
            .map(|p| json!({"id": s(p, "id"), "name": s(p, "name")}))
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "listing the user's projects for the switcher");
            vec![json!({"id": sess.project_id, "name": sess.project_name})]
        }
    };
    let (project_panels, admin_panels) = panels(d, sess.is_admin);
    json!({
        "user": sess.user_name,
        "project": sess.project_name,
        "project_id": sess.project_id,
        "projects": projects,
        "csrf": sess.csrf,
        "is_admin": sess.is_admin,
        "active": active,
        "title": title,
        "project_panels": project_panels,
        "admin_panels": admin_panels,
    })
}

/// Renders `template` inside the frame with the page's own values.
async fn page(
    d: &Dash,
    sess: &Session,
    active: &str,
    title: &str,
    template: &str,
    own: Value,
) -> Response {
    let mut ctx = frame(d, sess, active, title).await;
    if let (Some(c), Value::Object(o)) = (ctx.as_object_mut(), own) {
        c.extend(o);
    }
    render(
        StatusCode::OK,
        template,
        minijinja::Value::from_serialize(&ctx),
    )
}

/// A generic panel page: forms above tables.
async fn panel(
    d: &Dash,
    sess: &Session,
    active: &str,
    title: &str,
    forms: Vec<Form>,
    tables: Vec<Table>,
    notice: Option<Value>,
) -> PageResult {
    Ok(page(
        d,
        sess,
        active,
        title,
        "panel.html",
        json!({"forms": forms, "tables": tables, "notice": notice}),
    )
    .await)
}

/// After a successful POST: back to the panel (303, so a reload does not resubmit).
fn back(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

/// Path segments from users are ids or names; refuse anything that would change the
/// API path it is put into.
fn segment(v: &str) -> Result<String, PageError> {
    if v.is_empty()
        || v.len() > 255
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@ ".contains(c))
    {
        return Err(PageError::BadInput(format!(
            "'{v}' is not a valid id or name."
        )));
    }
    Ok(url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace('+', "%20"))
}

/// Options for a select from a list of API objects.
fn options(
    items: &[Value],
    value: &str,
    label: impl Fn(&Value) -> String,
) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| (s(i, value).to_owned(), label(i)))
        .collect()
}

/// A posted dashboard form, already checked: the live session it came with and its
/// fields, which carried that session's CSRF token. Every form handler starts from
/// this, so none can forget the check.
pub(super) struct Posted {
    pub sess: Session,
    pub form: FormData,
}

impl FromRequest<Dash> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, d: &Dash) -> Result<Self, PageError> {
        let sess = d.session(req.headers()).await?;
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, d)
            .await
            .map_err(|e| PageError::BadInput(e.body_text()))?;
        let form = FormData(fields).checked(&sess)?;
        Ok(Posted { sess, form })
    }
}

/// The session of a request sent by the page's script, which carries the CSRF
/// token in `X-CSRF-Token` (uploads, the serial console) instead of a form field.
pub(super) async fn script_session(d: &Dash, headers: &HeaderMap) -> Result<Session, PageError> {
    let sess = d.session(headers).await?;
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !csrf_matches(&sess.csrf, sent) {
        return Err(PageError::Csrf);
    }
    Ok(sess)
}
