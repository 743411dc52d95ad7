//! Admin pages that change things: create, edit and delete projects (with their
//! members), users, groups, roles, flavors (with extra specs), any project's images
//! and networks.
//! Every change is one call of the service's own API with the admin's token, so the
//! service validates it and answers a refusal in its own words, shown on the error
//! page; nothing here writes state of its own.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use serde_json::{Map, Value, json};

use super::super::session::Session;
use super::super::view::{Action, Cell, Field, Form as UiForm, FormData, Table, list, s, text};
use super::super::{Dash, PageError, PageResult};
use super::admin::admin_session;
use super::{Posted, back, options, page, segment};

const KS: &str = "/identity/v3";
const NOVA: &str = "/compute/v2.1";
const NET: &str = "/networking/v2.0";

/// The session of an admin form post (403 for anyone else, before any call).
pub(super) fn admin_post(p: Posted) -> Result<(Session, FormData), PageError> {
    if !p.sess.is_admin {
        return Err(PageError::Api(super::super::backend::ApiFailure {
            status: axum::http::StatusCode::FORBIDDEN,
            message: "This page is for cloud administrators (the admin role).".into(),
        }));
    }
    Ok((p.sess, p.form))
}

/// The one API call an admin form asks for, and the page to go back to after it.
struct Change {
    method: Method,
    path: String,
    body: Option<Value>,
    then: String,
}

/// Every admin form that changes one thing by id: the admin check (403 before the
/// form is read), the id as one path segment, the call `change` makes of the form
/// and that segment (a missing or malformed field is refused before anything is
/// sent), one call with the admin's token (a refusal shows in the service's own
/// words), then back to the page the change names.
async fn admin_change(
    d: &Dash,
    p: Posted,
    id: &str,
    change: impl FnOnce(&FormData, &str) -> Result<Change, PageError>,
) -> PageResult {
    let (sess, f) = admin_post(p)?;
    let seg = segment(id)?;
    let c = change(&f, &seg)?;
    d.backend
        .call(&sess.token, c.method, &c.path, c.body)
        .await?;
    back(&c.then)
}

/// Every admin create form: the admin check (403 before the form is read), the
/// body `body` makes of the form (a missing or malformed field is refused before
/// anything is sent), one POST to `path` with the admin's token; the service's
/// answer, which names what it made.
async fn admin_create(
    d: &Dash,
    p: Posted,
    path: &str,
    body: impl FnOnce(&FormData) -> Result<Value, PageError>,
) -> Result<Value, PageError> {
    let (sess, f) = admin_post(p)?;
    let body = body(&f)?;
    Ok(d.backend.post(&sess.token, path, body).await?)
}

/// The session of an admin page about one item, and the item's id as one path
/// segment (refused before any call when it is not one).
async fn admin_item(
    d: &Dash,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Session, String), PageError> {
    let sess = admin_session(d, headers).await?;
    let seg = segment(id)?;
    Ok((sess, seg))
}

/// Back to the page of what a create made: `{page}/{id}`, the id from the
/// answer's `key` envelope.
fn back_to_made(made: &Value, key: &str, page: &str) -> PageResult {
    back(&format!("{page}/{}", segment(s(&made[key], "id"))?))
}

/// A checkbox's posted state.
fn checked(f: &FormData, name: &str) -> bool {
    f.get(name) == "1"
}

/// A non-negative whole number from a form field.
fn number(f: &FormData, name: &str, label: &str) -> Result<u64, PageError> {
    f.required(name, label)?
        .parse()
        .map_err(|_| PageError::BadInput(format!("{label} must be a whole number.")))
}

/// A size a flavor form may leave blank: 0 then.
fn size(f: &FormData, name: &str, label: &str) -> Result<u64, PageError> {
    if f.get(name).is_empty() {
        Ok(0)
    } else {
        number(f, name, label)
    }
}

/// The name of the item of `items` with `id`, or the id when none has it.
fn name_or_id(items: &[Value], id: &str) -> String {
    items
        .iter()
        .find(|i| s(i, "id") == id)
        .map_or(id.to_owned(), |i| s(i, "name").to_owned())
}

/// A primary-project choice: none, or one of the projects.
fn project_choices(projects: &Value) -> Vec<(String, String)> {
    let mut choices = vec![(String::new(), "(none)".to_owned())];
    choices.extend(options(list(projects, "projects"), "id", |p| {
        s(p, "name").to_owned()
    }));
    choices
}

/// A role choice, by name.
fn role_choices(roles: &Value) -> Vec<(String, String)> {
    options(list(roles, "roles"), "id", |r| s(r, "name").to_owned())
}

/// The id of the `member` role, the one a role choice starts on.
fn member_role(roles: &Value) -> &str {
    list(roles, "roles")
        .iter()
        .find(|r| s(r, "name") == "member")
        .map_or("", |r| s(r, "id"))
}

fn yes(v: bool) -> &'static str {
    if v { "1" } else { "" }
}

/// An edit page: its forms open, above its tables.
async fn edit_page(
    d: &Dash,
    sess: &Session,
    active: &str,
    title: &str,
    forms: Vec<UiForm>,
    tables: Vec<Table>,
) -> PageResult {
    Ok(page(
        d,
        sess,
        active,
        title,
        "panel.html",
        json!({"forms": forms, "tables": tables, "open_forms": true}),
    )
    .await)
}

// ---- projects ----

/// The create form of the projects page.
pub(super) fn project_form() -> UiForm {
    UiForm::new(
        "project-create",
        "Create Project",
        "/dashboard/admin/projects",
        "Create Project",
        vec![
            Field::text("name", "Name").required(),
            Field::text("description", "Description").kind("textarea"),
            Field::text("enabled", "Enabled")
                .kind("checkbox")
                .value("1"),
        ],
    )
}

