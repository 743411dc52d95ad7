//! JSON views of stacks, resources, events and outputs, as heat-api renders them.

use serde_json::{Map, Value, json};

use crate::orchestration::model::{Event, Resource, Stack};

/// `http://host/orchestration/v1/<tenant>`.
pub(super) fn root(base: &str, tenant: &str) -> String {
    format!("{base}/orchestration/v1/{tenant}")
}

pub(super) fn stack_url(root: &str, s: &Stack) -> String {
    format!("{root}/stacks/{}/{}", s.name, s.id)
}

/// Parameter values as Heat shows them: strings, lists joined with commas,
/// JSON as text; plus the pseudo parameters.
fn parameters(s: &Stack) -> Value {
    let mut m = Map::new();
    for (k, v) in &s.parameters {
        let text = match v {
            Value::String(x) => x.clone(),
            Value::Array(a) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        m.insert(k.clone(), Value::String(text));
    }
    m.insert("OS::stack_id".into(), json!(s.id));
    m.insert("OS::stack_name".into(), json!(s.name));
    m.insert("OS::project_id".into(), json!(s.project_id));
    Value::Object(m)
}

fn description(s: &Stack) -> String {
    s.template
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A stack in a listing.
pub(super) fn stack_summary(root: &str, s: &Stack) -> Value {
    json!({
        "id": s.id,
        "stack_name": s.name,
        "description": description(s),
        "creation_time": s.created_at,
        "updated_time": s.updated_at,
        "deletion_time": s.deleted_at,
        "stack_status": s.full_status(),
        "stack_status_reason": s.status_reason,
        "stack_owner": s.owner.user_name,
        "stack_user_project_id": s.project_id,
        "project": s.project_id,
        "parent": s.parent.split_once('/').map(|(id, _)| id),
        "tags": if s.tags.is_empty() { Value::Null } else { json!(s.tags) },
        "links": [{"href": stack_url(root, s), "rel": "self"}],
    })
}

/// A stack in full; `outputs` are the evaluated outputs, when asked for.
pub(super) fn stack_detail(root: &str, s: &Stack, outputs: Option<Vec<Value>>) -> Value {
    let mut v = stack_summary(root, s);
    if let Value::Object(m) = &mut v {
        m.insert("parameters".into(), parameters(s));
        m.insert("template_description".into(), json!(description(s)));
        m.insert("timeout_mins".into(), json!(s.timeout_mins));
        m.insert("disable_rollback".into(), json!(s.disable_rollback));
        m.insert("capabilities".into(), json!([]));
        m.insert("notification_topics".into(), json!([]));
        m.insert("outputs".into(), json!(outputs.unwrap_or_default()));
    }
    v
}

pub(super) fn output(
    key: &str,
    description: &str,
    value: &Result<Value, String>,
    with_value: bool,
) -> Value {
    let mut m = Map::new();
    m.insert("output_key".into(), json!(key));
    m.insert("description".into(), json!(description));
    if with_value {
        match value {
            Ok(v) => {
                m.insert("output_value".into(), v.clone());
            }
            Err(e) => {
                m.insert("output_value".into(), Value::Null);
                m.insert("output_error".into(), json!(e));
            }
        }
    }
    Value::Object(m)
}

pub(super) fn resource(root: &str, s: &Stack, r: &Resource, required_by: Vec<String>) -> Value {
    let stack = stack_url(root, s);
    json!({
        "resource_name": r.name,
        "logical_resource_id": r.name,
        "physical_resource_id": r.physical_id,
        "resource_type": r.kind,
        "resource_status": format!("{}_{}", r.action, r.status),
        "resource_status_reason": r.status_reason,
        "creation_time": r.created_at,
        "updated_time": r.updated_at.clone().unwrap_or_else(|| r.created_at.clone()),
        "required_by": required_by,
        "description": "",
        "links": [
            {"href": format!("{stack}/resources/{}", r.name), "rel": "self"},
            {"href": stack, "rel": "stack"},
        ],
    })
}

/// A resource of a preview: Heat's resource view plus its resolved
/// properties, identity and (empty) attributes.
pub(super) fn resource_preview(
    root: &str,
    s: &Stack,
    r: &Resource,
    properties: &Value,
    required_by: Vec<String>,
) -> Value {
    let mut v = resource(root, s, r, required_by);
    if let Value::Object(m) = &mut v {
        m.insert("properties".into(), properties.clone());
        m.insert("attributes".into(), json!({}));
        m.insert("metadata".into(), json!({}));
        m.insert("resource_action".into(), json!(r.action));
        m.insert("resource_status".into(), json!(r.status));
        m.insert("stack_name".into(), json!(s.name));
        m.insert(
            "resource_identity".into(),
            json!({"tenant": s.project_id, "stack_name": s.name, "stack_id": s.id, "path": format!("/resources/{}", r.name)}),
        );
        m.insert(
            "stack_identity".into(),
            json!({"tenant": s.project_id, "stack_name": s.name, "stack_id": s.id, "path": ""}),
        );
    }
    v
}

pub(super) fn event(root: &str, s: &Stack, e: &Event) -> Value {
    let stack = stack_url(root, s);
    json!({
        "id": e.id,
        "event_time": e.created_at,
        "resource_name": e.resource_name,
        "logical_resource_id": e.resource_name,
        "physical_resource_id": e.physical_id,
        "resource_type": e.resource_type,
        "resource_status": format!("{}_{}", e.action, e.status),
        "resource_status_reason": e.reason,
        "links": [
            {"href": format!("{stack}/resources/{}/events/{}", e.resource_name, e.id), "rel": "self"},
            {"href": format!("{stack}/resources/{}", e.resource_name), "rel": "resource"},
            {"href": stack, "rel": "stack"},
        ],
    })
}
