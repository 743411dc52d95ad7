//! Project pages of orchestration (Heat): the stacks list, launching a stack from a
//! template (pasted or read from a file by the page's script) with parameters, a
//! stack's page (resources, events, outputs, template) and delete.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::super::topology;
use super::super::view::{Action, Cell, Field, Form as UiForm, Table, link, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::{Posted, back, page, panel, segment};

fn base(project: &str) -> String {
    format!("/orchestration/v1/{project}/stacks")
}

/// A stack status as a status cell: the `_IN_PROGRESS` ones keep the page live.
fn stack_status(st: &str) -> Cell {
    let mut c = status(st);
    c.class = Some(
        if st.ends_with("_COMPLETE") {
            "ok"
        } else if st.ends_with("_FAILED") {
            "bad"
        } else {
            "live"
        }
        .into(),
    );
    c
}

/// `GET /dashboard/project/stacks`.
pub(super) async fn stacks(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let v = d.backend.get(&sess.token, base(&sess.project_id)).await?;
    let mut table = Table::new(
        "stacks",
        "Stacks",
        vec!["Name", "Created", "Status", "Description"],
    );
    table.empty = "No stacks yet: launch one.".into();
    for st in list(&v, "stacks") {
        let (id, name) = (s(st, "id"), s(st, "stack_name"));
        let (Ok(n), Ok(i)) = (segment(name), segment(id)) else {
            continue;
        };
        let here = format!("/dashboard/project/stacks/{n}/{i}");
        table.row(
            id,
            vec![
                link(name, here.clone()),
                Cell::from(s(st, "creation_time")),
                stack_status(s(st, "stack_status")),
                Cell::from(s(st, "description")),
            ],
            vec![Action::new("Delete", format!("{here}/delete")).danger()],
        );
    }
    let launch = UiForm::new(
        "stack-launch",
        "Launch Stack",
        "/dashboard/project/stacks",
        "Launch",
        vec![
            Field::text("stack_name", "Stack name").required(),
            Field::text("template_file", "Template file (fills the text below)")
                .kind("file")
                .value("template"),
            Field::text("template", "Template (HOT, YAML or JSON)")
                .kind("textarea")
                .required(),
            Field::text(
                "parameters",
                "Parameters, one name=value a line (blank: the template's defaults)",
            )
            .kind("textarea"),
        ],
    );
    panel(
        &d,
        &sess,
        "stacks",
        "Stacks",
        vec![launch],
        vec![table],
        None,
    )
    .await
}

/// `name=value` lines as Heat's parameters map; blank lines and `#` comments are
/// skipped, and a line without `=` is refused with its number.
fn parameters(text: &str) -> Result<Map<String, Value>, PageError> {
    let mut out = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(PageError::BadInput(format!(
                "Parameters line {}: '{line}' is not name=value.",
                n + 1
            )));
        };
        out.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
    }
    Ok(out)
}

/// `POST /dashboard/project/stacks`: the template is sent as text, which Heat
/// parses (a YAML or JSON error comes back as its message).
pub(super) async fn stack_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let body = json!({
        "stack_name": f.required("stack_name", "Stack name")?,
        "template": f.required("template", "Template")?,
        "parameters": parameters(f.get("parameters"))?,
    });
    let made = d
        .backend
        .post(&sess.token, &base(&sess.project_id), body)
        .await?;
    let id = s(&made["stack"], "id");
    match (segment(f.get("stack_name")), segment(id)) {
        (Ok(n), Ok(i)) => back(&format!("/dashboard/project/stacks/{n}/{i}")),
        _ => back("/dashboard/project/stacks"),
    }
}

/// `GET /dashboard/project/stacks/{name}/{id}`: its facts, resources, events,
/// outputs and template, read in parallel.
pub(super) async fn stack_detail(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (name, id) = (segment(&name)?, segment(&id)?);
    let path = format!("{}/{name}/{id}", base(&sess.project_id));
    let (stack, resources, events, template) = tokio::join!(
        d.backend.get(t, path.clone()),
        d.backend.get(t, format!("{path}/resources")),
        d.backend.get(t, format!("{path}/events")),
        d.backend.get(t, format!("{path}/template")),
    );
    let stack = stack?;
    let st = &stack["stack"];
    let (resources, events, template) = (
        resources.unwrap_or_default(),
        events.unwrap_or_default(),
        template.unwrap_or_default(),
    );
    let facts: Vec<(&str, String)> = vec![
        ("ID", text(st, "id")),
        ("Status", text(st, "stack_status")),
        ("Reason", text(st, "stack_status_reason")),
        ("Created", text(st, "creation_time")),
        ("Updated", text(st, "updated_time")),
        ("Description", text(st, "description")),
    ];
    let template_text =
        serde_yaml_ng::to_string(&template).unwrap_or_else(|_| template.to_string());
    let live = !s(st, "stack_status").ends_with("_COMPLETE")
        && !s(st, "stack_status").ends_with("_FAILED");
    let picture = topology::stack_layout(&resources, resource_href);
    let update = stack_update_form(&name, &id, st, &template_text);
    let tables = [
        stack_resources_table(&resources),
        stack_outputs_table(st),
        stack_events_table(&events),
    ];
    Ok(page(
        &d,
        &sess,
        "stacks",
        &format!("Stack {}", s(st, "stack_name")),
        "stack.html",
        json!({"facts": facts, "forms": [update], "tables": tables,
               "template": template_text, "live": live, "topo": picture}),
    )
    .await)
}