/// `POST /dashboard/admin/projects`: a project in the admin's domain.
pub(super) async fn project_create(State(d): State<Dash>, p: Posted) -> PageResult {
    let made = admin_create(&d, p, &format!("{KS}/projects"), |f| {
        Ok(json!({"project": {
            "name": f.required("name", "Name")?,
            "description": f.get("description"),
            "enabled": checked(f, "enabled"),
            "domain_id": "default",
        }}))
    })
    .await?;
    back_to_made(&made, "project", "/dashboard/admin/projects")
}

/// `GET /dashboard/admin/projects/{id}`: edit form, members (role assignments on
/// the project) and a form to add one.
pub(super) async fn project_edit(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let (sess, seg) = admin_item(&d, &headers, &id).await?;
    let t = &sess.token;
    let (proj, assignments, users, roles) = tokio::join!(
        d.backend.get(t, format!("{KS}/projects/{seg}")),
        d.backend.get(
            t,
            format!("{KS}/role_assignments?scope.project.id={seg}&include_names=true")
        ),
        d.backend.get(t, format!("{KS}/users")),
        d.backend.get(t, format!("{KS}/roles")),
    );
    let proj = proj?;
    let p = &proj["project"];
    let (users, roles) = (users.unwrap_or_default(), roles.unwrap_or_default());
    let here = format!("/dashboard/admin/projects/{seg}");
    let edit = UiForm::new(
        "project-edit",
        "Edit Project",
        &here,
        "Save",
        vec![
            Field::text("name", "Name").value(s(p, "name")).required(),
            Field::text("description", "Description")
                .kind("textarea")
                .value(s(p, "description")),
            Field::text("enabled", "Enabled")
                .kind("checkbox")
                .value(yes(p["enabled"] != Value::Bool(false))),
        ],
    );
    let add = member_add_form(&here, &users, &roles);
    let members = members_table(&here, &assignments.unwrap_or_default());
    let title = format!("Project {}", s(p, "name"));
    let quotas = UiForm::new(
        "project-quotas-link",
        "Quotas",
        &format!("{here}/quotas"),
        "Edit Quotas",
        vec![],
    );
    edit_page(
        &d,
        &sess,
        "admin-projects",
        &title,
        vec![quotas, edit, add],
        vec![members],
    )
    .await
}

/// Give a user a role on the project (the `member` role chosen first).
fn member_add_form(here: &str, users: &Value, roles: &Value) -> UiForm {
    UiForm::new(
        "project-member-add",
        "Add Member",
        &format!("{here}/members"),
        "Add",
        vec![
            Field::select(
                "user",
                "User",
                options(list(users, "users"), "id", |u| s(u, "name").to_owned()),
            ),
            Field::select("role", "Role", role_choices(roles)).value(member_role(roles)),
        ],
    )
}

/// The project's user role assignments, each removable.
fn members_table(here: &str, assignments: &Value) -> Table {
    let mut members = Table::new("project-members", "Members", vec!["User", "Role"]);
    members.empty = "No user has a role on this project.".into();
    for (i, a) in list(assignments, "role_assignments").iter().enumerate() {
        let Some(u) = a.get("user") else { continue };
        members.row(
            &i.to_string(),
            vec![Cell::from(s(u, "name")), Cell::from(s(&a["role"], "name"))],
            vec![
                Action::new("Remove", format!("{here}/members/remove"))
                    .field("user", s(u, "id"))
                    .field("role", s(&a["role"], "id"))
                    .danger(),
            ],
        );
    }
    members
}

/// `POST /dashboard/admin/projects/{id}`: name, description, enabled.
pub(super) async fn project_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        Ok(Change {
            method: Method::PATCH,
            path: format!("{KS}/projects/{seg}"),
            body: Some(json!({"project": {
                "name": f.required("name", "Name")?,
                "description": f.get("description"),
                "enabled": checked(f, "enabled"),
            }})),
            then: format!("/dashboard/admin/projects/{seg}"),
        })
    })
    .await
}

/// `POST /dashboard/admin/projects/{id}/delete`.
pub(super) async fn project_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(
        &d,
        p,
        &format!("{KS}/projects"),
        &id,
        "/dashboard/admin/projects",
    )
    .await
}

/// `POST /dashboard/admin/projects/{id}/members` (grant) and `.../members/remove`
/// (revoke): a user's role on the project.
pub(super) async fn project_member_add(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    member(d, id, p, Method::PUT).await
}

pub(super) async fn project_member_remove(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    member(d, id, p, Method::DELETE).await
}

async fn member(d: Dash, id: String, p: Posted, method: Method) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        let user = segment(f.required("user", "User")?)?;
        let role = segment(f.required("role", "Role")?)?;
        Ok(Change {
            method,
            path: format!("{KS}/projects/{seg}/users/{user}/roles/{role}"),
            body: None,
            then: format!("/dashboard/admin/projects/{seg}"),
        })
    })
    .await
}

// ---- users ----

/// The create form of the users page: name, password, email, a primary project
/// and the role the user gets on it.
pub(super) async fn user_form(d: &Dash, token: &str) -> UiForm {
    let (projects, roles) = tokio::join!(
        d.backend.get(token, format!("{KS}/projects")),
        d.backend.get(token, format!("{KS}/roles")),
    );
    let (projects, roles) = (projects.unwrap_or_default(), roles.unwrap_or_default());
    UiForm::new(
        "user-create",
        "Create User",
        "/dashboard/admin/users",
        "Create User",
        vec![
            Field::text("name", "User name").required(),
            Field::text("password", "Password")
                .kind("password")
                .required(),
            Field::text("email", "Email"),
            Field::text("description", "Description"),
            Field::select("project", "Primary project", project_choices(&projects)),
            Field::select("role", "Role on it", role_choices(&roles)).value(member_role(&roles)),
            Field::text("enabled", "Enabled")
                .kind("checkbox")
                .value("1"),
        ],
    )
}

/// `POST /dashboard/admin/users`: the user, then its role on the primary project.
/// A refused grant leaves the user (it is shown on the users page) and reports why.
pub(super) async fn user_create(State(d): State<Dash>, p: Posted) -> PageResult {
    let (sess, f) = admin_post(p)?;
    let mut user = Map::new();
    user.insert("name".into(), f.required("name", "User name")?.into());
    user.insert(
        "password".into(),
        f.required("password", "Password")?.into(),
    );
    user.insert("enabled".into(), checked(&f, "enabled").into());
    user.insert("domain_id".into(), "default".into());
    for k in ["email", "description"] {
        if !f.get(k).is_empty() {
            user.insert(k.into(), f.get(k).into());
        }
    }
    let project = f.get("project");
    if !project.is_empty() {
        user.insert("default_project_id".into(), project.into());
    }
    let made = d
        .backend
        .post(&sess.token, &format!("{KS}/users"), json!({"user": user}))
        .await?;
    let uid = segment(s(&made["user"], "id"))?;
    if !project.is_empty() && !f.get("role").is_empty() {
        d.backend
            .call(
                &sess.token,
                Method::PUT,
                &format!(
                    "{KS}/projects/{}/users/{uid}/roles/{}",
                    segment(project)?,
                    segment(f.get("role"))?
                ),
                None,
            )
            .await?;
    }
    back(&format!("/dashboard/admin/users/{uid}"))
}

/// The user's role assignments and where each holds (project, domain or system).
fn user_roles_table(assignments: &Value) -> Table {
    let mut roles = Table::new("user-roles", "Role Assignments", vec!["Role", "On"]);
    roles.empty = "This user holds no role.".into();
    for (i, a) in list(assignments, "role_assignments").iter().enumerate() {
        let scope = &a["scope"];
        let on = if let Some(p) = scope.get("project") {
            format!("project {}", s(p, "name"))
        } else if let Some(dm) = scope.get("domain") {
            format!("domain {}", s(dm, "name"))
        } else {
            "system".to_owned()
        };
        roles.row(
            &i.to_string(),
            vec![Cell::from(s(&a["role"], "name")), Cell::from(on)],
            vec![],
        );
    }
    roles
}

/// `GET /dashboard/admin/users/{id}`: edit form (a new password only when typed)
/// and the user's role assignments.
pub(super) async fn user_edit(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let (sess, seg) = admin_item(&d, &headers, &id).await?;
    let t = &sess.token;
    let (user, projects, assignments) = tokio::join!(
        d.backend.get(t, format!("{KS}/users/{seg}")),
        d.backend.get(t, format!("{KS}/projects")),
        d.backend.get(
            t,
            format!("{KS}/role_assignments?user.id={seg}&include_names=true")
        ),
    );
    let user = user?;
    let u = &user["user"];
    let project_opts = project_choices(&projects.unwrap_or_default());
    let here = format!("/dashboard/admin/users/{seg}");
    let edit = UiForm::new(
        "user-edit",
        "Edit User",
        &here,
        "Save",
        vec![
            Field::text("name", "User name")
                .value(s(u, "name"))
                .required(),
            Field::text("email", "Email").value(s(u, "email")),
            Field::text("description", "Description").value(s(u, "description")),
            Field::select("project", "Primary project", project_opts)
                .value(s(u, "default_project_id")),
            Field::text("password", "New password (blank: unchanged)").kind("password"),
            Field::text("enabled", "Enabled")
                .kind("checkbox")
                .value(yes(u["enabled"] != Value::Bool(false))),
        ],
    );
    let roles = user_roles_table(&assignments.unwrap_or_default());
    let title = format!("User {}", s(u, "name"));
    edit_page(&d, &sess, "admin-users", &title, vec![edit], vec![roles]).await
}

/// `POST /dashboard/admin/users/{id}`.
pub(super) async fn user_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        Ok(Change {
            method: Method::PATCH,
            path: format!("{KS}/users/{seg}"),
            body: Some(json!({ "user": user_changes(f)? })),
            then: format!("/dashboard/admin/users/{seg}"),
        })
    })
    .await
}

/// A user's edit form as Keystone's user update: a new password only when typed.
fn user_changes(f: &FormData) -> Result<Map<String, Value>, PageError> {
    let mut user = Map::new();
    user.insert("name".into(), f.required("name", "User name")?.into());
    user.insert("email".into(), f.get("email").into());
    user.insert("description".into(), f.get("description").into());
    user.insert("enabled".into(), checked(f, "enabled").into());
    user.insert(
        "default_project_id".into(),
        match f.get("project") {
            "" => Value::Null,
            p => p.into(),
        },
    );
    if !f.get("password").is_empty() {
        user.insert("password".into(), f.get("password").into());
    }
    Ok(user)
}

/// `POST /dashboard/admin/users/{id}/delete`.
pub(super) async fn user_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(&d, p, &format!("{KS}/users"), &id, "/dashboard/admin/users").await
}

// ---- groups and roles ----

/// The create form of the groups page.
pub(super) fn group_form() -> UiForm {
    UiForm::new(
        "group-create",
        "Create Group",
        "/dashboard/admin/groups",
        "Create Group",
        vec![
            Field::text("name", "Name").required(),
            Field::text("description", "Description"),
        ],
    )
}