/// The stack's resources, each physical id linked to its own page.
fn stack_resources_table(resources: &Value) -> Table {
    let mut res = Table::new(
        "stack-resources",
        "Resources",
        vec!["Name", "Type", "Physical ID", "Status", "Reason"],
    );
    res.empty = "No resources.".into();
    for r in list(resources, "resources") {
        res.row(
            s(r, "resource_name"),
            vec![
                Cell::from(s(r, "resource_name")),
                Cell::from(s(r, "resource_type")),
                resource_link(s(r, "resource_type"), s(r, "physical_resource_id")),
                stack_status(s(r, "resource_status")),
                Cell::from(s(r, "resource_status_reason")),
            ],
            vec![],
        );
    }
    res
}

/// The stack's outputs; an output that could not be resolved shows its error.
fn stack_outputs_table(st: &Value) -> Table {
    let mut outs = Table::new(
        "stack-outputs",
        "Outputs",
        vec!["Key", "Value", "Description"],
    );
    outs.empty = "No outputs.".into();
    for o in list(st, "outputs") {
        let value = match o.get("output_value") {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Null) | None => text(o, "output_error"),
            Some(other) => other.to_string(),
        };
        outs.row(
            s(o, "output_key"),
            vec![
                Cell::from(s(o, "output_key")),
                Cell::from(value),
                Cell::from(s(o, "description")),
            ],
            vec![],
        );
    }
    outs
}

/// The stack's events, newest first.
fn stack_events_table(events: &Value) -> Table {
    let mut evs = Table::new(
        "stack-events",
        "Events",
        vec!["Time", "Resource", "Status", "Reason"],
    );
    evs.empty = "No events.".into();
    for e in list(events, "events").iter().rev() {
        evs.row(
            s(e, "id"),
            vec![
                Cell::from(s(e, "event_time")),
                Cell::from(s(e, "resource_name")),
                Cell::from(s(e, "resource_status")),
                Cell::from(s(e, "resource_status_reason")),
            ],
            vec![],
        );
    }
    evs
}

/// The update form, filled with the stack's template and its current parameters
/// (less Heat's own OS::* ones), one `name=value` a line.
fn stack_update_form(name: &str, id: &str, st: &Value, template_text: &str) -> UiForm {
    let params: String = st["parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("OS::"))
        .map(|(k, v)| format!("{k}={}\n", v.as_str().map_or(v.to_string(), str::to_owned)))
        .collect();
    UiForm::new(
        "stack-update",
        "Update Stack",
        &format!("/dashboard/project/stacks/{name}/{id}/update"),
        "Update",
        vec![
            Field::text("template_file", "Template file (fills the text below)")
                .kind("file")
                .value("template"),
            Field::text("template", "Template (HOT, YAML or JSON)")
                .kind("textarea")
                .value(template_text)
                .required(),
            Field::text("parameters", "Parameters, one name=value a line")
                .kind("textarea")
                .value(params),
        ],
    )
}

/// `POST /dashboard/project/stacks/{name}/{id}/update`: the new template and
/// parameters, as `openstack stack update` sends them (a full PUT); Heat answers at
/// once and the stack's page follows the update live.
pub(super) async fn stack_update(
    State(d): State<Dash>,
    Path((name, id)): Path<(String, String)>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let (n, i) = (segment(&name)?, segment(&id)?);
    d.backend
        .call(
            &sess.token,
            axum::http::Method::PUT,
            &format!("{}/{n}/{i}", base(&sess.project_id)),
            Some(json!({
                "template": f.required("template", "Template")?,
                "parameters": parameters(f.get("parameters"))?,
            })),
        )
        .await?;
    back(&format!("/dashboard/project/stacks/{n}/{i}"))
}

/// A resource's dashboard page, from its type and physical id.
fn resource_href(kind: &str, id: &str) -> Option<String> {
    match resource_link(kind, id) {
        Cell { href: Some(h), .. } => Some(h),
        _ => None,
    }
}

/// A resource's physical id, linked to its dashboard page when it has one.
fn resource_link(kind: &str, id: &str) -> Cell {
    let href = match kind {
        "OS::Nova::Server" => format!("/dashboard/project/instances/{id}"),
        "OS::Neutron::SecurityGroup" => format!("/dashboard/project/security-groups/{id}"),
        "OS::Neutron::Net" => "/dashboard/project/networks".into(),
        "OS::Neutron::Router" => "/dashboard/project/routers".into(),
        "OS::Cinder::Volume" => "/dashboard/project/volumes".into(),
        _ => return Cell::from(id),
    };
    if id.is_empty() {
        Cell::from(id)
    } else {
        link(id, href)
    }
}

/// `POST /dashboard/project/stacks/{name}/{id}/delete`.
pub(super) async fn stack_delete(
    State(d): State<Dash>,
    Path((name, id)): Path<(String, String)>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!(
                "{}/{}/{}",
                base(&sess.project_id),
                segment(&name)?,
                segment(&id)?
            ),
        )
        .await?;
    back("/dashboard/project/stacks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_lines() {
        let p = parameters("# a comment\n key = v=1 \n\nflavor=m1.nano\n").map_err(|_| "refused");
        let p = p.expect("parsed");
        assert_eq!(p["key"], "v=1");
        assert_eq!(p["flavor"], "m1.nano");
        assert!(matches!(parameters("x\n"), Err(PageError::BadInput(m)) if m.contains("line 1")));
    }
}