/// `POST /dashboard/admin/groups`: a group in the default domain.
pub(super) async fn group_create(State(d): State<Dash>, p: Posted) -> PageResult {
    admin_create(&d, p, &format!("{KS}/groups"), |f| {
        Ok(json!({"group": {
            "name": f.required("name", "Name")?,
            "description": f.get("description"),
            "domain_id": "default",
        }}))
    })
    .await?;
    back("/dashboard/admin/groups")
}

/// `POST /dashboard/admin/groups/{id}/delete`.
pub(super) async fn group_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(
        &d,
        p,
        &format!("{KS}/groups"),
        &id,
        "/dashboard/admin/groups",
    )
    .await
}

/// The create form of the roles page.
pub(super) fn role_form() -> UiForm {
    UiForm::new(
        "role-create",
        "Create Role",
        "/dashboard/admin/roles",
        "Create Role",
        vec![Field::text("name", "Name").required()],
    )
}

/// `POST /dashboard/admin/roles`: a global role (Keystone refuses a duplicate name
/// with 409, shown).
pub(super) async fn role_create(State(d): State<Dash>, p: Posted) -> PageResult {
    admin_create(&d, p, &format!("{KS}/roles"), |f| {
        Ok(json!({"role": {"name": f.required("name", "Name")?}}))
    })
    .await?;
    back("/dashboard/admin/roles")
}

/// `POST /dashboard/admin/roles/{id}/delete`: with its assignments, as Keystone does.
pub(super) async fn role_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(&d, p, &format!("{KS}/roles"), &id, "/dashboard/admin/roles").await
}

// ---- flavors ----

/// The create form of the flavors page.
pub(super) fn flavor_form() -> UiForm {
    UiForm::new(
        "flavor-create",
        "Create Flavor",
        "/dashboard/admin/flavors",
        "Create Flavor",
        vec![
            Field::text("name", "Name").required(),
            Field::text("id", "ID (blank: generated)"),
            Field::text("vcpus", "vCPUs")
                .kind("number")
                .value("1")
                .required(),
            Field::text("ram", "RAM (MB)")
                .kind("number")
                .value("512")
                .required(),
            Field::text("disk", "Root disk (GB)")
                .kind("number")
                .value("1")
                .required(),
            Field::text("ephemeral", "Ephemeral disk (GB)")
                .kind("number")
                .value("0"),
            Field::text("swap", "Swap (MB)").kind("number").value("0"),
            Field::text("public", "Public").kind("checkbox").value("1"),
        ],
    )
}

/// A flavor's name and sizes as posted (an empty ephemeral disk or swap is none),
/// with its visibility: the body of Nova's flavor create.
fn flavor_body(f: &FormData, public: bool) -> Result<Value, PageError> {
    Ok(json!({
        "name": f.required("name", "Name")?,
        "vcpus": number(f, "vcpus", "vCPUs")?,
        "ram": number(f, "ram", "RAM")?,
        "disk": number(f, "disk", "Root disk")?,
        "OS-FLV-EXT-DATA:ephemeral": size(f, "ephemeral", "Ephemeral disk")?,
        "swap": size(f, "swap", "Swap")?,
        "os-flavor-access:is_public": public,
    }))
}

/// `POST /dashboard/admin/flavors`.
pub(super) async fn flavor_create(State(d): State<Dash>, p: Posted) -> PageResult {
    let made = admin_create(&d, p, &format!("{NOVA}/flavors"), |f| {
        let mut flavor = flavor_body(f, checked(f, "public"))?;
        if !f.get("id").is_empty() {
            flavor["id"] = f.get("id").into();
        }
        Ok(json!({ "flavor": flavor }))
    })
    .await?;
    back_to_made(&made, "flavor", "/dashboard/admin/flavors")
}

/// `GET /dashboard/admin/flavors/{id}`: its facts, extra specs (each removable) and
/// a form to set one.
pub(super) async fn flavor_edit(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let (sess, seg) = admin_item(&d, &headers, &id).await?;
    let t = &sess.token;
    let (flavor, specs, access, projects) = tokio::join!(
        d.backend.get(t, format!("{NOVA}/flavors/{seg}")),
        d.backend
            .get(t, format!("{NOVA}/flavors/{seg}/os-extra_specs")),
        d.backend
            .get(t, format!("{NOVA}/flavors/{seg}/os-flavor-access")),
        d.backend.get(t, format!("{KS}/projects")),
    );
    let flavor = flavor?;
    let fl = &flavor["flavor"];
    let here = format!("/dashboard/admin/flavors/{seg}");
    let projects = projects.unwrap_or_default();
    let public = fl["os-flavor-access:is_public"] != Value::Bool(false);
    let mut forms = vec![flavor_edit_form(&here, fl)];
    let access_table = flavor_access_table(&here, public, &access.unwrap_or_default(), &projects);
    if !public {
        forms.push(UiForm::new(
            "flavor-access-add",
            "Give a Project Access",
            &format!("{here}/access"),
            "Add",
            vec![Field::select(
                "project",
                "Project",
                options(list(&projects, "projects"), "id", |p| {
                    s(p, "name").to_owned()
                }),
            )],
        ));
    }
    forms.push(UiForm::new(
        "extra-spec-set",
        "Set Extra Spec",
        &format!("{here}/extra-specs"),
        "Set",
        vec![
            Field::text("key", "Key (e.g. hw:cpu_policy)").required(),
            Field::text("value", "Value").required(),
        ],
    ));
    let tables = vec![
        flavor_facts_table(fl),
        extra_specs_table(&here, &specs.unwrap_or_default()),
        access_table,
    ];
    let title = format!("Flavor {}", s(fl, "name"));
    edit_page(&d, &sess, "admin-flavors", &title, forms, tables).await
}

/// The flavor's editable sizes, filled with its current ones.
fn flavor_edit_form(here: &str, fl: &Value) -> UiForm {
    let number = |name: &str, label: &str, key: &str| {
        Field::text(name, label).kind("number").value(text(fl, key))
    };
    let swap = match text(fl, "swap").as_str() {
        "" => "0".to_owned(),
        v => v.to_owned(),
    };
    UiForm::new(
        "flavor-edit",
        "Edit Flavor",
        here,
        "Save",
        vec![
            Field::text("name", "Name").value(s(fl, "name")).required(),
            number("vcpus", "vCPUs", "vcpus").required(),
            number("ram", "RAM (MB)", "ram").required(),
            number("disk", "Root disk (GB)", "disk").required(),
            number(
                "ephemeral",
                "Ephemeral disk (GB)",
                "OS-FLV-EXT-DATA:ephemeral",
            ),
            Field::text("swap", "Swap (MB)").kind("number").value(swap),
        ],
    )
}

/// The projects a private flavor is shared with, each removable; a public flavor
/// lists none.
fn flavor_access_table(here: &str, public: bool, access: &Value, projects: &Value) -> Table {
    let pname = |id: &str| name_or_id(list(projects, "projects"), id);
    let mut access_table = Table::new("flavor-access", "Project Access", vec!["Project", "ID"]);
    access_table.empty = if public {
        "A public flavor is every project's.".into()
    } else {
        "No project has access.".into()
    };
    if public {
        return access_table;
    }
    for a in list(access, "flavor_access") {
        let pid = s(a, "tenant_id");
        access_table.row(
            pid,
            vec![Cell::from(pname(pid)), Cell::from(pid)],
            vec![
                Action::new("Remove", format!("{here}/access/remove"))
                    .field("project", pid)
                    .danger(),
            ],
        );
    }
    access_table
}

/// The flavor's facts as a property table.
fn flavor_facts_table(fl: &Value) -> Table {
    let mut facts = Table::new("flavor-facts", "Flavor", vec!["Property", "Value"]);
    for (k, label) in [
        ("id", "ID"),
        ("vcpus", "vCPUs"),
        ("ram", "RAM (MB)"),
        ("disk", "Root disk (GB)"),
        ("OS-FLV-EXT-DATA:ephemeral", "Ephemeral (GB)"),
        ("swap", "Swap (MB)"),
        ("os-flavor-access:is_public", "Public"),
    ] {
        facts.row(k, vec![Cell::from(label), Cell::from(text(fl, k))], vec![]);
    }
    facts
}

/// The flavor's extra specs, each with a Delete button.
fn extra_specs_table(here: &str, specs: &Value) -> Table {
    let mut st = Table::new("extra-specs", "Extra Specs", vec!["Key", "Value"]);
    st.empty = "No extra specs.".into();
    if let Some(m) = specs["extra_specs"].as_object() {
        for (k, v) in m {
            st.row(
                k,
                vec![
                    Cell::from(k.as_str()),
                    Cell::from(v.as_str().unwrap_or_default()),
                ],
                vec![
                    Action::new("Delete", format!("{here}/extra-specs/delete"))
                        .field("key", k)
                        .danger(),
                ],
            );
        }
    }
    st
}

/// What a flavor is made of, read before an edit replaces it.
struct FlavorParts {
    body: Value,
    specs: Value,
    access: Vec<String>,
}

impl FlavorParts {
    /// Whether the flavor is public: `flavor_as_was` always writes the flag.
    fn is_public(&self) -> bool {
        self.body["os-flavor-access:is_public"] == Value::Bool(true)
    }
}

/// Creates a flavor from `parts` (its id, sizes and visibility), then sets its
/// extra specs and gives its projects access again.
async fn flavor_make(d: &Dash, token: &str, parts: &FlavorParts) -> Result<(), PageError> {
    let made = d
        .backend
        .post(
            token,
            &format!("{NOVA}/flavors"),
            json!({"flavor": parts.body}),
        )
        .await?;
    let seg = segment(s(&made["flavor"], "id"))?;
    if parts.specs.as_object().is_some_and(|m| !m.is_empty()) {
        d.backend
            .post(
                token,
                &format!("{NOVA}/flavors/{seg}/os-extra_specs"),
                json!({"extra_specs": parts.specs}),
            )
            .await?;
    }
    for p in &parts.access {
        d.backend
            .post(
                token,
                &format!("{NOVA}/flavors/{seg}/action"),
                json!({"addTenantAccess": {"tenant": p}}),
            )
            .await?;
    }
    Ok(())
}

/// `POST /dashboard/admin/flavors/{id}`: a flavor's name and sizes, changed as
/// Horizon does it, since Nova cannot change them in place: the flavor is deleted
/// and made again with the same id, visibility, extra specs and project access
/// (servers keep their own copy of the flavor they were built with). Should Nova
/// refuse the new values, the old flavor is made again as it was and the refusal
/// is shown.
pub(super) async fn flavor_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    let (sess, f) = admin_post(p)?;
    let seg = segment(&id)?;
    let t = &sess.token;
    let old = flavor_stored(&d, t, &seg).await?;
    let mut body = flavor_body(&f, old.is_public())?;
    body["id"] = old.body["id"].clone();
    if let Some(desc) = old.body.get("description") {
        body["description"] = desc.clone();
    }
    let new = FlavorParts {
        body,
        specs: old.specs.clone(),
        access: old.access.clone(),
    };
    replace_flavor(&d, t, &seg, new, old).await
}

/// The flavor as Nova has it now: its body, extra specs and, when it is private,
/// the projects with access.
async fn flavor_stored(d: &Dash, t: &str, seg: &str) -> Result<FlavorParts, PageError> {
    let old = d.backend.get(t, format!("{NOVA}/flavors/{seg}")).await?;
    let fl = &old["flavor"];
    let specs = d
        .backend
        .get(t, format!("{NOVA}/flavors/{seg}/os-extra_specs"))
        .await?["extra_specs"]
        .clone();
    let public = fl["os-flavor-access:is_public"] != Value::Bool(false);
    let access: Vec<String> = if public {
        vec![]
    } else {
        let a = d
            .backend
            .get(t, format!("{NOVA}/flavors/{seg}/os-flavor-access"))
            .await?;
        list(&a, "flavor_access")
            .iter()
            .map(|a| s(a, "tenant_id").to_owned())
            .collect()
    };
    let mut body = flavor_as_was(fl, public);
    if let Some(desc) = fl.get("description").filter(|v| v.is_string()) {
        body["description"] = desc.clone();
    }
    Ok(FlavorParts {
        body,
        specs,
        access,
    })
}

/// The flavor's body as it was, to make it again should Nova refuse an edit.
fn flavor_as_was(fl: &Value, public: bool) -> Value {
    json!({
        "id": s(fl, "id"),
        "name": s(fl, "name"),
        "vcpus": fl["vcpus"],
        "ram": fl["ram"],
        "disk": fl["disk"],
        "OS-FLV-EXT-DATA:ephemeral": fl.get("OS-FLV-EXT-DATA:ephemeral").cloned().unwrap_or(json!(0)),
        // Nova shows no swap as "".
        "swap": if fl["swap"].is_number() { fl["swap"].clone() } else { json!(0) },
        "os-flavor-access:is_public": public,
    })
}

/// Deletes the flavor and makes `new`; when that is refused, makes `old` again.
async fn replace_flavor(
    d: &Dash,
    t: &str,
    seg: &str,
    new: FlavorParts,
    old: FlavorParts,
) -> PageResult {
    d.backend
        .delete(t, &format!("{NOVA}/flavors/{seg}"))
        .await?;
    if let Err(refused) = flavor_make(d, t, &new).await {
        if let Err(e) = flavor_make(d, t, &old).await {
            tracing::error!(flavor = %seg, error = ?e, "making a flavor again after a refused edit");
        }
        return Err(refused);
    }
    back(&format!("/dashboard/admin/flavors/{seg}"))
}

/// `POST /dashboard/admin/flavors/{id}/access` (give) and `.../access/remove`: a
/// project's access to a private flavor.
pub(super) async fn flavor_access_add(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    flavor_access(d, id, p, "addTenantAccess").await
}

pub(super) async fn flavor_access_remove(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    flavor_access(d, id, p, "removeTenantAccess").await
}

async fn flavor_access(d: Dash, id: String, p: Posted, action: &str) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        Ok(Change {
            method: Method::POST,
            path: format!("{NOVA}/flavors/{seg}/action"),
            body: Some(json!({ action: {"tenant": f.required("project", "Project")?} })),
            then: format!("/dashboard/admin/flavors/{seg}"),
        })
    })
    .await
}

// ---- routers (any project's) ----

/// `GET /dashboard/admin/routers`: every project's routers, each with its external
/// gateway set or cleared and a Delete button.
pub(super) async fn routers(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let t = &sess.token;
    let (routers, nets, projects) = tokio::join!(
        d.backend.get(t, format!("{NET}/routers")),
        d.backend
            .get(t, format!("{NET}/networks?router:external=true")),
        d.backend.get(t, format!("{KS}/projects")),
    );
    let routers = routers?;
    let (nets, projects) = (nets.unwrap_or_default(), projects.unwrap_or_default());
    let pname = |id: &str| name_or_id(list(&projects, "projects"), id);
    let externals = list(&nets, "networks");
    let mut t = Table::new(
        "routers",
        "Routers",
        vec!["Project", "Name", "External gateway", "Status"],
    );
    for r in list(&routers, "routers") {
        let gw_text = gateway_text(&r["external_gateway_info"], externals);
        let here = match segment(s(r, "id")) {
            Ok(seg) => format!("/dashboard/admin/routers/{seg}"),
            Err(_) => continue,
        };
        let actions = admin_router_actions(&here, externals, !gw_text.is_empty());
        t.row(
            s(r, "id"),
            vec![
                Cell::from(pname(s(r, "project_id"))),
                Cell::from(s(r, "name")),
                Cell::from(gw_text.trim().to_owned()),
                super::super::view::status(s(r, "status")),
            ],
            actions,
        );
    }
    super::panel(&d, &sess, "admin-routers", "Routers", vec![], vec![t], None).await
}

/// A router's external gateway as "network ip, ip" (empty without one).
fn gateway_text(gw: &Value, externals: &[Value]) -> String {
    if !gw.is_object() || s(gw, "network_id").is_empty() {
        return String::new();
    }
    let id = s(gw, "network_id");
    let net = name_or_id(externals, id);
    let ips = list(gw, "external_fixed_ips")
        .iter()
        .map(|f| s(f, "ip_address"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{net} {ips}")
}

/// An admin's router buttons: set the gateway, clear it (when set), delete.
fn admin_router_actions(here: &str, externals: &[Value], has_gateway: bool) -> Vec<Action> {
    let mut actions =
        vec![
            Action::new("Set Gateway", format!("{here}/gateway")).input(Field::select(
                "network",
                "External network",
                options(externals, "id", |n| s(n, "name").to_owned()),
            )),
        ];
    if has_gateway {
        actions.push(Action::new("Clear Gateway", format!("{here}/gateway/clear")).danger());
    }
    actions.push(Action::new("Delete", format!("{here}/delete")).danger());
    actions
}

/// `POST /dashboard/admin/routers/{id}/gateway` (set) and `.../gateway/clear`.
pub(super) async fn router_gateway_set(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    let network = p.form.get("network").to_owned();
    if network.is_empty() {
        return Err(PageError::BadInput("External network is required.".into()));
    }
    router_gateway(d, id, p, json!({"network_id": network})).await
}

pub(super) async fn router_gateway_clear(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    router_gateway(d, id, p, json!({})).await
}

async fn router_gateway(d: Dash, id: String, p: Posted, info: Value) -> PageResult {
    admin_change(&d, p, &id, |_, seg| {
        Ok(Change {
            method: Method::PUT,
            path: format!("{NET}/routers/{seg}"),
            body: Some(json!({"router": {"external_gateway_info": info}})),
            then: "/dashboard/admin/routers".into(),
        })
    })
    .await
}

/// `POST /dashboard/admin/routers/{id}/delete`: Neutron refuses a router with
/// interfaces (409), shown.
pub(super) async fn router_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(
        &d,
        p,
        &format!("{NET}/routers"),
        &id,
        "/dashboard/admin/routers",
    )
    .await
}

/// `POST /dashboard/admin/flavors/{id}/extra-specs`: sets (adds or replaces) one.
pub(super) async fn flavor_spec_set(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        let key = f.required("key", "Key")?;
        Ok(Change {
            method: Method::POST,
            path: format!("{NOVA}/flavors/{seg}/os-extra_specs"),
            body: Some(json!({"extra_specs": {key: f.required("value", "Value")?}})),
            then: format!("/dashboard/admin/flavors/{seg}"),
        })
    })
    .await
}

/// `POST /dashboard/admin/flavors/{id}/extra-specs/delete`.
pub(super) async fn flavor_spec_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        let key = f.required("key", "Key")?;
        // Extra spec keys carry ':' (hw:cpu_policy): escaped as one path segment.
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        Ok(Change {
            method: Method::DELETE,
            path: format!("{NOVA}/flavors/{seg}/os-extra_specs/{key}"),
            body: None,
            then: format!("/dashboard/admin/flavors/{seg}"),
        })
    })
    .await
}

/// `POST /dashboard/admin/flavors/{id}/delete`.
pub(super) async fn flavor_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(
        &d,
        p,
        &format!("{NOVA}/flavors"),
        &id,
        "/dashboard/admin/flavors",
    )
    .await
}

// ---- images (any project's) ----

/// `GET /dashboard/admin/images/{id}`: name, visibility, protection and minimums.
pub(super) async fn image_edit(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let (sess, seg) = admin_item(&d, &headers, &id).await?;
    let img = d
        .backend
        .get(&sess.token, format!("/image/v2/images/{seg}"))
        .await?;
    let vis = ["private", "shared", "community", "public"]
        .iter()
        .map(|v| (v.to_string(), v.to_string()))
        .collect();
    let edit = UiForm::new(
        "image-edit",
        "Edit Image",
        &format!("/dashboard/admin/images/{seg}"),
        "Save",
        vec![
            Field::text("name", "Name")
                .value(s(&img, "name"))
                .required(),
            Field::select("visibility", "Visibility", vis).value(s(&img, "visibility")),
            Field::text("min_disk", "Minimum disk (GB)")
                .kind("number")
                .value(text(&img, "min_disk")),
            Field::text("min_ram", "Minimum RAM (MB)")
                .kind("number")
                .value(text(&img, "min_ram")),
            Field::text("protected", "Protected (cannot be deleted)")
                .kind("checkbox")
                .value(yes(img["protected"] == Value::Bool(true))),
        ],
    );
    let mut facts = Table::new("image-facts", "Image", vec!["Property", "Value"]);
    for k in [
        "id",
        "owner",
        "status",
        "disk_format",
        "container_format",
        "size",
        "checksum",
        "created_at",
    ] {
        facts.row(k, vec![Cell::from(k), Cell::from(text(&img, k))], vec![]);
    }
    let title = format!("Image {}", s(&img, "name"));
    edit_page(&d, &sess, "admin-images", &title, vec![edit], vec![facts]).await
}

/// `POST /dashboard/admin/images/{id}`: one JSON-patch of the changed properties.
pub(super) async fn image_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    let (sess, f) = admin_post(p)?;
    let seg = segment(&id)?;
    let path = format!("/image/v2/images/{seg}");
    let img = d.backend.get(&sess.token, path.clone()).await?;
    let want = json!({
        "name": f.required("name", "Name")?,
        "visibility": f.required("visibility", "Visibility")?,
        "min_disk": number(&f, "min_disk", "Minimum disk")?,
        "min_ram": number(&f, "min_ram", "Minimum RAM")?,
        "protected": checked(&f, "protected"),
    });
    let ops: Vec<Value> = want
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| img.get(k.as_str()) != Some(v))
        .map(|(k, v)| json!({"op": "replace", "path": format!("/{k}"), "value": v}))
        .collect();
    if !ops.is_empty() {
        d.backend
            .send(
                Some(&sess.token),
                Method::PATCH,
                &path,
                Body::from(Value::Array(ops).to_string()),
                Some("application/openstack-images-v2.1-json-patch"),
            )
            .await?;
    }
    back(&format!("/dashboard/admin/images/{seg}"))
}

/// `POST /dashboard/admin/images/{id}/delete`: Glance refuses a protected image.
pub(super) async fn image_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(&d, p, "/image/v2/images", &id, "/dashboard/admin/images").await
}

// ---- networks (any project's) ----

/// The create form of the admin networks page: for any project, shared or external,
/// with an optional first subnet.
pub(super) async fn network_form(d: &Dash, token: &str) -> UiForm {
    let projects = d
        .backend
        .get(token, format!("{KS}/projects"))
        .await
        .unwrap_or_default();
    UiForm::new(
        "admin-network-create",
        "Create Network",
        "/dashboard/admin/networks",
        "Create Network",
        vec![
            Field::text("name", "Name").required(),
            Field::select(
                "project",
                "Project",
                options(list(&projects, "projects"), "id", |p| {
                    s(p, "name").to_owned()
                }),
            ),
            Field::text("shared", "Shared").kind("checkbox"),
            Field::text("external", "External network").kind("checkbox"),
            Field::text("cidr", "First subnet (CIDR; blank: none)"),
        ],
    )
}

/// `POST /dashboard/admin/networks`: the network, then its subnet when a CIDR is
/// given (a refused subnet leaves the network, listed, and reports why).
pub(super) async fn network_create(State(d): State<Dash>, p: Posted) -> PageResult {
    let (sess, f) = admin_post(p)?;
    let made = d
        .backend
        .post(
            &sess.token,
            &format!("{NET}/networks"),
            json!({"network": {
                "name": f.required("name", "Name")?,
                "project_id": f.required("project", "Project")?,
                "shared": checked(&f, "shared"),
                "router:external": checked(&f, "external"),
            }}),
        )
        .await?;
    let id = s(&made["network"], "id").to_owned();
    if !f.get("cidr").is_empty() {
        d.backend
            .post(
                &sess.token,
                &format!("{NET}/subnets"),
                json!({"subnet": {
                    "network_id": id,
                    "project_id": f.get("project"),
                    "ip_version": if f.get("cidr").contains(':') { 6 } else { 4 },
                    "cidr": f.get("cidr"),
                    "name": format!("{}-subnet", f.get("name")),
                }}),
            )
            .await?;
    }
    back(&format!("/dashboard/admin/networks/{}", segment(&id)?))
}

/// `GET /dashboard/admin/networks/{id}`: edit form and the network's subnets.
pub(super) async fn network_edit(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let (sess, seg) = admin_item(&d, &headers, &id).await?;
    let t = &sess.token;
    let (net, subnets) = tokio::join!(
        d.backend.get(t, format!("{NET}/networks/{seg}")),
        d.backend.get(t, format!("{NET}/subnets?network_id={seg}")),
    );
    let net = net?;
    let n = &net["network"];
    let edit = UiForm::new(
        "admin-network-edit",
        "Edit Network",
        &format!("/dashboard/admin/networks/{seg}"),
        "Save",
        vec![
            Field::text("name", "Name").value(s(n, "name")),
            Field::text("shared", "Shared")
                .kind("checkbox")
                .value(yes(n["shared"] == Value::Bool(true))),
            Field::text("external", "External network")
                .kind("checkbox")
                .value(yes(n["router:external"] == Value::Bool(true))),
            Field::text("admin_state_up", "Admin state up")
                .kind("checkbox")
                .value(yes(n["admin_state_up"] != Value::Bool(false))),
        ],
    );
    let mut st = Table::new(
        "admin-subnets",
        "Subnets",
        vec!["Name", "CIDR", "Gateway", "DHCP"],
    );
    st.empty = "No subnets.".into();
    for sn in list(&subnets.unwrap_or_default(), "subnets") {
        st.row(
            s(sn, "id"),
            vec![
                Cell::from(s(sn, "name")),
                Cell::from(s(sn, "cidr")),
                Cell::from(text(sn, "gateway_ip")),
                Cell::from(text(sn, "enable_dhcp")),
            ],
            vec![],
        );
    }
    let title = format!("Network {}", s(n, "name"));
    edit_page(&d, &sess, "admin-networks", &title, vec![edit], vec![st]).await
}

/// `POST /dashboard/admin/networks/{id}`.
pub(super) async fn network_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    admin_change(&d, p, &id, |f, seg| {
        Ok(Change {
            method: Method::PUT,
            path: format!("{NET}/networks/{seg}"),
            body: Some(json!({"network": {
                "name": f.get("name"),
                "shared": checked(f, "shared"),
                "router:external": checked(f, "external"),
                "admin_state_up": checked(f, "admin_state_up"),
            }})),
            then: format!("/dashboard/admin/networks/{seg}"),
        })
    })
    .await
}

/// `POST /dashboard/admin/networks/{id}/delete`: Neutron refuses a network with
/// ports in use (409), shown.
pub(super) async fn network_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    delete_then_back(
        &d,
        p,
        &format!("{NET}/networks"),
        &id,
        "/dashboard/admin/networks",
    )
    .await
}

/// Every admin page's Delete button: the admin check, one DELETE of `{collection}/{id}`
/// with the admin's token (a refusal shows in the service's own words), then back to
/// the list.
async fn delete_then_back(
    d: &Dash,
    p: Posted,
    collection: &str,
    id: &str,
    list: &str,
) -> PageResult {
    admin_change(d, p, id, |_, seg| {
        Ok(Change {
            method: Method::DELETE,
            path: format!("{collection}/{seg}"),
            body: None,
            then: list.into(),
        })
    })
    .await
}
